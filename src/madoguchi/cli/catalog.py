"""``madoguchi catalog``: the standard procedures (``services/``) and the municipality files (``tenants/``), and the
difference between two published versions of a procedure."""

from __future__ import annotations

import json
from itertools import groupby
from pathlib import Path

import click
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from madoguchi.catalog import repository, upgrades
from madoguchi.catalog.definitions import (
    Published,
    check_catalog,
    default_catalog_dirs,
    service_folders,
    tenant_files,
)
from madoguchi.cli.common import database, settings
from madoguchi.config import Settings
from madoguchi.errors import NotFound

_FOLDER = click.Path(file_okay=False, path_type=Path)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def catalog_dirs(services_dir: Path | None, tenants_dir: Path | None) -> tuple[Path, Path]:
    """The folders a command works on: the options when given, else :func:`default_catalog_dirs`."""
    default_services, default_tenants = default_catalog_dirs()
    return services_dir or default_services, tenants_dir or default_tenants


def published_versions(config: Settings) -> Published | None:
    """The versions the database has published, for the pins in tenant files; ``None`` when there is no
    database to ask (an SQLite file not created yet, a server that cannot be reached, no schema yet)."""
    url = make_url(config.effective_database_url)
    if url.get_backend_name() == "sqlite" and not (url.database and Path(url.database).is_file()):
        return None
    try:
        with database(config) as db, db.transaction() as session:
            return repository.published_services(session)
    except SQLAlchemyError:
        return None


services_option = click.option(
    "--services",
    "services_dir",
    type=_FOLDER,
    default=None,
    help="Folder of procedures (default: $MADOGUCHI_SERVICES_DIR, else the repository's services/).",
)
tenants_option = click.option(
    "--tenants",
    "tenants_dir",
    type=_FOLDER,
    default=None,
    help="Folder of tenant files (default: $MADOGUCHI_TENANTS_DIR, else the repository's tenants/).",
)


@click.group()
def catalog() -> None:
    """Standard procedures (services/) and municipality files (tenants/)."""


@catalog.command("check")
@services_option
@tenants_option
@click.pass_context
def check(ctx: click.Context, services_dir: Path | None, tenants_dir: Path | None) -> None:
    """Check every procedure and tenant file against the catalog rules.

    Prints one line per problem, FILE: FIELD: message, and exits 1 if there is any; otherwise prints a
    summary and exits 0.
    """
    services_dir, tenants_dir = catalog_dirs(services_dir, tenants_dir)
    problems = check_catalog(services_dir, tenants_dir, published_versions(settings()))
    if problems:
        for problem in problems:
            click.echo(str(problem))
        click.echo(f"catalog check: {_plural(len(problems), 'problem')}", err=True)
        ctx.exit(1)
    services = _plural(len(service_folders(services_dir)), "service")
    tenants = _plural(len(tenant_files(tenants_dir)), "tenant")
    click.echo(f"ok: {services}, {tenants}")


@catalog.command("diff")
@click.argument("key")
@click.argument("old_version", metavar="V1")
@click.argument("new_version", metavar="V2")
@click.option("--json", "as_json", is_flag=True, help="Print the changes as JSON (as the upgrade API returns them).")
def diff(key: str, old_version: str, new_version: str, as_json: bool) -> None:
    """Print what changed in procedure KEY from published version V1 to V2.

    Both versions are read from the database (`madoguchi tenants sync` publishes them). One line per change,
    grouped by area, as the tenant admin sees it before adopting a version. Exit 1 for an unknown key or version.
    """
    with database() as db, db.transaction() as session:
        try:
            old = upgrades.find_version(session, key, old_version)
            new = upgrades.find_version(session, key, new_version)
        except NotFound as error:
            raise click.ClickException(str(error)) from error
        changes = upgrades.diff_versions(old, new)
    if as_json:
        click.echo(json.dumps([change.as_dict() for change in changes], ensure_ascii=False, indent=2))
        return
    summary = _plural(len(changes), "change") if changes else "no changes"
    click.echo(f"{key} {old.version} → {new.version}: {summary}")
    for area, in_area in groupby(changes, key=lambda change: change.area):
        click.echo(area)
        for change in in_area:
            click.echo(f"  {upgrades.describe(change)}")
