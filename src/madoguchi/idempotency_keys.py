"""The Idempotency-Key table and its statements: what the API stored for a key, so a retried write replays its
first answer.

The model and the SQL are foundation (every model is importable by `madoguchi.models` and the tenant export without
the API); when to claim, replay or store is the API's (``madoguchi.api.idempotency``, decision 0025).

A key is claimed *inside the request's own transaction* (decision 0025): on PostgreSQL by one
``INSERT ... SELECT ... WHERE pg_try_advisory_xact_lock(k) ON CONFLICT DO NOTHING RETURNING id``. The advisory lock
(on a 64-bit hash of tenant, caller and key) is held until the request's transaction ends, and is only *tried*: a
second request with the key while the first still runs finds it taken and answers 409 at once, instead of waiting on
the first's uncommitted row in the unique index until ``lock_timeout``. ``ON CONFLICT DO NOTHING`` checks the latest
committed rows, so a key whose first request has just committed is never claimed twice. A request that rolls back
takes its claim with it. On SQLite every writing request begins ``IMMEDIATE`` (one writer at a time), so a second
request waits for the first to end and then sees its row: the insert needs no lock.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, String, Text, UniqueConstraint, func, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from madoguchi.db import Base, TenantScoped, new_id, utcnow


class IdempotencyKey(TenantScoped, Base):
    """One ``Idempotency-Key`` of one caller in one tenant, with the response it produced.

    Scoped by tenant and by caller (``client:<id>`` for vendor tokens, ``account:<id>`` otherwise), so
    two clients choosing the same key never collide.
    """

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("tenant_id", "caller", "key"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    caller: Mapped[str] = mapped_column(String(80))
    key: Mapped[str] = mapped_column(String(255))
    #: SHA-256 over method, path and body: the same key with another request is refused.
    request_hash: Mapped[str] = mapped_column(String(64))
    #: completed once its response is stored. in_flight only in rows an earlier version committed before its
    #: request ran (decision 0004); today's claim is never committed without its response (decision 0025).
    status: Mapped[str] = mapped_column(String(20))
    response_status: Mapped[int | None]
    response_body: Mapped[str | None] = mapped_column(Text)
    response_headers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_at: Mapped[datetime] = mapped_column(default=utcnow)


_UNIQUE = ("tenant_id", "caller", "key")


def lock_number(tenant_id: uuid.UUID, caller: str, key: str) -> int:
    """The advisory lock of one key: a signed 64-bit number from its SHA-256 (a collision only costs a 409)."""
    digest = hashlib.sha256(f"{tenant_id}\0{caller}\0{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def insert_unless_taken(
    session: Session, tenant_id: uuid.UUID, caller: str, key: str, **values: Any
) -> uuid.UUID | None:
    """Insert the key's row in ``session``'s transaction, unless another transaction holds the key or a row of it
    is committed: the new row's id, or None. One statement (see the module docstring)."""
    row = {
        "id": new_id(),
        "tenant_id": tenant_id,
        "caller": caller,
        "key": key,
        "created_at": utcnow(),
        "claimed_at": utcnow(),
        "response_headers": {},
        **values,
    }
    table = IdempotencyKey.__table__
    if _is_postgresql(session):
        columns = list(row)
        chosen = select(*(literal(row[name], table.c[name].type) for name in columns)).where(
            func.pg_try_advisory_xact_lock(lock_number(tenant_id, caller, key))
        )
        statement: Any = postgresql.insert(IdempotencyKey).from_select(columns, chosen)
    else:
        statement = sqlite.insert(IdempotencyKey).values(row)
    statement = statement.on_conflict_do_nothing(index_elements=list(_UNIQUE)).returning(IdempotencyKey.id)
    return session.execute(statement).scalar_one_or_none()


def find(session: Session, caller: str, key: str) -> IdempotencyKey | None:
    """The committed row of a key in the session's tenant (or the one this transaction inserted)."""
    return session.execute(
        select(IdempotencyKey).where(IdempotencyKey.caller == caller, IdempotencyKey.key == key)
    ).scalar_one_or_none()


def try_lock(session: Session, tenant_id: uuid.UUID, caller: str, key: str) -> bool:
    """Take the key's advisory lock for this transaction if nobody holds it (PostgreSQL; SQLite: always)."""
    if not _is_postgresql(session):
        return True
    return bool(session.execute(select(func.pg_try_advisory_xact_lock(lock_number(tenant_id, caller, key)))).scalar())


def take_over(session: Session, row: IdempotencyKey, request_hash: str) -> datetime | None:
    """Claim an abandoned in-flight row (an earlier version's claim whose process died): the new claim time, or
    None if another request got there first. The caller holds the key's lock (``try_lock``)."""
    claimed_at = utcnow()
    taken = session.execute(
        update(IdempotencyKey)
        .where(
            IdempotencyKey.id == row.id,
            IdempotencyKey.status == "in_flight",
            IdempotencyKey.claimed_at == row.claimed_at,
        )
        .values(claimed_at=claimed_at, request_hash=request_hash)
        .execution_options(synchronize_session=False)
    )
    return claimed_at if cast(CursorResult[Any], taken).rowcount == 1 else None


def complete(session: Session, key_id: uuid.UUID, **response: Any) -> None:
    """Store the response of the claimed key ``key_id``, in the transaction of the work it describes."""
    session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.id == key_id)
        .values(status="completed", **response)
        .execution_options(synchronize_session=False)
    )


__all__ = ["IdempotencyKey", "complete", "find", "insert_unless_taken", "lock_number", "take_over", "try_lock"]
