"""The certificates API: issued documents of an application, their signed PDF, revocation (staff), and the
public verification of a code or an uploaded PDF.

Who sees a document: whoever sees its application (the applicant, a vendor app acting for them, staff).
Anyone else gets 404. Verification is public and tells nothing personal (see ``certificates.Summary``).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from werkzeug.wrappers import Response

from madoguchi.api.auth import limit_per_caller_and_address, require_authentication, requires_scope
from madoguchi.applications import repository as applications
from madoguchi.context import current_tenant, db_session, records_reads
from madoguchi.documents import certificates, delivery, repository
from madoguchi.errors import Forbidden, ValidationFailed
from madoguchi.identity.principal import APPLICATIONS_PROCESS, APPLICATIONS_READ, Principal, current_principal
from madoguchi.security import public
from madoguchi.web.downloads import pdf_response

if TYPE_CHECKING:  # annotations only: the routes go through the repositories and the operations
    from madoguchi.documents.models import IssuedDocument

blp = Blueprint(
    "certificates",
    __name__,
    url_prefix="/t/<tenant>",
    description="Certificates issued for applications: metadata, the signed PDF, revocation by staff",
)
require_authentication(blp)
limit_per_caller_and_address(blp)

verification_blp = Blueprint(
    "certificate_verifications",
    __name__,
    url_prefix="/verifications",
    description="Anyone may check a certificate: by its verification code, or by uploading the PDF",
)
#: Public and unauthenticated: the API's rate limit per address (codes are 60 random bits anyway).
limit_per_caller_and_address(verification_blp)

#: How long a presigned S3 download URL lives.


# ----------------------------------------------------------------------------------------------- schemas


class DeliverySchema(Schema):
    method = fields.String(metadata={"description": "electronic (download), mail (郵送) or counter (窓口)"})
    status = fields.String(
        metadata={"description": "electronic: issued; mail: pending, then sent; counter: pending, then handed_over"}
    )
    pickup_code = fields.String(
        allow_none=True, metadata={"description": "counter: shown at the counter, e.g. ACE-347"}
    )
    completed_at = fields.DateTime(allow_none=True, metadata={"description": "when it was posted or handed over"})
    downloadable = fields.Boolean(metadata={"description": "the applicant gets the PDF (electronic delivery only)"})


class IssuedDocumentSchema(Schema):
    id = fields.UUID()
    application_id = fields.UUID()
    kind = fields.String(metadata={"description": "residency_certificate, tax_certificate or childcare_decision"})
    title = fields.String(metadata={"description": "The document's Japanese title, e.g. 住民票の写し"})
    serial = fields.String()
    issued_at = fields.DateTime()
    issued_by = fields.String()
    verification_code = fields.String(
        allow_none=True, metadata={"description": "Printed on the certificate; check it at /verify/<code>"}
    )
    pdf_sha256 = fields.String(allow_none=True)
    pdf_size = fields.Integer(allow_none=True)
    revoked = fields.Boolean()
    revoked_at = fields.DateTime(allow_none=True)
    revoked_reason = fields.String(allow_none=True, metadata={"description": "Shown to staff only"})
    delivery = fields.Nested(DeliverySchema)


class RevocationSchema(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=certificates.REVOCATION_REASON_MAX))


class VerificationSchema(Schema):
    status = fields.String(metadata={"description": "valid, revoked or unknown"})
    title = fields.String()
    kind = fields.String()
    municipality = fields.String()
    municipality_en = fields.String()
    serial = fields.String()
    issued_at = fields.DateTime(allow_none=True)
    issued_on_wareki = fields.String()
    revoked_at = fields.DateTime(allow_none=True)
    pdf_sha256 = fields.String(metadata={"description": "SHA-256 of the PDF as issued"})


class UploadCheckSchema(Schema):
    status = fields.String(metadata={"description": "valid, revoked, altered or unknown"})
    certificate = fields.Nested(VerificationSchema, allow_none=True, attribute="summary")
    signature_found = fields.Boolean()
    intact = fields.Boolean(metadata={"description": "The signed bytes are unchanged and the signature is valid"})
    trusted = fields.Boolean(metadata={"description": "The signer's certificate chains to the platform CA"})
    covers_whole_file = fields.Boolean()
    signer = fields.String()
    sha256 = fields.String(metadata={"description": "SHA-256 of the uploaded file"})
    problems = fields.List(fields.String())


class UploadSchema(Schema):
    file = fields.Raw(required=True, metadata={"type": "string", "format": "binary"})


# ----------------------------------------------------------------------------------------------- helpers


def _document(document_id: uuid.UUID) -> IssuedDocument:
    """An issued document of an application this caller may see (whoever sees the application), else 404."""
    return repository.document_for(db_session(), current_principal(), document_id)


def present(document: IssuedDocument, principal: Principal) -> dict[str, Any]:
    return {
        "id": document.id,
        "application_id": document.application_id,
        "kind": document.kind,
        "title": certificates.pdf.title_of(document.kind, document.content),
        "serial": document.serial,
        "issued_at": document.issued_at,
        "issued_by": document.issued_by,
        "verification_code": document.verification_code,
        "pdf_sha256": document.pdf_sha256,
        "pdf_size": document.pdf_size,
        "revoked": document.revoked_at is not None,
        "revoked_at": document.revoked_at,
        "revoked_reason": document.revoked_reason if principal.is_staff else None,
        "delivery": _delivery(document),
    }


def _delivery(document: IssuedDocument) -> dict[str, Any]:
    filed = delivery.of_document(db_session(), document)
    if filed is None:
        return {
            "method": delivery.ELECTRONIC,
            "status": "issued",
            "pickup_code": None,
            "completed_at": None,
            "downloadable": True,
        }
    return {
        "method": filed.method,
        "status": filed.status,
        "pickup_code": delivery.grouped_pickup_code(filed.pickup_code) if filed.pickup_code else None,
        "completed_at": filed.completed_at,
        "downloadable": False,
    }


# ------------------------------------------------------------------------------------------------- views


@blp.route("/applications/<uuid:application_id>/documents")
class ApplicationDocuments(MethodView):
    @blp.response(200, IssuedDocumentSchema(many=True))
    @blp.alt_response(404, description="No such application for this caller")
    @requires_scope(APPLICATIONS_READ)
    def get(self, application_id: uuid.UUID) -> list[dict[str, Any]]:
        """The documents issued for an application (normally one certificate)."""
        principal = current_principal()
        session = db_session()
        application = applications.get_for(session, principal, application_id)
        return [present(d, principal) for d in repository.documents_of_application(session, principal, application.id)]


@blp.route("/documents/<uuid:document_id>")
class DocumentItem(MethodView):
    @blp.response(200, IssuedDocumentSchema)
    @blp.alt_response(404, description="No such document for this caller")
    @requires_scope(APPLICATIONS_READ)
    def get(self, document_id: uuid.UUID) -> dict[str, Any]:
        """One issued document: serial, verification code, the PDF's SHA-256, revocation."""
        return present(_document(document_id), current_principal())


@blp.route("/documents/<uuid:document_id>/pdf")
class DocumentPdf(MethodView):
    @records_reads
    @blp.response(200, description="The signed PDF (PAdES)", content_type="application/pdf")
    @blp.alt_response(302, description="Redirect to a short-lived download URL (S3 storage)")
    @blp.alt_response(
        403,
        description="Delivered on paper (mail, counter), or an app asking for a copy with the Individual Number",
    )
    @blp.alt_response(404, description="No such document for this caller")
    @requires_scope(APPLICATIONS_READ)
    def get(self, document_id: uuid.UUID) -> Response:
        """Download the signed PDF. A revoked certificate can still be downloaded; /verify reports it revoked.
        A certificate with the Individual Number is never given to an app (403): the resident downloads it. A
        certificate delivered on paper (mail, counter) is the staff's record: 403 for anyone else."""
        document = _document(document_id)
        certificates.ensure_deliverable_to(document, current_principal())
        return pdf_response(document)


@blp.route("/documents/<uuid:document_id>/revocation")
class Revocation(MethodView):
    @blp.arguments(RevocationSchema)
    @blp.response(200, IssuedDocumentSchema)
    @blp.alt_response(404, description="No such document")
    @blp.alt_response(409, description="Already revoked")
    @requires_scope(APPLICATIONS_PROCESS)
    def post(self, body: dict[str, Any], document_id: uuid.UUID) -> dict[str, Any]:
        """Revoke a certificate (staff), with the reason. /verify reports it revoked from now on."""
        principal = current_principal()
        if not principal.is_staff:
            raise Forbidden("Only staff revoke certificates.")
        _document(document_id)
        document = certificates.revoke(db_session(), current_tenant, principal.actor, document_id, body["reason"])
        return present(document, principal)


@verification_blp.route("/<token>")
@public
class CodeVerification(MethodView):
    @verification_blp.response(200, VerificationSchema)
    def get(self, token: str) -> certificates.Summary:
        """Check a verification code as printed (hyphens, case and full-width characters do not matter).
        An unknown code answers 200 with status `unknown`."""
        return certificates.verify_code(db_session(), token)


@verification_blp.route("")
@public
class UploadVerification(MethodView):
    @verification_blp.arguments(UploadSchema, location="files")
    @verification_blp.response(200, UploadCheckSchema)
    @verification_blp.alt_response(422, description="No file, or not a PDF")
    def post(self, files: dict[str, Any]) -> certificates.UploadCheck:
        """Upload a certificate PDF: its signature is validated against the platform CA, it must cover the whole
        file, and the file must be exactly one issued here. Answers valid, revoked, altered or unknown."""
        upload = request.files.get("file")
        if upload is None:
            raise ValidationFailed(errors={"file": ["is required"]})
        data = upload.read(certificates.MAX_UPLOAD_BYTES + 1)
        engine = certificates.current()
        assert engine is not None  # always set inside the app
        return certificates.verify_pdf(db_session(), engine, data)


API_BLUEPRINTS = [blp, verification_blp]
