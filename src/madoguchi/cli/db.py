"""``madoguchi db``: schema migrations."""

from __future__ import annotations

import click

from madoguchi import migrate
from madoguchi.cli.common import settings


@click.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Alembic revision to upgrade to.")
def upgrade(revision: str) -> None:
    """Apply migrations (MADOGUCHI_MIGRATION_DATABASE_URL, else MADOGUCHI_DATABASE_URL, else SQLite)."""
    config = settings()
    migrate.upgrade(config, revision)
    click.echo(f"database at {revision}: {_redact(config.effective_migration_url)}")


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
