"""``madoguchi open-data``: publish a closed month's KPIs (docs/open-data.md); the worker's monthly job."""

from __future__ import annotations

import logging
import threading

import click

from madoguchi import jp
from madoguchi.cli.common import database, find_tenant, settings
from madoguchi.config import Settings
from madoguchi.db import Database
from madoguchi.opendata import compute, publish

log = logging.getLogger(__name__)


@click.group("open-data")
def open_data_group() -> None:
    """Open data: monthly KPI datasets per municipality and for the country."""


@open_data_group.command("publish")
@click.option("--tenant", "tenant_slug", help="Publish this municipality (slug).")
@click.option("--all", "all_tenants", is_flag=True, help="Publish every municipality that is served and publishes.")
@click.option("--month", "period", help="The month, YYYY-MM (JST). Default: the last closed month.")
def publish_command(tenant_slug: str | None, all_tenants: bool, period: str | None) -> None:
    """Snapshot a closed month (kept from then on: a re-run changes nothing), then recompute the country's."""
    if bool(tenant_slug) == all_tenants:
        raise click.UsageError("give either --tenant SLUG or --all")
    period = period or compute.last_closed_month()
    compute.check_closed(period)  # before connecting: a one-line refusal
    with database(settings()) as db, db.transaction() as session:
        tenants = [find_tenant(session, tenant_slug)] if tenant_slug else publish.publishing_tenants(session)
        outcomes, national = publish.publish(session, tenants, period)
    for outcome in outcomes:
        click.echo(f"{outcome.tenant} {outcome.period}: {outcome.result}")
    click.echo(f"national {period}: {'updated' if national else 'unchanged'}")


def publish_due(db: Database) -> None:
    """Publish the previous month for every municipality once it is due (from the 5th, JST); nothing otherwise."""
    now = jp.now()
    period = publish.due_period(now)
    if period is None:
        return
    with db.transaction() as session:
        outcomes, national = publish.publish(session, publish.publishing_tenants(session), period, now=now)
    made = [o.tenant for o in outcomes if o.result == "published"]
    if made or national:
        log.info("open data %s published for %s; national %s", period, ", ".join(made) or "none", national)


def open_data_every(db: Database, config: Settings, stop: threading.Event) -> threading.Thread:
    """Start a thread checking each ``open_data_publish_seconds`` whether a month is due (the worker runs it)."""

    def loop() -> None:
        while not stop.wait(config.open_data_publish_seconds):
            try:
                publish_due(db)
            except Exception:
                log.exception("open-data publication failed")

    thread = threading.Thread(target=loop, name="open-data-publish", daemon=True)
    thread.start()
    return thread
