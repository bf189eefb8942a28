"""Appending to and verifying a tenant's hash-chained audit trail.

Each record's hash is SHA-256 over the canonical JSON of its content and the previous record's hash.
The chain head (last sequence number and hash) lives in its own row: appends lock it, so two
transactions of one tenant append one after the other, and ``verify`` compares it with the last record,
so deleting the newest rows is noticed as surely as editing or deleting one in the middle.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from madoguchi.audit.models import AuditChainHead, AuditRecord
from madoguchi.db import utcnow


def genesis_hash(tenant_id: uuid.UUID) -> str:
    return hashlib.sha256(f"madoguchi-audit-genesis:{tenant_id}".encode()).hexdigest()


def record_hash(record: AuditRecord) -> str:
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
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


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
    """Append one record to the tenant's chain, in the caller's transaction."""
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
    )
    entry.hash = record_hash(entry)
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


def verify(session: Session, tenant_id: uuid.UUID, *, batch_size: int = 1000) -> ChainReport:
    """Walk the chain in order and report the first broken link, if any."""
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
            if record_hash(entry) != entry.hash:
                return ChainReport(checked, entry.seq, f"record {entry.seq} was modified after it was written")
            expected_prev = entry.hash
            expected_seq += 1
            checked += 1
    finally:
        result.close()  # a server-side cursor (yield_per) left open when we stop early
    head = session.get(AuditChainHead, tenant_id)
    last_seq = head.last_seq if head else 0
    last_hash = head.last_hash if head else genesis_hash(tenant_id)
    if last_seq != checked or last_hash != expected_prev:
        return ChainReport(checked, checked + 1, f"the chain ends at record {checked} but its head records {last_seq}")
    return ChainReport(checked)
