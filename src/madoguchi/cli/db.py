"""``madoguchi db``: schema migrations, and backups that contain every tenant's rows."""

from __future__ import annotations

from pathlib import Path

import click

from madoguchi import backup, migrate
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


@db.command("backup")
@click.argument("file", type=click.Path(dir_okay=False, writable=True, path_type=Path))
def backup_command(file: Path) -> None:
    """Dump every tenant's data to FILE (pg_dump custom format) as the backup role (MADOGUCHI_BACKUP_DATABASE_URL).

    Refuses, with one line and exit 1, when the dump would be incomplete (a role that row-level security
    applies to) or pg_dump fails; FILE is written only when the dump finished.
    """
    config = settings()
    if not config.backup_database_url:
        raise click.ClickException("set MADOGUCHI_BACKUP_DATABASE_URL to the backup role (see docs/operations.md)")
    try:
        report = backup.backup(config.backup_database_url, file)
    except backup.BackupRefused as refused:
        raise click.ClickException(f"backup refused: {refused}") from None
    click.echo(f"backed up {report.total_rows} rows in {len(report.rows)} tables to {file}")


@db.command("restore")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def restore_command(file: Path) -> None:
    """Restore FILE (from `madoguchi db backup`) into the empty database of MADOGUCHI_MIGRATION_DATABASE_URL.

    All or nothing (one transaction); refuses a database that already has tables. Run `madoguchi db upgrade`
    afterwards when the code is newer than the backup.
    """
    config = settings()
    try:
        tables = backup.restore(config.effective_migration_url, file)
    except backup.BackupRefused as refused:
        raise click.ClickException(f"restore refused: {refused}") from None
    click.echo(f"restored {tables} tables from {file} into {_redact(config.effective_migration_url)}")
