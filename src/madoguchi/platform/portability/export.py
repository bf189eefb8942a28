"""Writing a tenant archive: a consistent snapshot of the tenant's rows and files, signed by this installation."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import tarfile
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from madoguchi.audit import operations as audit
from madoguchi.config import Settings
from madoguchi.crypto import Sealer
from madoguchi.db import Base, Database, utcnow
from madoguchi.documents.backend import Storage, StorageError, StoredObjectMissing, tenant_of_key
from madoguchi.platform.portability.archive import (
    FILES_DIR,
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    REFERENCE_TABLES,
    SIGNATURE,
    SIGNATURE_ALGORITHM,
    TABLES_DIR,
    ArchiveError,
    ArchiveSummary,
    Progress,
    Treatment,
    archived_tables,
    column_key,
    column_python_type,
    is_tenant_table,
    json_line,
    keeps_key_order,
    primary_key_text,
    reference_columns,
    storage_key_columns,
    to_json,
    treatment_of,
    unreviewed_secret_columns,
)
from madoguchi.platform.portability.keys import ArchiveKeys, TransferCipher, key_id


@dataclass
class _Writer:
    tar: tarfile.TarFile
    mtime: int
    members: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, name: str, stream: IO[bytes], size: int, sha256: str) -> None:
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = size, self.mtime, 0o644
        stream.seek(0)
        self.tar.addfile(info, stream)
        self.members[name] = {"sha256": sha256, "size": size}

    def add_bytes(self, name: str, data: bytes) -> None:
        with tempfile.SpooledTemporaryFile(max_size=8 << 20) as stream:
            stream.write(data)
            self.add(name, stream, len(data), hashlib.sha256(data).hexdigest())


def _find_tenant_row(session: Session, slug: str) -> dict[str, Any]:
    tenants = Base.metadata.tables["tenants"]
    row = session.execute(sa.select(tenants).where(tenants.c.slug == slug)).mappings().one_or_none()
    if row is None:
        known = ", ".join(session.execute(sa.select(tenants.c.slug).order_by(tenants.c.slug)).scalars()) or "none"
        raise ArchiveError(f"unknown tenant '{slug}' (known: {known})")
    return dict(row)


def _rows_statement(
    table: sa.Table, tenant_id: uuid.UUID, references: dict[str, set[Any]], dialect: str
) -> sa.Select[Any]:
    if table.name == "tenants":
        where = table.c.id == tenant_id
    elif table.name in REFERENCE_TABLES:
        where = table.c.id.in_(sorted(references.get(table.name, set()), key=str))
    else:
        where = table.c.tenant_id == tenant_id
    # Text keys in byte order on every backend (PostgreSQL would otherwise sort by its locale): same archive bytes.
    binary = "C" if dialect == "postgresql" else "BINARY"
    order = [sa.collate(c, binary) if column_python_type(c) is str else c for c in table.primary_key.columns]
    return sa.select(table).where(where).order_by(*order)


def _referenced_ids(session: Session, tenant_id: uuid.UUID) -> dict[str, set[Any]]:
    """Ids of the reference (catalog) rows that the tenant's rows point at."""
    found: dict[str, set[Any]] = {name: set() for name in REFERENCE_TABLES}
    for table in archived_tables():
        if not is_tenant_table(table):
            continue
        for reference in REFERENCE_TABLES:
            for column in reference_columns(table, reference):
                stmt = sa.select(table.c[column]).where(table.c.tenant_id == tenant_id, table.c[column].is_not(None))
                found[reference].update(session.execute(stmt.distinct()).scalars())
    return found


def export_tenant(
    db: Database,
    storage: Storage,
    settings: Settings,
    slug: str,
    destination: Path,
    *,
    actor: str = "cli",
    progress: Progress | None = None,
) -> ArchiveSummary:
    """Write the tenant ``slug`` to ``destination`` (replaced only once the whole archive is written).

    The export is recorded in the tenant's audit trail as done by ``actor``.
    """
    keys = ArchiveKeys.from_settings(settings)
    if keys.signing is None:
        raise ArchiveError(
            "MADOGUCHI_ARCHIVE_SIGNING_KEY is not set: archives must be signed (see docs/portability.md)"
        )
    unreviewed = unreviewed_secret_columns()
    if unreviewed:
        raise ArchiveError(
            f"refusing to export: {', '.join(unreviewed)} look(s) secret but have no entry in "
            "madoguchi.platform.portability.COLUMN_POLICY"
        )
    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(dir=destination.parent, prefix=f".{destination.name}.", suffix=".partial")
    try:
        with os.fdopen(fd, "wb") as raw:
            summary = _write_archive(db, storage, settings, keys, slug, raw, progress)
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(partial, destination)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    # The whole register left the installation: that goes into the tenant's audit trail (after the snapshot, so
    # the archive itself is not changed by it).
    with db.transaction(summary.tenant_id) as session:
        audit.record(
            session,
            summary.tenant_id,
            actor=actor,
            action="tenant.export",
            object_type="tenant",
            object_id=summary.tenant_id,
            data={"rows": summary.total_rows, "files": summary.files, "signed_by": summary.key_id},
        )
    return summary


@contextmanager
def _snapshot(db: Database, tenant_id: uuid.UUID) -> Iterator[Session]:
    """One read-only transaction bound to the tenant: every table is read from the same snapshot."""
    with db.transaction(tenant_id) as session:
        if db.engine.dialect.name == "postgresql":
            session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        yield session


@dataclass
class _Export:
    """What one export carries from table to table."""

    tenant_id: uuid.UUID
    sealer: Sealer | None
    transfer: TransferCipher | None
    total: int
    progress: Progress | None
    #: storage key -> the row that names it (for error messages)
    storage_keys: dict[str, str] = field(default_factory=dict)
    sealed_columns: dict[str, str] = field(default_factory=dict)
    individual_numbers: str = "none"

    def advance(self, steps: int) -> None:
        if self.progress and steps:
            self.progress(steps, self.total)


def _write_archive(
    db: Database,
    storage: Storage,
    settings: Settings,
    keys: ArchiveKeys,
    slug: str,
    raw: IO[bytes],
    progress: Progress | None,
) -> ArchiveSummary:
    assert keys.signing is not None
    with db.transaction() as session:
        tenant = _find_tenant_row(session, slug)
    tenant_id: uuid.UUID = tenant["id"]
    created_at = utcnow()
    dialect = db.engine.dialect.name
    # mtime=0 in the gzip header: the same content gives the same bytes.
    with (
        _snapshot(db, tenant_id) as session,
        gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as compressed,
        tarfile.open(fileobj=compressed, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        writer = _Writer(tar, int(created_at.timestamp()))
        tables = archived_tables()
        references = _referenced_ids(session, tenant_id)
        state = _Export(
            tenant_id=tenant_id,
            sealer=Sealer(settings.data_key) if settings.data_key else None,
            transfer=keys.transfer,
            total=_export_size(session, tables, tenant_id, references, dialect),
            progress=progress,
        )
        tables_manifest = {
            table.name: _write_table(
                session, writer, table, _rows_statement(table, tenant_id, references, dialect), state
            )
            for table in tables
        }
        for storage_key in sorted(state.storage_keys):
            writer.add_bytes(f"{FILES_DIR}{storage_key}", _read_file(storage, storage_key, state))
            state.advance(1)
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "created_at": created_at.isoformat(),
            "source_installation": settings.public_url,
            "tenant": {
                "id": str(tenant_id),
                "slug": tenant["slug"],
                "local_government_code": tenant["local_government_code"],
                "name_ja": tenant["name_ja"],
                "name_en": tenant["name_en"],
            },
            "tables": tables_manifest,
            "members": writer.members,
            "sealed_columns": state.sealed_columns,
            "transfer_key_id": keys.transfer.key_id if keys.transfer and state.individual_numbers != "none" else None,
        }
        manifest_bytes = json.dumps(manifest, sort_keys=True, ensure_ascii=False, indent=1).encode()
        signature = {
            "algorithm": SIGNATURE_ALGORITHM,
            "key_id": key_id(keys.signing.public_key()),
            "signature": base64.b64encode(keys.signing.sign(manifest_bytes)).decode(),
        }
        files = sum(1 for name in writer.members if name.startswith(FILES_DIR))
        writer.add_bytes(MANIFEST, manifest_bytes)
        writer.add_bytes(SIGNATURE, json.dumps(signature, sort_keys=True).encode())
    return ArchiveSummary(
        tenant_id=tenant_id,
        tenant_slug=tenant["slug"],
        rows={name: spec["rows"] for name, spec in tables_manifest.items()},
        files=files,
        individual_numbers=state.individual_numbers,
        key_id=signature["key_id"],
    )


def _export_size(
    session: Session, tables: list[sa.Table], tenant_id: uuid.UUID, references: dict[str, set[Any]], dialect: str
) -> int:
    """Rows and (about) files to write, for the progress bar."""
    rows = sum(
        session.execute(
            sa.select(sa.func.count()).select_from(_rows_statement(t, tenant_id, references, dialect).subquery())
        ).scalar_one()
        for t in tables
    )
    files = sum(
        session.execute(
            sa.select(sa.func.count(sa.distinct(t.c[c]))).where(t.c.tenant_id == tenant_id, t.c[c].is_not(None))
        ).scalar_one()
        for t in tables
        if is_tenant_table(t)
        for c in storage_key_columns(t)
    )
    return rows + files


def _write_table(
    session: Session, writer: _Writer, table: sa.Table, statement: sa.Select[Any], state: _Export
) -> dict[str, Any]:
    """Write ``tables/<table>.jsonl`` and return its manifest entry."""
    columns = [c for c in table.c if treatment_of(table, c) not in (Treatment.OMIT, Treatment.REPLACE)]
    ordered = frozenset(c.name for c in columns if keeps_key_order(c))
    resealed = [c.name for c in columns if treatment_of(table, c) is Treatment.RESEAL]
    if resealed and state.transfer is None:
        columns = [c for c in columns if c.name not in resealed]
    for name in resealed:
        state.sealed_columns[column_key(table.name, name)] = "transfer-encrypted" if state.transfer else "omitted"
    digest, size, rows = hashlib.sha256(), 0, 0
    member = f"{TABLES_DIR}{table.name}.jsonl"
    with tempfile.SpooledTemporaryFile(max_size=8 << 20) as stream:
        for record in session.execute(statement.execution_options(yield_per=1000)).mappings():
            row = {c.name: record[c.name] for c in columns}
            for name in resealed:
                if record[name] is None:
                    continue
                if state.transfer is None:
                    state.individual_numbers = "omitted"
                else:
                    row[name] = _transfer_seal(table, name, row, state)
                    state.individual_numbers = "transfer-encrypted"
            for name in storage_key_columns(table):
                if record[name] is not None:
                    state.storage_keys.setdefault(record[name], f"{table.name} {primary_key_text(table, dict(record))}")
            line = json_line({k: to_json(v) for k, v in row.items()}, ordered)
            stream.write(line)
            digest.update(line)
            size += len(line)
            rows += 1
            if rows % 200 == 0:
                state.advance(200)
        state.advance(rows % 200)
        writer.add(member, stream, size, digest.hexdigest())
    return {"columns": sorted(c.name for c in columns), "rows": rows, "member": member}


def _read_file(storage: Storage, storage_key: str, state: _Export) -> bytes:
    named_by = state.storage_keys[storage_key]
    try:
        if tenant_of_key(storage_key) != state.tenant_id:
            raise ArchiveError(f"{named_by} names a file of another tenant: {storage_key}")
        return storage.get(storage_key, tenant_id=state.tenant_id)
    except ValueError:
        raise ArchiveError(f"{named_by} names a file outside the tenant's storage: {storage_key!r}") from None
    except StoredObjectMissing:
        raise ArchiveError(f"{named_by} names a file missing from storage: {storage_key}") from None
    except StorageError as error:
        raise ArchiveError(f"cannot read {storage_key} from storage: {error}") from error


def _transfer_seal(table: sa.Table, name: str, row: dict[str, Any], state: _Export) -> bytes:
    """A value sealed with this installation's data key, opened and encrypted again under the transfer key."""
    assert state.transfer is not None
    if state.sealer is None:
        raise ArchiveError("MADOGUCHI_DATA_KEY is not set: sealed values cannot be opened for the archive")
    try:
        plaintext = state.sealer.open(state.tenant_id, bytes(row[name]))
    except ValueError as error:
        raise ArchiveError(f"{table.name}.{name} of row {primary_key_text(table, row)}: {error}") from None
    return state.transfer.encrypt(
        plaintext, column=column_key(table.name, name), tenant_id=state.tenant_id, row_key=primary_key_text(table, row)
    )
