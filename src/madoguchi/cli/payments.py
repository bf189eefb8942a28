"""``madoguchi payments``: the 会計管理者's batch work on payments, e.g. importing a provider's settlement report."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import click

from madoguchi.cli.common import database, find_tenant, settings
from madoguchi.db import bind_tenant
from madoguchi.errors import ValidationFailed
from madoguchi.identity.actors import Actor
from madoguchi.identity.models import AccountKind, StaffRole
from madoguchi.payments import reconcile

#: Whoever runs the command on the server acts as the accounting office; the audit trail names the command.
CLI_ACCOUNTANT = Actor(kind=AccountKind.STAFF.value, staff_roles=frozenset({StaffRole.ACCOUNTANT.value}),
                       label="cli:payments-import-settlement")  # fmt: skip


@click.group("payments")
def payments_group() -> None:
    """Fees and payments: settlement reports."""


@payments_group.command("import-settlement")
@click.option("--tenant", "tenant_slug", required=True, help="Tenant slug, e.g. sakuragaoka-city.")
@click.option("--provider", required=True, help="The payment provider whose report it is, e.g. stripe.")
@click.option("--day", required=True, type=click.DateTime(formats=["%Y-%m-%d"]), help="The report's day (JST).")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_settlement(tenant_slug: str, provider: str, day: datetime, file: Path) -> None:
    """Import FILE (CSV: provider_ref,kind,amount_jpy,settled_on; UTF-8 or Shift_JIS) and match it against the
    payments and refunds of that day. All lines or none: every bad line is reported with its number."""
    the_day: date = day.date()
    try:
        raw = file.read_bytes()
    except OSError as error:
        raise click.ClickException(f"{file.name}: cannot be read ({error.strerror}).") from None
    with database(settings()) as db, db.transaction() as session:
        tenant = find_tenant(session, tenant_slug)
        bind_tenant(session, tenant.id)
        try:
            imported = reconcile.import_settlement(
                session, tenant, provider=provider, day=the_day, raw=raw, actor=CLI_ACCOUNTANT
            )
        except ValidationFailed as refused:
            problems = [f"{file.name}: {line}" for line in (refused.errors or {}).get("file", [])]
            problems += [f"--{field}: {', '.join(messages)}" for field, messages in (refused.errors or {}).items()
                         if field != "file"]  # fmt: skip
            for problem in problems:
                click.echo(problem, err=True)
            click.echo(f"{len(problems)} problem(s); nothing was imported.", err=True)
            raise SystemExit(1) from None
        lines = reconcile.lines_of(session, imported, problems_only=True)
        click.echo(f"imported {provider} {the_day.isoformat()} into {tenant_slug}: "
                   f"{imported.matched} matched, {imported.mismatched} to check")  # fmt: skip
        for line in lines:
            where = f"line {line.line_number}" if line.line_number else "not in the report"
            click.echo(f"  {line.result}: {line.provider_ref} {line.kind} ({where}; ours {line.expected_jpy}, "
                       f"reported {line.reported_jpy})")  # fmt: skip
