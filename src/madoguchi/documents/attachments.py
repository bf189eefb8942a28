"""Attachments: the documents a procedure asks for (``required_documents`` in its ``service.yaml``).

An upload is checked before anything is stored, in this order: the application may be changed by this
actor (the applicant, or staff at the counter) and is a draft or awaits more information; the document key
is one of the procedure's and applies to the answers given (``when``); the count per document key
(``max_count``, 409); the size (``max_bytes``, 413, read from a spooled upload, never more than the limit
plus one byte); the type by its content (``filetype``'s magic numbers: PDF, JPEG or PNG, among the
document's ``content_types``; a file name or declared type that disagrees is 422); the virus scan. Then
the object is written under a server-generated key (``tenants/<tenant-id>/attachments/<random>``) and the
row (with the SHA-256 and the sanitised original name as metadata) and an audit record are added in the
caller's transaction. If that transaction does not commit, the object is deleted again; a deleted
attachment's object goes once the deletion has committed.
"""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
import uuid
from dataclasses import dataclass
from typing import IO, Any

import filetype
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from madoguchi.applications import forms, hooks
from madoguchi.applications import repository as applications
from madoguchi.applications.models import Application
from madoguchi.audit import operations as audit
from madoguchi.documents import repository
from madoguchi.documents.backend import Storage, StorageError, new_key
from madoguchi.documents.models import Attachment
from madoguchi.documents.scanning import Scanner, ScannerUnavailable
from madoguchi.errors import Conflict, DomainError, NotFound, ServiceUnavailable, ValidationFailed
from madoguchi.identity.actors import APPLICANT_ROLE, Actor
from madoguchi.tenancy.models import Tenant

log = logging.getLogger(__name__)

STORAGE_AREA = "attachments"
#: The types an attachment may have at all, with the file name extensions that fit each.
ALLOWED_TYPES: dict[str, tuple[str, ...]] = {
    "application/pdf": ("pdf",),
    "image/jpeg": ("jpg", "jpeg", "jpe", "jfif"),
    "image/png": ("png",),
}
#: Declared types that mean the same as ours (old browsers), and the declared types that say nothing.
_TYPE_ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "image/x-png": "image/png"}
_UNSPECIFIC_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream"})
#: filetype reads the first bytes only.
_SNIFF_BYTES = 8192
MAX_NAME_LENGTH = 200
_PENDING_OBJECTS = "madoguchi.pending_objects"
_DOOMED_OBJECTS = "madoguchi.doomed_objects"


class PayloadTooLarge(DomainError):
    status, slug, title = 413, "payload-too-large", "The file is too large"


@dataclass(frozen=True)
class Upload:
    """A file as the client sent it: its name and declared type as claimed, and a readable stream."""

    filename: str
    declared_type: str | None
    stream: IO[bytes]


# ------------------------------------------------------------------------------------------ small rules


def sanitize_name(name: str) -> str:
    """The uploader's file name, safe to keep and show: no folder parts, no control characters, NFC, at
    most ``MAX_NAME_LENGTH`` characters with the extension kept. Only metadata: never part of a key."""
    name = unicodedata.normalize("NFC", name or "")
    name = re.split(r"[\\/]", name)[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C")
    name = " ".join(name.split()).strip(". ")
    if len(name) > MAX_NAME_LENGTH:
        stem, dot, extension = name.rpartition(".")
        if dot and 0 < len(extension) <= 10:
            name = stem[: MAX_NAME_LENGTH - len(extension) - 1].rstrip() + "." + extension
        else:
            name = name[:MAX_NAME_LENGTH]
    return name or "document"


def slots(application: Application) -> dict[str, dict[str, Any]]:
    """The procedure's document slots (as filed: from the application's settings snapshot), by key."""
    return {doc["key"]: doc for doc in application.settings_snapshot.get("required_documents") or []}


def applies(document: dict[str, Any], data: dict[str, Any]) -> bool:
    """Whether a document slot applies to these answers (its ``when`` condition, if any, holds)."""
    condition = document.get("when")
    return not condition or forms.resolve(data, condition["field"], None) == condition.get("equals")


@hooks.on_guard("required_documents_present")
def check_required_documents(session: Session, application: Application) -> None:
    """The workflow guard: every document slot that applies to the answers has at least one file."""
    attached = repository.attached_document_keys(session, application.tenant_id, application.id)
    missing = [
        doc["key"]
        for doc in application.settings_snapshot.get("required_documents") or []
        if applies(doc, application.data) and doc["key"] not in attached
    ]
    if missing:
        raise ValidationFailed(
            "Required documents are missing.", errors={f"documents/{key}": ["is required"] for key in missing}
        )


def applicable_slots(application: Application) -> list[dict[str, Any]]:
    return [doc for doc in slots(application).values() if applies(doc, application.data)]


def allowed_types(document: dict[str, Any]) -> list[str]:
    return [t for t in document.get("content_types") or ALLOWED_TYPES if t in ALLOWED_TYPES]


def _audit(session: Session, actor: Actor, action: str, attachment: Attachment, role: str) -> None:
    audit.record(
        session,
        attachment.tenant_id,
        actor=actor.label,
        action=action,
        object_type="attachment",
        object_id=attachment.id,
        data={
            "application_id": str(attachment.application_id),
            "document_key": attachment.document_key,
            "sha256": attachment.sha256,
            "size_bytes": attachment.size_bytes,
            "role": role,
        },
    )


def _editor_role(actor: Actor, application: Application) -> str:
    """The applicant (in person or through a vendor app) or staff (at the counter) may change attachments."""
    if actor.account_id is not None and actor.account_id == application.applicant_account_id:
        return APPLICANT_ROLE
    if actor.is_staff and actor.staff_roles:
        return sorted(actor.staff_roles)[0]
    raise NotFound("No such application.")


def _read_limited(stream: IO[bytes], limit: int) -> bytes:
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(
            f"The file is larger than {limit} bytes ({limit // (1024 * 1024)} MB), the limit for this document.",
            max_bytes=limit,
        )
    return data


def detect_type(data: bytes) -> str | None:
    """The MIME type the content shows (by magic number), if it is one we accept."""
    kind = filetype.guess(data[:_SNIFF_BYTES])
    return kind.mime if kind is not None and kind.mime in ALLOWED_TYPES else None


def _check_type(data: bytes, upload: Upload, filename: str, document: dict[str, Any]) -> str:
    allowed = allowed_types(document)
    names = ", ".join(t.split("/")[1].upper() for t in allowed)
    detected = detect_type(data)
    if detected is None or detected not in allowed:
        raise ValidationFailed(
            "The file's content is not of an accepted type.",
            errors={"file": [f"must be a {names} file"]},
            reason="type",
        )
    declared = (upload.declared_type or "").split(";")[0].strip().lower()
    declared = _TYPE_ALIASES.get(declared, declared)
    if declared not in _UNSPECIFIC_TYPES and declared != detected:
        raise ValidationFailed(
            "The declared type does not match the file's content.",
            errors={"file": [f"was sent as {declared} but its content is {detected}"]},
            reason="type_mismatch",
        )
    stem, dot, extension = filename.rpartition(".")
    if dot and stem and extension.lower() not in ALLOWED_TYPES[detected]:
        raise ValidationFailed(
            "The file name does not match the file's content.",
            errors={"file": [f"is named .{extension} but its content is {detected}"]},
            reason="type_mismatch",
        )
    return detected


# ------------------------------------------------------------------------ objects follow the transaction


def _track(session: Session, storage: Storage, bucket: str, key: str, tenant_id: uuid.UUID) -> None:
    """Remember an object the open transaction depends on: ``pending`` ones are deleted if it does not
    commit (an upload), ``doomed`` ones once it has committed (a deletion)."""
    if _PENDING_OBJECTS not in session.info:
        session.info[_PENDING_OBJECTS], session.info[_DOOMED_OBJECTS] = [], []
        event.listen(session, "after_commit", _after_commit)
        event.listen(session, "after_transaction_end", _after_transaction_end)
    session.info[bucket].append((storage, key, tenant_id))


def _delete_quietly(storage: Storage, key: str, tenant_id: uuid.UUID) -> None:
    try:
        storage.delete(key, tenant_id=tenant_id)
    except (StorageError, OSError):
        # An orphan object is harmless (its key is random and listed nowhere); log it for a sweep.
        log.exception("could not delete storage object %s", key)


def _after_commit(session: Session) -> None:
    session.info[_PENDING_OBJECTS].clear()  # committed: the uploads stay
    doomed, session.info[_DOOMED_OBJECTS] = session.info[_DOOMED_OBJECTS], []
    for storage, key, tenant_id in doomed:
        _delete_quietly(storage, key, tenant_id)


def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is not None or transaction.nested:
        return
    # Still pending at the end of the outermost transaction: it did not commit. Undo the uploads.
    pending, session.info[_PENDING_OBJECTS] = session.info[_PENDING_OBJECTS], []
    session.info[_DOOMED_OBJECTS].clear()
    for storage, key, tenant_id in pending:
        _delete_quietly(storage, key, tenant_id)


# ----------------------------------------------------------------------------------------------- verbs


def upload(
    session: Session,
    tenant: Tenant,
    actor: Actor,
    application_id: uuid.UUID,
    document_key: str,
    file: Upload,
    *,
    storage: Storage,
    scanner: Scanner,
) -> Attachment:
    """Check and store one file for a document slot of the application. See the module docstring."""
    application = applications.get(session, tenant.id, application_id, lock=True)
    role = _editor_role(actor, application)
    if not application.is_editable:
        raise Conflict(
            f"The application is '{application.state}': its documents can no longer be changed.", reason="not_editable"
        )
    document = slots(application).get(document_key)
    if document is None:
        raise ValidationFailed(
            "This procedure asks for no such document.",
            errors={"document_key": ["is not a document of this procedure"]},
            reason="unknown_document",
        )
    if not applies(document, application.data):
        raise ValidationFailed(
            "This document is not needed with the answers given.",
            errors={"document_key": ["does not apply to this application's answers"]},
            reason="not_applicable",
        )
    max_count = int(document.get("max_count") or 1)
    if repository.count_attachments(session, application, document_key) >= max_count:
        raise Conflict(
            f"This document already has {max_count} file(s), the most it may have: delete one first.",
            max_count=max_count,
            reason="max_count",
        )
    data = _read_limited(file.stream, int(document["max_bytes"]))
    if not data:
        raise ValidationFailed("The file is empty.", errors={"file": ["is empty"]}, reason="empty")
    original_name = sanitize_name(file.filename)
    content_type = _check_type(data, file, original_name, document)
    try:
        verdict = scanner.scan(data)
    except ScannerUnavailable as exc:
        log.error("virus scanner unavailable: %s", exc)
        raise ServiceUnavailable("The virus scanner is unavailable: try again later.") from exc
    if not verdict.clean:
        log.warning("refused an infected upload (%s) for application %s", verdict.signature, application.id)
        raise ValidationFailed(
            "The file contains a virus.", errors={"file": ["contains a virus and was refused"]}, reason="virus"
        )

    key = new_key(tenant.id, STORAGE_AREA)
    try:
        storage.put(key, data, tenant_id=tenant.id, content_type=content_type)
    except (StorageError, OSError) as exc:
        log.exception("storage unavailable for an upload")
        raise ServiceUnavailable("The document store is unavailable: try again later.") from exc
    _track(session, storage, _PENDING_OBJECTS, key, tenant.id)
    attachment = Attachment(
        tenant_id=tenant.id,
        application_id=application.id,
        document_key=document_key,
        original_name=original_name,
        content_type=content_type,
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        storage_key=key,
        uploaded_by_account_id=actor.account_id,
        scan_status=verdict.status,
    )
    session.add(attachment)
    session.flush()
    _audit(session, actor, "attachment.uploaded", attachment, role)
    session.flush()
    return attachment


def delete(
    session: Session,
    tenant: Tenant,
    actor: Actor,
    application_id: uuid.UUID,
    attachment_id: uuid.UUID,
    *,
    storage: Storage,
) -> None:
    """Remove an attachment while the application may still be changed; its object goes after the commit."""
    application = applications.get(session, tenant.id, application_id, lock=True)
    role = _editor_role(actor, application)
    attachment = repository.get_attachment(session, tenant.id, application.id, attachment_id)
    if not application.is_editable:
        raise Conflict(
            f"The application is '{application.state}': its documents can no longer be changed.", reason="not_editable"
        )
    _audit(session, actor, "attachment.deleted", attachment, role)
    session.delete(attachment)
    session.flush()
    _track(session, storage, _DOOMED_OBJECTS, attachment.storage_key, tenant.id)


def read(storage: Storage, attachment: Attachment) -> bytes:
    try:
        return storage.get(attachment.storage_key, tenant_id=attachment.tenant_id)
    except (StorageError, OSError) as exc:
        log.exception("could not read attachment %s", attachment.id)
        raise ServiceUnavailable("The document store is unavailable: try again later.") from exc
