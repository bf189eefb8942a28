"""The portal's payment pages: pay the fee online (the provider's hosted page), back from it, and the payments
of an application. Madoguchi never asks for a card number: "Pay" sends the resident to the provider's page.

The pay form carries a key made when the page was shown: pressing "Pay" twice (or reloading the POST) answers the
same payment (``service.start_online_payment`` is idempotent by it). Back from the provider, an intent still open
is checked with the provider once (its webhook may still be on its way). Decision 0044.
"""

from __future__ import annotations

import secrets
import uuid
from typing import TYPE_CHECKING, Any

from flask import abort, current_app, flash, redirect, request, url_for
from flask_babel import gettext as _

from madoguchi.context import current_tenant, db_session
from madoguchi.errors import Conflict
from madoguchi.identity.principal import current_principal
from madoguchi.payments import service, states
from madoguchi.portal.views.common import _own_application, _procedure_title, _render, bp

if TYPE_CHECKING:  # annotations only
    from madoguchi.applications.models import Application


def status_titles() -> dict[str, str]:
    """A payment's status as the resident reads it."""
    return {
        "started": _("Payment started"),
        states.REQUIRES_PAYMENT: _("Waiting for payment"),
        states.PROCESSING: _("Payment being confirmed"),
        states.SUCCEEDED: _("Payment received"),
        states.FAILED: _("Payment declined"),
        states.CANCELED: _("Payment canceled"),
        states.EXPIRED: _("Payment expired"),
    }


def _pay_page(application_id: uuid.UUID, status: int = 200, error: str | None = None) -> tuple[str, int]:
    application = _own_application(application_id)
    fee = service.summary(db_session(), current_tenant, application)
    return _render(
        "portal/pay.html",
        status,
        active="applications",
        application=application,
        procedure_title=_procedure_title(application),
        fee=fee,
        payment_key=f"portal-{secrets.token_urlsafe(18)}",
        error=error,
    )


@bp.get("/<tenant>/applications/<uuid:application_id>/pay")
def pay(application_id: uuid.UUID) -> Any:
    return _pay_page(application_id)


@bp.post("/<tenant>/applications/<uuid:application_id>/pay")
def start_payment(application_id: uuid.UUID) -> Any:
    application = _own_application(application_id)
    key = request.form.get("payment_key", "").strip()[:100] or None
    return_to = url_for(".payment_return", tenant=current_tenant.slug, application_id=application.id, _external=True)
    try:
        intent = service.start_online_payment(
            db_session(),
            current_tenant,
            application,
            actor=current_principal().actor,
            return_url=return_to,
            idempotency_key=key,
            settings=current_app.config["MADOGUCHI"],
        )
    except Conflict:
        db_session().rollback()
        return _pay_page(application_id, 409, _("There is nothing to pay online for this application now."))
    if intent.status != states.REQUIRES_PAYMENT or not intent.redirect_url:
        # The key of a payment already made (a reload after paying): show where it stands.
        return redirect(_payments_url(application.id), 303)
    return redirect(intent.redirect_url, 303)


def _payments_url(application_id: uuid.UUID) -> str:
    return url_for(".payments", tenant=current_tenant.slug, application_id=application_id)


@bp.get("/<tenant>/applications/<uuid:application_id>/payment-return")
def payment_return(application_id: uuid.UUID) -> Any:
    """Where the provider's page sends the resident back: the outcome of their latest payment."""
    application = _own_application(application_id)
    session = db_session()
    fee = service.summary(session, current_tenant, application)
    latest = next((i for i in reversed(fee.intents) if i.mode in service.ONLINE_MODES), None) if fee else None
    if latest is None:
        return redirect(_payments_url(application.id), 303)
    service.refresh_from_provider(session, current_tenant, latest, settings=current_app.config["MADOGUCHI"])
    if latest.status == states.SUCCEEDED:
        flash(_("Thank you: your payment of %(amount)s was received.", amount=_yen(latest.amount_jpy)))
    elif latest.status == states.FAILED:
        flash(_("Your payment was declined. Nothing was charged. You can try again."), "error")
    elif latest.status == states.CANCELED:
        flash(_("You canceled the payment. Nothing was charged. You can pay later."))
    else:
        flash(_("We are waiting for the payment service to confirm your payment. Check again in a moment."))
    return redirect(_payments_url(application.id), 303)


def _yen(amount: int) -> str:
    return str(current_app.jinja_env.filters["yen"](amount))


@bp.get("/<tenant>/applications/<uuid:application_id>/payments")
def payments(application_id: uuid.UUID) -> Any:
    application = _own_application(application_id)
    fee = service.summary(db_session(), current_tenant, application)
    if fee is None:
        abort(404)
    return _render(
        "portal/payments.html",
        active="applications",
        application=application,
        procedure_title=_procedure_title(application),
        fee=fee,
        titles=status_titles(),
    )


def timeline_entries(application: Application) -> list[dict[str, Any]]:
    """The payment steps for the application's timeline (``applications._timeline`` merges them by time)."""
    titles = status_titles()
    return [
        {"state": titles[e.status], "action": _yen(e.amount_jpy), "at": e.at, "comment": None, "by_you": False}
        for e in service.timeline(db_session(), application)
    ]
