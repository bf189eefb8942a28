"""``madoguchi registry``: import the back-office registries from CSV."""

from __future__ import annotations

import io
from pathlib import Path

import click

from madoguchi.cli.common import database, find_tenant, settings
from madoguchi.crypto import Sealer
from madoguchi.db import bind_tenant
from madoguchi.registry import operations
from madoguchi.registry.csv_formats import KINDS, RowError, UnreadableEncoding, decode_registry_csv, parse_registry_csv

#: Below this many rows a progress bar is only noise.
PROGRESS_BAR_FROM_ROWS = 1000


@click.group()
def registry() -> None:
    """Resident register, tax assessments, childcare facilities."""


def _fail(file: Path, errors: list[RowError]) -> None:
    for error in errors:
        click.echo(f"{file.name}: {error}", err=True)
    click.echo(f"{len(errors)} problem(s) in {file.name}; nothing was imported.", err=True)
    raise SystemExit(1)


@registry.command("import")
@click.option("--tenant", "tenant_slug", required=True, help="Tenant slug, e.g. shiomi-town.")
@click.option("--kind", type=click.Choice(KINDS), required=True)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_csv(tenant_slug: str, kind: str, file: Path) -> None:
    """Import FILE (CSV with a header row, UTF-8 or Shift_JIS). All rows or none: every bad row is reported
    with its line."""
    config = settings()
    sealer = Sealer(config.data_key) if config.data_key else None
    try:
        text, encoding = decode_registry_csv(file.read_bytes())
    except UnreadableEncoding as error:
        raise click.ClickException(f"{file.name}: {error}; nothing was imported.") from None
    except OSError as error:
        raise click.ClickException(f"{file.name}: cannot be read ({error.strerror}).") from None
    total = max(text.count("\n") - 1, 0)
    hide_bar = total < PROGRESS_BAR_FROM_ROWS
    with database(config) as db, db.transaction() as session:
        tenant = find_tenant(session, tenant_slug)
        bind_tenant(session, tenant.id)
        with click.progressbar(length=total, label="checking", hidden=hide_bar) as bar:
            parsed = parse_registry_csv(kind, io.StringIO(text, newline=""), progress=bar.update)
        if parsed.errors:
            _fail(file, parsed.errors)
        with click.progressbar(length=len(parsed.rows), label="importing", hidden=hide_bar) as bar:
            report = operations.import_rows(
                session, tenant.id, kind, parsed.rows, parsed.lines, sealer=sealer, progress=bar.update
            )
        if not report.ok:
            _fail(file, report.errors)  # raises: the transaction rolls back
    unchanged = len(parsed.rows) - report.created - report.updated
    click.echo(
        f"imported {kind} into {tenant_slug} (read as {encoding}): "
        f"{report.created} new, {report.updated} updated, {unchanged} unchanged"
    )
