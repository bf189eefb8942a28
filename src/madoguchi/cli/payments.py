"""``madoguchi payments``: the periodic payment jobs and the 会計管理者's batch work.

``poll`` asks the provider about intents stuck in ``processing`` for more than 15 minutes; ``expire`` ends the
intents left unpaid past their deadline. Both run for every serving municipality, or for ``--tenant``, and print
one line per municipality; a provider that cannot be reached is reported and the command exits 1 (the next run
tries again). ``madoguchi worker`` runs both itself every ``payment_jobs_seconds``; a scheduler (cron, an
EventBridge rule) may run them too. Decision 0045.

``import-settlement`` imports a provider's settlement report of a day and matches it (decision 0046).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

import click
from flask import Flask

from madoguchi.app import create_app
from madoguchi.cli.common import database, find_tenant, settings
from madoguchi.config import Settings
from madoguchi.db import Database, bind_tenant
from madoguchi.errors import ValidationFailed
from madoguchi.identity.actors import Actor
from madoguchi.identity.models import AccountKind, StaffRole
from madoguchi.payments import jobs, reconcile
from madoguchi.tenancy import repository as tenancy
from madoguchi.tenancy.models import Tenant

log = logging.getLogger(__name__)

Job = Callable[[Database, Tenant, Settings], jobs.JobReport]

#: Whoever runs the command on the server acts as the accounting office; the audit trail names the command.
CLI_ACCOUNTANT = Actor(kind=AccountKind.STAFF.value, staff_roles=frozenset({StaffRole.ACCOUNTANT.value}),
                       label="cli:payments-import-settlement")  # fmt: skip


def _serving_tenants(db: Database) -> list[Tenant]:
    with db.transaction() as session:
        tenants = tenancy.serving_tenants(session)
        session.expunge_all()
        return tenants


def payment_jobs_every(db: Database, config: Settings, app: Flask, stop: threading.Event) -> threading.Thread:
    """Start a thread running both jobs for every serving tenant each ``payment_jobs_seconds`` (the worker runs
    it), in the app's context (what waited for a fee, such as issuing, runs when an intent succeeds)."""

    def loop() -> None:
        while not stop.wait(config.payment_jobs_seconds):
            for tenant in _serving_tenants(db):
                for job in (jobs.poll_stuck, jobs.expire_unpaid):
                    try:
                        with app.app_context():
                            job(db, tenant, config)
                    except Exception:
                        log.exception("payment job %s of %s failed", job.__name__, tenant.slug)

    thread = threading.Thread(target=loop, name="payment-jobs", daemon=True)
    thread.start()
    return thread


@click.group("payments")
def payments_group() -> None:
    """Fees and payments: the periodic jobs (poll stuck intents, expire unpaid ones) and settlement reports."""


def _run(job: Job, verb: str, tenant_slug: str | None) -> None:
    config = settings()
    # What waited for the fee (issuing a certificate) runs when an intent succeeds: it needs the app's context.
    app = create_app(config)
    failed = False
    with app.app_context(), database(config) as db:
        if tenant_slug:
            with db.transaction() as session:
                tenants = [find_tenant(session, tenant_slug)]
                session.expunge_all()
        else:
            tenants = _serving_tenants(db)
        for tenant in tenants:
            report = job(db, tenant, config)
            click.echo(f"{tenant.slug}: {report.looked_at} looked at, {report.moved} {verb}")
            for problem in report.failed:
                click.echo(f"{tenant.slug}: provider did not answer: {problem}", err=True)
            failed = failed or bool(report.failed)
    if failed:
        raise click.exceptions.Exit(1)


@payments_group.command("poll")
@click.option("--tenant", "tenant_slug", help="Only this municipality (slug).")
def poll(tenant_slug: str | None) -> None:
    """Ask the provider about intents processing for more than 15 minutes, and apply what it says."""
    _run(lambda db, tenant, config: jobs.poll_stuck(db, tenant, config), "moved", tenant_slug)


@payments_group.command("expire")
@click.option("--tenant", "tenant_slug", help="Only this municipality (slug).")
def expire(tenant_slug: str | None) -> None:
    """Expire intents still unpaid past their deadline (unless the provider took the payment meanwhile)."""
    _run(lambda db, tenant, config: jobs.expire_unpaid(db, tenant, config), "ended", tenant_slug)


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
