"""Queries over published service versions and the procedures a tenant has switched on."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, defer

from madoguchi.catalog.models import ServiceVersion, TenantService


def find_version(session: Session, key: str, version: str) -> ServiceVersion | None:
    stmt = select(ServiceVersion).where(ServiceVersion.key == key, ServiceVersion.version == version)
    return session.execute(stmt).scalar_one_or_none()


def published_services(session: Session) -> dict[str, dict[str, dict[str, Any]]]:
    """Every published version as the catalog files loaded it: key -> version -> service.yaml plus ``form``."""
    published: dict[str, dict[str, dict[str, Any]]] = {}
    for row in session.execute(select(ServiceVersion)).scalars():
        published.setdefault(row.key, {})[row.version] = {**row.definition, "form": row.form_schema}
    return published


def versions_of(session: Session, key: str) -> list[ServiceVersion]:
    stmt = select(ServiceVersion).where(ServiceVersion.key == key).order_by(ServiceVersion.published_at)
    return list(session.execute(stmt).scalars())


def enabled_services(
    session: Session, tenant_id: uuid.UUID, *, content: bool = True
) -> list[tuple[TenantService, ServiceVersion]]:
    """The procedures the tenant offers, by key. ``content=False`` leaves each version's definition and form
    unread until used: the lists that show cached settings (``operations.procedure_summary``) need only the
    content hash, and decoding about 20 KB of JSON per procedure on every request cost more than the rest."""
    stmt = (
        select(TenantService, ServiceVersion)
        .join(ServiceVersion, ServiceVersion.id == TenantService.service_version_id)
        .where(TenantService.tenant_id == tenant_id, TenantService.enabled.is_(True))
        .order_by(TenantService.service_key)
    )
    if not content:
        stmt = stmt.options(defer(ServiceVersion.definition), defer(ServiceVersion.form_schema))
    return [(ts, sv) for ts, sv in session.execute(stmt)]


def enabled_service(session: Session, tenant_id: uuid.UUID, key: str) -> tuple[TenantService, ServiceVersion] | None:
    stmt = (
        select(TenantService, ServiceVersion)
        .join(ServiceVersion, ServiceVersion.id == TenantService.service_version_id)
        .where(
            TenantService.tenant_id == tenant_id,
            TenantService.service_key == key,
            TenantService.enabled.is_(True),
        )
    )
    row = session.execute(stmt).one_or_none()
    return (row[0], row[1]) if row else None


def enabled_service_keys(session: Session, tenant_id: uuid.UUID) -> list[str]:
    """The keys of the procedures the tenant has switched on (the session must be bound to that tenant)."""
    stmt = select(TenantService.service_key).where(
        TenantService.tenant_id == tenant_id, TenantService.enabled.is_(True)
    )
    return list(session.execute(stmt).scalars())
