"""A resident's notices inbox (お知らせ): its queries and its one write, marking notices read.

The notices themselves are written by the workflow (``applications.operations``) in the transition's
transaction. Every function is scoped to one account of one tenant: another resident's notice is not there.
"""

from __future__ import annotations

import uuid

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session

from madoguchi.applications.models import Application
from madoguchi.db import utcnow
from madoguchi.errors import NotFound
from madoguchi.notify.models import Notice

#: The most notices the inbox page lists (newest first); older ones stay reachable by their links.
INBOX_SIZE = 200


def unread_count(session: Session, tenant_id: uuid.UUID, account_id: uuid.UUID) -> int:
    stmt = select(func.count()).where(
        Notice.tenant_id == tenant_id, Notice.account_id == account_id, Notice.read_at.is_(None)
    )
    return int(session.execute(stmt).scalar_one())


def _with_application(tenant_id: uuid.UUID, account_id: uuid.UUID) -> Select[Notice, Application]:
    return (
        select(Notice, Application)
        .outerjoin(Application, (Application.tenant_id == Notice.tenant_id) & (Application.id == Notice.application_id))
        .where(Notice.tenant_id == tenant_id, Notice.account_id == account_id)
    )


def inbox(
    session: Session, tenant_id: uuid.UUID, account_id: uuid.UUID, *, limit: int = INBOX_SIZE
) -> list[tuple[Notice, Application | None]]:
    """The account's newest notices, each with its application (None if it has none)."""
    stmt = _with_application(tenant_id, account_id).order_by(Notice.created_at.desc(), Notice.id.desc()).limit(limit)
    return [(notice, application) for notice, application in session.execute(stmt).all()]


def notice_of(
    session: Session, tenant_id: uuid.UUID, account_id: uuid.UUID, notice_id: uuid.UUID
) -> tuple[Notice, Application | None]:
    """One of the account's notices by its id, however old, with its application; else ``NotFound``."""
    row = session.execute(_with_application(tenant_id, account_id).where(Notice.id == notice_id)).one_or_none()
    if row is None:
        raise NotFound("No such notice.")
    return row[0], row[1]


def mark_read(session: Session, notice: Notice) -> None:
    """The resident opened the notice (the first time counts)."""
    if notice.read_at is None:
        notice.read_at = utcnow()
        session.flush()


def mark_all_read(session: Session, tenant_id: uuid.UUID, account_id: uuid.UUID) -> int:
    """Mark every unread notice of the account read; returns how many were unread."""
    result = session.execute(
        update(Notice)
        .where(Notice.tenant_id == tenant_id, Notice.account_id == account_id, Notice.read_at.is_(None))
        .values(read_at=utcnow())
    )
    return int(getattr(result, "rowcount", 0) or 0)
