"""Certificate pages: the public /verify page (a code, or an uploaded PDF) and the resident's download.

The console's document page (download, revoke with a reason) is ``madoguchi.console.certificates``; the
template globals ``issued_documents_for`` and ``document_title`` registered here serve both surfaces.

The verify page belongs to no municipality: it looks the code up in the global table and reads the
document inside its tenant (``certificates.verify_code``). It shows what the holder of the paper already
sees, without names, addresses or amounts.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_limiter.util import get_remote_address

from madoguchi.context import current_tenant, db_session
from madoguchi.documents import certificates, delivery, issuing, pdf, repository
from madoguchi.errors import ValidationFailed
from madoguchi.extensions import limiter
from madoguchi.identity.principal import current_principal
from madoguchi.payments import intents as payment_intents
from madoguchi.security import public
from madoguchi.web.auth import require_resident
from madoguchi.web.downloads import pdf_response

if TYPE_CHECKING:  # annotations only: the pages go through the repository and the operations
    from madoguchi.applications.models import Application
    from madoguchi.documents.models import IssuedDocument

verify_pages = Blueprint("certificate_verify", __name__, url_prefix="/verify", template_folder="templates")
portal_documents = require_resident(
    Blueprint("certificate_portal", __name__, url_prefix="/<tenant>/documents", template_folder="templates")
)
WEB_BLUEPRINTS = [verify_pages, portal_documents]

# Public: the API's rate limit (MADOGUCHI_API_RATE_LIMIT) per address for the verify page and its uploads.
limiter.limit(
    lambda: current_app.config["MADOGUCHI"].api_rate_limit, key_func=get_remote_address, scope="certificate-verify"
)(verify_pages)


def _status_labels() -> dict[str, str]:
    return {
        certificates.VALID: _("Valid"),
        certificates.REVOKED: _("Revoked"),
        certificates.ALTERED: _("Altered"),
        certificates.UNKNOWN: _("Unknown"),
    }


@verify_pages.app_template_global("issued_documents_for")
def issued_documents_for(application: Application) -> list[IssuedDocument]:
    """The documents issued for an application the page already shows (it has checked who may see it)."""
    return repository.documents_of(db_session(), application)


@verify_pages.app_template_global("resident_may_download")
def resident_may_download(document: IssuedDocument) -> bool:
    """Whether the page offers the PDF: electronic delivery, or staff (a posted or collected certificate is paper)."""
    return current_principal().is_staff or delivery.resident_may_download(db_session(), document)


@verify_pages.app_template_global("document_title")
def document_title(document: IssuedDocument) -> str:
    return pdf.title_of(document.kind, document.content)


# ------------------------------------------------------------------------------------------ /verify


def _verify_form(errors: dict[str, list[str]] | None = None, code: str = "", status: int = 200) -> ResponseReturnValue:
    return render_template("certificates/verify.html", errors=errors or {}, code=code), status


@verify_pages.get("/")
@public
def verify_start() -> ResponseReturnValue:
    """Type the code from the paper, or upload the PDF. ``?code=`` comes from the form on this page."""
    typed = request.args.get("code")
    if typed is None:
        return _verify_form()
    code = certificates.normalize_code(typed)
    if code is None:
        message = _("Enter the 12-character code printed under the QR code, for example 7K3M-Q2XD-HP4N.")
        return _verify_form({"code": [message]}, typed, 422)
    return redirect(url_for("certificate_verify.verify_code", token=code), code=303)


@verify_pages.get("/<token>")
@public
def verify_code(token: str) -> ResponseReturnValue:
    # The token is the verification code (what the QR code on the paper links to).
    summary = certificates.verify_code(db_session(), token)
    return render_template(
        "certificates/verify_result.html",
        summary=summary,
        code=certificates.grouped(summary.code) if summary.code else token,
        labels=_status_labels(),
    )


def _refusal_message(refusal: ValidationFailed) -> str:
    if refusal.extra.get("reason") == "unreadable":
        return _("This PDF cannot be read as a certificate: it is damaged, or built unlike any certificate.")
    if "is too large" in (refusal.errors or {}).get("file", []):
        return _("The file is too large to be a certificate.")
    return _("This file is not a PDF.")


@verify_pages.post("/")
@public
def verify_upload() -> ResponseReturnValue:
    upload = request.files.get("file")
    data = upload.read(certificates.MAX_UPLOAD_BYTES + 1) if upload is not None else b""
    if not data:
        return _verify_form({"file": [_("Choose the certificate's PDF file.")]}, status=422)
    engine = certificates.current()
    assert engine is not None  # always set inside the app
    try:
        check = certificates.verify_pdf(db_session(), engine, data)
    except ValidationFailed as refusal:
        return _verify_form({"file": [_refusal_message(refusal)]}, status=422)
    return render_template("certificates/verify_upload.html", check=check, labels=_status_labels())


# ------------------------------------------------------------------------------------------ downloads


def _visible_document(document_id: uuid.UUID) -> IssuedDocument:
    """A document of an application the signed-in resident (their own) or clerk (the queue's) may see, else 404."""
    return repository.document_for(db_session(), current_principal(), document_id)


@portal_documents.get("/<uuid:document_id>/pdf")
def resident_download(document_id: uuid.UUID) -> ResponseReturnValue:
    return pdf_response(_visible_document(document_id))


@portal_documents.app_template_global()
def receipt_available(application: Application) -> bool:
    """For the portal's and the console's application pages: was a fee paid, so that a 領収書 can be had?"""
    return payment_intents.paid_jpy(db_session(), application) > 0


@portal_documents.post("/applications/<uuid:application_id>/receipt")
def resident_receipt(application_id: uuid.UUID) -> ResponseReturnValue:
    """領収書 of the fees the resident paid for their application (decision 0046): the last one if nothing changed
    since, else signed now; then its download."""
    document = issuing.receipt_of_application(db_session(), current_tenant, current_principal(), application_id)
    return redirect(
        url_for("certificate_portal.resident_download", tenant=current_tenant.slug, document_id=document.id), code=303
    )


@portal_documents.post("/applications/<uuid:application_id>/copy")
def resident_application_copy(application_id: uuid.UUID) -> ResponseReturnValue:
    """申込内容の写し of the resident's own application (decision 0041): signed now, or the last copy if nothing
    changed since; then its download."""
    document = issuing.copy_of_application(db_session(), current_tenant, current_principal(), application_id)
    return redirect(
        url_for("certificate_portal.resident_download", tenant=current_tenant.slug, document_id=document.id), code=303
    )
