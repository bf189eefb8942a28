"""``madoguchi tenants``: load municipalities from ``tenants/``."""

from __future__ import annotations

from pathlib import Path

import click

from madoguchi.catalog import definitions
from madoguchi.catalog import operations as catalog
from madoguchi.cli.common import database, settings


@click.group()
def tenants() -> None:
    """Municipalities (tenants)."""


def publish_catalog(session, services_dir: Path) -> list[str]:  # type: ignore[no-untyped-def]
    """Publish every procedure in ``services_dir`` that is not yet published; returns what was new."""
    published = []
    for key, service in sorted(definitions.load_services(services_dir).items()):
        row, created = catalog.publish_service(session, service)
        if created:
            published.append(f"{key} {row.version}")
    return published


def check_or_exit(services_dir: Path, tenants_dir: Path) -> None:
    problems = definitions.check_catalog(services_dir, tenants_dir)
    if problems:
        for problem in problems:
            click.echo(str(problem), err=True)
        raise SystemExit(1)


@tenants.command("sync")
@click.option("--tenants", "tenants_dir", type=click.Path(file_okay=False, path_type=Path), help="default: tenants/")
@click.option("--services", "services_dir", type=click.Path(file_okay=False, path_type=Path), help="default: services/")
def sync(tenants_dir: Path | None, services_dir: Path | None) -> None:
    """Create or update tenants from their files (idempotent). Publishes new catalog versions first."""
    config = settings()
    services_dir = services_dir or config.services_dir
    tenants_dir = tenants_dir or config.tenants_dir
    check_or_exit(services_dir, tenants_dir)
    from madoguchi.tenancy import operations as tenancy

    with database(config) as db, db.transaction() as session:
        for line in publish_catalog(session, services_dir):
            click.echo(f"published {line}")
        report = tenancy.sync_tenants(session, definitions.load_tenants(tenants_dir))
    for outcome in ("created", "updated", "unchanged"):
        for slug in getattr(report, outcome):
            click.echo(f"{outcome}: {slug}")
