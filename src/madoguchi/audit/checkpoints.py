"""Signed checkpoints of a tenant's audit chain, kept outside the database.

A checkpoint says "on <time>, tenant T's chain had <seq> records ending in <MAC>", signed with the audit key.
``madoguchi audit checkpoint`` (and the worker, periodically) writes one per tenant to the checkpoint store
(``MADOGUCHI_AUDIT_CHECKPOINT_URL``: a folder, or an S3 bucket with object lock); ``madoguchi audit verify``
reads the newest back and fails when the chain in the database no longer reaches it or disagrees with it.
That is what finds the newest records deleted and the head moved back, which no MAC inside the database can.

This module is the format only (what is signed, how it is read back); the CLI moves the bytes.
Objects: ``tenants/<tenant-id>/audit-checkpoints/latest.json`` (overwritten: the newest) and
``tenants/<tenant-id>/audit-checkpoints/<seq>-<time>.json`` (one per checkpoint, never overwritten).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from madoguchi.audit.keys import AuditKeyError, AuditKeyring, canonical_json
from madoguchi.audit.models import AuditChainHead
from madoguchi.db import utcnow

FORMAT = "madoguchi-audit-checkpoint/1"


class CheckpointError(ValueError):
    """A checkpoint that cannot be trusted: unreadable, for another tenant, or not signed with our key."""


@dataclass(frozen=True)
class Checkpoint:
    tenant_id: uuid.UUID
    tenant_slug: str
    seq: int
    head_hash: str
    legacy_until: int
    at: datetime
    key_id: str
    signature: str = ""

    @property
    def at_text(self) -> str:
        return self.at.isoformat(timespec="seconds")

    def payload(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "tenant_id": str(self.tenant_id),
            "tenant_slug": self.tenant_slug,
            "seq": self.seq,
            "head_hash": self.head_hash,
            "legacy_until": self.legacy_until,
            "at": self.at.isoformat(),
            "key_id": self.key_id,
        }

    def to_json(self) -> bytes:
        return json.dumps({**self.payload(), "signature": self.signature}, ensure_ascii=False, indent=2).encode()


def latest_key(tenant_id: uuid.UUID) -> str:
    return f"tenants/{tenant_id}/audit-checkpoints/latest.json"


def history_key(checkpoint: Checkpoint) -> str:
    return (
        f"tenants/{checkpoint.tenant_id}/audit-checkpoints/{checkpoint.seq:012d}-{checkpoint.at:%Y%m%dT%H%M%S%fZ}.json"
    )


def take(session: Session, tenant_id: uuid.UUID, tenant_slug: str, keyring: AuditKeyring) -> Checkpoint:
    """A signed checkpoint of the tenant's chain head as committed now."""
    head = session.get(AuditChainHead, tenant_id)
    if head is None:
        raise CheckpointError(f"{tenant_slug} has no audit chain yet")
    key = keyring.current
    unsigned = Checkpoint(
        tenant_id=tenant_id,
        tenant_slug=tenant_slug,
        seq=head.last_seq,
        head_hash=head.last_hash,
        legacy_until=head.legacy_until_seq,
        at=utcnow(),
        key_id=key.key_id,
    )
    return replace(unsigned, signature=key.checkpoint_signature(canonical_json(unsigned.payload())))


def parse(data: bytes, tenant_id: uuid.UUID, keyring: AuditKeyring) -> Checkpoint:
    """Read a checkpoint back and check its signature; CheckpointError says in one line what is wrong."""
    try:
        raw = json.loads(data)
        if raw.get("format") != FORMAT:
            raise CheckpointError(f"not a checkpoint of format {FORMAT}")
        checkpoint = Checkpoint(
            tenant_id=uuid.UUID(raw["tenant_id"]),
            tenant_slug=str(raw["tenant_slug"]),
            seq=int(raw["seq"]),
            head_hash=str(raw["head_hash"]),
            legacy_until=int(raw["legacy_until"]),
            at=datetime.fromisoformat(raw["at"]),
            key_id=str(raw["key_id"]),
            signature=str(raw["signature"]),
        )
    except CheckpointError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as bad:
        raise CheckpointError(f"the checkpoint is unreadable ({type(bad).__name__}: {bad})") from None
    if checkpoint.tenant_id != tenant_id:
        raise CheckpointError("the checkpoint belongs to another tenant")
    try:
        key = keyring.get(checkpoint.key_id)
    except AuditKeyError as missing:
        raise CheckpointError(
            f"the checkpoint of {checkpoint.at_text} was signed with a key we lack: {missing}"
        ) from None
    if key.checkpoint_signature(canonical_json(checkpoint.payload())) != checkpoint.signature:
        raise CheckpointError(
            f"the checkpoint of {checkpoint.at_text} does not match the audit key '{checkpoint.key_id}' "
            "(wrong MADOGUCHI_AUDIT_KEY, or the checkpoint was altered)"
        )
    return checkpoint
