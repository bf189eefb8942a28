"""Queries over the documents of applications: the files residents attach and the certificates issued.

Who sees an issued document is who sees its application: :func:`documents_for` joins the application and applies
``applications.repository.visible_to``, the one visibility rule, instead of a copy of it. One exception: a copy the
rules send by post (``Application.forced_delivery``: an agent's copy with 個人番号) is never handed to the applicant,
so only staff who process applications see it (decision 0036).
"""

from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement, func, select, true
from sqlalchemy.orm import Session

from madoguchi.applications.models import Application
from madoguchi.applications.repository import get as get_application
from madoguchi.applications.repository import processes_applications, visible_to
from madoguchi.documents.models import Attachment, IssuedDocument
from madoguchi.errors import NotFound
from madoguchi.identity.principal import Principal

# --- Attachments ---------------------------------------------------------------------------------------


def list_attachments(session: Session, tenant_id: uuid.UUID, application_id: uuid.UUID) -> list[Attachment]:
    stmt = (
        select(Attachment)
        .where(Attachment.tenant_id == tenant_id, Attachment.application_id == application_id)
        .order_by(Attachment.created_at, Attachment.id)
    )
    return list(session.execute(stmt).scalars())


def get_attachment(
    session: Session, tenant_id: uuid.UUID, application_id: uuid.UUID, attachment_id: uuid.UUID
) -> Attachment:
    stmt = select(Attachment).where(
        Attachment.tenant_id == tenant_id,
        Attachment.application_id == application_id,
        Attachment.id == attachment_id,
    )
    attachment = session.execute(stmt).scalar_one_or_none()
    if attachment is None:
        raise NotFound("No such attachment.")
    return attachment


def count_attachments(session: Session, application: Application, document_key: str) -> int:
    stmt = select(func.count()).where(
        Attachment.tenant_id == application.tenant_id,
        Attachment.application_id == application.id,
        Attachment.document_key == document_key,
    )
    return int(session.execute(stmt).scalar_one())


# --- Issued documents ------------------------------------------------------------------------------------


def documents_for(session: Session, principal: Principal, *criteria: ColumnElement[bool]) -> list[IssuedDocument]:
    """The issued documents of the applications ``principal`` may see (matching ``criteria``), oldest first."""
    if principal.tenant_id is None:
        return []
    stmt = (
        select(IssuedDocument)
        .join(
            Application,
            (Application.tenant_id == IssuedDocument.tenant_id) & (Application.id == IssuedDocument.application_id),
        )
        .where(IssuedDocument.tenant_id == principal.tenant_id, visible_to(principal), *criteria)
        .where(true() if processes_applications(principal) else Application.forced_delivery.is_(None))
        .order_by(IssuedDocument.issued_at)
    )
    return list(session.execute(stmt).scalars())


def document_for(session: Session, principal: Principal, document_id: uuid.UUID) -> IssuedDocument:
    """One issued document of an application ``principal`` may see, else ``NotFound``."""
    found = documents_for(session, principal, IssuedDocument.id == document_id)
    if not found:
        raise NotFound("No such document.")
    return found[0]


def documents_of_application(session: Session, principal: Principal, application_id: uuid.UUID) -> list[IssuedDocument]:
    """The documents issued for one application ``principal`` may see (their application checked by the caller)."""
    return documents_for(session, principal, IssuedDocument.application_id == application_id)


def documents_of(session: Session, application: Application) -> list[IssuedDocument]:
    """The documents issued for an application the caller already holds (and so may see), oldest first."""
    stmt = (
        select(IssuedDocument)
        .where(IssuedDocument.tenant_id == application.tenant_id, IssuedDocument.application_id == application.id)
        .order_by(IssuedDocument.issued_at)
    )
    return list(session.execute(stmt).scalars())


def application_of(session: Session, document: IssuedDocument) -> Application:
    """The application a document was issued for (whoever holds the document may see it)."""
    return get_application(session, document.tenant_id, document.application_id)


def attached_document_keys(session: Session, tenant_id: uuid.UUID, application_id: uuid.UUID) -> set[str]:
    stmt = select(Attachment.document_key).where(
        Attachment.tenant_id == tenant_id, Attachment.application_id == application_id
    )
    return set(session.execute(stmt).scalars())
