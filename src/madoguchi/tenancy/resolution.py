"""Tenant resolution from the URL path: ``/<tenant>/...`` and ``/api/v1/t/<tenant>/...``.

Every route with a ``<tenant>`` segment goes through here before its view runs: unknown slug -> 404,
deleted (soft-deleted, awaiting its purge) -> 404 as if it were gone, suspended -> 403, otherwise the request's
session is bound to the tenant. The slug is popped from the
view arguments, so views read ``current_tenant`` and can never mix up a slug from elsewhere.

A tenant that serves requests is kept per process for ``Settings.tenant_cache_seconds`` (5 s; decision 0025), so a
busy worker reads the tenant row once every few seconds instead of on every request, and the request's transaction
begins bound to the tenant (one ``set_config``). What that costs, and all it costs: a tenant suspended or deleted
through another process (another gunicorn worker, the CLI) is still served by this one for at most that long; one
suspended or deleted through this process is dropped at once (``forget``). Nothing else is cached: an unknown, deleted
or suspended slug is read from the database on every request, so a tenant created or resumed is served by every
worker at once (tests/tenancy/test_two_workers.py), and a refusal never outlives its cause.
"""

from __future__ import annotations

import threading
import time
from copy import deepcopy
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, has_app_context
from sqlalchemy import inspect, select
from sqlalchemy.orm import make_transient_to_detached

from madoguchi.context import db_session, set_current_tenant
from madoguchi.errors import NotFound, TenantSuspended
from madoguchi.tenancy.models import Tenant

TENANT_URL_PARAMETER = "tenant"
_CACHE_EXTENSION = "madoguchi.serving_tenants"


@dataclass(frozen=True)
class _Cached:
    columns: dict[str, Any]
    until: float


class ServingTenants:
    """Per process (per app): the column values of tenants that served a request lately, by slug."""

    def __init__(self) -> None:
        self._by_slug: dict[str, _Cached] = {}
        self._lock = threading.Lock()

    def get(self, slug: str) -> dict[str, Any] | None:
        cached = self._by_slug.get(slug)
        if cached is None or time.monotonic() >= cached.until:
            return None
        return cached.columns

    def put(self, tenant: Tenant, seconds: float) -> None:
        if seconds <= 0:
            return
        columns = {attribute.key: getattr(tenant, attribute.key) for attribute in inspect(Tenant).column_attrs}
        with self._lock:
            self._by_slug[tenant.slug] = _Cached(columns, time.monotonic() + seconds)

    def forget(self, slug: str | None = None) -> None:
        with self._lock:
            if slug is None:
                self._by_slug.clear()
            else:
                self._by_slug.pop(slug, None)


def serving_tenants(app: Flask | None = None) -> ServingTenants:
    cache: ServingTenants = (app or current_app).extensions[_CACHE_EXTENSION]
    return cache


def forget(slug: str) -> None:
    """Drop ``slug`` from this process's cache (its status changes here); nothing to do outside an app."""
    if has_app_context() and _CACHE_EXTENSION in current_app.extensions:
        serving_tenants().forget(slug)


def find_serving_tenant(slug: str) -> Tenant:
    tenant = db_session().execute(select(Tenant).where(Tenant.slug == slug)).scalar_one_or_none()
    if tenant is None or tenant.status_enum.is_deleted:
        raise NotFound(f"There is no municipality '{slug}' on this service.")
    if not tenant.status_enum.serves_requests:
        raise TenantSuspended(f"The service of {tenant.name_en} is suspended.")
    return tenant


def _resolve_tenant_from_path(endpoint: str | None, values: dict[str, Any] | None) -> None:
    if not values or TENANT_URL_PARAMETER not in values:
        return
    slug = values.pop(TENANT_URL_PARAMETER)
    cache = serving_tenants()
    columns = cache.get(slug)
    if columns is not None:
        # The request's own copy, deep (the profile is a dict a request could change): nothing is shared between
        # requests. Made the request's before its session exists, so that the transaction begins bound to it;
        # then put in the session as if loaded, without SQL.
        tenant = Tenant(**deepcopy(columns))
        make_transient_to_detached(tenant)
        set_current_tenant(tenant)
        db_session().add(tenant)
        return
    tenant = find_serving_tenant(slug)
    cache.put(tenant, current_app.config["MADOGUCHI"].tenant_cache_seconds)
    set_current_tenant(tenant)


def init_app(app: Flask) -> None:
    app.extensions[_CACHE_EXTENSION] = ServingTenants()
    app.url_value_preprocessor(_resolve_tenant_from_path)
