"""Queries over applications and their history. Every function takes (session, tenant_id, ...)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ColumnElement, func, select, tuple_
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


def page(
    session: Session,
    tenant_id: uuid.UUID,
    *,
    visible: ColumnElement[bool],
    filters: list[ColumnElement[bool]],
    newest_first: bool,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[Application]:
    """One keyset page ordered by (created_at, id): stable however many rows arrive meanwhile."""
    stmt = select(Application).where(Application.tenant_id == tenant_id, visible, *filters)
    if after is not None:
        key = tuple_(Application.created_at, Application.id)
        stmt = stmt.where(key < tuple_(*after) if newest_first else key > tuple_(*after))
    order = (
        (Application.created_at.desc(), Application.id.desc())
        if newest_first
        else (Application.created_at, Application.id)
    )
    return list(session.execute(stmt.order_by(*order).limit(limit + 1)).scalars())
