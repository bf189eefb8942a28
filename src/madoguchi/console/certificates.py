"""The console's certificate page: staff download an issued document or revoke it with a reason
(``/<tenant>/console/documents/<id>``)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from madoguchi.context import current_tenant, db_session
from madoguchi.documents import certificates, issuing, pdf, repository
from madoguchi.errors import Conflict
from madoguchi.identity.models import StaffRole
from madoguchi.identity.principal import current_principal
from madoguchi.web.auth import require_staff
from madoguchi.web.downloads import pdf_response

if TYPE_CHECKING:  # annotations only: the pages go through the repository and the operations
    from madoguchi.documents.models import IssuedDocument

console_documents = require_staff(
    Blueprint("certificate_console", __name__, url_prefix="/<tenant>/console/documents", template_folder="templates")
)
WEB_BLUEPRINTS = [console_documents]


def _visible_document(document_id: uuid.UUID) -> IssuedDocument:
    """A document of an application the queue shows, else 404 (``repository.document_for`` applies the rule)."""
    return repository.document_for(db_session(), current_principal(), document_id)


def _console_page(
    document: IssuedDocument, errors: dict[str, list[str]] | None = None, status: int = 200, reason: str = ""
) -> ResponseReturnValue:
    account = current_principal().account
    application = repository.application_of(db_session(), document)
    context: dict[str, Any] = {
        "tenant": current_tenant,
        "is_tenant_admin": account is not None and StaffRole.TENANT_ADMIN in (account.roles or []),
        "document": document,
        "application": application,
        "title": pdf.title_of(document.kind, document.content),
        "code": certificates.grouped(document.verification_code) if document.verification_code else "",
        "errors": errors or {},
        "reason": reason,
        "reason_max": certificates.REVOCATION_REASON_MAX,
    }
    return render_template("certificates/console_document.html", **context), status


@console_documents.get("/<uuid:document_id>")
def console_document(document_id: uuid.UUID) -> ResponseReturnValue:
    return _console_page(_visible_document(document_id))


@console_documents.get("/<uuid:document_id>/pdf")
def console_download(document_id: uuid.UUID) -> ResponseReturnValue:
    return pdf_response(_visible_document(document_id))


@console_documents.post("/<uuid:document_id>/revocation")
def console_revoke(document_id: uuid.UUID) -> ResponseReturnValue:
    document = _visible_document(document_id)
    reason = request.form.get("reason", "").strip()
    if not reason:
        return _console_page(document, {"reason": [_("Write why the certificate is revoked.")]}, 422, reason)
    if len(reason) > certificates.REVOCATION_REASON_MAX:
        message = _("Write at most %(count)d characters.", count=certificates.REVOCATION_REASON_MAX)
        return _console_page(document, {"reason": [message]}, 422, reason)
    try:
        certificates.revoke(db_session(), current_tenant, current_principal().actor, document_id, reason)
    except Conflict:
        return _console_page(document, {"form": [_("This certificate is already revoked.")]}, 409)
    flash(_("The certificate is revoked. The verification page now reports it as revoked."), "success")
    return redirect(
        url_for("certificate_console.console_document", tenant=current_tenant.slug, document_id=document_id), code=303
    )


@console_documents.post("/applications/<uuid:application_id>/copy")
def console_application_copy(application_id: uuid.UUID) -> ResponseReturnValue:
    """申込内容の写し of an application in the queue (decision 0041), e.g. printed for a parent at the counter."""
    document = issuing.copy_of_application(db_session(), current_tenant, current_principal(), application_id)
    return redirect(
        url_for("certificate_console.console_download", tenant=current_tenant.slug, document_id=document.id), code=303
    )


@console_documents.post("/applications/<uuid:application_id>/receipt")
def console_receipt(application_id: uuid.UUID) -> ResponseReturnValue:
    """領収書 of the fees paid for an application in the queue (decision 0046), e.g. printed at the counter."""
    document = issuing.receipt_of_application(db_session(), current_tenant, current_principal(), application_id)
    return redirect(
        url_for("certificate_console.console_download", tenant=current_tenant.slug, document_id=document.id), code=303
    )
