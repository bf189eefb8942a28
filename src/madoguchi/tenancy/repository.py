"""Queries over the platform's tenants (the tenants table is global: no tenant binding needed)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from madoguchi.tenancy.models import SERVING_STATUSES, Tenant


def serving_tenants(
    session: Session, *, by_slug: bool = False, after: str | None = None, limit: int | None = None
) -> list[Tenant]:
    """The municipalities that serve residents, by local government code (the platform's front page) or slug:
    a keyset page of at most ``limit`` after the code or slug ``after`` (both unique and indexed)."""
    order = Tenant.slug if by_slug else Tenant.local_government_code
    stmt = select(Tenant).where(Tenant.status.in_(SERVING_STATUSES)).order_by(order).limit(limit)
    if after is not None:
        stmt = stmt.where(order > after)
    return list(session.execute(stmt).scalars())


def serving_tenant_named(session: Session, name: str) -> Tenant | None:
    """The serving municipality of that Japanese name (``name_ja``), if this platform hosts it: where a resident of
    another municipality is sent (their card names their municipality, decision 0048)."""
    stmt = select(Tenant).where(Tenant.status.in_(SERVING_STATUSES), Tenant.name_ja == name).limit(2)
    found = list(session.execute(stmt).scalars())
    return found[0] if len(found) == 1 else None
