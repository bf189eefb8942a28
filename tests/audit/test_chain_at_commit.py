"""Audit records are chained when their transaction commits (decision 0026): the head is not held for a request.

Committed records are all in the chain, in commit order, without gaps, also under concurrency; records of a
transaction or savepoint that rolls back vanish; a long transaction of a tenant does not hold up another.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from madoguchi.audit import operations as audit
from madoguchi.audit.models import AuditChainHead, AuditRecord
from madoguchi.config import Settings
from madoguchi.db import CrossTenantWrite, Database, DatabaseTimeouts, TenantNotBound, bind_tenant, bound_tenant
from tests.factories import tenants


def _record(session: Session, tenant_id: uuid.UUID, name: str) -> AuditRecord:
    return audit.record(
        session, tenant_id, actor="test", action="thing.done", object_type="thing", object_id=name, data={"n": name}
    )


def _names(db: Database, tenant_id: uuid.UUID, since_seq: int) -> list[str]:
    """The object ids of the tenant's records after ``since_seq``, in chain order."""
    with db.transaction(tenant_id) as session:
        stmt = (
            select(AuditRecord.object_id)
            .where(AuditRecord.tenant_id == tenant_id, AuditRecord.seq > since_seq)
            .order_by(AuditRecord.seq)
        )
        return list(session.execute(stmt).scalars())


def _head_seq(db: Database, tenant_id: uuid.UUID) -> int:
    with db.transaction(tenant_id) as session:
        return session.execute(select(AuditChainHead.last_seq)).scalar_one()


def _intact_length(db: Database, tenant_id: uuid.UUID) -> int:
    with db.transaction(tenant_id) as session:
        report = audit.verify(session, tenant_id)
    assert report.intact, report.problem
    return report.records_checked


class _Rollback(Exception):
    pass


def test_a_record_is_written_and_linked_only_when_its_transaction_commits(db: Database, seeded) -> None:
    tenant = tenants(db)[0]
    before = _head_seq(db, tenant.id)
    with db.transaction(tenant.id) as session:
        entry = _record(session, tenant.id, "one")
        assert entry.seq is None and entry.hash is None  # queued, not chained yet
        count = select(func.count()).select_from(AuditRecord).where(AuditRecord.object_id == "one")
        assert session.execute(count).scalar_one() == 0
    assert (entry.seq, entry.prev_hash is not None, entry.hash is not None) == (before + 1, True, True)
    assert _names(db, tenant.id, before) == ["one"]
    assert _intact_length(db, tenant.id) == before + 1


def test_records_of_a_rolled_back_transaction_vanish_and_leave_no_gap(db: Database, seeded) -> None:
    tenant = tenants(db)[0]
    before = _head_seq(db, tenant.id)
    with pytest.raises(_Rollback), db.transaction(tenant.id) as session:
        _record(session, tenant.id, "lost-1")
        _record(session, tenant.id, "lost-2")
        raise _Rollback
    with db.transaction(tenant.id) as session:
        _record(session, tenant.id, "kept-1")
        _record(session, tenant.id, "kept-2")
    assert _names(db, tenant.id, before) == ["kept-1", "kept-2"]
    assert _intact_length(db, tenant.id) == before + 2


def test_records_of_a_rolled_back_savepoint_vanish_and_those_around_it_stay_in_order(db: Database, seeded) -> None:
    tenant = tenants(db)[0]
    before = _head_seq(db, tenant.id)
    with db.transaction(tenant.id) as session:
        _record(session, tenant.id, "before")
        with pytest.raises(_Rollback), session.begin_nested():
            _record(session, tenant.id, "in-a-rolled-back-savepoint")
            with session.begin_nested():
                _record(session, tenant.id, "in-a-savepoint-inside-it")
            raise _Rollback
        with session.begin_nested():
            _record(session, tenant.id, "in-a-released-savepoint")
        _record(session, tenant.id, "after")
    assert _names(db, tenant.id, before) == ["before", "in-a-released-savepoint", "after"]
    assert _intact_length(db, tenant.id) == before + 3


def test_a_record_joins_its_own_tenants_chain_though_the_session_was_bound_to_another_since(
    db: Database, seeded
) -> None:
    tenant_a, tenant_b = tenants(db)[:2]
    before_a, before_b = _head_seq(db, tenant_a.id), _head_seq(db, tenant_b.id)
    with db.transaction(tenant_a.id) as session:
        _record(session, tenant_a.id, "of-a")
        bind_tenant(session, tenant_b.id)  # as the platform's commands do between tenants
        _record(session, tenant_b.id, "of-b")
        bind_tenant(session, None)
        session.commit()
        assert bound_tenant(session) is None  # the chaining bound the session to each tenant and then back
    assert _names(db, tenant_a.id, before_a) == ["of-a"]
    assert _names(db, tenant_b.id, before_b) == ["of-b"]
    assert _intact_length(db, tenant_a.id) == before_a + 1
    assert _intact_length(db, tenant_b.id) == before_b + 1


def test_a_record_for_another_tenant_than_the_sessions_is_refused_when_it_is_recorded(db: Database, seeded) -> None:
    tenant_a, tenant_b = tenants(db)[:2]
    before = _head_seq(db, tenant_b.id)
    with db.transaction(tenant_a.id) as session, pytest.raises(CrossTenantWrite):
        _record(session, tenant_b.id, "smuggled")
    with db.transaction(None) as session, pytest.raises(TenantNotBound):
        _record(session, tenant_b.id, "unbound")
    assert _names(db, tenant_b.id, before) == []


@dataclass
class _Writers:
    """Threads of one tenant, each committing (or rolling back) transactions of several records at once."""

    db: Database
    tenant_id: uuid.UUID
    threads: int = 6
    transactions: int = 6
    records: int = 3
    committed: list[list[str]] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)

    def run(self) -> None:
        start = threading.Barrier(self.threads)
        lock = threading.Lock()

        def write(thread: int) -> None:
            try:
                start.wait(timeout=30)
                for transaction in range(self.transactions):
                    names = [f"w{thread}-t{transaction}-r{n}" for n in range(self.records)]
                    rolls_back = transaction % 3 == 2
                    try:
                        with self.db.transaction(self.tenant_id) as session:
                            for name in names:
                                _record(session, self.tenant_id, name)
                                time.sleep(0.002)  # let the other threads' transactions interleave with this one
                            if rolls_back:
                                raise _Rollback
                    except _Rollback:
                        continue
                    with lock:
                        self.committed.append(names)
            except BaseException as error:
                self.errors.append(error)

        workers = [threading.Thread(target=write, args=(n,)) for n in range(self.threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=120)
        assert not any(worker.is_alive() for worker in workers), "writers still running after 120 s"


@pytest.mark.postgres_only
@pytest.mark.commits  # threads, each with its own connection
def test_concurrent_transactions_of_one_tenant_chain_every_committed_record_in_order_without_gaps(
    db: Database, seeded, settings: Settings
) -> None:
    tenant = tenants(db)[0]
    before = _head_seq(db, tenant.id)
    concurrent = Database(settings.effective_database_url, pool_size=8, audit_key=settings.audit_key)
    try:
        writers = _Writers(concurrent, tenant.id)
        writers.run()
    finally:
        concurrent.dispose()
    assert not writers.errors, writers.errors
    assert len(writers.committed) == writers.threads * 4  # two of each thread's six transactions rolled back
    expected = writers.threads * 4 * writers.records
    assert _intact_length(db, tenant.id) == before + expected
    names = _names(db, tenant.id, before)
    assert len(names) == expected and not any("-t2-" in name or "-t5-" in name for name in names)
    # A transaction's records are chained together, one after the other, in the order they were recorded.
    positions = {name: index for index, name in enumerate(names)}
    for transaction in writers.committed:
        first = positions[transaction[0]]
        assert [positions[name] for name in transaction] == list(range(first, first + writers.records))


@pytest.mark.postgres_only
@pytest.mark.commits  # two transactions of one tenant on two connections
def test_a_long_transaction_of_a_tenant_does_not_hold_up_another_one_committing_its_record(
    db: Database, seeded, settings: Settings
) -> None:
    tenant = tenants(db)[0]
    before = _head_seq(db, tenant.id)
    # With the head locked for the whole transaction (before decision 0026), B waited for A: a lock timeout says so.
    second = Database(
        settings.effective_database_url,
        pool_size=1,
        audit_key=settings.audit_key,
        timeouts=DatabaseTimeouts(lock_seconds=5),
    )
    recorded, release = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def long_transaction() -> None:
        try:
            with db.transaction(tenant.id) as session:
                _record(session, tenant.id, "a-long")
                recorded.set()
                assert release.wait(timeout=60), "never released"
        except BaseException as error:
            failures.append(error)
            recorded.set()

    slow = threading.Thread(target=long_transaction)
    slow.start()
    try:
        assert recorded.wait(timeout=30)
        started = time.monotonic()
        with second.transaction(tenant.id) as session:
            _record(session, tenant.id, "b-quick")
        elapsed = time.monotonic() - started
    finally:
        release.set()
        slow.join(timeout=60)
        second.dispose()
    assert not failures, failures
    assert elapsed < 2, f"the second transaction took {elapsed:.1f} s"
    # The chain's order is the order of the commits: B's record first, though A recorded its own earlier.
    assert _names(db, tenant.id, before) == ["b-quick", "a-long"]
    assert _intact_length(db, tenant.id) == before + 2
