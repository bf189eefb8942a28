"""The audit key: the secret, held outside the database, that makes the audit chain tamper-evident.

``MADOGUCHI_AUDIT_KEY`` holds one or more keys, comma-separated, each ``<key-id>:<urlsafe base64 of 32+ bytes>``.
The first signs every new audit record and checkpoint; the others only verify what they signed before a
rotation (docs/operations.md, "Audit key and checkpoints"). Each record stores the id of its key, so an old
chain stays verifiable as long as its key is listed.

With the key, a record's MAC is HMAC-SHA256 over its canonical content; a checkpoint's signature is
HMAC-SHA256 under a key derived from the same secret for that purpose only, so a record's MAC can never be
passed off as a checkpoint signature or the other way round.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

_KEY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,39}")
MIN_KEY_BYTES = 32
_RECORD_PURPOSE = b"madoguchi-audit-record-v1"
_CHECKPOINT_PURPOSE = b"madoguchi-audit-checkpoint-v1"
_READ_PURPOSE = b"madoguchi-access-event-v1"
#: Pseudonymous staff codes in the resident's data-use ledger (not a MAC: a different derived key).
_PSEUDONYM_PURPOSE = b"madoguchi-staff-pseudonym-v1"


def canonical_json(content: dict[str, Any]) -> bytes:
    """The bytes a MAC or signature covers: sorted keys, no spaces, UTF-8 (so 髙 and 𠮷 are themselves)."""
    return json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str).encode()


class AuditKeyError(ValueError):
    """``MADOGUCHI_AUDIT_KEY`` is missing, malformed, or lacks the key a record or checkpoint names."""


@dataclass(frozen=True)
class AuditKey:
    key_id: str
    secret: bytes

    def _derived(self, purpose: bytes) -> bytes:
        return hmac.new(self.secret, purpose, hashlib.sha256).digest()

    def record_mac(self, canonical: bytes) -> str:
        return hmac.new(self._derived(_RECORD_PURPOSE), canonical, hashlib.sha256).hexdigest()

    def checkpoint_signature(self, canonical: bytes) -> str:
        return hmac.new(self._derived(_CHECKPOINT_PURPOSE), canonical, hashlib.sha256).hexdigest()

    def access_event_mac(self, canonical: bytes) -> str:
        return hmac.new(self._derived(_READ_PURPOSE), canonical, hashlib.sha256).hexdigest()

    def pseudonym(self, value: bytes) -> str:
        return hmac.new(self._derived(_PSEUDONYM_PURPOSE), value, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class AuditKeyring:
    """The current key (signs) and the older ones (verify only), by id."""

    keys: tuple[AuditKey, ...]

    @property
    def current(self) -> AuditKey:
        return self.keys[0]

    def get(self, key_id: str) -> AuditKey:
        for key in self.keys:
            if key.key_id == key_id:
                return key
        held = ", ".join(k.key_id for k in self.keys)
        raise AuditKeyError(f"MADOGUCHI_AUDIT_KEY does not hold the key '{key_id}' (it holds: {held})")


@lru_cache(maxsize=8)
def parse_keyring(value: str) -> AuditKeyring:
    """Parse ``MADOGUCHI_AUDIT_KEY``; raises AuditKeyError with one line saying what is wrong."""
    if not value.strip():
        raise AuditKeyError("MADOGUCHI_AUDIT_KEY is not set: audit records cannot be written or verified")
    keys: list[AuditKey] = []
    for position, item in enumerate(value.split(","), start=1):
        key_id, colon, encoded = item.strip().partition(":")
        if not colon or not _KEY_ID.fullmatch(key_id):
            raise AuditKeyError(
                f"MADOGUCHI_AUDIT_KEY: key {position} must look like <key-id>:<base64>, the id being letters, "
                "digits, '.', '_' or '-' (at most 40)"
            )
        try:
            secret = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        except (binascii.Error, ValueError):
            raise AuditKeyError(f"MADOGUCHI_AUDIT_KEY: key '{key_id}' is not urlsafe base64") from None
        if len(secret) < MIN_KEY_BYTES:
            raise AuditKeyError(f"MADOGUCHI_AUDIT_KEY: key '{key_id}' is shorter than {MIN_KEY_BYTES} bytes")
        if any(k.key_id == key_id for k in keys):
            raise AuditKeyError(f"MADOGUCHI_AUDIT_KEY: key id '{key_id}' is listed twice")
        keys.append(AuditKey(key_id, secret))
    return AuditKeyring(tuple(keys))


def generate_key(key_id: str | None = None) -> str:
    """A fresh ``<key-id>:<secret>`` entry; the id defaults to the current UTC month (``audit-2026-12``)."""
    key_id = key_id or f"audit-{datetime.now(UTC):%Y-%m}"
    if not _KEY_ID.fullmatch(key_id):
        raise AuditKeyError(f"unusable key id {key_id!r}: letters, digits, '.', '_' or '-' (at most 40)")
    return f"{key_id}:{base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip('=')}"
