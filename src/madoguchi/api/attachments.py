"""The attachments API: upload, list, read and delete the documents of an application.

Under ``/api/v1/t/<tenant>/applications/<application_id>/attachments``, with the applications API's rules:
whoever may see the application may list and download its attachments; whoever may edit it (the applicant,
a vendor app acting for them, staff at the counter) may upload and delete while it is a draft or awaits more
information. Anything else is 404.

Statuses of an upload: 201; 409 when the document already has ``max_count`` files (or the application can no
longer be changed); 413 when the file exceeds the document's ``max_bytes`` (or the request the global
``MADOGUCHI_MAX_REQUEST_BYTES``); 422 for an unknown or inapplicable document key, a type the content does
not show, a name or declared type disagreeing with the content, or a virus; 503 when the virus scanner or
the document store cannot be reached. A download is the file itself (local storage) or a ``303`` redirect to
a presigned URL valid for ``MADOGUCHI_STORAGE_PRESIGNED_SECONDS`` (S3).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from flask import Request, Response, current_app, request, url_for
from flask.views import MethodView
from flask_smorest import Blueprint
from flask_smorest.fields import Upload as UploadField
from marshmallow import Schema, fields, validate
from webargs.flaskparser import FlaskParser
from werkzeug.datastructures import CombinedMultiDict
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response as WerkzeugResponse

from madoguchi.api.auth import limit_per_caller_and_address, require_authentication, requires_scope
from madoguchi.api.idempotency import IDEMPOTENCY_KEY_PARAMETER, make_idempotent
from madoguchi.applications import repository as applications
from madoguchi.audit import access
from madoguchi.context import current_tenant, db_session, records_reads
from madoguchi.documents import attachments, repository
from madoguchi.documents.scanning import current_scanner
from madoguchi.documents.storage import current_storage
from madoguchi.errors import problem_response
from madoguchi.identity.principal import (
    APPLICATIONS_READ,
    APPLICATIONS_WRITE,
    current_principal,
)
from madoguchi.web.downloads import download_response
from madoguchi.web.reads import record_read

if TYPE_CHECKING:  # annotations only: the routes go through the repository and the operations
    from madoguchi.applications.models import Application
    from madoguchi.documents.models import Attachment

#: Room for the multipart envelope around the file (boundaries, part headers, the document key).
MULTIPART_OVERHEAD_BYTES = 64 * 1024

blp = Blueprint(
    "attachments",
    __name__,
    url_prefix="/t/<tenant>/applications",
    description="Documents attached to an application (PDF, JPEG, PNG): upload, list, download, delete",
)
require_authentication(blp)


class AttachmentSchema(Schema):
    id = fields.UUID(required=True)
    application_id = fields.UUID(required=True)
    document_key = fields.String(required=True, metadata={"example": "power_of_attorney"})
    original_name = fields.String(
        required=True, metadata={"description": "the uploader's file name (sanitised), metadata only"}
    )
    content_type = fields.String(required=True, metadata={"example": "application/pdf"})
    size_bytes = fields.Integer(required=True)
    sha256 = fields.String(required=True, metadata={"description": "hex SHA-256 of the content"})
    scan_status = fields.String(required=True, metadata={"description": "clean or not_scanned (scanning off)"})
    created_at = fields.DateTime(required=True)
    download_url = fields.String(required=True, metadata={"description": "GET it for the file"})


class AttachmentUploadSchema(Schema):
    """The multipart body of an upload: a form field and a file part."""

    document_key = fields.String(
        required=True, validate=validate.Length(min=1, max=63), metadata={"example": "power_of_attorney"}
    )
    file = UploadField(required=True, metadata={"description": "PDF, JPEG or PNG"})


class _MultipartParser(FlaskParser):
    """webargs' ``files`` location, with the form fields beside the files: one multipart body, one schema."""

    def load_files(self, req: Request, schema: Schema) -> Any:
        return self._makeproxy(CombinedMultiDict([req.files, req.form]), schema)


def _application(application_id: uuid.UUID) -> Application:
    """The application as the applications API shows it to this caller (its visibility rules), else 404."""
    return applications.get_for(db_session(), current_principal(), application_id)


def present(attachment: Attachment) -> dict[str, Any]:
    return {
        "id": attachment.id,
        "application_id": attachment.application_id,
        "document_key": attachment.document_key,
        "original_name": attachment.original_name,
        "content_type": attachment.content_type,
        "size_bytes": attachment.size_bytes,
        "sha256": attachment.sha256,
        "scan_status": attachment.scan_status,
        "created_at": attachment.created_at,
        "download_url": url_for(
            "attachments.AttachmentContent",
            tenant=current_tenant.slug,
            application_id=attachment.application_id,
            attachment_id=attachment.id,
        ),
    }


def upload_ceiling(application: Application) -> int:
    """The most an upload to this application may carry: its largest document limit plus the envelope."""
    largest = max((int(d.get("max_bytes") or 0) for d in attachments.slots(application).values()), default=0)
    return largest + MULTIPART_OVERHEAD_BYTES


def _limit_upload_request() -> None:
    """Before the body is read (by the Idempotency-Key hash or the form parser): another caller's application
    is 404 whatever the body, and the body is capped at what this application's documents may need."""
    if request.method != "POST" or request.endpoint != "attachments.Attachments":
        return
    application = _application((request.view_args or {})["application_id"])
    global_limit = current_app.config.get("MAX_CONTENT_LENGTH")
    ceiling = upload_ceiling(application)
    request.max_content_length = min(ceiling, global_limit) if global_limit else ceiling
    # A declared length over the limit is refused before a byte is read (werkzeug would start parsing).
    if request.content_length is not None and request.content_length > request.max_content_length:
        raise RequestEntityTooLarge()


blp.ARGUMENTS_PARSER = _MultipartParser()
blp.before_request(_limit_upload_request)
make_idempotent(blp)
limit_per_caller_and_address(blp)


@blp.errorhandler(RequestEntityTooLarge)
def _request_too_large(_error: RequestEntityTooLarge) -> Response:
    return problem_response(
        413,
        slug=attachments.PayloadTooLarge.slug,
        title=attachments.PayloadTooLarge.title,
        detail="The request is larger than any document of this procedure may be.",
    )


@blp.route("/<uuid:application_id>/attachments")
class Attachments(MethodView):
    @records_reads
    @blp.response(200, AttachmentSchema(many=True))
    @blp.alt_response(404, description="No such application for this caller")
    @requires_scope(APPLICATIONS_READ)
    def get(self, application_id: uuid.UUID) -> list[dict[str, Any]]:
        """The application's attachments, oldest first."""
        application = _application(application_id)
        listed = [present(a) for a in repository.list_attachments(db_session(), current_tenant.id, application.id)]
        if listed:  # file names and kinds of the resident's documents
            record_read(
                action=access.VIEW_APPLICATION,
                object_type="attachments",
                object_id=application.id,
                categories=[access.ATTACHMENTS],
                application=application,
            )
        return listed

    @blp.doc(parameters=[IDEMPOTENCY_KEY_PARAMETER])
    @blp.arguments(AttachmentUploadSchema, location="files")
    @blp.response(201, AttachmentSchema)
    @blp.alt_response(404, description="No such application for this caller")
    @blp.alt_response(
        409,
        description="The document already has its maximum number of files, or the application can no longer be changed",
    )
    @blp.alt_response(413, description="The file is larger than the document's max_bytes")
    @blp.alt_response(
        422,
        description="Unknown or inapplicable document key; type not accepted or not matching "
        "the file's name or declared type; a virus",
    )
    @blp.alt_response(503, description="The virus scanner or the document store is unavailable; nothing was stored")
    @requires_scope(APPLICATIONS_WRITE)
    def post(self, body: dict[str, Any], application_id: uuid.UUID) -> dict[str, Any]:
        """Upload one file (multipart: `document_key` and `file`) for a document the procedure asks for.

        The type is judged by the content (PDF, JPEG, PNG); the file name is kept as metadata only."""
        application = _application(application_id)
        upload = body["file"]
        try:
            attachment = attachments.upload(
                db_session(),
                current_tenant,
                current_principal().actor,
                application.id,
                body["document_key"],
                attachments.Upload(upload.filename or "", upload.mimetype, upload.stream),
                storage=current_storage(),
                scanner=current_scanner(),
            )
        finally:
            upload.close()  # a large upload is spooled to a temporary file
        return present(attachment)


@blp.route("/<uuid:application_id>/attachments/<uuid:attachment_id>")
class AttachmentItem(MethodView):
    @records_reads
    @blp.response(200, AttachmentSchema)
    @blp.alt_response(404, description="No such application or attachment for this caller")
    @requires_scope(APPLICATIONS_READ)
    def get(self, application_id: uuid.UUID, attachment_id: uuid.UUID) -> dict[str, Any]:
        """One attachment's metadata."""
        application = _application(application_id)
        attachment = repository.get_attachment(db_session(), current_tenant.id, application.id, attachment_id)
        record_read(
            action=access.VIEW_APPLICATION,
            object_type="attachment",
            object_id=attachment.id,
            categories=[access.ATTACHMENTS],
            application=application,
        )
        return present(attachment)

    @blp.response(204)
    @blp.alt_response(404, description="No such application or attachment for this caller")
    @blp.alt_response(409, description="The application can no longer be changed")
    @requires_scope(APPLICATIONS_WRITE)
    def delete(self, application_id: uuid.UUID, attachment_id: uuid.UUID) -> None:
        """Delete an attachment (while the application is a draft or awaits more information)."""
        application = _application(application_id)
        attachments.delete(
            db_session(),
            current_tenant,
            current_principal().actor,
            application.id,
            attachment_id,
            storage=current_storage(),
        )


@blp.route("/<uuid:application_id>/attachments/<uuid:attachment_id>/content")
class AttachmentContent(MethodView):
    @records_reads
    @blp.response(
        200,
        {"type": "string", "format": "binary"},
        content_type="application/octet-stream",
        description="The file, with Content-Disposition: attachment (RFC 6266, UTF-8 name in filename*)",
    )
    @blp.alt_response(303, description="S3 storage: redirect to a short-lived presigned URL of the file")
    @blp.alt_response(404, description="No such application or attachment for this caller")
    @requires_scope(APPLICATIONS_READ)
    def get(self, application_id: uuid.UUID, attachment_id: uuid.UUID) -> WerkzeugResponse:
        """Download the file. A download by staff or a vendor app is recorded for the resident's ledger."""
        application = _application(application_id)
        attachment = repository.get_attachment(db_session(), current_tenant.id, application.id, attachment_id)
        return download_response(attachment, application)


API_BLUEPRINTS = [blp]
