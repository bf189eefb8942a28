"""Reads and writes of satisfaction answers, every one inside one tenant. Never commits.

Answers are only ever added: the app role may not update or delete them on PostgreSQL (migration 0035).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from madoguchi.satisfaction.models import SatisfactionResponse


def exists(session: Session, tenant_id: uuid.UUID, journey_key: str) -> bool:
    stmt = select(SatisfactionResponse.id).where(
        SatisfactionResponse.tenant_id == tenant_id, SatisfactionResponse.journey_key == journey_key
    )
    return session.execute(stmt).first() is not None


def add(session: Session, response: SatisfactionResponse) -> None:
    session.add(response)
    session.flush()


def comments(
    session: Session,
    tenant_id: uuid.UUID,
    start: datetime,
    end: datetime,
    *,
    service_key: str | None = None,
    offset: int = 0,
    limit: int = 20,
) -> tuple[list[SatisfactionResponse], int]:
    """The answers with a comment answered in ``[start, end)``, newest first, one page of them, and how many there
    are in all."""
    where = [
        SatisfactionResponse.tenant_id == tenant_id,
        SatisfactionResponse.answered_at >= start,
        SatisfactionResponse.answered_at < end,
        SatisfactionResponse.comment.is_not(None),
    ]
    if service_key is not None:
        where.append(SatisfactionResponse.service_key == service_key)
    total = session.execute(select(func.count()).select_from(SatisfactionResponse).where(*where)).scalar_one()
    stmt = (
        select(SatisfactionResponse)
        .where(*where)
        .order_by(SatisfactionResponse.answered_at.desc(), SatisfactionResponse.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return list(session.execute(stmt).scalars()), int(total)


def months_answered(session: Session, tenant_id: uuid.UUID) -> list[datetime]:
    """The distinct ``answered_at`` values (each the start of a day in Japan), newest first: the page's month list
    is made from them."""
    stmt = (
        select(SatisfactionResponse.answered_at)
        .where(SatisfactionResponse.tenant_id == tenant_id)
        .distinct()
        .order_by(SatisfactionResponse.answered_at.desc())
    )
    return list(session.execute(stmt).scalars())
