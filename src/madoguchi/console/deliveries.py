"""The console's delivery pages: the day's mail-out (郵送) and the counter's pick-up list (窓口).

``/<tenant>/console/deliveries/mail?day=YYYY-MM-DD``: the certificates issued by post that day (Japan time) with
the registered address, a sheet of address labels and the day's certificates as one PDF to print, and "sent" for
one item or the whole day. ``/<tenant>/console/deliveries/counter``: what waits at the counter, found by the
resident's pick-up code (typed or scanned), handed over after the clerk checks an identity document.

Clerks and supervisors only (the work of the counter); the operations are ``documents.delivery``, the printouts
``documents.mailing``. An item of another municipality is not there (404). Decision 0033.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from flask import Blueprint, Response, abort, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext

from madoguchi import jp
from madoguchi.audit import access
from madoguchi.context import current_tenant, db_session
from madoguchi.documents import certificates, delivery, mailing, pdf
from madoguchi.documents.storage import current_storage
from madoguchi.errors import Conflict, NotFound, ValidationFailed
from madoguchi.identity.principal import current_principal
from madoguchi.web.auth import require_staff
from madoguchi.web.reads import record_read

#: The counter's work: clerks and supervisors (a tenant admin configures, and does not post certificates).
WORKER_ROLES = delivery.WORKER_ROLES

bp = Blueprint("delivery_console", __name__, url_prefix="/<tenant>/console/deliveries", template_folder="templates")
require_staff(bp, roles=WORKER_ROLES)
WEB_BLUEPRINTS = [bp]

STATUS_LABELS = {
    delivery.PENDING: lazy_gettext("Not sent yet"),
    delivery.SENT: lazy_gettext("Posted"),
    delivery.HANDED_OVER: lazy_gettext("Handed over"),
}
IDENTITY_LABELS = {
    "my_number_card": lazy_gettext("My Number Card"),
    "driving_licence": lazy_gettext("Driving licence"),
    "passport": lazy_gettext("Passport"),
    "residence_card": lazy_gettext("Residence card"),
    "two_other_documents": lazy_gettext("Two other documents (e.g. health insurance card and pension book)"),
}


@bp.app_template_global()
def sees_deliveries() -> bool:
    """For the console's navigation: may the signed-in staff member open the delivery pages?"""
    account = getattr(g.get("principal"), "account", None)
    return account is not None and bool(set(account.roles or ()) & WORKER_ROLES)


def _render(template: str, status: int = 200, **context: Any) -> ResponseReturnValue:
    account = current_principal().account
    return (
        render_template(
            template,
            tenant=current_tenant,
            is_tenant_admin=account is not None and delivery.ADMIN_ROLE in (account.roles or []),
            status_labels=STATUS_LABELS,
            **context,
        ),
        status,
    )


def _day(value: str | None) -> date | None:
    if not value:
        return jp.today()
    try:
        return date.fromisoformat(jp.normalize_input(value))
    except ValueError:
        return None


def _label(item: delivery.Item) -> mailing.Label:
    return mailing.Label(
        postal_code=delivery.formatted_postal_code(item.delivery.postal_code),
        address=item.delivery.address,
        name=item.delivery.recipient_name,
        note=item.application.reference,
    )


def _font() -> Any:
    engine = certificates.current()
    assert engine is not None  # always set inside the app
    return engine.font


# --- Mail-out -------------------------------------------------------------------------------------------------


@bp.get("/mail")
def mail_worklist() -> ResponseReturnValue:
    day = _day(request.args.get("day"))
    if day is None:
        return _render(
            "deliveries/mail.html",
            422,
            section="mail",
            day=jp.today(),
            typed_day=request.args.get("day", ""),
            errors={"day": [_("Enter the date as YYYY-MM-DD, for example 2026-12-07.")]},
            items=[],
            earlier=[],
            handwriting={},
        )
    session = db_session()
    items = delivery.mail_worklist(session, current_tenant.id, day)
    font = _font()
    return _render(
        "deliveries/mail.html",
        section="mail",
        day=day,
        typed_day=day.isoformat(),
        errors={},
        items=items,
        pending=[item for item in items if item.delivery.status == delivery.PENDING],
        earlier=delivery.earlier_pending_days(session, current_tenant.id, day),
        handwriting={item.delivery.id: mailing.needs_handwriting(_label(item), font) for item in items},
        postal=delivery.formatted_postal_code,
        title_of=lambda item: pdf.title_of(item.document.kind, item.document.content),
    )


def _pending_or_404() -> tuple[date, list[delivery.Item]]:
    day = _day(request.args.get("day"))
    if day is None:
        abort(404)
    return day, delivery.mail_worklist(db_session(), current_tenant.id, day, pending_only=True)


def _pdf(data: bytes, name: str) -> Response:
    response = Response(data, mimetype=certificates.PDF_CONTENT_TYPE)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.get("/mail/labels")
def mail_labels() -> Response:
    """The labels of the day's pending post (``?day=``, today by default), as a PDF download."""
    found, items = _pending_or_404()
    data = mailing.labels_pdf([_label(item) for item in items], _font(), title=f"宛名ラベル {found.isoformat()}")
    return _pdf(data, f"labels-{found.isoformat()}.pdf")


@bp.get("/mail/batch")
def mail_batch() -> Response:
    """The day's pending certificates (``?day=``) in one PDF to print, in the labels' order."""
    found, items = _pending_or_404()
    storage = current_storage()
    documents = []
    for item in items:
        # Each certificate printed is a read of the resident's certificate, as a single download is.
        record_read(
            action=access.DOWNLOAD_CERTIFICATE,
            object_type="issued_document",
            object_id=item.document.id,
            categories=[access.CERTIFICATE],
            application=item.application,
        )
        documents.append(certificates.pdf_bytes(item.document, storage))
    data = mailing.concatenate(documents, title=f"郵送分 {found.isoformat()}")
    return _pdf(data, f"mail-out-{found.isoformat()}.pdf")


def _back_to_day(day: date) -> ResponseReturnValue:
    return redirect(url_for(".mail_worklist", tenant=current_tenant.slug, day=day.isoformat()), 303)


@bp.post("/mail/sent")
def mark_day_sent() -> ResponseReturnValue:
    found = _day(request.form.get("day"))
    if found is None:
        abort(404)
    try:
        changed = delivery.mark_day_sent(db_session(), current_tenant, current_principal().actor, found)
    except Conflict:
        flash(_("A certificate on the list was revoked: take it out of the batch, then mark the others one by one."))
        return _back_to_day(found)
    flash(_("%(count)d items were marked sent. The residents are told.", count=len(changed)))
    return _back_to_day(found)


@bp.post("/mail/items/<uuid:delivery_id>/sent")
def mark_sent(delivery_id: uuid.UUID) -> ResponseReturnValue:
    session = db_session()
    item = delivery.get(session, current_tenant.id, delivery_id, method=delivery.MAIL)  # NotFound: 404
    try:
        changed = delivery.mark_sent(session, current_tenant, current_principal().actor, [delivery_id])
    except Conflict:
        flash(_("This certificate was revoked: do not post it."))
        return _back_to_day(item.delivery.day)
    if changed:
        flash(_("%(reference)s was marked sent. The resident is told.", reference=item.application.reference))
    else:
        flash(_("%(reference)s was already marked sent.", reference=item.application.reference))
    return _back_to_day(item.delivery.day)


# --- Counter pick-up ------------------------------------------------------------------------------------------


@bp.get("/counter")
def pickup_list() -> ResponseReturnValue:
    typed = request.args.get("code")
    errors: dict[str, list[str]] = {}
    if typed is not None:
        code = delivery.normalize_pickup_code(typed)
        if code is None:
            errors["code"] = [_("Enter the 6-character pick-up code, for example ACE-347.")]
        else:
            try:
                found = delivery.by_pickup_code(db_session(), current_tenant.id, code)
            except NotFound:
                errors["code"] = [_("No certificate waits at the counter with this pick-up code.")]
            else:
                return redirect(
                    url_for(".hand_over_page", tenant=current_tenant.slug, delivery_id=found.delivery.id), 303
                )
    return _render(
        "deliveries/counter.html",
        422 if errors else 200,
        section="pickup",
        items=delivery.pickup_list(db_session(), current_tenant.id),
        code=typed or "",
        errors=errors,
        grouped=delivery.grouped_pickup_code,
    )


def _hand_over(
    item: delivery.Item, errors: dict[str, list[str]] | None = None, status: int = 200
) -> ResponseReturnValue:
    return _render(
        "deliveries/hand_over.html",
        status,
        section="pickup",
        item=item,
        errors=errors or {},
        identity_options=[(key, str(IDENTITY_LABELS[key])) for key in delivery.IDENTITY_DOCUMENTS],
        identity_labels=IDENTITY_LABELS,
        grouped=delivery.grouped_pickup_code,
        postal=delivery.formatted_postal_code,
        title=pdf.title_of(item.document.kind, item.document.content),
    )


def _counter_item(delivery_id: uuid.UUID) -> delivery.Item:
    return delivery.get(db_session(), current_tenant.id, delivery_id, method=delivery.COUNTER)


@bp.get("/counter/<uuid:delivery_id>")
def hand_over_page(delivery_id: uuid.UUID) -> ResponseReturnValue:
    return _hand_over(_counter_item(delivery_id))


@bp.post("/counter/<uuid:delivery_id>/handed-over")
def hand_over(delivery_id: uuid.UUID) -> ResponseReturnValue:
    item = _counter_item(delivery_id)
    try:
        delivery.hand_over(
            db_session(),
            current_tenant,
            current_principal().actor,
            delivery_id,
            request.form.get("identity_document", ""),
        )
    except ValidationFailed:
        return _hand_over(item, {"identity_document": [_("Choose the identity document you checked.")]}, 422)
    except Conflict:
        return _hand_over(item, {"form": [_("This certificate was revoked: do not hand it over.")]}, 409)
    flash(_("%(reference)s was handed over.", reference=item.application.reference))
    return redirect(url_for(".pickup_list", tenant=current_tenant.slug), 303)
