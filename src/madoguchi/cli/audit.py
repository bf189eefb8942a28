"""``madoguchi audit``: check a tenant's keyed audit chain, write signed checkpoints, make audit keys.

Checkpoints go to the store ``MADOGUCHI_AUDIT_CHECKPOINT_URL`` names, through the document storage backends
(a folder, or S3 with object lock). See docs/operations.md, "Audit key and checkpoints".
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlparse

import click
from sqlalchemy import select

from madoguchi.audit import access, checkpoints, ledger
from madoguchi.audit import operations as audit
from madoguchi.audit.checkpoints import Checkpoint, CheckpointError
from madoguchi.audit.keys import AuditKeyError, AuditKeyring, generate_key, parse_keyring
from madoguchi.cli.common import database, find_tenant, settings
from madoguchi.config import Settings
from madoguchi.db import Database, bind_tenant, utcnow
from madoguchi.documents.backend import Storage, StorageError, StoredObjectMissing
from madoguchi.documents.storage import LocalStorage
from madoguchi.tenancy.models import Tenant

log = logging.getLogger(__name__)


def checkpoint_store(config: Settings) -> tuple[Storage, str]:
    """The checkpoint store and a description of it for messages; ClickException when it is unusable."""
    url = config.audit_checkpoint_url.strip()
    if not url:
        folder = config.data_dir / "audit-checkpoints"
        return LocalStorage(folder), str(folder)
    parsed = urlparse(url)
    if parsed.scheme == "file":
        folder = Path(parsed.path)
        if not folder.is_dir():
            raise click.ClickException(f"MADOGUCHI_AUDIT_CHECKPOINT_URL: the folder {folder} does not exist")
        return LocalStorage(folder), str(folder)
    if parsed.scheme == "s3":
        # Lazy on purpose: boto3 is imported only when S3 is used (docs/decisions/0016-layers.md).
        from madoguchi.documents.s3 import S3Storage

        return S3Storage.from_settings(replace(config, storage_url=url)), url
    raise click.ClickException(
        f"MADOGUCHI_AUDIT_CHECKPOINT_URL: unsupported scheme {parsed.scheme!r} (use file:// or s3://)"
    )


def _keyring(config: Settings) -> AuditKeyring:
    try:
        return parse_keyring(config.audit_key)
    except AuditKeyError as error:
        raise click.ClickException(str(error)) from None


def read_latest(store: Storage, where: str, tenant_id: uuid.UUID, keyring: AuditKeyring) -> Checkpoint | None:
    """The tenant's newest checkpoint, signature checked; None when it has none yet."""
    try:
        data = store.get(checkpoints.latest_key(tenant_id), tenant_id=tenant_id)
    except StoredObjectMissing:
        return None
    except StorageError as error:
        raise click.ClickException(f"cannot read the audit checkpoint store {where}: {error}") from None
    try:
        return checkpoints.parse(data, tenant_id, keyring)
    except CheckpointError as error:
        raise click.ClickException(f"audit checkpoint in {where}: {error}") from None


def write_checkpoint(db: Database, config: Settings, tenant: Tenant) -> tuple[audit.ChainReport, Checkpoint | None]:
    """Verify the tenant's chain against its newest checkpoint and, if it is intact, sign and store a new one."""
    keyring = _keyring(config)
    store, where = checkpoint_store(config)
    previous = read_latest(store, where, tenant.id, keyring)
    with db.transaction(tenant.id) as session:
        report = audit.verify(session, tenant.id, checkpoint=previous, keyring=keyring)
        if not report.intact:
            return report, None  # never sign a broken chain: that would bless the tampering
        checkpoint = checkpoints.take(session, tenant.id, tenant.slug, keyring)
    if previous is not None and previous.seq == checkpoint.seq and previous.head_hash == checkpoint.head_hash:
        return report, previous  # nothing new since the last one
    body = checkpoint.to_json()
    try:
        # The numbered object first: if writing `latest` fails, the history still has it.
        store.put(checkpoints.history_key(checkpoint), body, tenant_id=tenant.id, content_type="application/json")
        store.put(checkpoints.latest_key(tenant.id), body, tenant_id=tenant.id, content_type="application/json")
    except (StorageError, OSError) as error:
        raise click.ClickException(f"cannot write to the audit checkpoint store {where}: {error}") from None
    return report, checkpoint


def _live_tenants(db: Database) -> list[Tenant]:
    with db.transaction() as session:
        return list(session.execute(select(Tenant).order_by(Tenant.slug)).scalars())


def checkpoint_every(db: Database, config: Settings, stop: threading.Event) -> threading.Thread:
    """Start a thread writing every tenant's checkpoint each ``audit_checkpoint_seconds`` (the worker runs it)."""

    def loop() -> None:
        while not stop.wait(config.audit_checkpoint_seconds):
            for tenant in _live_tenants(db):
                try:
                    report, _ = write_checkpoint(db, config, tenant)
                except Exception:
                    log.exception("audit checkpoint of %s failed", tenant.slug)
                    continue
                if not report.intact:
                    log.error(
                        "audit chain of %s broken at record %s: %s", tenant.slug, report.first_bad_seq, report.problem
                    )

    thread = threading.Thread(target=loop, name="audit-checkpoints", daemon=True)
    thread.start()
    return thread


@click.group("audit")
def audit_group() -> None:
    """Audit trail."""


@audit_group.command("verify")
@click.option("--tenant", "tenant_slug", required=True, help="Tenant slug.")
def verify(tenant_slug: str) -> None:
    """Check the tenant's keyed chain and its newest signed checkpoint; report the first problem (exit 1)."""
    config = settings()
    keyring = _keyring(config)
    store, where = checkpoint_store(config)
    with database(config) as db, db.transaction() as session:
        tenant = find_tenant(session, tenant_slug)
        checkpoint = read_latest(store, where, tenant.id, keyring)
        bind_tenant(session, tenant.id)
        report = audit.verify(session, tenant.id, checkpoint=checkpoint, keyring=keyring)
        reads = access.verify_reads(session, tenant.id, keyring) if report.intact else None
    if not report.intact:
        click.echo(f"{tenant_slug}: audit chain broken at record {report.first_bad_seq}: {report.problem}", err=True)
        raise SystemExit(1)
    assert reads is not None
    if not reads.intact:
        click.echo(f"{tenant_slug}: {reads.problem}", err=True)
        raise SystemExit(1)
    summary = f"{report.records_checked} records, {reads.events_checked} data-use entries"
    if checkpoint is None:
        click.echo(
            f"{tenant_slug}: audit chain intact ({summary}); no checkpoint yet, so deleted newest records would go "
            "unnoticed: run `madoguchi audit checkpoint`"
        )
    else:
        click.echo(
            f"{tenant_slug}: audit chain intact ({summary}; "
            f"agrees with the checkpoint of {checkpoint.at_text} at record {checkpoint.seq})"
        )


@audit_group.command("checkpoint")
@click.option("--tenant", "tenant_slug", help="Tenant slug.")
@click.option("--all", "all_tenants", is_flag=True, help="Every tenant.")
def checkpoint(tenant_slug: str | None, all_tenants: bool) -> None:
    """Verify the chain, then write a signed checkpoint of it to the checkpoint store (exit 1 if broken)."""
    if bool(tenant_slug) == all_tenants:
        raise click.UsageError("name one tenant (--tenant SLUG) or pass --all, not both")
    config = settings()
    _keyring(config)
    _, where = checkpoint_store(config)
    broken = False
    with database(config) as db:
        if tenant_slug:
            with db.transaction() as session:
                targets = [find_tenant(session, tenant_slug)]
        else:
            targets = _live_tenants(db)
        for tenant in targets:
            report, written = write_checkpoint(db, config, tenant)
            if written is None:
                broken = True
                click.echo(
                    f"{tenant.slug}: audit chain broken at record {report.first_bad_seq}: {report.problem}; "
                    "no checkpoint written",
                    err=True,
                )
            else:
                click.echo(f"{tenant.slug}: checkpoint at record {written.seq} in {where}")
    if broken:
        raise SystemExit(1)


@audit_group.command("new-key")
@click.option("--id", "key_id", help="Key id (default: audit-YYYY-MM).")
def new_key(key_id: str | None) -> None:
    """Print a fresh audit key entry for MADOGUCHI_AUDIT_KEY (put it first to rotate; keep the old ones after it)."""
    try:
        click.echo(generate_key(key_id))
    except AuditKeyError as error:
        raise click.ClickException(str(error)) from None


@audit_group.command("purge-reads")
@click.option("--tenant", "tenant_slug", help="Tenant slug.")
@click.option("--all", "all_tenants", is_flag=True, help="Every tenant.")
def purge_reads(tenant_slug: str | None, all_tenants: bool) -> None:
    """Remove data-use ledger entries (access_events) older than each tenant's retention period.

    The period is the tenant file's ``data_use_ledger.retention_years`` (default 7). Runs as the database owner
    (MADOGUCHI_MIGRATION_DATABASE_URL): the app role may not delete these rows. Each removal is on the audit chain.
    """
    if bool(tenant_slug) == all_tenants:
        raise click.UsageError("name one tenant (--tenant SLUG) or pass --all, not both")
    config = settings()
    db = Database.for_jobs(config, url=config.effective_migration_url, pool_size=1)
    try:
        with db.transaction() as session:
            targets = (
                [find_tenant(session, tenant_slug)]
                if tenant_slug
                else list(session.execute(select(Tenant).order_by(Tenant.slug)).scalars())
            )
            chosen = [(t.id, t.slug, ledger.retention_years(t.profile)) for t in targets]
        for tenant_id, slug, years in chosen:
            with db.transaction() as session:
                bind_tenant(session, tenant_id)
                removed = ledger.purge_expired(
                    session, tenant_id, retention=years, now=utcnow(), actor="cli:purge-reads"
                )
            click.echo(f"{slug}: {removed} data-use entries older than {years} years removed")
    finally:
        db.dispose()
