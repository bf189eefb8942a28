"""Attachment downloads of the console: ``/<tenant>/console/applications/<id>/documents/<attachment-id>``.

The console's application page lists the attachments through the ``application_attachments`` template global
(``madoguchi.portal.attachments``); the rules are the operations' (``madoguchi.documents.attachments``).
"""

from __future__ import annotations

import uuid

from flask import Blueprint, abort
from werkzeug.wrappers import Response

from madoguchi.applications import repository as applications
from madoguchi.context import current_tenant, db_session
from madoguchi.documents import repository
from madoguchi.errors import NotFound
from madoguchi.identity.principal import current_principal
from madoguchi.web.auth import require_staff
from madoguchi.web.downloads import download_response

staff_pages = require_staff(
    Blueprint("attachments_console", __name__, url_prefix="/<tenant>/console", template_folder="templates")
)
WEB_BLUEPRINTS = [staff_pages]


@staff_pages.get("/applications/<uuid:application_id>/documents/<uuid:attachment_id>")
def staff_download(application_id: uuid.UUID, attachment_id: uuid.UUID) -> Response:
    """A clerk downloads an attachment of an application the queue shows (not a resident's unsent draft)."""
    session = db_session()
    application = applications.get_for(session, current_principal(), application_id)
    try:
        attachment = repository.get_attachment(session, current_tenant.id, application.id, attachment_id)
    except NotFound:
        abort(404)
    return download_response(attachment, application)
