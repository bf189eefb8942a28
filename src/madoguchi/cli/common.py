"""What every command needs: settings, a database, a tenant looked up by slug, clean error exits."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from madoguchi.config import Settings
from madoguchi.db import Database
from madoguchi.demo import with_demo_secrets
from madoguchi.tenancy.models import Tenant


def settings() -> Settings:
    """The environment's settings; beside a demo's data directory, with the secrets the demo generated."""
    return with_demo_secrets(Settings.from_env())


@contextmanager
def database(config: Settings | None = None) -> Iterator[Database]:
    db = Database.for_jobs(config or settings())
    try:
        yield db
    finally:
        db.dispose()


def find_tenant(session: Session, slug: str) -> Tenant:
    tenant = session.execute(select(Tenant).where(Tenant.slug == slug)).scalar_one_or_none()
    if tenant is None:
        known = ", ".join(session.execute(select(Tenant.slug).order_by(Tenant.slug)).scalars()) or "none"
        raise click.UsageError(f"unknown tenant '{slug}' (known: {known}); run `madoguchi tenants sync` first?")
    return tenant
