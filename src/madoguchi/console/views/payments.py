"""The payment panel's forms on the application page: cash or a card terminal taken at the counter, and 定額小為替
received with a postal request. A refusal re-renders the page with the message beside the field (422), or in the
panel when the application cannot take a payment now (409); nothing is recorded then. Decision 0047."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from flask import abort, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from madoguchi import jp
from madoguchi.console.views.application import _application_page
from madoguchi.console.views.common import _load, bp
from madoguchi.console.views.payment_panel import ORDER_ROWS
from madoguchi.context import current_tenant, db_session
from madoguchi.errors import Conflict, Forbidden, ValidationFailed
from madoguchi.identity.principal import current_principal
from madoguchi.payments import counter
from madoguchi.web import form_input
from madoguchi.web.i18n import format_yen

Errors = dict[str, list[str]]


def _amount(text: str) -> int:
    """A yen amount as typed: half- or full-width digits, with 円 or thousands separators."""
    cleaned = jp.normalize_input(text).replace(",", "").replace("円", "").replace("¥", "").strip()
    if not cleaned.isdigit():
        raise ValueError(text)
    return int(cleaned)


def _date(text: str, errors: Errors, field: str) -> date | None:
    try:
        return jp.parse_date(text)
    except jp.DateOutsideEra as outside:
        errors[field] = [form_input.date_outside_era(outside)]
    except ValueError:
        errors[field] = [_("Enter the date, for example 2026-11-20 or 令和8年11月20日.")]
    return None


def _back(application_id: uuid.UUID, message: str) -> ResponseReturnValue:
    flash(message)
    return redirect(url_for(".application_page", tenant=current_tenant.slug, application_id=application_id), code=303)


def _refused(application_id: uuid.UUID, errors: Errors, status: int, values: dict[str, Any]) -> ResponseReturnValue:
    db_session().rollback()
    return _application_page(_load(application_id), errors=errors, status=status, **values)


def _conflict(error: Conflict) -> Errors:
    if error.extra.get("amount_due_jpy") == 0:
        return {"payment": [_("Nothing is due on this application.")]}
    return {"payment": [_("No payment can be recorded for this application now.")]}


@bp.post("/applications/<uuid:application_id>/payments/counter")
def record_counter_payment(application_id: uuid.UUID) -> ResponseReturnValue:
    application = _load(application_id)
    form = request.form
    values = {
        "mode": form.get("mode", ""),
        "amount_jpy": form.get("amount_jpy", "").strip(),
        "receipt_number": form.get("receipt_number", "").strip(),
    }
    errors: Errors = {}
    amount = None
    if values["amount_jpy"]:
        try:
            amount = _amount(values["amount_jpy"])
        except ValueError:
            errors["amount_jpy"] = [_("Enter the amount in yen, in figures.")]
    if errors:
        return _refused(application_id, errors, 422, values)
    try:
        counter.record_counter_payment(
            db_session(),
            current_tenant,
            application,
            actor=current_principal().actor,
            mode=values["mode"],
            idempotency_key=form.get("idempotency_key", ""),
            amount_jpy=amount,
            receipt_number=values["receipt_number"] or None,
        )
    except ValidationFailed as error:
        due = error.extra.get("amount_due_jpy", 0)
        messages = {
            "mode": _("Choose how the fee was paid."),
            "amount_jpy": _("Enter an amount from 1 yen up to the amount due (%(due)s).", due=format_yen(due)),
            "receipt_number": _("Keep the receipt number under 100 characters."),
        }
        refused = {name: [messages.get(name, _("The payment was not recorded."))] for name in error.errors or {}}
        return _refused(application_id, {k if k in messages else "payment": v for k, v in refused.items()}, 422, values)
    except Conflict as error:
        return _refused(application_id, _conflict(error), 409, values)
    except Forbidden:
        db_session().rollback()
        abort(403)
    return _back(application_id, _("The payment was recorded."))


@bp.post("/applications/<uuid:application_id>/postal-orders")
def record_postal_orders(application_id: uuid.UUID) -> ResponseReturnValue:
    application = _load(application_id)
    form = request.form
    values: dict[str, Any] = {
        "received_on": form.get("received_on", "").strip(),
        "excess_returned": "excess_returned" in form,
    }
    errors: Errors = {}
    orders: list[counter.OrderInput] = []
    #: The form row of each order (an order's errors are shown beside its row).
    rows: list[int] = []
    for row in range(ORDER_ROWS):
        face, count, issued = (
            form.get(f"order-{row}-{part}", "").strip() for part in ("face_value", "count", "issued_on")
        )
        values.update({f"order-{row}-face_value": face, f"order-{row}-count": count, f"order-{row}-issued_on": issued})
        if not (face or issued):
            continue
        if face not in {str(v) for v in counter.DENOMINATIONS}:
            errors[f"order-{row}-face_value"] = [_("Choose the face value of the orders.")]
        try:
            how_many = _amount(count) if count else 1
        except ValueError:
            how_many = 0
        if not 1 <= how_many <= counter.MAX_ORDERS:
            errors[f"order-{row}-count"] = [_("Enter how many orders of this value, in figures.")]
        issued_on = _date(issued, errors, f"order-{row}-issued_on") if issued else None
        if not issued:
            errors[f"order-{row}-issued_on"] = [_("Enter the issue date printed on the orders.")]
        if issued_on is not None and not errors.keys() & {f"order-{row}-face_value", f"order-{row}-count"}:
            orders.extend(counter.OrderInput(int(face), issued_on) for _n in range(how_many))
            rows.extend([row] * how_many)
    received_on = _date(values["received_on"], errors, "received_on") if values["received_on"] else None
    if not values["received_on"]:
        errors["received_on"] = [_("Enter the day the envelope arrived.")]
    if not orders and not errors:
        errors["order-0-face_value"] = [_("List the postal money orders that came with the request.")]
    if errors or received_on is None:
        return _refused(application_id, errors, 422, values)
    try:
        counter.record_postal_orders(
            db_session(),
            current_tenant,
            application,
            actor=current_principal().actor,
            orders=orders,
            received_on=received_on,
            idempotency_key=form.get("idempotency_key", ""),
            excess_returned=values["excess_returned"],
        )
    except ValidationFailed as error:
        return _refused(application_id, _postal_errors(error, rows), 422, values)
    except Conflict as error:
        return _refused(application_id, _conflict(error), 409, values)
    except Forbidden:
        db_session().rollback()
        abort(403)
    return _back(application_id, _("The postal money orders were recorded."))


def _postal_errors(error: ValidationFailed, rows: list[int]) -> Errors:
    """The operation's refusals (``orders/<n>/issued_on`` …) beside the form's fields."""
    errors: Errors = {}
    for name in error.errors or {}:
        parts = name.split("/")
        if parts[0] == "orders" and len(parts) == 3 and parts[2] == "issued_on":
            errors[f"order-{rows[int(parts[1])]}-issued_on"] = [_("The issue date is after the day received.")]
        elif name == "received_on":
            errors["received_on"] = [_("The day received cannot be in the future.")]
        elif name == "excess_returned":
            errors["excess_returned"] = [
                _(
                    "The orders exceed the amount due (%(due)s) by %(excess)s. Return the excess to the sender"
                    " and tick this box, or remove orders.",
                    due=format_yen(error.extra.get("amount_due_jpy", 0)),
                    excess=format_yen(error.extra.get("excess_jpy", 0)),
                )
            ]
        else:
            errors.setdefault("payment", []).append(_("The postal money orders were not recorded."))
    return errors
