"""The console's refund and accounting (会計) pages.

``/<tenant>/console/applications/<id>/refunds``: the application's payments with what was refunded of each, a form
for a clerk to request a refund (amount, reason, a comment unless the request could not be issued), and the
requests waiting for a supervisor, who approves or rejects them (never their own: four eyes).

``/<tenant>/console/accounting``: for the 会計管理者's staff and supervisors, the upload of a provider's settlement
report of one day (the mismatch list follows on the import's page) and the 収入日計 CSV of a period.

The operations are ``payments.refunds`` and ``payments.reconcile``; their English messages become the page's
language here, beside the field they are about. Decision 0046.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from flask import Blueprint, Response, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext

from madoguchi import jp
from madoguchi.applications import repository as applications
from madoguchi.config import Settings
from madoguchi.console.views import payment_panel
from madoguchi.context import current_tenant, db_session
from madoguchi.errors import Conflict, Forbidden, NotFound, ValidationFailed
from madoguchi.identity import repository as identity_repository
from madoguchi.identity.principal import current_principal
from madoguchi.payments import reconcile, refunds
from madoguchi.web.auth import require_staff, signed_in_with_any_role
from madoguchi.web.i18n import current_locale, format_yen

bp = Blueprint("payments_console", __name__, url_prefix="/<tenant>/console", template_folder="templates")
require_staff(bp)
WEB_BLUEPRINTS = [bp]

REASON_LABELS = {
    "not_issuable": lazy_gettext("Could not be issued (申請を受理できない)"),
    "duplicate": lazy_gettext("Paid twice"),
    "overpaid": lazy_gettext("Paid too much"),
    "other": lazy_gettext("Other (say why)"),
}
REFUND_STATUS_LABELS = {
    "requested": lazy_gettext("Awaiting a supervisor"),
    "submitted": lazy_gettext("Sent to the provider"),
    "succeeded": lazy_gettext("Refunded"),
    "failed": lazy_gettext("Failed"),
    "rejected": lazy_gettext("Rejected"),
}
# The same words as the application's payment panel: one name per state and mode across the console.
INTENT_STATUS_LABELS = payment_panel.STATUS_TITLES
MODE_LABELS = payment_panel.MODE_TITLES
RESULT_LABELS = {
    "matched": lazy_gettext("Matched"),
    "missing": lazy_gettext("Missing from the report"),
    "extra": lazy_gettext("Not in our records"),
    "mismatch": lazy_gettext("Amounts differ"),
}


@bp.app_template_global()
def sees_accounting() -> bool:
    """For the console's navigation: may the signed-in staff member open the accounting page?"""
    return signed_in_with_any_role(reconcile.ACCOUNTING_ROLES)


def _settings() -> Settings:
    settings: Settings = current_app.config["MADOGUCHI"]
    return settings


def _render(template: str, status: int = 200, **context: Any) -> ResponseReturnValue:
    account = current_principal().account
    return (
        render_template(
            template,
            tenant=current_tenant,
            is_tenant_admin=account is not None and "tenant_admin" in (account.roles or []),
            reason_labels=REASON_LABELS,
            refund_status_labels=REFUND_STATUS_LABELS,
            intent_status_labels=INTENT_STATUS_LABELS,
            mode_labels=MODE_LABELS,
            result_labels=RESULT_LABELS,
            **context,
        ),
        status,
    )


# ------------------------------------------------------------------------------------------- refunds


def _refunds_page(
    application_id: uuid.UUID,
    errors: dict[str, list[str]] | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    session = db_session()
    application = applications.get_for(session, current_principal(), application_id)
    rows = refunds.ledger(session, application)
    people = {r.requested_by_account_id for row in rows for r in row.refunds} | {
        r.approved_by_account_id for row in rows for r in row.refunds
    }
    names = identity_repository.display_names(session, current_tenant.id, {p for p in people if p is not None})
    actor = current_principal().actor
    refundable = [row for row in rows if row.refundable_jpy > 0]
    return _render(
        "payments/refunds.html",
        422 if errors and status == 200 else status,
        section="queue",
        application=application,
        rows=rows,
        refundable=refundable,
        refundable_options=[(str(row.intent.id), _option(row)) for row in refundable],
        names=names,
        may_decide=refunds.APPROVER_ROLE in actor.staff_roles,
        me=actor.account_id,
        reasons=[(code, str(REASON_LABELS[code])) for code in refunds.REASONS],
        errors=errors or {},
        form=form or {},
    )


def _option(row: refunds.IntentRefunds) -> str:
    paid = row.intent.succeeded_at
    when = jp.date_in_japan(paid).isoformat() if paid else ""
    left = format_yen(row.refundable_jpy)
    return _("%(when)s %(how)s: %(left)s left", when=when, how=MODE_LABELS.get(row.intent.mode, ""), left=left)


@bp.get("/applications/<uuid:application_id>/refunds")
def refunds_page(application_id: uuid.UUID) -> ResponseReturnValue:
    return _refunds_page(application_id)


def _refund_errors(refused: ValidationFailed, left: int) -> dict[str, list[str]]:
    most = format(left, ",")
    messages = {
        "amount_jpy": _("Enter a whole number of yen, at most %(left)s.", left=most),
        "reason": _("Choose a reason."),
        "comment": _("Write why: only a request that could not be issued is refunded without a comment."),
        "intent_id": _("Choose the payment to refund."),
    }
    return {field: [messages.get(field, _("Check this answer."))] for field in refused.errors or {"form": []}}


@bp.post("/applications/<uuid:application_id>/refunds")
def request_refund(application_id: uuid.UUID) -> ResponseReturnValue:
    session = db_session()
    application = applications.get_for(session, current_principal(), application_id)
    form = {key: request.form.get(key, "").strip() for key in ("intent_id", "amount_jpy", "reason", "comment")}
    rows = {str(row.intent.id): row for row in refunds.ledger(session, application)}
    row = rows.get(form["intent_id"])
    if row is None:
        return _refunds_page(application_id, {"intent_id": [_("Choose the payment to refund.")]}, form)
    # Full-width digits (３００) and thousands separators are how people type yen.
    amount_text = jp.normalize_input(form["amount_jpy"]).replace(",", "")
    amount: object = int(amount_text) if amount_text.isascii() and amount_text.isdigit() else amount_text
    try:
        refunds.request_refund(session, current_tenant, row.intent.id, actor=current_principal().actor,
                               amount_jpy=amount, reason=form["reason"], comment=form["comment"])  # fmt: skip
    except ValidationFailed as refused:
        return _refunds_page(application_id, _refund_errors(refused, row.refundable_jpy), form)
    except Conflict:
        return _refunds_page(application_id, {"intent_id": [_("This payment cannot be refunded.")]}, form, 409)
    flash(_("The refund was requested: a supervisor decides it."), "success")
    return redirect(url_for(".refunds_page", tenant=current_tenant.slug, application_id=application_id), 303)


@bp.post("/applications/<uuid:application_id>/refunds/<uuid:refund_id>/approve")
def approve_refund(application_id: uuid.UUID, refund_id: uuid.UUID) -> ResponseReturnValue:
    return _decide(application_id, refund_id, "approve")


@bp.post("/applications/<uuid:application_id>/refunds/<uuid:refund_id>/reject")
def reject_refund(application_id: uuid.UUID, refund_id: uuid.UUID) -> ResponseReturnValue:
    return _decide(application_id, refund_id, "reject")


def _decide(application_id: uuid.UUID, refund_id: uuid.UUID, decision: str) -> ResponseReturnValue:
    session = db_session()
    application = applications.get_for(session, current_principal(), application_id)
    if not any(r.id == refund_id for row in refunds.ledger(session, application) for r in row.refunds):
        raise NotFound("No such refund.")
    actor = current_principal().actor
    try:
        if decision == "approve":
            refund = refunds.approve_refund(session, current_tenant, refund_id, actor=actor, settings=_settings())
        else:
            refund = refunds.reject_refund(session, current_tenant, refund_id, actor=actor,
                                           comment=request.form.get("comment"))  # fmt: skip
    except Forbidden as refused:
        message = (
            _("You requested this refund, so another supervisor must decide it.")
            if refused.slug == "separation-of-duties"
            else _("Only a supervisor may decide a refund.")
        )
        return _refunds_page(application_id, {"form": [message]}, status=403)
    except Conflict:
        return _refunds_page(application_id, {"form": [_("This refund was decided already.")]}, status=409)
    done = {
        "succeeded": _("The refund was approved and paid back."),
        "submitted": _("The refund was approved and sent to the provider."),
        "failed": _("The provider refused the refund: the amount may be requested again."),
        "rejected": _("The refund was rejected."),
    }
    flash(done[refund.status], "error" if refund.status == "failed" else "success")
    return redirect(url_for(".refunds_page", tenant=current_tenant.slug, application_id=application_id), 303)


# ---------------------------------------------------------------------------------------- accounting


def _check_accounting() -> None:
    reconcile.check_accounting(current_principal().actor)


def _accounting_page(
    errors: dict[str, list[str]] | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
    file_lines: list[str] | None = None,
) -> ResponseReturnValue:
    _check_accounting()
    today = jp.today()
    defaults = {"day": today.isoformat(), "day_from": today.replace(day=1).isoformat(), "day_to": today.isoformat()}
    return _render(
        "payments/accounting.html",
        422 if errors and status == 200 else status,
        section="accounting",
        imports=reconcile.imports_of(db_session(), current_tenant),
        revenue_item=reconcile.revenue_item(current_tenant),
        errors=errors or {},
        file_lines=file_lines or [],
        form={**defaults, **(form or {})},
    )


@bp.get("/accounting")
def accounting() -> ResponseReturnValue:
    return _accounting_page()


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        return None


@bp.post("/accounting/settlements")
def import_settlement() -> ResponseReturnValue:
    _check_accounting()
    form = {key: request.form.get(key, "").strip() for key in ("provider", "day")}
    upload = request.files.get("file")
    errors: dict[str, list[str]] = {}
    day = _day(form["day"])
    if day is None:
        errors["day"] = [_("Enter the day of the report, for example 2026-12-01.")]
    if upload is None or not upload.filename:
        errors["file"] = [_("Choose the settlement report (CSV).")]
    if errors:
        return _accounting_page(errors, form)
    assert day is not None and upload is not None
    try:
        settlement = reconcile.import_settlement(db_session(), current_tenant, provider=form["provider"], day=day,
                                                 raw=upload.read(), actor=current_principal().actor)  # fmt: skip
    except ValidationFailed as refused:
        found = refused.errors or {}
        messages: dict[str, list[str]] = {}
        if "provider" in found:
            messages["provider"] = [_("Enter a payment provider of this municipality, for example stripe.")]
        if "file" in found:
            messages["file"] = [_("Nothing was imported. Correct the lines listed below and upload again.")]
        # Line by line, as the operation numbers them (lines of the CSV file, the header being line 1).
        return _accounting_page(messages, form, file_lines=list(found.get("file", [])))
    flash(_("The report was imported and matched."), "success")
    return redirect(url_for(".settlement", tenant=current_tenant.slug, import_id=settlement.id), 303)


@bp.get("/accounting/settlements/<uuid:import_id>")
def settlement(import_id: uuid.UUID) -> ResponseReturnValue:
    _check_accounting()
    session = db_session()
    found = reconcile.get_import(session, current_tenant, import_id)
    return _render(
        "payments/settlement.html",
        section="accounting",
        settlement=found,
        problems=reconcile.lines_of(session, found, problems_only=True),
        lines=reconcile.lines_of(session, found),
    )


@bp.get("/accounting/daily-revenue")
def daily_revenue() -> ResponseReturnValue:
    _check_accounting()
    form = {key: request.args.get(key, "").strip() for key in ("day_from", "day_to")}
    start, end = _day(form["day_from"]), _day(form["day_to"])
    errors: dict[str, list[str]] = {}
    if start is None:
        errors["day_from"] = [_("Enter a date, for example 2026-12-01.")]
    if end is None:
        errors["day_to"] = [_("Enter a date, for example 2026-12-31.")]
    if start is not None and end is not None:
        try:
            rows = reconcile.daily_revenue(db_session(), current_tenant, start, end)
        except ValidationFailed:
            errors["day_to"] = [
                _(
                    "Enter a last day on or after the first, at most %(days)d days later.",
                    days=reconcile.MAX_REVENUE_DAYS - 1,
                )
            ]
    if errors:
        return _accounting_page(errors, form)
    assert start is not None and end is not None
    body = reconcile.daily_revenue_csv(rows, reconcile.revenue_item(current_tenant), locale=current_locale())
    name = f"daily-revenue-{current_tenant.slug}-{start.isoformat()}-{end.isoformat()}.csv"
    return Response(
        body,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )
