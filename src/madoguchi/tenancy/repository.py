"""Queries over the platform's tenants (the tenants table is global: no tenant binding needed)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from madoguchi.tenancy.models import SERVING_STATUSES, Tenant


def serving_tenants(session: Session, *, by_slug: bool = False) -> list[Tenant]:
    """The municipalities that serve residents, by local government code (the platform's front page) or slug."""
    order = Tenant.slug if by_slug else Tenant.local_government_code
    stmt = select(Tenant).where(Tenant.status.in_(SERVING_STATUSES)).order_by(order)
    return list(session.execute(stmt).scalars())
