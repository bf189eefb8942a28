"""The console page of email deliveries (``/<tenant>/console/email-deliveries/``), and remembering a resident's
language choice for their emails.

Tenant admins and supervisors see every email the municipality sent or tried to send: failed ones first, with
their attempts and last error, and a "send again" button (audited) for those the worker gave up on. Clerks do
not: the page shows residents' addresses and is about running the service, not about one application.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext

from madoguchi.context import current_tenant, db_session
from madoguchi.errors import Conflict, NotFound
from madoguchi.identity import operations as identity
from madoguchi.identity.models import StaffRole
from madoguchi.identity.principal import current_principal
from madoguchi.identity.sessions import principal_from_session_cookie
from madoguchi.notify import email
from madoguchi.web.auth import require_staff
from madoguchi.web.i18n import SUPPORTED_LOCALES, tenant_locales

#: Who sees the page (and the console's link to it).
VIEWER_ROLES = email.VIEWER_ROLES

bp = Blueprint("notify_web", __name__, url_prefix="/<tenant>/console/email-deliveries", template_folder="templates")
require_staff(bp, roles=VIEWER_ROLES)

STATUS_LABELS = {
    email.FAILED: lazy_gettext("Failed"),
    email.PENDING: lazy_gettext("Waiting for a retry"),
    email.SENT: lazy_gettext("Sent"),
}
STATUS_BADGES = {email.FAILED: "badge-overdue", email.PENDING: "badge-warn", email.SENT: "badge-ok"}
#: A "sent" email of a backend that keeps mail on the machine (log, mailbox) never left it: the log says so.
RECORDED_LABEL = lazy_gettext("Recorded, not sent")


@bp.app_template_global()
def email_status_label(delivery: email.EmailDelivery) -> str:
    """The status as staff should read it: "recorded, not sent" when nothing left the machine."""
    if delivery.status == email.SENT and delivery.backend in email.NOT_SENDING_BACKENDS:
        return str(RECORDED_LABEL)
    return str(STATUS_LABELS.get(delivery.status, delivery.status))


@bp.app_template_global()
def sees_email_deliveries() -> bool:
    """For the console's navigation: may the signed-in staff member open the email deliveries page?"""
    principal = g.get("principal")
    account = getattr(principal, "account", None)
    return account is not None and bool(set(account.roles or ()) & VIEWER_ROLES)


def _page(*, message: str | None = None, code: int = 200) -> ResponseReturnValue:
    status = request.args.get("status") or None
    if status not in STATUS_LABELS:
        status = None
    deliveries = email.list_deliveries(db_session(), current_tenant.id, status=status)
    account = current_principal().account
    page = render_template(
        "notify/email_deliveries.html",
        section="email",
        tenant=current_tenant,
        is_tenant_admin=account is not None and StaffRole.TENANT_ADMIN in (account.roles or []),
        deliveries=deliveries,
        status=status,
        status_labels=STATUS_LABELS,
        status_badges=STATUS_BADGES,
        message=message,
    )
    return page, code


@bp.get("/")
def email_deliveries() -> ResponseReturnValue:
    return _page()


@bp.post("/<uuid:delivery_id>/retry")
def retry_email_delivery(delivery_id: uuid.UUID) -> ResponseReturnValue:
    session = db_session()
    try:
        delivery = email.get_delivery(session, current_tenant.id, delivery_id)
    except NotFound:
        abort(404)
    try:
        email.retry_delivery(session, current_tenant, delivery, actor=current_principal().actor.label)
    except email.OneTimeLinkNotKept:
        return _page(
            message=_(
                "This email carried a one-time link, which is not kept once the email was sent or given up. "
                "Ask the person to request a new link (or send a new invitation)."
            ),
            code=409,
        )
    except Conflict:
        # Sent already, or the worker is still retrying it: nothing changes.
        return _page(
            message=_("Only a failed email can be sent again: this one was sent or is still being retried."), code=409
        )
    flash(_("The email to %(recipient)s will be sent again in a moment.", recipient=delivery.recipient))
    return redirect(url_for(".email_deliveries", tenant=current_tenant.slug), 303)


# --- The resident's language, for emails -----------------------------------------------------------------

remember_language = Blueprint("notify_language", __name__)


@remember_language.before_app_request
def _remember_language_choice() -> Any:
    """A signed-in resident who picks a language with the switch (``?lang=``) gets their emails in it too."""
    chosen = request.args.get("lang")
    tenant = g.get("tenant")
    if chosen not in SUPPORTED_LOCALES or tenant is None or request.path.startswith("/api/"):
        return None
    if chosen not in tenant_locales():
        return None
    principal = principal_from_session_cookie()
    if principal is None or principal.tenant_id != tenant.id or not principal.is_resident:
        return None
    assert principal.account is not None
    identity.remember_locale(db_session(), principal.account, chosen)
    return None


WEB_BLUEPRINTS = [bp, remember_language]
