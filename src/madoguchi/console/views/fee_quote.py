"""The fee on the console's application page: the current quote (or what it would be, for a draft), and the clerk's
form to fix the fee (事後決済) or grant an exemption (減免) with its reason and evidence. Decision 0043.

The form posts to ``/<tenant>/console/applications/<id>/fee-quote``; a refusal re-renders the application page
with the message beside the field (422), and nothing changes. Clerks and supervisors only; another
municipality's application is not there (404).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from flask import abort, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext

from madoguchi import jp
from madoguchi.applications import repository
from madoguchi.console.views.application import _application_page
from madoguchi.console.views.common import _load, bp
from madoguchi.context import current_tenant, db_session
from madoguchi.documents import repository as documents
from madoguchi.errors import Conflict, NotFound, ValidationFailed
from madoguchi.identity.principal import current_principal
from madoguchi.payments import intents, quotes
from madoguchi.payments import service as payment_service

if TYPE_CHECKING:  # annotations only: the page uses the repositories and operations, never the models
    from madoguchi.applications.models import Application

#: Who fixes fees and grants 減免: the counter's staff (a tenant admin configures, and does not).
WORKER_ROLES = frozenset({"clerk", "supervisor"})

EXEMPTION_LABELS = {
    "public_assistance": lazy_gettext("Public assistance (生活保護)"),
    "public_pension": lazy_gettext("Public pension claim (公的年金)"),
    "government_office": lazy_gettext("Request from a government office (官公署)"),
    "disaster": lazy_gettext("Disaster victim (被災者)"),
    "other": lazy_gettext("Other exemption under the ordinance"),
}
CHANNEL_LABELS = {
    "counter": lazy_gettext("At the counter"),
    "online": lazy_gettext("Online"),
    "convenience": lazy_gettext("Convenience store"),
}
#: The clerk's words for each field the domain may refuse (``quotes._check_request``).
FIELD_MESSAGES = {
    "exemption": lazy_gettext("Choose an exemption this municipality grants."),
    "exemption_reason": lazy_gettext("Write the reason for the exemption (at most 1000 characters)."),
    "fixed_fee_jpy": lazy_gettext("Enter the fee as a whole number of yen, for example 300."),
    "evidence_id": lazy_gettext("Choose one of this application's attachments."),
    "channel": lazy_gettext("Choose how the fee is paid."),
}


@bp.app_template_global()
def fee_quote_for(application: Application) -> dict[str, Any]:
    """For the application page: the quote in force (a preview for a draft), what is due, and the form's choices."""
    session = db_session()
    quote = intents.current_quote(session, application)
    attachments = documents.list_attachments(session, application.tenant_id, application.id)
    return {
        "quote": quote if quote is not None else quotes.preview(session, current_tenant, application),
        "stored": quote is not None,
        "due": intents.amount_due(session, application),
        "collects": quotes.payments_of(current_tenant) is not None,
        "exemption_label": EXEMPTION_LABELS.get(quote.exemption_code or "") if quote is not None else None,
        "exemptions": [(code, str(EXEMPTION_LABELS[code])) for code in quotes.exemptions_allowed(current_tenant)],
        "channels": [(channel, str(label)) for channel, label in CHANNEL_LABELS.items()],
        "evidence": [(str(a.id), a.original_name) for a in attachments],
    }


def _whole_yen(value: str) -> int | None:
    """全角 digits, commas and a trailing 円 are fine; None for anything that is not a whole number of yen."""
    text = jp.normalize_input(value).strip().removesuffix("円").replace(",", "").strip()
    return int(text) if text.isdigit() else None


@bp.post("/applications/<uuid:application_id>/fee-quote")
def fix_fee(application_id: uuid.UUID) -> ResponseReturnValue:
    application = _load(application_id)
    account = current_principal().account
    if account is None or not set(account.roles or ()) & WORKER_ROLES:
        abort(403)
    form = {name: request.form.get(name, "") for name in ("kind", "exemption", "exemption_reason", "evidence_id")}
    form["fixed_fee_jpy"] = request.form.get("fixed_fee_jpy", "")
    form["channel"] = request.form.get("channel", "")
    exempt = form["kind"] == "exemption"
    fixed = _whole_yen(form["fixed_fee_jpy"]) if not exempt else None
    evidence: uuid.UUID | None = None
    errors: dict[str, list[str]] = {}
    if exempt and form["evidence_id"]:
        try:
            evidence = uuid.UUID(form["evidence_id"])
        except ValueError:
            errors["evidence_id"] = [str(FIELD_MESSAGES["evidence_id"])]
        try:
            if evidence is not None:
                documents.get_attachment(db_session(), application.tenant_id, application.id, evidence)
        except NotFound:
            errors["evidence_id"] = [str(FIELD_MESSAGES["evidence_id"])]
    if not exempt and fixed is None:
        errors["fixed_fee_jpy"] = [str(FIELD_MESSAGES["fixed_fee_jpy"])]
    if not errors:
        # Locked: two clerks quoting at once take turns, so exactly one quote stays current.
        application = repository.get(db_session(), current_tenant.id, application.id, lock=True)
        try:
            # Under 事後決済 the resident is emailed where to pay once the fee is fixed.
            payment_service.requote(
                db_session(),
                current_tenant,
                application,
                actor=current_principal().actor,
                channel=form["channel"] or None,
                exemption=(form["exemption"] or "") if exempt else None,
                exemption_reason=form["exemption_reason"] if exempt else None,
                evidence_id=evidence,
                fixed_fee_jpy=fixed,
            )
        except ValidationFailed as error:
            db_session().rollback()
            errors = {field: [str(FIELD_MESSAGES.get(field, _("Check this field.")))] for field in error.errors or {}}
        except Conflict:
            db_session().rollback()
            errors = {"form": [_("The fee cannot be changed in the application's current state.")]}
    if errors:
        return _application_page(_load(application_id), errors=errors, status=422, fee_form=form)
    flash(_("The exemption was recorded: nothing is due.") if exempt else _("The fee was fixed."))
    return redirect(url_for(".application_page", tenant=current_tenant.slug, application_id=application_id), code=303)
