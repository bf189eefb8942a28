"""``madoguchi demo``: the embedded default, seeded and served with gunicorn, worker included."""

from __future__ import annotations

import functools
import logging
import os
import threading
from pathlib import Path
from typing import Any

import click
from gunicorn.app.base import BaseApplication

from madoguchi.accesslog import RedactingLogger
from madoguchi.config import Settings
from madoguchi.db import Database
from madoguchi.demo import DEMO_PASSWORD, create_demo_app, demo_settings, seed
from madoguchi.demo import card_idp as demo_card_idp
from madoguchi.notify import email
from madoguchi.notify import worker as outbox_worker
from madoguchi.notify.mailbox import MailboxMailer


class _DemoServer(BaseApplication):
    """gunicorn with one worker process (SQLite and the single outbox worker want one) and four threads."""

    def __init__(self, settings: Settings, bind: str) -> None:
        self.settings = settings
        self.options = {
            "bind": bind,
            "workers": 1,
            "worker_class": "gthread",
            "threads": 4,
            "accesslog": "-",
            # The usual line format, with one-time tokens (email links, OAuth codes) redacted.
            "logger_class": RedactingLogger,
            "errorlog": "-",
            "loglevel": "info",
            "graceful_timeout": 5,
            "post_worker_init": self._start_outbox_worker,
            "worker_exit": self._stop_outbox_worker,
        }
        self._stop = threading.Event()
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return create_demo_app(self.settings)

    def _start_outbox_worker(self, worker: Any) -> None:
        database = Database.for_jobs(self.settings)
        mailer = email.mailer_for(self.settings)
        if isinstance(mailer, MailboxMailer):
            # The demo only: one line per mail on the console, so the sign-up link can be followed from there.
            mailer = MailboxMailer(self.settings, announce=functools.partial(_announce_mail, self.settings.public_url))
        thread = threading.Thread(
            target=outbox_worker.run_forever,
            kwargs={
                "database": database,
                "poll_seconds": self.settings.worker_poll_seconds,
                "stop": self._stop,
                # The demo's own settings (generated data key, loopback webhooks), not the environment's.
                "settings": self.settings,
                "handlers": outbox_worker.default_handlers(self.settings, mailer=mailer),
                # The app this gunicorn worker serves: emails are rendered with its translations.
                "app": worker.wsgi,
            },
            name="outbox-worker",
            daemon=True,
        )
        thread.start()

    def _stop_outbox_worker(self, _server: Any, _worker: Any) -> None:
        self._stop.set()


def _announce_mail(public_url: str, kind: str, subject: str, link: str | None) -> None:
    """One console line per mail the demo sends: the link to follow, or (a letter's code) where to read it."""
    where = link or f"{public_url.rstrip('/')}/demo/mailbox"
    click.echo(f"{'Letter' if kind == 'letter' else 'Mail'}: {subject}  {where}")


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("instance"),
    show_default=True,
    help="SQLite database, documents and demo secrets live here; kept between runs.",
)
@click.option("--seed-only", is_flag=True, help="Seed the data directory, print the logins, and exit.")
def demo(host: str, port: int, data_dir: Path, seed_only: bool) -> None:
    """Migrate, load the catalog, demo tenants, registries and accounts, then serve at http://HOST:PORT."""
    # Everything the demo creates (database, documents, keys, registry files) is private to its user.
    os.umask(0o077)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = demo_settings(data_dir, public_url=f"http://{host}:{port}")
    if settings.is_postgres:
        raise click.UsageError("the demo runs on its embedded SQLite database; unset MADOGUCHI_DATABASE_URL")
    click.echo(f"Preparing the demo in {settings.data_dir} ...")
    summary = seed(settings)
    base = f"http://{host}:{port}"
    click.echo("")
    click.echo(f"Madoguchi demo at {base}/")
    click.echo(f"  API:          {base}/api/v1/tenants   (docs: {base}/api/v1/docs)")
    for tenant in summary.tenants:
        click.echo(f"  {tenant.name_en} ({tenant.name_ja}): {base}/{tenant.slug}/")
        click.echo(f"      procedures API: {base}/api/v1/t/{tenant.slug}/procedures")
    if settings.email_backend == "mailbox":
        click.echo(f"  Mailbox:      {base}/demo/mailbox   (every email and letter the demo sends)")
    click.echo(f"Demo accounts (password for all: {DEMO_PASSWORD}):")
    for account in summary.accounts:
        key = f"  TOTP key: {account.totp_secret}" if account.totp_secret else ""
        click.echo(f"  {account.tenant:<16} {account.email:<40} {account.role}{key}")
    click.echo(
        "Staff and the platform admin also enter a 6-digit code: add their TOTP key to an authenticator app "
        "(or, for an account shown without a key, scan the QR code offered at its first sign-in)."
    )
    if seed_only:
        return
    provider = None
    if not settings.card_oidc_issuer:
        provider, reason = demo_card_idp.start(settings.data_dir)
        if provider is None:
            click.echo(f"Card sign-in (マイナンバーカード) is off: {reason}.")
        else:
            settings = provider.configure(settings)
    if settings.card_oidc_issuer:
        _echo_card_sign_in(settings, summary.tenants, base, demo_provider=provider is not None)
    click.echo("Press Ctrl-C to stop.")
    try:
        _DemoServer(settings, f"{host}:{port}").run()
    finally:
        if provider is not None:
            provider.stop()


def _echo_card_sign_in(settings: Settings, tenants: list[Any], base: str, *, demo_provider: bool) -> None:
    where = "the demo provider, fictional cards only" if demo_provider else "the configured provider"
    click.echo(f"Card sign-in (マイナンバーカード) through {settings.card_oidc_issuer} ({where}):")
    for tenant in tenants:
        if not ((tenant.profile or {}).get("card_sign_in") or {}).get("enabled"):
            continue
        holder = demo_card_idp.suggested_holder(tenant.slug) if demo_provider else None
        pick = f": pick {holder['card']['name']}, PIN {demo_card_idp.PIN}" if holder else ""
        click.echo(f"  {tenant.name_en} ({tenant.name_ja}): {base}/{tenant.slug}/card/sign-in{pick}")
    if demo_provider:
        click.echo(
            "  The other card holders show a clerk's check (a variant character), another municipality, "
            "not in the register, and two register matches."
        )
