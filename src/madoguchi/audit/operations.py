"""Appending to and verifying a tenant's keyed audit chain.

Each record's MAC is HMAC-SHA256, under the audit key (``MADOGUCHI_AUDIT_KEY``, held outside the database),
over the canonical JSON of its content, its key id and the previous record's MAC. Whoever owns the database
but not the key cannot edit a record and recompute the chain after it. Records written before the chain was
keyed keep their plain SHA-256 hash (no key id); the first keyed record covers the last of them, so they are
anchored too.

The chain head (last sequence number and MAC) lives in its own row. ``record`` only queues a record on the
session; when the session commits, a ``before_commit`` hook locks each head concerned, gives the queued
records their sequence numbers, links and MACs in the order they were recorded, and inserts them. So the head
is locked for the end of the commit, not for the whole request, and the chain's order is the commit order
(docs/decisions/0026-audit-chain-at-commit.md). Records queued in a transaction or savepoint that rolls back
are dropped with it. Deleting the newest records and moving the head back is found by comparing the chain with
the newest signed checkpoint, which lives outside the database (``madoguchi.audit.checkpoints``).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, event, insert, select, update
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.orm.util import identity_key

from madoguchi.audit.checkpoints import Checkpoint
from madoguchi.audit.keys import AuditKey, AuditKeyError, AuditKeyring, canonical_json, parse_keyring
from madoguchi.audit.models import AuditChainHead, AuditRecord
from madoguchi.db import AUDIT_KEY_INFO, bind_tenant, bound_tenant, check_tenant_of_write, new_id, utcnow

#: ``session.info`` key of the records recorded in the open transaction and not yet chained.
_QUEUED_INFO = "audit_queued"
_RECORDS = cast(Table, AuditRecord.__table__)
_HEADS = cast(Table, AuditChainHead.__table__)


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
    """Record one entry for the tenant's chain, in the caller's transaction, MAC'd with the current key.

    The entry is chained and inserted when the transaction commits (``_chain_on_commit``): until then the
    returned record has its content but no ``seq``, ``prev_hash`` or ``hash``, and it is not in the table. It is
    never added to the session (the commit inserts its values), so it stays a plain object to read.
    """
    # A missing key, or a tenant the session may not write, refuses here, in the operation, not at commit.
    check_tenant_of_write(session, tenant_id, "AuditRecord")
    key = session_keyring(session).current
    entry = AuditRecord(
        id=new_id(),
        tenant_id=tenant_id,
        at=utcnow(),
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        data=json.loads(json.dumps(data or {}, default=str)),  # a copy: later changes to ``data`` don't count
        key_id=key.key_id,
    )
    if not session.in_transaction():
        session.begin()  # no SQL yet; but a rollback or close now ends a transaction, and drops the queue with it
    session.info.setdefault(_QUEUED_INFO, []).append(_Queued(entry, key, session.get_nested_transaction()))
    return entry


@dataclass(frozen=True)
class _Queued:
    entry: AuditRecord
    key: AuditKey
    #: The innermost savepoint open when it was recorded (None: the transaction itself): if that savepoint
    #: rolls back, the entry goes with it.
    savepoint: SessionTransaction | None


@event.listens_for(Session, "before_commit")
def _chain_on_commit(session: Session) -> None:
    """Chain and insert the transaction's queued records, holding each tenant's head only until the commit."""
    if session.in_nested_transaction():
        return  # a savepoint's release: its records wait for the commit of the transaction
    queued: list[_Queued] = session.info.pop(_QUEUED_INFO, None) or []
    if not queued:
        return
    # The transaction's other writes first, so the heads are locked for as little as possible. A commit that
    # fails from here on must be rolled back (as any failed commit): its queued records are gone.
    session.flush()
    by_tenant: dict[uuid.UUID, list[_Queued]] = {}
    for item in queued:
        by_tenant.setdefault(item.entry.tenant_id, []).append(item)
    bound = bound_tenant(session)
    try:
        # One lock order for every transaction (several tenants: platform commands), so two never deadlock.
        for tenant_id in sorted(by_tenant):
            if bound_tenant(session) != tenant_id:
                # The session may have been bound to another tenant since; row-level security wants this one.
                bind_tenant(session, tenant_id)
            _append(session, tenant_id, by_tenant[tenant_id])
    finally:
        if bound_tenant(session) != bound:
            bind_tenant(session, bound)


def _append(session: Session, tenant_id: uuid.UUID, queued: list[_Queued]) -> None:
    """Lock the head, link and MAC the records, insert them and move the head.

    The lock lasts from the first statement to the commit, and its holder waits for each round trip (and, in a
    busy threaded worker, for its turn to run Python after it), so there are two (on PostgreSQL the inserts travel
    inside the head's UPDATE), in Core on the session's connection, with only hashing between them. The tenant is
    named in every statement and row-level security checks it; the ORM's criteria are not needed.
    """
    connection = session.connection()
    head = connection.execute(
        select(_HEADS.c.last_seq, _HEADS.c.last_hash).where(_HEADS.c.tenant_id == tenant_id).with_for_update()
    ).one_or_none()
    if head is None:
        start_chain(session, tenant_id)
        last_seq, last_hash = 0, genesis_hash(tenant_id)
    else:
        last_seq, last_hash = head
    for item in queued:
        entry = item.entry
        entry.seq, entry.prev_hash = last_seq + 1, last_hash
        entry.hash = item.key.record_mac(canonical_json(_content(entry)))
        last_seq, last_hash = entry.seq, entry.hash
    rows = [{column.key: getattr(item.entry, column.key) for column in _RECORDS.columns} for item in queued]
    move_head = update(_HEADS).where(_HEADS.c.tenant_id == tenant_id).values(last_seq=last_seq, last_hash=last_hash)
    if connection.dialect.name == "postgresql":
        connection.execute(move_head.add_cte(insert(_RECORDS).values(rows).cte("appended")))
    else:  # SQLite has no INSERT inside a WITH; it serialises writers anyway
        connection.execute(insert(_RECORDS).values(rows))
        connection.execute(move_head)
    cached = session.identity_map.get(identity_key(AuditChainHead, tenant_id))
    if cached is not None:
        session.expire(cached)  # the session keeps objects across commits (expire_on_commit=False)


@event.listens_for(Session, "after_soft_rollback")
def _drop_rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    """A savepoint rolled back: the records queued inside it (or inside savepoints within it) go too."""
    queued: list[_Queued] | None = session.info.get(_QUEUED_INFO)
    if not queued or not previous_transaction.nested:
        return
    session.info[_QUEUED_INFO] = [item for item in queued if not _inside(item.savepoint, previous_transaction)]


@event.listens_for(Session, "after_transaction_end")
def _drop_uncommitted(session: Session, transaction: SessionTransaction) -> None:
    """The transaction ended without chaining its queue (rolled back or closed): nothing of it is recorded."""
    if transaction.parent is None and not transaction.nested:
        session.info.pop(_QUEUED_INFO, None)


def _inside(savepoint: SessionTransaction | None, outer: SessionTransaction) -> bool:
    while savepoint is not None:
        if savepoint is outer:
            return True
        savepoint = savepoint.parent
    return False


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
