"""Attachment pages of the portal: the resident uploads the documents a procedure asks for.

``/<tenant>/applications/<id>/documents`` lists each document that applies to the resident's answers, with
what is uploaded and, while the application is a draft or awaits more information, an upload form (the allowed
types and size as a hint, errors beside the field) and delete buttons.
The template globals ``application_attachments`` and ``megabytes`` registered here serve the console's
application page too (``madoguchi.console.attachments`` holds the staff download).

The rules are the operations' (``madoguchi.documents.attachments``); a refused upload re-renders the page
with the message beside the field (413, 409 or 422) and stores nothing.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response

from madoguchi.applications import repository as applications
from madoguchi.context import current_tenant, db_session
from madoguchi.documents import attachments, repository
from madoguchi.documents.scanning import current_scanner
from madoguchi.documents.storage import current_storage
from madoguchi.errors import Conflict, DomainError, NotFound, ValidationFailed
from madoguchi.identity.principal import current_principal
from madoguchi.web.auth import require_resident
from madoguchi.web.downloads import download_response
from madoguchi.web.error_pages import render_error_page
from madoguchi.web.i18n import localized
from madoguchi.web.resident_nav import nav_context

if TYPE_CHECKING:  # annotations only: the pages go through the repositories and the operations
    from madoguchi.applications.models import Application
    from madoguchi.documents.models import Attachment

resident_pages = require_resident(Blueprint("attachments_portal", __name__, template_folder="templates"))
WEB_BLUEPRINTS = [resident_pages]

_TYPE_NAMES = {"application/pdf": "PDF", "image/jpeg": "JPEG", "image/png": "PNG"}
_ACCEPT = {
    "application/pdf": ".pdf,application/pdf",
    "image/jpeg": ".jpg,.jpeg,image/jpeg",
    "image/png": ".png,image/png",
}


def megabytes(size: int) -> str:
    """A size as residents read it: "10 MB", "0.3 MB"."""
    value = size / (1024 * 1024)
    return f"{value:.0f} MB" if value >= 10 else f"{value:.1f} MB"


def _slot_view(application: Application, document: dict[str, Any], files: list[Attachment]) -> dict[str, Any]:
    types = attachments.allowed_types(document)
    max_count = int(document.get("max_count") or 1)
    return {
        "key": document["key"],
        "field_id": f"file-{document['key']}",
        "title": localized(document.get("title")) or document["key"],
        "description": localized(document.get("description")),
        "types": " / ".join(_TYPE_NAMES[t] for t in types),
        "accept": ",".join(_ACCEPT[t] for t in types),
        "max_size": megabytes(int(document["max_bytes"])),
        "max_count": max_count,
        "files": files,
        "may_add": application.is_editable and len(files) < max_count,
    }


@resident_pages.app_template_global("application_attachments")
def application_attachments(application: Application) -> dict[str, Any]:
    """The documents of an application for its pages: applicable slots with their files, and any other files."""
    files = repository.list_attachments(db_session(), application.tenant_id, application.id)
    applicable = attachments.applicable_slots(application)
    keys = {d["key"] for d in applicable}
    return {
        "slots": [_slot_view(application, d, [f for f in files if f.document_key == d["key"]]) for d in applicable],
        # Files of a slot that no longer applies (the answers changed after the upload) stay visible.
        "others": [f for f in files if f.document_key not in keys],
        "files": files,
        "editable": application.is_editable,
    }


@resident_pages.app_template_filter("megabytes")
def _megabytes_filter(size: int) -> str:
    return megabytes(size)


# --- Portal ----------------------------------------------------------------------------------------------


def _own_application(application_id: uuid.UUID) -> Application:
    """The signed-in resident's application; anyone else's (or another municipality's) is not there."""
    return applications.get_for(db_session(), current_principal(), application_id)


def _render_documents(
    application: Application, errors: dict[str, list[str]] | None = None, status: int = 200
) -> tuple[str, int]:
    account = current_principal().account
    return render_template(
        "attachments/documents.html",
        tenant=current_tenant,
        application=application,
        procedure_title=localized(application.settings_snapshot.get("title")),
        documents=application_attachments(application),
        errors=errors or {},
        **nav_context(account, "applications"),
    ), status


def _friendly(refused: DomainError, document: dict[str, Any] | None) -> str:
    """The resident's words for why an upload was refused."""
    reason = refused.extra.get("reason")
    if isinstance(refused, attachments.PayloadTooLarge):
        return _("The file is larger than %(size)s. Choose a smaller file.", size=megabytes(refused.extra["max_bytes"]))
    if isinstance(refused, attachments.ServiceUnavailable):
        return _("We could not check or store the file just now. Please try again later.")
    if reason == "max_count":
        return _("You have already uploaded the most files allowed here. Delete one first.")
    if reason == "virus":
        return _("The file was refused because it contains a virus.")
    if reason == "empty":
        return _("The file is empty.")
    if reason in ("type", "type_mismatch"):
        types = " / ".join(_TYPE_NAMES[t] for t in attachments.allowed_types(document or {}))
        return _("Choose a %(types)s file. The file's name must match its content.", types=types)
    if reason == "not_editable":
        return _("This application can no longer be changed.")
    return _("This document is not needed for your application.")


@resident_pages.route("/<tenant>/applications/<uuid:application_id>/documents", methods=["GET", "POST"])
def documents(application_id: uuid.UUID) -> Any:
    application = _own_application(application_id)
    if request.method == "GET":
        return _render_documents(application)
    key = request.form.get("document_key") or request.args.get("document_key", "")
    field_id = f"file-{key}"
    document = attachments.slots(application).get(key)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _render_documents(application, {field_id: [_("Choose a file.")]}, 422)
    session = db_session()
    try:
        attachment = attachments.upload(
            session,
            current_tenant,
            current_principal().actor,
            application.id,
            key,
            attachments.Upload(upload.filename, upload.mimetype, upload.stream),
            storage=current_storage(),
            scanner=current_scanner(),
        )
    except (ValidationFailed, Conflict, attachments.PayloadTooLarge, attachments.ServiceUnavailable) as refused:
        session.rollback()
        return _render_documents(application, {field_id: [_friendly(refused, document)]}, refused.status)
    finally:
        upload.close()
    flash(_("%(name)s has been uploaded.", name=attachment.original_name))
    return redirect(url_for(".documents", tenant=current_tenant.slug, application_id=application.id), 303)


@resident_pages.errorhandler(RequestEntityTooLarge)
def _too_large(_error: RequestEntityTooLarge) -> Any:
    """Over the global request ceiling (refused before the form could even be read)."""
    application_id = (request.view_args or {}).get("application_id")
    if request.endpoint != "attachments_portal.documents" or application_id is None:
        return _error_page(413)
    application = _own_application(application_id)
    key = request.args.get("document_key", "")
    message = _("The file is too large. Choose a smaller file.")
    return _render_documents(application, {f"file-{key}" if key else "form": [message]}, 413)


def _error_page(status: int) -> Any:
    return render_error_page(status)


@resident_pages.post("/<tenant>/applications/<uuid:application_id>/documents/<uuid:attachment_id>/delete")
def delete_document(application_id: uuid.UUID, attachment_id: uuid.UUID) -> Any:
    application = _own_application(application_id)
    session = db_session()
    try:
        attachment = repository.get_attachment(session, current_tenant.id, application.id, attachment_id)
        name = attachment.original_name
        attachments.delete(
            session, current_tenant, current_principal().actor, application.id, attachment_id, storage=current_storage()
        )
    except NotFound:
        abort(404)
    except Conflict as refused:
        session.rollback()
        return _render_documents(application, {"form": [_friendly(refused, None)]}, 409)
    flash(_("%(name)s has been deleted.", name=name))
    return redirect(url_for(".documents", tenant=current_tenant.slug, application_id=application.id), 303)


@resident_pages.get("/<tenant>/applications/<uuid:application_id>/documents/<uuid:attachment_id>")
def download_document(application_id: uuid.UUID, attachment_id: uuid.UUID) -> Response:
    application = _own_application(application_id)
    try:
        attachment = repository.get_attachment(db_session(), current_tenant.id, application.id, attachment_id)
    except NotFound:
        abort(404)
    return download_response(attachment, application)
