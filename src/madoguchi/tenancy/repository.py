"""Queries over the platform's tenants (the tenants table is global: no tenant binding needed)."""

from __future__ import annotations

from sqlalchemy import literal, select
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


def serving_tenant_named(session: Session, place: str) -> Tenant | None:
    """The serving municipality a place names (``長野県桜ヶ丘市``, or the municipality alone), if this platform hosts
    exactly one: where a resident of another municipality is sent (their card names it, decision 0048)."""
    if not place:
        return None
    stmt = select(Tenant).where(Tenant.status.in_(SERVING_STATUSES), literal(place).like("%" + Tenant.name_ja))
    found = [
        tenant
        for tenant in session.execute(stmt).scalars()
        if place.removesuffix(tenant.name_ja) in ("", _prefecture_of(tenant))
    ]
    return found[0] if len(found) == 1 else None


def _prefecture_of(tenant: Tenant) -> str:
    prefecture = (tenant.profile or {}).get("prefecture") or {}
    return str(prefecture.get("ja", "")) if isinstance(prefecture, dict) else ""
