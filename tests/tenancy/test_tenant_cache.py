"""A web process keeps a serving tenant for ``tenant_cache_seconds`` (decision 0025), and no longer.

Suspended or deleted through *another* process (here: a direct update, as the CLI or another worker commits it), the
tenant is refused once that time has passed; suspended through this process, at once; resumed, served at once (a
refusal is never cached).
"""

from __future__ import annotations

import time
from dataclasses import replace

from flask import Flask
from sqlalchemy import update

from madoguchi import create_app
from madoguchi.config import Settings
from madoguchi.context import current_tenant
from madoguchi.db import Database
from madoguchi.platform import provisioning
from madoguchi.tenancy import resolution
from madoguchi.tenancy.models import Tenant, TenantStatus
from tests.factories import tenants

TTL = 0.5


def _set_status(db: Database, slug: str, status: TenantStatus) -> None:
    with db.transaction() as session:
        session.execute(update(Tenant).where(Tenant.slug == slug).values(status=status.value))


def _cached_app(settings: Settings) -> Flask:
    app = create_app(replace(settings, tenant_cache_seconds=TTL))
    app.config["TESTING"] = True
    return app


def test_a_tenant_suspended_or_deleted_elsewhere_is_refused_within_the_cache_time_and_resumed_at_once(
    settings: Settings, db: Database, seeded: None
) -> None:
    client = _cached_app(settings).test_client()
    slug = tenants(db)[0].slug
    url = f"/api/v1/t/{slug}/procedures"
    assert client.get(url).status_code == 200

    _set_status(db, slug, TenantStatus.SUSPENDED)
    refused_after = time.monotonic() + TTL
    while client.get(url).status_code == 200:
        assert time.monotonic() < refused_after + 0.2, "a suspended tenant was served past tenant_cache_seconds"
        time.sleep(0.05)
    assert client.get(url).status_code == 403

    _set_status(db, slug, TenantStatus.LIVE)
    assert client.get(url).status_code == 200  # a refusal is not cached

    _set_status(db, slug, TenantStatus.DELETED)
    time.sleep(TTL)
    assert client.get(url).status_code == 404


def test_a_tenant_suspended_through_this_process_is_refused_at_once(
    settings: Settings, db: Database, seeded: None
) -> None:
    app = _cached_app(settings)
    client = app.test_client()
    tenant = tenants(db)[0]
    url = f"/{tenant.slug}/"
    assert client.get(url).status_code == 200
    with app.app_context(), db.transaction() as session:
        provisioning.suspend_tenant(session, tenant.id, actor="test")
    assert client.get(url).status_code == 403


def test_without_a_cache_time_every_request_reads_the_tenant(settings: Settings, db: Database, seeded: None) -> None:
    client = create_app(replace(settings, tenant_cache_seconds=0)).test_client()
    slug = tenants(db)[0].slug
    assert client.get(f"/api/v1/t/{slug}/procedures").status_code == 200
    _set_status(db, slug, TenantStatus.SUSPENDED)
    assert client.get(f"/api/v1/t/{slug}/procedures").status_code == 403


def test_each_request_gets_its_own_copy_of_a_cached_tenant(settings: Settings, db: Database, seeded: None) -> None:
    """A request that changes its tenant's profile in place changes nothing for the next request."""
    app = _cached_app(settings)
    tenant = tenants(db)[0]
    with app.test_request_context(f"/{tenant.slug}/"):
        resolution.serving_tenants().put(tenant, 60)
    seen = []
    for _ in range(2):
        with app.test_request_context(f"/{tenant.slug}/"):
            resolution._resolve_tenant_from_path(None, {"tenant": tenant.slug})
            seen.append((current_tenant.profile.get("prefecture"), list(current_tenant.profile.get("locales", []))))
            current_tenant.profile["prefecture"] = "changed by a request"
            current_tenant.profile.setdefault("locales", []).append("xx")
    assert seen[1] == seen[0] and seen[0][0] != "changed by a request" and "xx" not in seen[0][1]
