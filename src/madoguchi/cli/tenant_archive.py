"""`madoguchi tenants export|import`: one tenant's data as a signed archive (commands on the `tenants` group).

The archive format, what travels and what stays behind, and the keys are described in
``madoguchi.platform.portability`` and docs/portability.md. A refused archive ends with one line and exit 1.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from madoguchi.cli.common import database, settings
from madoguchi.cli.tenants import tenants
from madoguchi.documents.storage import storage_for
from madoguchi.platform import portability


@contextmanager
def _progress_bar(label: str) -> Iterator[portability.Progress]:
    """A click progress bar on stderr, created once the total is known (the first report)."""
    bars: list[Any] = []

    def advance(steps: int, total: int) -> None:
        if not bars:
            bar = click.progressbar(length=max(total, 1), label=label, file=sys.stderr, show_pos=True)
            bar.__enter__()
            bars.append(bar)
        bars[0].update(steps)

    try:
        yield advance
    finally:
        if bars:
            bars[0].__exit__(None, None, None)


def _files(count: int) -> str:
    return f"{count} file" if count == 1 else f"{count} files"


def _individual_numbers_note(summary: portability.ArchiveSummary, *, exported: bool) -> None:
    if summary.individual_numbers == "omitted":
        click.secho(
            "WARNING: Individual Numbers (個人番号) are NOT in this archive (no MADOGUCHI_ARCHIVE_TRANSFER_KEY was set "
            "for the export): the imported register has none.",
            err=True,
            fg="yellow",
            bold=True,
        )
    elif summary.individual_numbers == "transfer-encrypted":
        verb = "carries" if exported else "carried"
        click.secho(
            f"NOTE: this archive {verb} Individual Numbers (個人番号), encrypted with the transfer key. "
            "The rest of the register is personal data in clear text: store and send the file as such.",
            err=True,
            bold=True,
        )


@tenants.command("export")
@click.argument("slug")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="overwrite FILE if it exists")
def export_command(slug: str, file: Path, force: bool) -> None:
    """Write everything of tenant SLUG to FILE, a signed archive (secrets stay behind: see docs/portability.md)."""
    if file.exists() and not force:
        raise click.UsageError(f"{file} exists; pass --force to overwrite it")
    config = settings()
    with database(config) as db, _progress_bar(f"exporting {slug}") as progress:
        summary = portability.export_tenant(db, storage_for(config), config, slug, file, progress=progress)
    click.echo(
        f"exported {summary.tenant_slug}: {summary.total_rows} rows in {len(summary.rows)} tables and "
        f"{_files(summary.files)} to {file} (signed by key {summary.key_id})"
    )
    _individual_numbers_note(summary, exported=True)


@tenants.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def import_command(file: Path) -> None:
    """Restore the tenant archive FILE into this installation: checked completely first, then all or nothing."""
    config = settings()
    with database(config) as db, _progress_bar(f"importing {file.name}") as progress:
        summary = portability.import_tenant(db, storage_for(config), config, file, progress=progress)
    click.echo(
        f"imported {summary.tenant_slug}: {summary.total_rows} rows in {len(summary.rows)} tables and "
        f"{_files(summary.files)} (archive signed by key {summary.key_id})"
    )
    click.echo(
        "Accounts arrive without passwords or second factors, vendor apps without client secrets, and webhook "
        "subscriptions with new signing secrets: see docs/portability.md for the way back in."
    )
    _individual_numbers_note(summary, exported=False)


@tenants.command("archive-keys")
def archive_keys_command() -> None:
    """Print a new signing key, its public key and a transfer key for tenant archives."""
    keys = portability.generate_keys()
    click.echo("# the exporting installation (keep secret):")
    click.echo(f"MADOGUCHI_ARCHIVE_SIGNING_KEY={keys['archive_signing_key']}")
    click.echo("# every installation that accepts its archives (public):")
    click.echo(f"MADOGUCHI_ARCHIVE_TRUSTED_KEYS={keys['archive_trusted_keys']}")
    click.echo("# both installations, to carry Individual Numbers (keep secret):")
    click.echo(f"MADOGUCHI_ARCHIVE_TRANSFER_KEY={keys['archive_transfer_key']}")
