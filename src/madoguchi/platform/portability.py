"""Tenant archives: everything of one municipality, moved between installations as a signed file.

``madoguchi tenants export`` writes and ``madoguchi tenants import`` reads a gzip-compressed tar (format 1)::

    tables/<table>.jsonl   one JSON object per row, keys sorted, rows ordered by primary key
    files/<storage key>    the document bytes that rows name in a ``storage_key`` column
    manifest.json          format and version, source installation, tenant, created_at, each table's columns
                           and row count, each member's size and SHA-256, how sealed columns are carried
    manifest.sig           Ed25519 signature over the exact bytes of manifest.json, and the signer's key id

What is in it is found, not listed: every table of ``Base.metadata`` with a ``tenant_id`` column (so tables
added later travel without code changes), the tenant's own row, and the catalog versions its rows point at,
in foreign-key order — minus ``EXCLUDED_TABLES``. Columns travel as they are unless ``COLUMN_POLICY`` says
otherwise; a column whose name looks secret (``SECRET_LOOKING``) must have an entry there, or export refuses.

Trust (docs/portability.md): the exporting installation signs the manifest with its private key; the importing
one accepts only signatures of public keys it lists, and the manifest pins every member's SHA-256. Import checks
the signature and every hash before it writes anything, then writes all rows in one transaction and the files
beside it; any failure leaves the target database and storage as they were. Ids are kept (the audit chain's
hashes cover the tenant id), so an archive cannot be imported where its tenant, slug or code already exists.
"""

from __future__ import annotations

import base64
import binascii
import enum
import gzip
import hashlib
import json
import os
import re
import tarfile
import tempfile
import uuid
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import filetype
import sqlalchemy as sa
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy.orm import Session

from madoguchi import models  # noqa: F401 - every model registered, so Base.metadata is complete
from madoguchi.audit import operations as audit
from madoguchi.config import Settings
from madoguchi.crypto import DataKeyMissing, Sealer
from madoguchi.db import Base, Database, sqlite_begin_immediate, utcnow
from madoguchi.documents.storage import Storage, StorageError, StoredObjectMissing, tenant_of_key
from madoguchi.errors import DomainError

FORMAT = "madoguchi-tenant-archive"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
TABLES_DIR = "tables/"
FILES_DIR = "files/"
SIGNATURE_ALGORITHM = "Ed25519"

#: Global tables that tenant rows point at, copied along and matched in the target by their natural key.
REFERENCE_TABLES: dict[str, tuple[str, ...]] = {"service_versions": ("key", "version")}

#: Column names that suggest a secret: each such column of an archived table needs a ``COLUMN_POLICY`` entry.
SECRET_LOOKING = re.compile(r"hash|secret|sealed|token|encrypted")

#: Rows inserted per statement on import.
_BATCH = 500
_CHUNK = 1 << 20


class ArchiveError(DomainError):
    """The archive was refused or could not be written; the message is one line saying why."""

    status, slug, title = 400, "tenant-archive-refused", "Tenant archive refused"


# -------------------------------------------------------------------------------------------- policies


class Treatment(enum.StrEnum):
    #: Reviewed: the name looks secret but the value is not (it travels as it is).
    KEEP = "keep"
    #: Left out of the archive; imported as NULL.
    OMIT = "omit"
    #: Left out of the archive; import writes a fresh value that nobody knows (the column is NOT NULL).
    REPLACE = "replace"
    #: Sealed with the data key: opened on export, carried under the transfer key, sealed again on import.
    RESEAL = "reseal"


@dataclass(frozen=True)
class ColumnPolicy:
    treatment: Treatment
    reason: str


#: Per-column decisions (``table.column``), documented in docs/portability.md.
COLUMN_POLICY: dict[str, ColumnPolicy] = {
    "accounts.password_hash": ColumnPolicy(
        Treatment.OMIT, "a password stays with the installation it was set in: accounts set a new one"
    ),
    "accounts.totp_secret_encrypted": ColumnPolicy(
        Treatment.OMIT, "second factors are enrolled again (the secret is sealed to the source's data key)"
    ),
    "accounts.totp_enabled_at": ColumnPolicy(Treatment.OMIT, "without its secret the second factor is not set up"),
    "accounts.totp_last_counter": ColumnPolicy(Treatment.OMIT, "belongs to the omitted TOTP secret"),
    "oauth_clients.client_secret_hash": ColumnPolicy(
        Treatment.OMIT, "confidential vendor apps are issued a new client secret in the new installation"
    ),
    "webhook_subscriptions.secret_sealed": ColumnPolicy(
        Treatment.REPLACE, "signing secrets are not exported: each subscription gets a fresh one, shown to nobody"
    ),
    "persons.individual_number_encrypted": ColumnPolicy(
        Treatment.RESEAL, "個人番号: carried under the transfer key when one is set, otherwise left out"
    ),
    "audit_records.hash": ColumnPolicy(Treatment.KEEP, "the audit chain itself, not a secret"),
    "audit_records.prev_hash": ColumnPolicy(Treatment.KEEP, "the audit chain itself, not a secret"),
    "audit_chain_heads.last_hash": ColumnPolicy(Treatment.KEEP, "the audit chain's head, not a secret"),
}

#: Tables with a ``tenant_id`` that stay behind, and why.
EXCLUDED_TABLES: dict[str, str] = {
    "web_sessions": "browser sessions end with the move: everyone signs in again",
    "oauth_authorization_codes": "short-lived one-time codes (only their hashes exist)",
    "oauth_tokens": "vendor tokens are issued again by the new installation",
    "email_verifications": "pending address-confirmation links are single-use secrets",
    "password_resets": "pending password-reset links are single-use secrets",
    "identity_verifications": "pending letter codes are single-use secrets",
    "tenant_invitations": "pending invitation links are single-use secrets",
    "idempotency_keys": "a retry window of hours, tied to the requests the source installation answered",
    "outbox_messages": "side effects belong to the installation that queued them; payloads carry one-time links",
}


def _key(table: str, column: str) -> str:
    return f"{table}.{column}"


def archived_tables(metadata: sa.MetaData | None = None) -> list[sa.Table]:
    """The tables an archive holds, in foreign-key order (parents first)."""
    return [
        table
        for table in (metadata or Base.metadata).sorted_tables
        if table.name == "tenants"
        or table.name in REFERENCE_TABLES
        or ("tenant_id" in table.c and table.name not in EXCLUDED_TABLES)
    ]


def _is_tenant_table(table: sa.Table) -> bool:
    return table.name != "tenants" and table.name not in REFERENCE_TABLES


def unreviewed_secret_columns(metadata: sa.MetaData | None = None) -> list[str]:
    """Archived columns whose names look secret but that have no ``COLUMN_POLICY`` entry."""
    return [
        _key(table.name, column.name)
        for table in archived_tables(metadata)
        for column in table.c
        if SECRET_LOOKING.search(column.name) and _key(table.name, column.name) not in COLUMN_POLICY
    ]


def _treatment(table: sa.Table, column: sa.Column[Any]) -> Treatment:
    policy = COLUMN_POLICY.get(_key(table.name, column.name))
    return policy.treatment if policy else Treatment.KEEP


def _storage_key_columns(table: sa.Table) -> list[str]:
    return [c.name for c in table.c if c.name == "storage_key" or c.name.endswith("_storage_key")]


def _reference_columns(table: sa.Table, reference: str) -> list[str]:
    return sorted({fk.parent.name for fk in table.foreign_keys if fk.column.table.name == reference})


# ------------------------------------------------------------------------------------------------ keys


def _b64decode(value: str, setting: str) -> bytes:
    text = value.strip()
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ArchiveError(f"{setting} is not valid base64") from None


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def public_key_text(key: Ed25519PublicKey) -> str:
    return _b64(key.public_bytes(Encoding.Raw, PublicFormat.Raw))


def key_id(key: Ed25519PublicKey) -> str:
    """A short name for a public key (the first 16 hex digits of its SHA-256), written beside signatures."""
    return hashlib.sha256(key.public_bytes(Encoding.Raw, PublicFormat.Raw)).hexdigest()[:16]


class TransferCipher:
    """AES-SIV under the key both installations share: deterministic, so an archive exported again is identical.

    Each value is bound (associated data) to its table, column, tenant and row, so a value moved to another row
    does not decrypt.
    """

    def __init__(self, key: str) -> None:
        raw = _b64decode(key, "MADOGUCHI_ARCHIVE_TRANSFER_KEY")
        if len(raw) != 64:
            raise ArchiveError("MADOGUCHI_ARCHIVE_TRANSFER_KEY must be 64 bytes (urlsafe base64)")
        self._siv = AESSIV(raw)
        self.key_id = hashlib.sha256(b"madoguchi-archive-transfer-key:" + raw).hexdigest()[:16]

    @staticmethod
    def _context(column: str, tenant_id: uuid.UUID, row_key: str) -> list[bytes]:
        return [FORMAT.encode(), column.encode(), tenant_id.bytes, row_key.encode()]

    def encrypt(self, plaintext: str, *, column: str, tenant_id: uuid.UUID, row_key: str) -> bytes:
        return self._siv.encrypt(plaintext.encode(), self._context(column, tenant_id, row_key))

    def decrypt(self, token: bytes, *, column: str, tenant_id: uuid.UUID, row_key: str) -> str:
        try:
            return self._siv.decrypt(token, self._context(column, tenant_id, row_key)).decode()
        except InvalidTag:
            raise ArchiveError(f"{column} of row {row_key} does not decrypt with the transfer key") from None


@dataclass(frozen=True)
class ArchiveKeys:
    """The keys of this installation, from settings."""

    signing: Ed25519PrivateKey | None
    trusted: dict[str, Ed25519PublicKey]
    transfer: TransferCipher | None

    @classmethod
    def from_settings(cls, settings: Settings) -> ArchiveKeys:
        signing = None
        if settings.archive_signing_key.strip():
            raw = _b64decode(settings.archive_signing_key, "MADOGUCHI_ARCHIVE_SIGNING_KEY")
            if len(raw) != 32:
                raise ArchiveError("MADOGUCHI_ARCHIVE_SIGNING_KEY must be an Ed25519 private key of 32 bytes")
            signing = Ed25519PrivateKey.from_private_bytes(raw)
        trusted: dict[str, Ed25519PublicKey] = {}
        for text in filter(None, (part.strip() for part in settings.archive_trusted_keys.split(","))):
            raw = _b64decode(text, "MADOGUCHI_ARCHIVE_TRUSTED_KEYS")
            if len(raw) != 32:
                raise ArchiveError(f"MADOGUCHI_ARCHIVE_TRUSTED_KEYS: {text!r} is not an Ed25519 public key")
            public = Ed25519PublicKey.from_public_bytes(raw)
            trusted[key_id(public)] = public
        if signing is not None:
            trusted[key_id(signing.public_key())] = signing.public_key()
        transfer = TransferCipher(settings.archive_transfer_key) if settings.archive_transfer_key.strip() else None
        return cls(signing, trusted, transfer)


def generate_keys() -> dict[str, str]:
    """A fresh signing key, its public key and a transfer key, as the settings expect them."""
    signing = Ed25519PrivateKey.generate()
    return {
        "archive_signing_key": _b64(signing.private_bytes_raw()),
        "archive_trusted_keys": public_key_text(signing.public_key()),
        "archive_transfer_key": _b64(os.urandom(64)),
    }


# ------------------------------------------------------------------------------------------ JSON values


def _python_type(column: sa.Column[Any]) -> type | None:
    column_type = column.type
    while isinstance(column_type, sa.TypeDecorator):
        column_type = column_type.impl_instance
    try:
        return column_type.python_type
    except NotImplementedError:
        return None


def _to_json(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes | memoryview):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _from_json(column: sa.Column[Any], value: Any) -> Any:
    if value is None:
        return None
    python_type = _python_type(column)
    if python_type is uuid.UUID:
        return uuid.UUID(value)
    if python_type is datetime:
        return datetime.fromisoformat(value)
    if python_type is date:
        return date.fromisoformat(value)
    if python_type is bytes:
        return base64.b64decode(value, validate=True)
    if python_type is Decimal:
        return Decimal(value)
    if python_type is None:  # a column type with no Python type: the value stays as JSON gave it
        return value
    # JSON gives str, int, float, bool: a value of another kind is refused here, not left to SQLite's loose typing.
    expected = {str: (str,), int: (int,), float: (int, float), bool: (bool,)}.get(python_type)
    if expected and (not isinstance(value, expected) or (python_type is not bool and isinstance(value, bool))):
        raise ValueError(f"{column.name}: {type(value).__name__} where {python_type.__name__} belongs")
    return value


def _json_line(row: dict[str, Any]) -> bytes:
    return (json.dumps(row, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False) + "\n").encode()


def _row_key(table: sa.Table, row: dict[str, Any]) -> str:
    return "/".join(str(row[c.name]) for c in table.primary_key.columns)


# ---------------------------------------------------------------------------------------------- export

#: ``progress(advance, total)``: called as rows and files are written or read.
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ArchiveSummary:
    """What an export wrote or an import restored."""

    tenant_id: uuid.UUID
    tenant_slug: str
    rows: dict[str, int]
    files: int
    #: ``transfer-encrypted`` (carried under the transfer key), ``omitted`` (left out) or ``none`` (none stored).
    individual_numbers: str
    key_id: str

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


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
    order = [sa.collate(c, binary) if _python_type(c) is str else c for c in table.primary_key.columns]
    return sa.select(table).where(where).order_by(*order)


def _referenced_ids(session: Session, tenant_id: uuid.UUID) -> dict[str, set[Any]]:
    """Ids of the reference (catalog) rows that the tenant's rows point at."""
    found: dict[str, set[Any]] = {name: set() for name in REFERENCE_TABLES}
    for table in archived_tables():
        if not _is_tenant_table(table):
            continue
        for reference in REFERENCE_TABLES:
            for column in _reference_columns(table, reference):
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
        if _is_tenant_table(t)
        for c in _storage_key_columns(t)
    )
    return rows + files


def _write_table(
    session: Session, writer: _Writer, table: sa.Table, statement: sa.Select[Any], state: _Export
) -> dict[str, Any]:
    """Write ``tables/<table>.jsonl`` and return its manifest entry."""
    columns = [c for c in table.c if _treatment(table, c) not in (Treatment.OMIT, Treatment.REPLACE)]
    resealed = [c.name for c in columns if _treatment(table, c) is Treatment.RESEAL]
    if resealed and state.transfer is None:
        columns = [c for c in columns if c.name not in resealed]
    for name in resealed:
        state.sealed_columns[_key(table.name, name)] = "transfer-encrypted" if state.transfer else "omitted"
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
            for name in _storage_key_columns(table):
                if record[name] is not None:
                    state.storage_keys.setdefault(record[name], f"{table.name} {_row_key(table, dict(record))}")
            line = _json_line({k: _to_json(v) for k, v in row.items()})
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
        raise ArchiveError(f"{table.name}.{name} of row {_row_key(table, row)}: {error}") from None
    return state.transfer.encrypt(
        plaintext, column=_key(table.name, name), tenant_id=state.tenant_id, row_key=_row_key(table, row)
    )


# --------------------------------------------------------------------------------------------- reading


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


def _plan(archive: VerifiedArchive, keys: ArchiveKeys, settings: Settings) -> _ImportPlan:
    """Check that this installation can hold the archive: known tables and columns, the keys sealed values need."""
    known = {table.name: table for table in archived_tables()}
    described: dict[str, Any] = archive.manifest["tables"]
    if unknown := sorted(set(described) - set(known)):
        raise ArchiveError(f"the archive has table {unknown[0]}, unknown here: run `madoguchi db upgrade` first?")
    if "tenants" not in described:
        raise ArchiveError("the archive has no tenant row")
    for name, spec in described.items():
        table = known[name]
        if bad := sorted(set(spec["columns"]) - set(table.c.keys())):
            raise ArchiveError(
                f"the archive has column {name}.{bad[0]}, unknown here: run `madoguchi db upgrade` first?"
            )
        for column in table.c:
            required = not column.nullable and column.default is None and column.server_default is None
            carried = column.name in spec["columns"] or _treatment(table, column) is Treatment.REPLACE
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
        _treatment(known[name], column) is Treatment.REPLACE
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
    return _ImportPlan(archive, tables, sealer, transfer)


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
    try:
        row = {name: _from_json(table.c[name], value) for name, value in data.items()}
    except (ValueError, TypeError, AttributeError, binascii.Error) as error:
        raise ArchiveError(f"{where}: {error}") from None
    owner = row.get("id") if table.name == "tenants" else row.get("tenant_id")
    if table.name not in REFERENCE_TABLES and owner != tenant_id:
        raise ArchiveError(f"{where}: the row belongs to another tenant")
    for column in table.c:
        treatment = _treatment(table, column)
        if treatment is Treatment.OMIT:
            row[column.name] = None
        elif treatment is Treatment.REPLACE:
            row[column.name] = _fresh_value(plan, table, column)
        elif treatment is Treatment.RESEAL and column.name in row and row[column.name] is not None:
            assert plan.transfer is not None and plan.sealer is not None
            plaintext = plan.transfer.decrypt(
                row[column.name],
                column=_key(table.name, column.name),
                tenant_id=tenant_id,
                row_key=_row_key(table, data),
            )
            row[column.name] = plan.sealer.seal(tenant_id, plaintext)
    return row


def _fresh_value(plan: _ImportPlan, table: sa.Table, column: sa.Column[Any]) -> Any:
    if _key(table.name, column.name) == "webhook_subscriptions.secret_sealed":
        from madoguchi.notify.webhooks import new_secret

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
    if table.name in REFERENCE_TABLES:
        batch = _match_reference_rows(session, plan, table, batch)
    else:
        for reference, ids in plan.catalog_ids.items():
            for column in _reference_columns(table, reference):
                for row in batch:
                    if row.get(column) is not None:
                        row[column] = ids.get(row[column], row[column])
    if batch:
        session.execute(table.insert(), batch)
    if progress:
        progress(len(batch), total)


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
