"""``madoguchi payments``: the periodic payment jobs, for a scheduler (cron, an EventBridge rule) every few minutes.

``poll`` asks the provider about intents stuck in ``processing`` for more than 15 minutes; ``expire`` ends the
intents left unpaid past their deadline. Both run for every serving municipality, or for ``--tenant``, and print
one line per municipality; a provider that cannot be reached is reported and the command exits 1 (the next run
tries again). ``madoguchi worker`` runs both itself every ``payment_jobs_seconds``. Decision 0045.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import click
from flask import Flask

from madoguchi.app import create_app
from madoguchi.cli.common import database, find_tenant, settings
from madoguchi.config import Settings
from madoguchi.db import Database
from madoguchi.payments import jobs
from madoguchi.tenancy import repository as tenancy
from madoguchi.tenancy.models import Tenant

log = logging.getLogger(__name__)

Job = Callable[[Database, Tenant, Settings], jobs.JobReport]


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
    """Payment jobs: poll stuck intents, expire unpaid ones."""


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
