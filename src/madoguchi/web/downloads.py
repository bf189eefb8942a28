"""File downloads as every surface answers them: an attachment (``download_response``) or a signed
certificate (``pdf_response``), straight from local storage or as a redirect to a short-lived presigned URL.

The API and the portal's and console's pages answer downloads alike, so the one implementation lives in the web
toolkit, which the surfaces share (docs/decisions/0016-layers.md). A download by someone other than the applicant
is recorded for the resident's ledger (``web.reads``).
"""

from __future__ import annotations

from io import BytesIO
from typing import TYPE_CHECKING

from flask import Response, current_app, redirect, send_file
from werkzeug.wrappers import Response as WerkzeugResponse

from madoguchi.audit import access
from madoguchi.context import db_session
from madoguchi.documents import attachments, certificates, delivery, repository
from madoguchi.documents.backend import StorageError, content_disposition
from madoguchi.documents.storage import current_storage
from madoguchi.errors import Forbidden
from madoguchi.identity.principal import current_principal
from madoguchi.web.reads import record_read

if TYPE_CHECKING:  # annotations only
    from madoguchi.applications.models import Application
    from madoguchi.documents.models import Attachment, IssuedDocument

#: How long a presigned certificate URL stays valid: long enough to follow the redirect, no longer.
DOWNLOAD_URL_SECONDS = 60


def download_response(attachment: Attachment, application: Application) -> WerkzeugResponse:
    """The file as a download (local storage), or a 303 to a presigned URL (S3). Shared with the pages.

    Recorded as a read of the applicant's documents when the caller is not the applicant."""
    record_read(
        action=access.DOWNLOAD_ATTACHMENT,
        object_type="attachment",
        object_id=attachment.id,
        categories=[access.ATTACHMENTS],
        application=application,
    )
    storage = current_storage()
    seconds = current_app.config["MADOGUCHI"].storage_presigned_seconds
    try:
        url = storage.download_url(
            attachment.storage_key,
            tenant_id=attachment.tenant_id,
            filename=attachment.original_name,
            content_type=attachment.content_type,
            seconds=seconds,
        )
    except StorageError as exc:
        raise attachments.ServiceUnavailable("The document store is unavailable: try again later.") from exc
    if url is not None:
        response = redirect(url, 303)
    else:
        response = Response(attachments.read(storage, attachment), mimetype=attachment.content_type)
        response.headers["Content-Disposition"] = content_disposition(attachment.original_name, attachment.content_type)
        response.headers["ETag"] = f'"{attachment.sha256}"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response


def pdf_response(document: IssuedDocument) -> WerkzeugResponse:
    """The signed PDF as an attachment (RFC 6266 ``filename*`` for the Japanese name), or a redirect to a
    short-lived presigned URL where the storage backend offers one. A download by staff or a vendor app is
    recorded for the resident's ledger. A certificate delivered on paper (post, counter) is downloaded by staff
    only: the resident receives the paper (decision 0033)."""
    if not current_principal().is_staff and not delivery.resident_may_download(db_session(), document):
        raise Forbidden("This certificate is delivered on paper (by post or at the counter), not as a download.")
    application = repository.application_of(db_session(), document)
    record_read(
        action=access.DOWNLOAD_CERTIFICATE,
        object_type="issued_document",
        object_id=document.id,
        categories=[access.CERTIFICATE],
        application=application,
    )
    storage = current_storage()
    name = certificates.download_name(document)
    if document.pdf_storage_key:
        url = storage.download_url(
            document.pdf_storage_key,
            tenant_id=document.tenant_id,
            filename=name,
            content_type=certificates.PDF_CONTENT_TYPE,
            seconds=DOWNLOAD_URL_SECONDS,
        )
        if url:
            return redirect(url)
    data = certificates.pdf_bytes(document, storage)
    response = send_file(
        BytesIO(data), mimetype=certificates.PDF_CONTENT_TYPE, as_attachment=True, download_name=name, max_age=0
    )
    response.headers["Cache-Control"] = "private, no-store"
    return response
