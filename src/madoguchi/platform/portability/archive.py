"""The tenant archive's format: its member names, which tables and columns travel and how, the JSON form of
column values, and the summary an export or import returns."""

from __future__ import annotations

import base64
import enum
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from madoguchi import models  # noqa: F401 - every model registered, so Base.metadata is complete
from madoguchi.db import Base, OrderedJSONType
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
    "settings_snapshots.hash": ColumnPolicy(Treatment.KEEP, "the SHA-256 of the snapshot's content, not a secret"),
    "applications.settings_snapshot_hash": ColumnPolicy(
        Treatment.KEEP, "names the application's settings snapshot by its content's SHA-256, not a secret"
    ),
    "identity_evidence.subject_hash": ColumnPolicy(
        Treatment.KEEP, "the record of what verified an account: a keyed hash that names no card holder"
    ),
    "card_match_reviews.subject_hash": ColumnPolicy(
        Treatment.KEEP, "names the card under review by a keyed hash, not a secret"
    ),
    "card_match_reviews.card_details_sealed": ColumnPolicy(
        Treatment.OMIT, "the card's name and address stay behind: a review moved across is decided at the counter"
    ),
}

#: Tables with a ``tenant_id`` that stay behind, and why.
EXCLUDED_TABLES: dict[str, str] = {
    "web_sessions": "browser sessions end with the move: everyone signs in again",
    "oauth_authorization_codes": "short-lived one-time codes (only their hashes exist)",
    "oauth_tokens": "vendor tokens are issued again by the new installation",
    "email_verifications": "pending address-confirmation links are single-use secrets",
    "password_resets": "pending password-reset links are single-use secrets",
    "identity_verifications": "pending letter codes are single-use secrets",
    "card_authorizations": "pending card sign-ins are single-use and live ten minutes",
    "card_links": "card subjects are hashed under the source's secret: residents link their card again",
    "tenant_invitations": "pending invitation links are single-use secrets",
    "idempotency_keys": "a retry window of hours, tied to the requests the source installation answered",
    "outbox_messages": "side effects belong to the installation that queued them; payloads carry one-time links",
}


def column_key(table: str, column: str) -> str:
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


def is_tenant_table(table: sa.Table) -> bool:
    return table.name != "tenants" and table.name not in REFERENCE_TABLES


def unreviewed_secret_columns(metadata: sa.MetaData | None = None) -> list[str]:
    """Archived columns whose names look secret but that have no ``COLUMN_POLICY`` entry."""
    return [
        column_key(table.name, column.name)
        for table in archived_tables(metadata)
        for column in table.c
        if SECRET_LOOKING.search(column.name) and column_key(table.name, column.name) not in COLUMN_POLICY
    ]


def treatment_of(table: sa.Table, column: sa.Column[Any]) -> Treatment:
    policy = COLUMN_POLICY.get(column_key(table.name, column.name))
    return policy.treatment if policy else Treatment.KEEP


def storage_key_columns(table: sa.Table) -> list[str]:
    return [c.name for c in table.c if c.name == "storage_key" or c.name.endswith("_storage_key")]


def reference_columns(table: sa.Table, reference: str) -> list[str]:
    return sorted({fk.parent.name for fk in table.foreign_keys if fk.column.table.name == reference})


# ------------------------------------------------------------------------------------------ JSON values


def column_python_type(column: sa.Column[Any]) -> type | None:
    column_type = column.type
    while isinstance(column_type, sa.TypeDecorator):
        column_type = column_type.impl_instance
    try:
        return column_type.python_type
    except NotImplementedError:
        return None


def to_json(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes | memoryview):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, Decimal):
        return str(value)
    return value


def from_json(column: sa.Column[Any], value: Any) -> Any:
    if value is None:
        return None
    python_type = column_python_type(column)
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


def keeps_key_order(column: sa.Column[Any]) -> bool:
    """Whether a column's JSON keeps its written key order (``OrderedJSONType``: forms, settings snapshots)."""
    return column.type is OrderedJSONType


def _keys_sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _keys_sorted(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_keys_sorted(item) for item in value]
    return value


def json_line(row: dict[str, Any], ordered: frozenset[str] = frozenset()) -> bytes:
    """One row as a line: columns by name, and inside every JSON value keys sorted (the same bytes from either
    backend), except in the ``ordered`` columns, whose key order is part of the value (decision 0020: a form's
    questions; a settings snapshot's hash is taken over it, decision 0027)."""
    line = {name: row[name] if name in ordered else _keys_sorted(row[name]) for name in sorted(row)}
    return (json.dumps(line, ensure_ascii=False, separators=(",", ":"), allow_nan=False) + "\n").encode()


def primary_key_text(table: sa.Table, row: dict[str, Any]) -> str:
    return "/".join(str(row[c.name]) for c in table.primary_key.columns)


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
