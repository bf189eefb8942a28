"""``madoguchi audit``: check a tenant's hash-chained audit trail."""

from __future__ import annotations

import click

from madoguchi.audit import operations as audit
from madoguchi.cli.common import database, find_tenant
from madoguchi.db import bind_tenant


@click.group("audit")
def audit_group() -> None:
    """Audit trail."""


@audit_group.command("verify")
@click.option("--tenant", "tenant_slug", required=True, help="Tenant slug.")
def verify(tenant_slug: str) -> None:
    """Walk the tenant's chain and report the first modified, missing or re-linked record (exit 1)."""
    with database() as db, db.transaction() as session:
        tenant = find_tenant(session, tenant_slug)
        bind_tenant(session, tenant.id)
        report = audit.verify(session, tenant.id)
    if report.intact:
        click.echo(f"{tenant_slug}: audit chain intact ({report.records_checked} records)")
        return
    click.echo(f"{tenant_slug}: audit chain broken at record {report.first_bad_seq}: {report.problem}", err=True)
    raise SystemExit(1)
