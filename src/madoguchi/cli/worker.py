"""``madoguchi worker``: drain the outbox (notifications, webhooks)."""

from __future__ import annotations

import logging
import signal
import threading

import click

from madoguchi.app import create_app
from madoguchi.cli.audit import checkpoint_every
from madoguchi.cli.common import database, settings
from madoguchi.cli.open_data import open_data_every
from madoguchi.cli.payments import payment_jobs_every
from madoguchi.config import ConfigurationError
from madoguchi.notify import email
from madoguchi.notify import worker as outbox_worker


@click.command()
@click.option("--once", is_flag=True, help="Deliver what is due now, then exit.")
def worker(once: bool) -> None:
    """Run the outbox worker until SIGTERM or Ctrl-C."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = settings()
    try:
        config.check_production()
    except ConfigurationError as missing:
        raise click.ClickException(str(missing)) from missing
    try:
        # A misconfigured email backend stops here, in one line, rather than in the first delivery.
        email.mailer_for(config)
    except ValueError as misconfigured:
        raise click.ClickException(str(misconfigured)) from misconfigured
    too_short = outbox_worker.lease_shorter_than_sends(config)
    if too_short:
        raise click.ClickException(too_short)
    # Once, at start: emails are rendered in its context with its translations (madoguchi.notify.messages).
    app = create_app(config)
    with database(config) as db:
        if once:
            click.echo(f"delivered {outbox_worker.run_once(db, settings=config, app=app)} message(s)")
            return
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        if config.audit_checkpoint_seconds > 0:
            checkpoint_every(db, config, stop)
        if config.payment_jobs_seconds > 0:
            payment_jobs_every(db, config, app, stop)
        if config.open_data_publish_seconds > 0:
            open_data_every(db, config, stop)
        try:
            outbox_worker.run_forever(db, poll_seconds=config.worker_poll_seconds, stop=stop, settings=config, app=app)
        except KeyboardInterrupt:
            stop.set()
