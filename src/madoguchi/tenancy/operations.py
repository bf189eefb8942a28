"""Loading municipalities from ``tenants/`` into the database: create or update, idempotently."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from madoguchi.audit import operations as audit
from madoguchi.catalog import operations as catalog
from madoguchi.catalog import repository as catalog_repository
from madoguchi.db import bind_tenant
from madoguchi.errors import NotFound
from madoguchi.tenancy.models import Tenant, TenantService


@dataclass
class SyncReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def _tenant_values(spec: dict[str, Any]) -> dict[str, Any]:
    prefecture = spec.get("prefecture") or {}
    return {
        "name_ja": spec["name"]["ja"],
        "name_en": spec["name"]["en"],
        "local_government_code": str(spec["local_government_code"]),
        "prefecture_code": str(prefecture.get("code") or str(spec["local_government_code"])[:2]),
        "status": spec.get("status", "live"),
        "default_locale": spec.get("default_locale", "ja"),
        "profile": {
            "prefecture": prefecture,
            "locales": spec.get("locales", ["ja", "en"]),
            "branding": spec.get("branding", {}),
            "contact": spec.get("contact", {}),
        },
    }


def _apply(row: Any, values: dict[str, Any]) -> bool:
    changed = False
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed = True
    return changed


def sync_tenant(session: Session, spec: dict[str, Any], *, actor: str = "cli:tenants-sync") -> str:
    """Create or update one tenant and its enabled procedures. Returns created, updated or unchanged.

    Binds ``session`` to the tenant for its tenant-owned rows (row-level security applies to the CLI too).
    """
    tenant = session.execute(select(Tenant).where(Tenant.slug == spec["slug"])).scalar_one_or_none()
    values = _tenant_values(spec)
    outcome = "unchanged"
    if tenant is None:
        tenant = Tenant(slug=spec["slug"], **values)
        session.add(tenant)
        session.flush()
        outcome = "created"
    elif _apply(tenant, values):
        outcome = "updated"
    bind_tenant(session, tenant.id)
    audit.start_chain(session, tenant.id)

    existing = {
        ts.service_key: ts
        for ts in session.execute(select(TenantService).where(TenantService.tenant_id == tenant.id)).scalars()
    }
    wanted = spec.get("services") or {}
    for key, service_spec in wanted.items():
        service_spec = service_spec or {}
        pinned = service_spec.get("version")
        version = (
            catalog_repository.find_version(session, key, str(pinned))
            if pinned
            else catalog.latest_version(session, key)
        )
        if version is None:
            raise NotFound(f"{spec['slug']}: {key} version {pinned} is not published")
        ts_values = {
            "service_version_id": version.id,
            "enabled": True,
            "overrides": service_spec.get("overrides") or {},
        }
        row = existing.get(key)
        if row is None:
            session.add(TenantService(tenant_id=tenant.id, service_key=key, **ts_values))
            outcome = "updated" if outcome == "unchanged" else outcome
        elif _apply(row, ts_values):
            outcome = "updated" if outcome == "unchanged" else outcome
    for key, row in existing.items():
        if key not in wanted and row.enabled:
            row.enabled = False
            outcome = "updated" if outcome == "unchanged" else outcome
    session.flush()
    if outcome != "unchanged":
        audit.record(
            session,
            tenant.id,
            actor=actor,
            action=f"tenant.{'create' if outcome == 'created' else 'update'}",
            object_type="tenant",
            object_id=tenant.id,
            data={"slug": tenant.slug, "services": sorted(wanted)},
        )
    bind_tenant(session, None)
    return outcome


def sync_tenants(session: Session, specs: dict[str, dict[str, Any]]) -> SyncReport:
    report = SyncReport()
    for slug in sorted(specs):
        getattr(report, sync_tenant(session, specs[slug])).append(slug)
    return report
