"""Reading a tenant archive: checking its signature and member hashes, then restoring its rows in one transaction
and its files beside them, or nothing at all."""

from __future__ import annotations

import base64
import binascii
import gzip
import hashlib
import json
import re
import tarfile
import uuid
import zlib
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import filetype
import sqlalchemy as sa
from cryptography.exceptions import InvalidSignature
from sqlalchemy.orm import Session

from madoguchi.applications.repository import store_snapshot
from madoguchi.applications.snapshots import snapshot_hash
from madoguchi.config import Settings
from madoguchi.crypto import DataKeyMissing, Sealer
from madoguchi.db import Base, Database, sqlite_begin_immediate
from madoguchi.documents.backend import Storage, StorageError, tenant_of_key
from madoguchi.notify.webhooks import new_secret
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
    from_json,
    primary_key_text,
    reference_columns,
    treatment_of,
)
from madoguchi.platform.portability.keys import ArchiveKeys, TransferCipher
from madoguchi.registry.models import Person, search_keys

# --------------------------------------------------------------------------------------------- reading

#: Archives written before migration 0022 carry each application's settings in the row (``applications.
#: settings_snapshot``); they are imported into ``settings_snapshots``, each distinct one once (decision 0027).
LEGACY_SNAPSHOT_COLUMN = "settings_snapshot"

#: Rows inserted per statement on import.
_BATCH = 500
_CHUNK = 1 << 20


@dataclass(frozen=True)
class VerifiedArchive:
    """An archive whose signature and member hashes have been checked (nothing written yet)."""

    path: Path
    manifest: dict[str, Any]
    key_id: str

    @property
    def tenant_id(self) -> uuid.UUID:
        return uuid.UUID(self.manifest["tenant"]["id"])

    @property
    def slug(self) -> str:
        return str(self.manifest["tenant"]["slug"])


_MEMBER_NAME = re.compile(r"(tables/[a-z_][a-z0-9_]*\.jsonl|files/.+|manifest\.json|manifest\.sig)")


@contextmanager
def _open_tar(path: Path) -> Iterator[tarfile.TarFile]:
    """The archive opened for reading; damage found while reading it (a bad CRC, a cut-off end) is an ArchiveError."""
    if not path.is_file():
        raise ArchiveError(f"{path} does not exist")
    try:
        with tarfile.open(path, mode="r:gz") as tar:
            yield tar
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as error:
        raise ArchiveError(f"{path.name} is damaged or not a tenant archive ({error})") from None


def _members(tar: tarfile.TarFile) -> dict[str, tarfile.TarInfo]:
    members: dict[str, tarfile.TarInfo] = {}
    for member in tar.getmembers():
        if not member.isreg() or not _MEMBER_NAME.fullmatch(member.name):
            raise ArchiveError(f"the archive holds an unexpected entry: {member.name!r}")
        if member.name in members:
            raise ArchiveError(f"the archive holds {member.name} twice")
        members[member.name] = member
    return members


def _read_small(tar: tarfile.TarFile, member: tarfile.TarInfo, limit: int = 64 << 20) -> bytes:
    if member.size > limit:
        raise ArchiveError(f"{member.name} is too large")
    stream = tar.extractfile(member)
    assert stream is not None
    return stream.read()


def _chunks(tar: tarfile.TarFile, member: tarfile.TarInfo) -> Iterator[bytes]:
    stream = tar.extractfile(member)
    assert stream is not None
    while chunk := stream.read(_CHUNK):
        yield chunk


def verify_archive(path: Path, keys: ArchiveKeys) -> VerifiedArchive:
    """Check the signature, the manifest and every member's size and SHA-256; raise ``ArchiveError`` if any fails."""
    with _open_tar(path) as tar:
        members = _members(tar)
        for required in (MANIFEST, SIGNATURE):
            if required not in members:
                raise ArchiveError(f"the archive has no {required}: not a signed tenant archive")
        manifest_bytes = _read_small(tar, members[MANIFEST])
        signer = _check_signature(manifest_bytes, _read_small(tar, members[SIGNATURE]), keys)
        try:
            manifest = json.loads(manifest_bytes)
        except ValueError:
            raise ArchiveError("manifest.json is not JSON") from None
        if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
            raise ArchiveError(f"unsupported archive format {manifest.get('format')} {manifest.get('format_version')}")
        listed: dict[str, dict[str, Any]] = manifest["members"]
        present = set(members) - {MANIFEST, SIGNATURE}
        if missing := sorted(set(listed) - present):
            raise ArchiveError(f"the archive is missing {missing[0]} (listed in the manifest)")
        if extra := sorted(present - set(listed)):
            raise ArchiveError(f"the archive holds {extra[0]}, which the manifest does not list")
        for name in sorted(listed, key=lambda n: members[n].offset):
            digest = hashlib.sha256()
            for chunk in _chunks(tar, members[name]):
                digest.update(chunk)
            if members[name].size != listed[name]["size"] or digest.hexdigest() != listed[name]["sha256"]:
                raise ArchiveError(f"{name} does not match its SHA-256 in the manifest (corrupted or altered)")
    return VerifiedArchive(path, manifest, signer)


def _check_signature(manifest_bytes: bytes, signature_bytes: bytes, keys: ArchiveKeys) -> str:
    try:
        signature = json.loads(signature_bytes)
        signer, value = str(signature["key_id"]), base64.b64decode(signature["signature"], validate=True)
    except (ValueError, KeyError, TypeError):
        raise ArchiveError("manifest.sig is unreadable") from None
    if signature.get("algorithm") != SIGNATURE_ALGORITHM:
        raise ArchiveError(f"manifest.sig: unsupported algorithm {signature.get('algorithm')!r}")
    public = keys.trusted.get(signer)
    if public is None:
        raise ArchiveError(
            f"the archive is signed by key {signer}, which this installation does not trust "
            "(MADOGUCHI_ARCHIVE_TRUSTED_KEYS)"
        )
    try:
        public.verify(value, manifest_bytes)
    except InvalidSignature:
        raise ArchiveError("the signature does not match manifest.json: the archive was altered") from None
    return signer


# ---------------------------------------------------------------------------------------------- import


@dataclass
class _ImportPlan:
    archive: VerifiedArchive
    tables: list[sa.Table]
    sealer: Sealer | None
    transfer: TransferCipher | None
    catalog_ids: dict[str, dict[Any, Any]] = field(default_factory=dict)
    #: The archive's applications carry their settings in the row (written before migration 0022).
    legacy_snapshots: bool = False
    #: Hashes of the snapshots stored so far from such rows.
    stored_snapshots: set[str] = field(default_factory=set)


def _plan(archive: VerifiedArchive, keys: ArchiveKeys, settings: Settings) -> _ImportPlan:
    """Check that this installation can hold the archive: known tables and columns, the keys sealed values need."""
    known = {table.name: table for table in archived_tables()}
    described: dict[str, Any] = archive.manifest["tables"]
    if unknown := sorted(set(described) - set(known)):
        raise ArchiveError(f"the archive has table {unknown[0]}, unknown here: run `madoguchi db upgrade` first?")
    if "tenants" not in described:
        raise ArchiveError("the archive has no tenant row")
    legacy = LEGACY_SNAPSHOT_COLUMN in (described.get("applications") or {}).get("columns", ())
    for name, spec in described.items():
        table = known[name]
        # An old archive's snapshot column becomes the hash of a snapshot row (_flush_batch).
        converted = {LEGACY_SNAPSHOT_COLUMN} if legacy and name == "applications" else set()
        if bad := sorted(set(spec["columns"]) - set(table.c.keys()) - converted):
            raise ArchiveError(
                f"the archive has column {name}.{bad[0]}, unknown here: run `madoguchi db upgrade` first?"
            )
        for column in table.c:
            required = not column.nullable and column.default is None and column.server_default is None
            carried = column.name in spec["columns"] or treatment_of(table, column) is Treatment.REPLACE
            carried = carried or (bool(converted) and column.name == "settings_snapshot_hash")
            if required and not carried:
                raise ArchiveError(f"the archive lacks {name}.{column.name}, which this installation requires")
    sealed = archive.manifest.get("sealed_columns") or {}
    transfer = None
    if "transfer-encrypted" in sealed.values() and archive.manifest.get("transfer_key_id"):
        transfer = keys.transfer
        if transfer is None:
            raise ArchiveError(
                "the archive carries Individual Numbers under a transfer key: set MADOGUCHI_ARCHIVE_TRANSFER_KEY"
            )
        if transfer.key_id != archive.manifest["transfer_key_id"]:
            raise ArchiveError("MADOGUCHI_ARCHIVE_TRANSFER_KEY is not the key this archive was exported with")
    needs_sealer = transfer is not None or any(
        treatment_of(known[name], column) is Treatment.REPLACE
        for name, spec in described.items()
        if spec["rows"]
        for column in known[name].c
    )
    sealer = None
    if needs_sealer:
        try:
            sealer = Sealer(settings.data_key)
        except DataKeyMissing:
            raise ArchiveError("MADOGUCHI_DATA_KEY is not set: sealed values cannot be stored") from None
    tables = [table for table in archived_tables() if table.name in described]
    return _ImportPlan(archive, tables, sealer, transfer, legacy_snapshots=legacy)


def _check_free(session: Session, storage: Storage, archive: VerifiedArchive) -> None:
    """Refuse an archive whose tenant (id, slug or code) or files already exist here."""
    tenants = Base.metadata.tables["tenants"]
    tenant = archive.manifest["tenant"]
    for column, value, label in (
        ("id", archive.tenant_id, "id"),
        ("slug", tenant["slug"], "slug"),
        ("local_government_code", tenant["local_government_code"], "local government code"),
    ):
        found = session.execute(sa.select(tenants.c.slug).where(tenants.c[column] == value)).scalar_one_or_none()
        if found is not None:
            raise ArchiveError(
                f"tenant '{found}' here already has the {label} {value} of the archive's tenant '{tenant['slug']}': "
                "nothing imported"
            )
    for name in archive.manifest["members"]:
        if name.startswith(FILES_DIR):
            storage_key = name.removeprefix(FILES_DIR)
            if tenant_of_key(storage_key) != archive.tenant_id:
                raise ArchiveError(f"{name} lies outside the archive's tenant")
            if storage.exists(storage_key, tenant_id=archive.tenant_id):
                raise ArchiveError(f"storage already holds {storage_key}: nothing imported")


def import_tenant(
    db: Database,
    storage: Storage,
    settings: Settings,
    path: Path,
    *,
    progress: Progress | None = None,
) -> ArchiveSummary:
    """Verify ``path`` completely, then restore it: all rows in one transaction, files beside it, or nothing."""
    keys = ArchiveKeys.from_settings(settings)
    archive = verify_archive(path, keys)
    plan = _plan(archive, keys, settings)
    with db.transaction() as session:
        _check_free(session, storage, archive)
    total = sum(spec["rows"] for spec in archive.manifest["tables"].values()) + sum(
        1 for name in archive.manifest["members"] if name.startswith(FILES_DIR)
    )
    written: list[str] = []
    try:
        with sqlite_begin_immediate(), db.transaction(archive.tenant_id) as session, _open_tar(path) as tar:
            members = _members(tar)
            rows = {
                table.name: _insert_table(session, tar, members, plan, table, progress, total) for table in plan.tables
            }
            session.flush()
            # Inside the transaction: if a file cannot be written, the rows are rolled back (and the files removed).
            _put_files(tar, members, archive, storage, written, progress, total)
    except sa.exc.IntegrityError as error:
        _remove(storage, archive.tenant_id, written)
        reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
        raise ArchiveError(
            f"the archive conflicts with data in this installation ({reason}): nothing imported"
        ) from None
    except sa.exc.OperationalError:
        _remove(storage, archive.tenant_id, written)
        raise  # the database itself failed: the CLI says so
    except sa.exc.StatementError as error:
        _remove(storage, archive.tenant_id, written)
        reason = str(error.orig or error).strip().splitlines()[0]
        raise ArchiveError(f"a row of the archive cannot be stored here ({reason}): nothing imported") from None
    except StorageError as error:
        _remove(storage, archive.tenant_id, written)
        raise ArchiveError(f"cannot write a file to storage ({error}): nothing imported") from None
    except BaseException:
        _remove(storage, archive.tenant_id, written)
        raise
    return ArchiveSummary(
        tenant_id=archive.tenant_id,
        tenant_slug=archive.slug,
        rows=rows,
        files=len(written),
        individual_numbers=(
            "transfer-encrypted"
            if plan.transfer
            else ("omitted" if "omitted" in (archive.manifest.get("sealed_columns") or {}).values() else "none")
        ),
        key_id=archive.key_id,
    )


def _put_files(
    tar: tarfile.TarFile,
    members: dict[str, tarfile.TarInfo],
    archive: VerifiedArchive,
    storage: Storage,
    written: list[str],
    progress: Progress | None,
    total: int,
) -> None:
    """Write the archive's files to storage, appending each key to ``written`` before it is written."""
    for name in sorted(archive.manifest["members"]):
        if not name.startswith(FILES_DIR):
            continue
        data = b"".join(_chunks(tar, members[name]))
        if hashlib.sha256(data).hexdigest() != archive.manifest["members"][name]["sha256"]:
            raise ArchiveError(f"{name} changed while it was being imported")
        storage_key = name.removeprefix(FILES_DIR)
        written.append(storage_key)
        content_type = filetype.guess_mime(data) or "application/octet-stream"
        storage.put(storage_key, data, tenant_id=archive.tenant_id, content_type=content_type)
        if progress:
            progress(1, total)


def _remove(storage: Storage, tenant_id: uuid.UUID, keys: list[str]) -> None:
    for storage_key in keys:
        with suppress(StorageError):  # best effort: the import already failed and says so
            storage.delete(storage_key, tenant_id=tenant_id)


def _insert_table(
    session: Session,
    tar: tarfile.TarFile,
    members: dict[str, tarfile.TarInfo],
    plan: _ImportPlan,
    table: sa.Table,
    progress: Progress | None,
    total: int,
) -> int:
    manifest = plan.archive.manifest
    spec = manifest["tables"][table.name]
    member_name = spec["member"]
    if member_name != f"{TABLES_DIR}{table.name}.jsonl" or member_name not in members:
        raise ArchiveError(f"the manifest names {member_name!r} for table {table.name}")
    columns = set(spec["columns"])
    digest = hashlib.sha256()
    batch: list[dict[str, Any]] = []
    count = 0
    stream = tar.extractfile(members[member_name])
    assert stream is not None
    for number, line in enumerate(stream, start=1):
        digest.update(line)
        batch.append(_decode_row(plan, table, columns, line, number))
        count += 1
        if len(batch) == _BATCH:
            _flush_batch(session, plan, table, batch, progress, total)
            batch = []
    if batch:
        _flush_batch(session, plan, table, batch, progress, total)
    if digest.hexdigest() != manifest["members"][member_name]["sha256"]:
        raise ArchiveError(f"{member_name} changed while it was being imported")
    if count != spec["rows"]:
        raise ArchiveError(f"{member_name} has {count} rows, the manifest says {spec['rows']}")
    return count


def _decode_row(plan: _ImportPlan, table: sa.Table, columns: set[str], line: bytes, number: int) -> dict[str, Any]:
    where = f"{TABLES_DIR}{table.name}.jsonl line {number}"
    try:
        data = json.loads(line)
    except ValueError:
        raise ArchiveError(f"{where}: not JSON") from None
    if not isinstance(data, dict) or set(data) != columns:
        raise ArchiveError(f"{where}: the row's columns differ from the manifest's")
    tenant_id = plan.archive.tenant_id
    legacy_snapshot = data.pop(LEGACY_SNAPSHOT_COLUMN, None) if table.name == "applications" else None
    try:
        row = {name: from_json(table.c[name], value) for name, value in data.items()}
    except (ValueError, TypeError, AttributeError, binascii.Error) as error:
        raise ArchiveError(f"{where}: {error}") from None
    owner = row.get("id") if table.name == "tenants" else row.get("tenant_id")
    if table.name not in REFERENCE_TABLES and owner != tenant_id:
        raise ArchiveError(f"{where}: the row belongs to another tenant")
    for column in table.c:
        treatment = treatment_of(table, column)
        if treatment is Treatment.OMIT:
            row[column.name] = None
        elif treatment is Treatment.REPLACE:
            row[column.name] = _fresh_value(plan, table, column)
        elif treatment is Treatment.RESEAL and column.name in row and row[column.name] is not None:
            assert plan.transfer is not None and plan.sealer is not None
            plaintext = plan.transfer.decrypt(
                row[column.name],
                column=column_key(table.name, column.name),
                tenant_id=tenant_id,
                row_key=primary_key_text(table, data),
            )
            row[column.name] = plan.sealer.seal(tenant_id, plaintext)
    if table.name == Person.__tablename__:
        # The search keys derive from the names (decision 0035): an archive from before migration 0028 has none.
        row.update(search_keys(row["family_name"], row["given_name"], row["family_name_kana"], row["given_name_kana"]))
    if plan.legacy_snapshots and table.name == "applications":
        if not isinstance(legacy_snapshot, dict):
            raise ArchiveError(f"{where}: the application's settings snapshot is not a JSON object")
        row[LEGACY_SNAPSHOT_COLUMN] = legacy_snapshot
    return row


def _fresh_value(plan: _ImportPlan, table: sa.Table, column: sa.Column[Any]) -> Any:
    if column_key(table.name, column.name) == "webhook_subscriptions.secret_sealed":
        assert plan.sealer is not None
        return plan.sealer.seal(plan.archive.tenant_id, new_secret())
    raise ArchiveError(f"no way to fill {table.name}.{column.name} on import")


def _flush_batch(
    session: Session,
    plan: _ImportPlan,
    table: sa.Table,
    batch: list[dict[str, Any]],
    progress: Progress | None,
    total: int,
) -> None:
    if plan.legacy_snapshots and table.name == "applications":
        _store_legacy_snapshots(session, plan, batch)
    if table.name in REFERENCE_TABLES:
        batch = _match_reference_rows(session, plan, table, batch)
    else:
        for reference, ids in plan.catalog_ids.items():
            for column in reference_columns(table, reference):
                for row in batch:
                    if row.get(column) is not None:
                        row[column] = ids.get(row[column], row[column])
    if batch:
        session.execute(table.insert(), batch)
    if progress:
        progress(len(batch), total)


def _store_legacy_snapshots(session: Session, plan: _ImportPlan, batch: list[dict[str, Any]]) -> None:
    """Rows of an archive written before migration 0022: each distinct snapshot stored once, each row its hash."""
    for row in batch:
        content = row.pop(LEGACY_SNAPSHOT_COLUMN)
        digest = snapshot_hash(content)
        if digest not in plan.stored_snapshots:
            store_snapshot(session, plan.archive.tenant_id, content)
            plan.stored_snapshots.add(digest)
        row["settings_snapshot_hash"] = digest


def _match_reference_rows(
    session: Session, plan: _ImportPlan, table: sa.Table, batch: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Catalog versions already published here are used as they are (same content, maybe another id)."""
    natural = REFERENCE_TABLES[table.name]
    ids = plan.catalog_ids.setdefault(table.name, {})
    missing = []
    for row in batch:
        stmt = sa.select(table).where(*(table.c[c] == row[c] for c in natural))
        existing = session.execute(stmt).mappings().one_or_none()
        if existing is None:
            missing.append(row)
            continue
        if "content_sha256" in row and existing["content_sha256"] != row["content_sha256"]:
            label = " ".join(str(row[c]) for c in natural)
            raise ArchiveError(f"{table.name} {label} differs between the two installations: nothing imported")
        ids[row["id"]] = existing["id"]
    return missing
