"""Database plumbing: the declarative base, engines and sessions, and the tenant safety net.

Isolation has two layers (DESIGN §7, docs/decisions/0001-tenant-isolation.md):

1. The ORM layer. A session is *bound* to one tenant (``bind_tenant``). Every ORM SELECT, UPDATE and
   DELETE on a ``TenantScoped`` model gets ``tenant_id = :bound`` added (``with_loader_criteria``), a
   session bound to no tenant sees no tenant rows at all, and a flush refuses a row of another tenant.
2. The database layer, on PostgreSQL. Row-level security policies compare ``tenant_id`` with the
   transaction-local setting ``app.tenant_id``, which ``after_begin`` sets at the start of every
   transaction with ``set_config(..., true)`` — never a session-level SET, which would survive the
   pool's reset and leak into the next request on that connection.

SQLite (the embedded default) has only the first layer. It runs in WAL mode with foreign keys on.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import JSON, DateTime, MetaData, TypeDecorator, Uuid, event, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Engine
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    ORMExecuteState,
    Session,
    declared_attr,
    mapped_column,
    sessionmaker,
    with_loader_criteria,
)

if TYPE_CHECKING:
    from madoguchi.config import Settings

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: JSON on SQLite, JSONB on PostgreSQL.
JSONType = JSON().with_variant(JSONB(), "postgresql")
#: JSON on both: PostgreSQL's ``json`` keeps the text as written, key order included, where JSONB sorts the keys.
#: For stored JSON Schema forms, whose property order is the order the questions are asked (decision 0020).
OrderedJSONType = JSON()


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend (SQLite drops the offset; we put it back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    # SQLAlchemy's declarative API reads this class attribute.
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSONType, list[Any]: JSONType}  # noqa: RUF012


class TenantScoped:
    """Mixin for every tenant-owned table: a non-null ``tenant_id`` and the isolation rules above.

    Tables with this mixin get a row-level security policy in the migrations; ``tests/test_architecture.py``
    checks that the two lists agree.
    """

    @declared_attr
    def tenant_id(cls) -> Mapped[uuid.UUID]:
        return mapped_column(Uuid, sa.ForeignKey("tenants.id", ondelete="RESTRICT"), nullable=False)


class TenantNotBound(RuntimeError):
    """A tenant-owned row was written by a session that is bound to no tenant (a programming error)."""


class CrossTenantWrite(RuntimeError):
    """A session bound to tenant A tried to write a row of tenant B (a programming error)."""


_TENANT_KEY = "tenant_id"
_ALL_TENANTS_KEY = "all_tenants"
#: ``session.info`` key of the raw ``MADOGUCHI_AUDIT_KEY`` value (parsed by ``madoguchi.audit.keys``).
AUDIT_KEY_INFO = "audit_key"
_TIMEOUTS_KEY = "timeouts"


@dataclass(frozen=True)
class DatabaseTimeouts:
    """PostgreSQL ``statement_timeout`` and ``lock_timeout`` for every transaction of a ``Database`` (0: none).

    Web requests get short ones, so a slow query or a lock held in one tenant answers 503 instead of holding
    request threads; commands and the worker get longer ones (``Settings.db_job_*``).
    """

    statement_seconds: float = 0.0
    lock_seconds: float = 0.0

    @property
    def statement_setting(self) -> str:
        return f"{round(self.statement_seconds * 1000)}ms"

    @property
    def lock_setting(self) -> str:
        return f"{round(self.lock_seconds * 1000)}ms"


#: ``session.info`` key of the tenant ``app.tenant_id`` holds in the session's open transaction (absent: no
#: transaction has reached the database yet, and ``after_begin`` will set the bound tenant when one does).
_TRANSACTION_TENANT_KEY = "transaction_tenant_id"


def bind_tenant(session: Session, tenant_id: uuid.UUID | None) -> None:
    """Bind ``session`` to ``tenant_id`` (or to none) from now on, including the open transaction.

    ``set_config`` runs only when the open transaction's connection holds another tenant: binding before the first
    statement, or to the tenant already set, costs nothing (one ``set_config`` per transaction, decision 0025).
    """
    session.info[_TENANT_KEY] = tenant_id
    if _TRANSACTION_TENANT_KEY in session.info and session.info[_TRANSACTION_TENANT_KEY] != tenant_id:
        _set_transaction_tenant(session.connection(), tenant_id)
        session.info[_TRANSACTION_TENANT_KEY] = tenant_id


def bound_tenant(session: Session) -> uuid.UUID | None:
    return session.info.get(_TENANT_KEY)


def _set_transaction_tenant(connection: sa.Connection, tenant_id: uuid.UUID | None) -> None:
    if connection.dialect.name == "postgresql":
        # is_local = true: the value ends with the transaction, so a pooled connection can't carry it on.
        connection.execute(
            text("select set_config('app.tenant_id', :tenant_id, true)"),
            {"tenant_id": str(tenant_id) if tenant_id else ""},
        )


_BEGIN_WITH_TIMEOUTS = text(
    "select set_config('app.tenant_id', :tenant_id, true),"
    " set_config('statement_timeout', :statement_timeout, true),"
    " set_config('lock_timeout', :lock_timeout, true)"
)


def _after_begin(session: Session, transaction: Any, connection: sa.Connection) -> None:
    tenant_id = session.info.get(_TENANT_KEY)
    session.info[_TRANSACTION_TENANT_KEY] = tenant_id
    timeouts: DatabaseTimeouts | None = session.info.get(_TIMEOUTS_KEY)
    if timeouts is None or connection.dialect.name != "postgresql":
        _set_transaction_tenant(connection, tenant_id)
        return
    # One round trip for the tenant and both limits, all transaction-local like the tenant (DESIGN §7).
    connection.execute(
        _BEGIN_WITH_TIMEOUTS,
        {
            "tenant_id": str(tenant_id) if tenant_id else "",
            "statement_timeout": timeouts.statement_setting,
            "lock_timeout": timeouts.lock_setting,
        },
    )


def _add_tenant_criteria(state: ORMExecuteState) -> None:
    if not (state.is_select or state.is_update or state.is_delete):
        return
    if state.session.info.get(_ALL_TENANTS_KEY):
        return
    tenant_id = state.session.info.get(_TENANT_KEY)
    # No tenant bound: no tenant rows at all (deny by default, like the PostgreSQL policy).
    criterion = (lambda cls: sa.false()) if tenant_id is None else (lambda cls: cls.tenant_id == tenant_id)
    state.statement = state.statement.options(
        with_loader_criteria(TenantScoped, criterion, include_aliases=True, track_closure_variables=True)
    )


def check_tenant_of_write(session: Session, tenant_id: uuid.UUID, what: str) -> None:
    """Refuse a row of ``tenant_id`` that this session may not write: the flush's rule, also for rows that are
    written later, without it (audit records, chained at commit)."""
    bound = session.info.get(_TENANT_KEY)
    if bound is None and not session.info.get(_ALL_TENANTS_KEY):
        raise TenantNotBound(f"{what} written with no tenant bound to the session")
    if bound is not None and tenant_id != bound:
        raise CrossTenantWrite(f"{what} of another tenant written in a session bound to one")


def _check_tenant_on_flush(session: Session, flush_context: Any, instances: Any) -> None:
    tenant_id = session.info.get(_TENANT_KEY)
    for obj in session.new:
        if not isinstance(obj, TenantScoped):
            continue
        if obj.tenant_id is None:
            if tenant_id is None:
                raise TenantNotBound(f"{type(obj).__name__} written with no tenant bound to the session")
            obj.tenant_id = tenant_id
        else:
            check_tenant_of_write(session, obj.tenant_id, type(obj).__name__)
    for obj in session.dirty:
        if isinstance(obj, TenantScoped):
            history = sa.inspect(obj).attrs.tenant_id.history
            if history.deleted and history.deleted[0] is not None:
                raise CrossTenantWrite(f"tenant_id of a {type(obj).__name__} may not change")


#: SQLite only: whether transactions begin with ``BEGIN IMMEDIATE`` (the write lock taken up front).
#: In WAL mode a plain (deferred) transaction that has read and then writes fails at once with "database
#: is locked" if another connection committed in between - busy_timeout does not help, because its
#: snapshot is stale. So every request that may write, and the outbox worker, take the lock first and
#: wait their turn (``context._choose_sqlite_transaction_mode``); only API reads stay deferred. Code that
#: opens a second transaction during a request must end the request's own first (they all do: the
#: sign-in failure counters and the stored 4xx answer of an Idempotency-Key).
_begin_immediate: ContextVar[bool] = ContextVar("madoguchi_sqlite_begin_immediate", default=False)


def set_sqlite_begin_immediate(on: bool) -> None:
    """Choose the SQLite transaction mode for this thread/context from now on (no effect on PostgreSQL)."""
    _begin_immediate.set(on)


@contextmanager
def sqlite_begin_immediate() -> Iterator[None]:
    token = _begin_immediate.set(True)
    try:
        yield
    finally:
        _begin_immediate.reset(token)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin (pysqlite's own handling is lazy and
        # would leave SELECT ... then UPDATE outside one transaction).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if _begin_immediate.get() else "BEGIN")


def make_engine(
    url: str,
    *,
    pool_size: int = 5,
    max_overflow: int = 10,
    pool_timeout: float = 30.0,
    connect_timeout: int = 10,
    **kwargs: Any,
) -> Engine:
    """An engine for ``url`` with the backend settings the rest of the code relies on."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, **kwargs)
        _configure_sqlite(engine)
        return engine
    # pre-ping: after a database restart the first checkout of each stale pooled connection is tested and replaced.
    # Not for web requests (``Database.for_web``, decision 0025): a round trip on every checkout is too dear there;
    # a disconnect error invalidates the whole pool, a request whose very first statement meets a dead connection
    # begins again on a fresh one (``Database.begin``), and one lost mid-request answers 503 (``errors``).
    kwargs.setdefault("pool_pre_ping", True)
    connect_args = {"connect_timeout": connect_timeout, **kwargs.pop("connect_args", {})}
    return sa.create_engine(
        url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=pool_timeout,
        connect_args=connect_args,
        **kwargs,
    )


class Database:
    """One engine and one session factory per app (or per CLI command, or per worker thread).

    ``timeouts`` (PostgreSQL) are set at the start of every transaction of its sessions; ``audit_key``
    (``MADOGUCHI_AUDIT_KEY``) is what every session of this database chains audit records with.
    """

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 5,
        timeouts: DatabaseTimeouts | None = None,
        audit_key: str = "",
        **engine_kwargs: Any,
    ) -> None:
        self.engine = make_engine(url, pool_size=pool_size, **engine_kwargs)
        self.session_factory = sessionmaker(bind=self.engine, expire_on_commit=False)
        self.timeouts = timeouts
        self.audit_key = audit_key

    @classmethod
    def for_web(cls, settings: Settings) -> Database:
        """The pool of a web process: short waits everywhere, so a sick database answers 503 quickly."""
        return cls(
            settings.effective_database_url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pool_timeout=settings.db_pool_timeout_seconds,
            connect_timeout=settings.db_connect_timeout_seconds,
            timeouts=DatabaseTimeouts(settings.db_statement_timeout_seconds, settings.db_lock_timeout_seconds),
            audit_key=settings.audit_key,
            pool_pre_ping=False,  # recover on error instead (``begin``, decision 0025)
        )

    @classmethod
    def for_jobs(cls, settings: Settings, *, url: str | None = None, pool_size: int = 2) -> Database:
        """The database of a command or the outbox worker: longer limits for imports, exports and batches (and the
        pool's pre-ping, which costs little for what checks out rarely, decision 0025)."""
        return cls(
            url or settings.effective_database_url,
            pool_size=pool_size,
            connect_timeout=settings.db_connect_timeout_seconds,
            timeouts=DatabaseTimeouts(settings.db_job_statement_timeout_seconds, settings.db_job_lock_timeout_seconds),
            audit_key=settings.audit_key,
        )

    def new_session(self, tenant_id: uuid.UUID | None = None, *, all_tenants: bool = False) -> Session:
        session = _session_in_external_transaction(self.engine) or self.session_factory()
        session.info[_TENANT_KEY] = tenant_id
        session.info[_ALL_TENANTS_KEY] = all_tenants
        session.info[AUDIT_KEY_INFO] = self.audit_key
        if self.timeouts is not None:
            session.info[_TIMEOUTS_KEY] = self.timeouts
        return session

    @staticmethod
    def begin(session: Session) -> None:
        """Begin ``session``'s transaction now, on a live connection.

        Without a pre-ping, a pooled connection may have died since it was last used (the database restarted, or
        dropped it). Its first statement (``after_begin``'s ``set_config``) then fails as a disconnect, which
        invalidates the pool; nothing of the transaction has been sent, so it is begun once more, on a fresh
        connection. A database still down fails the second time, and the caller answers 503.
        """
        try:
            session.connection()
        except sa.exc.DBAPIError as error:
            if not error.connection_invalidated:
                raise
            session.rollback()
            session.connection()

    @contextmanager
    def transaction(self, tenant_id: uuid.UUID | None = None, *, all_tenants: bool = False) -> Iterator[Session]:
        """A session whose work is committed at the end of the block, or rolled back if it raises."""
        session = self.new_session(tenant_id, all_tenants=all_tenants)
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()


class ExternalTransaction:
    """Tests only (docs/decisions/0022-test-isolation.md): one connection whose open transaction every new
    session of a ``Database`` on the same URL joins through a SAVEPOINT, so a whole test rolls back at its end.

    ``None`` outside such a test: every session then checks a connection out of its own engine's pool.
    """

    connection: sa.Connection | None = None
    thread: int | None = None


@contextmanager
def sessions_joined_to(connection: sa.Connection) -> Iterator[None]:
    """While open, sessions join ``connection``'s transaction (it must have begun one); see ``ExternalTransaction``."""
    ExternalTransaction.connection, ExternalTransaction.thread = connection, threading.get_ident()
    try:
        yield
    finally:
        ExternalTransaction.connection = ExternalTransaction.thread = None


def _session_in_external_transaction(engine: Engine) -> Session | None:
    connection = ExternalTransaction.connection
    if connection is None or connection.engine.url != engine.url:
        return None
    if threading.get_ident() != ExternalTransaction.thread:
        # One connection can't serve two threads; a test that needs them needs real commits.
        raise RuntimeError("a session opened in another thread of a test that runs in one transaction: mark it commits")
    # Each session's commit releases its SAVEPOINT and its rollback returns to it; after_begin still binds the
    # session's own tenant (set_config(..., true) lasts until the outer transaction ends, so every session sets it).
    return Session(bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint")


@event.listens_for(Session, "after_begin")
def _session_after_begin(session: Session, transaction: Any, connection: sa.Connection) -> None:
    _after_begin(session, transaction, connection)


@event.listens_for(Session, "after_transaction_end")
def _session_after_transaction_end(session: Session, transaction: Any) -> None:
    if transaction.parent is None:  # the session's own transaction ended: the next one sets the tenant again
        session.info.pop(_TRANSACTION_TENANT_KEY, None)


@event.listens_for(Session, "do_orm_execute")
def _session_do_orm_execute(state: ORMExecuteState) -> None:
    _add_tenant_criteria(state)


@event.listens_for(Session, "before_flush")
def _session_before_flush(session: Session, flush_context: Any, instances: Any) -> None:
    _check_tenant_on_flush(session, flush_context, instances)


def new_id() -> uuid.UUID:
    return uuid.uuid4()
