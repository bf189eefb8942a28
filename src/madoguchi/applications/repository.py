"""Queries over applications and their history. Every function takes (session, tenant_id, ...)."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from madoguchi.applications.models import Application, ApplicationEvent, Attachment
from madoguchi.errors import NotFound


def get(session: Session, tenant_id: uuid.UUID, application_id: uuid.UUID) -> Application:
    stmt = select(Application).where(Application.tenant_id == tenant_id, Application.id == application_id)
    application = session.execute(stmt).scalar_one_or_none()
    if application is None:
        raise NotFound("No such application.")
    return application


def next_event_seq(session: Session, tenant_id: uuid.UUID, application_id: uuid.UUID) -> int:
    stmt = select(func.coalesce(func.max(ApplicationEvent.seq), 0)).where(
        ApplicationEvent.tenant_id == tenant_id, ApplicationEvent.application_id == application_id
    )
    return int(session.execute(stmt).scalar_one()) + 1


def history(session: Session, tenant_id: uuid.UUID, application_id: uuid.UUID) -> list[ApplicationEvent]:
    stmt = (
        select(ApplicationEvent)
        .where(ApplicationEvent.tenant_id == tenant_id, ApplicationEvent.application_id == application_id)
        .order_by(ApplicationEvent.seq)
    )
    return list(session.execute(stmt).scalars())


def attached_document_keys(session: Session, tenant_id: uuid.UUID, application_id: uuid.UUID) -> set[str]:
    stmt = select(Attachment.document_key).where(
        Attachment.tenant_id == tenant_id, Attachment.application_id == application_id
    )
    return set(session.execute(stmt).scalars())
