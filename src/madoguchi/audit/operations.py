"""Appending to and verifying a tenant's keyed audit chain.

Each record's MAC is HMAC-SHA256, under the audit key (``MADOGUCHI_AUDIT_KEY``, held outside the database),
over the canonical JSON of its content, its key id and the previous record's MAC. Whoever owns the database
but not the key cannot edit a record and recompute the chain after it. Records written before the chain was
keyed keep their plain SHA-256 hash (no key id); the first keyed record covers the last of them, so they are
anchored too.

The chain head (last sequence number and MAC) lives in its own row: appends lock it, so two transactions of
one tenant append one after the other. Deleting the newest records and moving the head back is found by
comparing the chain with the newest signed checkpoint, which lives outside the database
(``madoguchi.audit.checkpoints``).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from madoguchi.audit.checkpoints import Checkpoint
from madoguchi.audit.keys import AuditKeyError, AuditKeyring, canonical_json, parse_keyring
from madoguchi.audit.models import AuditChainHead, AuditRecord
from madoguchi.db import AUDIT_KEY_INFO, utcnow


def genesis_hash(tenant_id: uuid.UUID) -> str:
    return hashlib.sha256(f"madoguchi-audit-genesis:{tenant_id}".encode()).hexdigest()


def _content(record: AuditRecord) -> dict[str, Any]:
    content = {
        "tenant_id": str(record.tenant_id),
        "seq": record.seq,
        "at": record.at.isoformat(),
        "actor": record.actor,
        "action": record.action,
        "object_type": record.object_type,
        "object_id": record.object_id,
        "data": record.data,
        "prev_hash": record.prev_hash,
    }
    if record.key_id is not None:
        content["key_id"] = record.key_id
    return content


def record_hash(record: AuditRecord, keyring: AuditKeyring | None = None) -> str:
    """The record's MAC under its key (``keyring`` must hold it), or the legacy SHA-256 of an unkeyed record."""
    canonical = canonical_json(_content(record))
    if record.key_id is None:
        return hashlib.sha256(canonical).hexdigest()
    if keyring is None:
        raise AuditKeyError("MADOGUCHI_AUDIT_KEY is not set: keyed audit records cannot be checked")
    return keyring.get(record.key_id).record_mac(canonical)


def session_keyring(session: Session) -> AuditKeyring:
    """The audit keys of the database this session came from (raises AuditKeyError when none is set)."""
    return parse_keyring(session.info.get(AUDIT_KEY_INFO) or "")


def start_chain(session: Session, tenant_id: uuid.UUID) -> None:
    """Create the chain head of a new tenant (idempotent)."""
    if session.get(AuditChainHead, tenant_id) is None:
        session.add(AuditChainHead(tenant_id=tenant_id, last_seq=0, last_hash=genesis_hash(tenant_id)))
        session.flush()


def record(
    session: Session,
    tenant_id: uuid.UUID,
    *,
    actor: str,
    action: str,
    object_type: str,
    object_id: str | uuid.UUID,
    data: dict[str, Any] | None = None,
) -> AuditRecord:
    """Append one record to the tenant's chain, in the caller's transaction, MAC'd with the current key."""
    key = session_keyring(session).current  # before the lock: a missing key refuses without waiting
    head = session.execute(
        select(AuditChainHead).where(AuditChainHead.tenant_id == tenant_id).with_for_update()
    ).scalar_one_or_none()
    if head is None:
        start_chain(session, tenant_id)
        head = session.get(AuditChainHead, tenant_id)
        assert head is not None
    entry = AuditRecord(
        tenant_id=tenant_id,
        seq=head.last_seq + 1,
        at=utcnow(),
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        data=json.loads(json.dumps(data or {}, default=str)),
        prev_hash=head.last_hash,
        key_id=key.key_id,
    )
    entry.hash = key.record_mac(canonical_json(_content(entry)))
    head.last_seq, head.last_hash = entry.seq, entry.hash
    session.add(entry)
    session.flush()
    return entry


@dataclass(frozen=True)
class ChainReport:
    records_checked: int
    first_bad_seq: int | None = None
    problem: str | None = None

    @property
    def intact(self) -> bool:
        return self.problem is None


def verify(
    session: Session,
    tenant_id: uuid.UUID,
    *,
    checkpoint: Checkpoint | None = None,
    keyring: AuditKeyring | None = None,
    batch_size: int = 1000,
) -> ChainReport:
    """Walk the chain in order and report the first broken link, if any.

    With a ``checkpoint`` (already checked to be signed with the key), the chain must reach it and agree with
    it: fewer records than it saw means the newest were deleted. ``keyring`` defaults to the session's.
    """
    if keyring is None:
        keyring = session_keyring(session)
    head = session.get(AuditChainHead, tenant_id)
    # Unkeyed records are accepted only up to the point the chain was keyed; the signed checkpoint says where,
    # the database only when there is no checkpoint yet.
    legacy_until = checkpoint.legacy_until if checkpoint else (head.legacy_until_seq if head else 0)
    expected_prev = genesis_hash(tenant_id)
    expected_seq = 1
    checked = 0
    stmt = (
        select(AuditRecord)
        .where(AuditRecord.tenant_id == tenant_id)
        .order_by(AuditRecord.seq)
        .execution_options(yield_per=batch_size)
    )
    result = session.execute(stmt).scalars()
    try:
        for entry in result:
            if entry.seq != expected_seq:
                return ChainReport(checked, expected_seq, f"record {expected_seq} is missing (next found: {entry.seq})")
            if entry.prev_hash != expected_prev:
                return ChainReport(checked, entry.seq, f"record {entry.seq} does not link to record {entry.seq - 1}")
            if entry.key_id is None and entry.seq > legacy_until:
                return ChainReport(
                    checked, entry.seq, f"record {entry.seq} carries no key (only records up to {legacy_until} may)"
                )
            try:
                expected_hash = record_hash(entry, keyring)
            except AuditKeyError as missing:
                return ChainReport(checked, entry.seq, str(missing))
            if expected_hash != entry.hash:
                return ChainReport(checked, entry.seq, f"record {entry.seq} was modified after it was written")
            if checkpoint and entry.seq == checkpoint.seq and entry.hash != checkpoint.head_hash:
                return ChainReport(
                    checked, entry.seq, f"record {entry.seq} differs from the checkpoint of {checkpoint.at_text}"
                )
            expected_prev = entry.hash
            expected_seq += 1
            checked += 1
    finally:
        result.close()  # a server-side cursor (yield_per) left open when we stop early
    if checkpoint and checked < checkpoint.seq:
        return ChainReport(
            checked,
            checked + 1,
            f"the chain ends at record {checked} but the checkpoint of {checkpoint.at_text} saw {checkpoint.seq}: "
            "the newest records were deleted",
        )
    last_seq = head.last_seq if head else 0
    last_hash = head.last_hash if head else genesis_hash(tenant_id)
    if last_seq != checked or last_hash != expected_prev:
        return ChainReport(checked, checked + 1, f"the chain ends at record {checked} but its head records {last_seq}")
    return ChainReport(checked)
