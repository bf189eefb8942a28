"""Tenant resolution from the URL path: ``/<tenant>/...`` and ``/api/v1/t/<tenant>/...``.

Every route with a ``<tenant>`` segment goes through here before its view runs: unknown slug -> 404,
deleted (soft-deleted, awaiting its purge) -> 404 as if it were gone, suspended -> 403, otherwise the request's
session is bound to the tenant. The slug is popped from the
view arguments, so views read ``current_tenant`` and can never mix up a slug from elsewhere.

No cache on purpose: the tenant row is read on every request, so a tenant created, suspended, resumed or deleted
through any worker (the admin API, the CLI) is served that way by every gunicorn worker at once, without a restart
(tests/tenancy/test_two_workers.py). It is one primary-key-sized lookup on a unique index.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import select

from madoguchi.context import db_session, set_current_tenant
from madoguchi.errors import NotFound, TenantSuspended
from madoguchi.tenancy.models import Tenant

TENANT_URL_PARAMETER = "tenant"


def find_serving_tenant(slug: str) -> Tenant:
    tenant = db_session().execute(select(Tenant).where(Tenant.slug == slug)).scalar_one_or_none()
    if tenant is None or tenant.status_enum.is_deleted:
        raise NotFound(f"There is no municipality '{slug}' on this service.")
    if not tenant.status_enum.serves_requests:
        raise TenantSuspended(f"The service of {tenant.name_en} is suspended.")
    return tenant


def _resolve_tenant_from_path(endpoint: str | None, values: dict[str, Any] | None) -> None:
    if values and TENANT_URL_PARAMETER in values:
        set_current_tenant(find_serving_tenant(values.pop(TENANT_URL_PARAMETER)))


def init_app(app: Flask) -> None:
    app.url_value_preprocessor(_resolve_tenant_from_path)
