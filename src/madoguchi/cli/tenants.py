"""``madoguchi tenants``: load municipalities from ``tenants/``, and their lifecycle (create, go-live, suspend,
resume, invite, delete, purge). Refusals end with one clear line and exit status 1."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from madoguchi.catalog import definitions
from madoguchi.catalog import operations as catalog
from madoguchi.catalog import repository as catalog_repository
from madoguchi.cli.common import database, settings
from madoguchi.db import Database
from madoguchi.documents.storage import storage_for
from madoguchi.errors import DomainError
from madoguchi.identity import operations as identity
from madoguchi.jp import PREFECTURES
from madoguchi.platform import lifecycle
from madoguchi.platform import provisioning as tenancy
from madoguchi.tenancy.models import Tenant


@click.group()
def tenants() -> None:
    """Municipalities (tenants)."""


def publish_catalog(session: Session, services_dir: Path) -> list[str]:
    """Publish every procedure in ``services_dir`` that is not yet published; returns what was new."""
    published = []
    for key, service in sorted(definitions.load_services(services_dir).items()):
        row, created = catalog.publish_service(session, service)
        if created:
            published.append(f"{key} {row.version}")
    return published


def check_or_exit(services_dir: Path, tenants_dir: Path, published: definitions.Published | None = None) -> None:
    problems = definitions.check_catalog(services_dir, tenants_dir, published)
    if problems:
        for problem in problems:
            click.echo(str(problem), err=True)
        raise SystemExit(1)


@tenants.command("sync")
@click.option("--tenants", "tenants_dir", type=click.Path(file_okay=False, path_type=Path), help="default: tenants/")
@click.option("--services", "services_dir", type=click.Path(file_okay=False, path_type=Path), help="default: services/")
def sync(tenants_dir: Path | None, services_dir: Path | None) -> None:
    """Create or update tenants from their files (idempotent). Publishes new catalog versions first."""
    config = settings()
    services_dir = services_dir or config.services_dir
    tenants_dir = tenants_dir or config.tenants_dir
    with database(config) as db, db.transaction() as session:
        # A tenant may stay pinned to any version published before (until its admin adopts a newer one).
        check_or_exit(services_dir, tenants_dir, catalog_repository.published_services(session))
        for line in publish_catalog(session, services_dir):
            click.echo(f"published {line}")
        report = tenancy.sync_tenants(session, definitions.load_tenants(tenants_dir))
    for outcome in ("created", "updated", "unchanged", "skipped"):
        for slug in getattr(report, outcome):
            click.echo(f"{outcome}: {slug}")


# --- The lifecycle: create, go live, suspend, resume, invite, delete, purge ------------------------------------------

#: The actor recorded in the audit chain for changes made from the command line.
CLI_ACTOR = "cli"


def _tenant_by_slug(session: Session, slug: str) -> Tenant:
    """The tenant, or one clear line and exit 1."""
    tenant = session.execute(select(Tenant).where(Tenant.slug == slug)).scalar_one_or_none()
    if tenant is None:
        raise click.ClickException(f"unknown tenant '{slug}'")
    return tenant


def _one_line(error: DomainError) -> str:
    if error.errors:
        return "; ".join(f"{name}: {' '.join(messages)}" for name, messages in error.errors.items())
    return str(error)


@contextmanager
def _refusals_in_one_line() -> Iterator[None]:
    try:
        yield
    except DomainError as error:
        raise click.ClickException(_one_line(error)) from error


@tenants.command("create")
@click.option("--slug", required=True, help="the part of every address, e.g. hanamizuki-town")
@click.option("--name-ja", required=True)
@click.option("--name-en", required=True)
@click.option("--code", "local_government_code", required=True, help="全国地方公共団体コード (six digits)")
@click.option("--prefecture", "prefecture_code", default=None, help="two digits; default: the code's first two")
@click.option("--locale", "locales", multiple=True, type=click.Choice(["ja", "en"]), help="repeat; default: ja, en")
@click.option("--default-locale", default="ja", type=click.Choice(["ja", "en"]), show_default=True)
@click.option("--service", "services", multiple=True, help="a procedure key of the published catalog; repeat")
def create(
    slug: str,
    name_ja: str,
    name_en: str,
    local_government_code: str,
    prefecture_code: str | None,
    locales: tuple[str, ...],
    default_locale: str,
    services: tuple[str, ...],
) -> None:
    """Create a municipality on trial (validated like the admin API: nothing is created on a refusal)."""
    code = unicodedata.normalize("NFKC", local_government_code).strip()
    prefecture_code = unicodedata.normalize("NFKC", prefecture_code or code[:2]).strip()
    new = tenancy.NewTenant(
        slug=unicodedata.normalize("NFKC", slug).strip().lower(),
        name_ja=name_ja.strip(),
        name_en=name_en.strip(),
        local_government_code=code,
        prefecture=PREFECTURES.get(prefecture_code, {"code": prefecture_code}),
        locales=list(locales) or ["ja", "en"],
        default_locale=default_locale,
        services=list(services),
    )
    config = settings()
    with database(config) as db, _refusals_in_one_line(), db.transaction() as session:
        tenant = tenancy.create_tenant(session, new, actor=CLI_ACTOR)
        tenant_id, status = tenant.id, tenant.status
    click.echo(f"created {new.slug} ({tenant_id}) on {status}: {config.public_url.rstrip('/')}/{new.slug}/")


def _change_status(slug: str, operation: Callable[..., Tenant], verb: str) -> None:
    with database() as db, _refusals_in_one_line(), db.transaction() as session:
        tenant = operation(session, _tenant_by_slug(session, slug).id, actor=CLI_ACTOR)
        status = tenant.status
    click.echo(f"{slug}: {verb} (status {status})")


@tenants.command("go-live")
@click.argument("slug")
def go_live(slug: str) -> None:
    """End a municipality's trial: it goes live."""
    _change_status(slug, lifecycle.go_live, "live")


@tenants.command("suspend")
@click.argument("slug")
def suspend(slug: str) -> None:
    """Suspend a municipality: its pages and API answer 403 and nobody can sign in; its data is kept."""
    _change_status(slug, tenancy.suspend_tenant, "suspended")


@tenants.command("resume")
@click.argument("slug")
def resume(slug: str) -> None:
    """Resume a suspended municipality in the status it had before."""
    _change_status(slug, tenancy.resume_tenant, "resumed")


@tenants.command("delete")
@click.argument("slug")
@click.option("--yes", is_flag=True, help="do not ask for confirmation")
def delete(slug: str, yes: bool) -> None:
    """Delete a municipality (soft): it answers 404, its sessions end; `purge` removes its data later."""
    if not yes:
        click.confirm(f"Delete {slug}? Its portal, console and API stop at once", abort=True)
    config = settings()
    with database(config) as db, _refusals_in_one_line(), db.transaction() as session:
        tenant = lifecycle.delete_tenant(session, _tenant_by_slug(session, slug).id, actor=CLI_ACTOR)
        due = lifecycle.purge_due_at(tenant, config.tenant_retention_days)
    click.echo(f"{slug}: deleted; its data can be purged from {due:%Y-%m-%d %H:%M} UTC (`madoguchi tenants purge`)")


@tenants.command("purge")
@click.argument("slug", required=False)
@click.option("--all-due", is_flag=True, help="purge every deleted municipality past its retention period")
def purge(slug: str | None, all_due: bool) -> None:
    """Remove the data of deleted municipalities past the retention period, keeping their audit chains.

    Runs as the database owner (MADOGUCHI_MIGRATION_DATABASE_URL): the app role may not delete rows.
    """
    if bool(slug) == all_due:
        raise click.ClickException("name one municipality (SLUG) or pass --all-due, not both")
    config = settings()
    db = Database.for_jobs(config, url=config.effective_migration_url, pool_size=1)
    try:
        with db.transaction() as session:
            if slug:
                targets = [_tenant_by_slug(session, slug).id]
            else:
                due = lifecycle.tenants_due_for_purge(session, retention_days=config.tenant_retention_days)
                targets = [tenant.id for tenant in due]
        if not targets:
            click.echo("nothing to purge")
        for tenant_id in targets:
            with _refusals_in_one_line(), db.transaction() as session:
                report = lifecycle.purge_tenant(
                    session, tenant_id, retention_days=config.tenant_retention_days, actor=CLI_ACTOR
                )
            files = lifecycle.delete_purged_files(storage_for(config), tenant_id, report)
            removed = sum(report.removed.values())
            click.echo(
                f"{report.slug}: purged ({removed} rows in {len(report.removed)} tables, {files} files); "
                "audit chain kept"
            )
    finally:
        db.dispose()


@tenants.command("invite")
@click.argument("slug")
@click.option("--email", required=True, help="the tenant admin's address (the link is emailed there)")
@click.option("--display-name", default=None, help="default: the part of the address before @")
def invite(slug: str, email: str, display_name: str | None) -> None:
    """Invite a tenant admin by a one-time link (printed once, and emailed)."""
    try:
        email = identity.normalize_email(email)
    except ValueError:
        raise click.ClickException(f"not an email address: {email!r}") from None
    config = settings()
    with database(config) as db, _refusals_in_one_line(), db.transaction() as session:
        issued = lifecycle.invite_tenant_admin(
            session,
            _tenant_by_slug(session, slug).id,
            email=email,
            display_name=display_name or email.split("@", 1)[0],
            public_url=config.public_url,
            data_key=config.data_key,
            lifetime=timedelta(hours=config.invitation_lifetime_hours),
            actor=CLI_ACTOR,
        )
        expires = issued.invitation.expires_at
    click.echo(f"invited {email} to {slug}; the link (shown once, valid until {expires:%Y-%m-%d %H:%M} UTC):")
    click.echo(issued.url)
