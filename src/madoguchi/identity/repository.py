"""Queries over accounts that pages make. Every function takes (session, tenant_id, ...)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from madoguchi.identity.models import Account, AccountKind


def active_staff(session: Session, tenant_id: uuid.UUID) -> list[Account]:
    """The municipality's staff accounts that are not disabled, by name: who work can be assigned to."""
    stmt = (
        select(Account)
        .where(Account.tenant_id == tenant_id, Account.kind == AccountKind.STAFF, Account.disabled.is_(False))
        .order_by(Account.display_name, Account.email)
    )
    return list(session.execute(stmt).scalars())


def display_names(session: Session, tenant_id: uuid.UUID, account_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Account id -> display name, for the given ids that are accounts of this municipality."""
    wanted = set(account_ids)
    if not wanted:
        return {}
    stmt = select(Account.id, Account.display_name).where(Account.tenant_id == tenant_id, Account.id.in_(wanted))
    return {row.id: row.display_name for row in session.execute(stmt)}
