"""The per-tenant hash chain: appends link up, and any edit or deletion is found by `audit verify`."""

from __future__ import annotations

import sqlalchemy as sa
from click.testing import CliRunner

from madoguchi.audit import operations as audit
from madoguchi.cli import main
from madoguchi.db import Database
from tests.conftest import Backend
from tests.factories import tenants


def _append(db: Database, tenant, n: int) -> None:  # type: ignore[no-untyped-def]
    with db.transaction(tenant.id) as session:
        for i in range(n):
            audit.record(
                session,
                tenant.id,
                actor="test",
                action="thing.done",
                object_type="thing",
                object_id=str(i),
                data={"i": i, "name": "髙橋"},
            )


def _owner_execute(backend: Backend, sql: str) -> None:
    """Tamper as the database owner would (the app role may not update or delete audit rows)."""
    engine = sa.create_engine(backend.owner_url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        if backend.is_postgres:
            # FORCE row-level security holds the owner too; a superuser-free tamper must switch it off first.
            conn.exec_driver_sql("ALTER TABLE audit_records NO FORCE ROW LEVEL SECURITY")
            conn.exec_driver_sql("ALTER TABLE audit_records DISABLE ROW LEVEL SECURITY")
        conn.exec_driver_sql(sql)
        if backend.is_postgres:
            conn.exec_driver_sql("ALTER TABLE audit_records ENABLE ROW LEVEL SECURITY")
            conn.exec_driver_sql("ALTER TABLE audit_records FORCE ROW LEVEL SECURITY")
    engine.dispose()


def test_chain_of_untouched_records_verifies(db: Database, seeded, runner: CliRunner) -> None:  # type: ignore[no-untyped-def]
    tenant = tenants(db)[0]
    _append(db, tenant, 5)
    result = runner.invoke(main, ["audit", "verify", "--tenant", tenant.slug])
    assert result.exit_code == 0, result.output
    assert "intact" in result.output


def test_edited_record_is_reported_as_the_first_bad_link(db: Database, seeded, runner, backend) -> None:  # type: ignore[no-untyped-def]
    tenant = tenants(db)[0]
    _append(db, tenant, 5)
    with db.transaction(tenant.id) as session:
        target = session.execute(
            sa.text("select seq from audit_records where object_id = '2' and action = 'thing.done'")
        ).scalar_one()
    _owner_execute(backend, f"update audit_records set actor = 'mallory' where seq = {target}")
    result = runner.invoke(main, ["audit", "verify", "--tenant", tenant.slug])
    assert result.exit_code == 1
    assert f"broken at record {target}" in result.output
    assert "modified" in result.output


def test_deleted_record_in_the_middle_is_reported(db: Database, seeded, runner, backend) -> None:  # type: ignore[no-untyped-def]
    tenant = tenants(db)[0]
    _append(db, tenant, 5)
    with db.transaction(tenant.id) as session:
        target = session.execute(sa.text("select max(seq) - 2 from audit_records")).scalar_one()
    _owner_execute(backend, f"delete from audit_records where seq = {target}")
    result = runner.invoke(main, ["audit", "verify", "--tenant", tenant.slug])
    assert result.exit_code == 1
    assert f"record {target} is missing" in result.output


def test_deleted_newest_record_is_reported(db: Database, seeded, runner, backend) -> None:  # type: ignore[no-untyped-def]
    tenant = tenants(db)[0]
    _append(db, tenant, 3)
    with db.transaction(tenant.id) as session:
        last = session.execute(sa.text("select max(seq) from audit_records")).scalar_one()
    _owner_execute(backend, f"delete from audit_records where seq = {last}")
    result = runner.invoke(main, ["audit", "verify", "--tenant", tenant.slug])
    assert result.exit_code == 1
    assert "chain ends at record" in result.output


def test_chains_are_per_tenant(db: Database, seeded) -> None:  # type: ignore[no-untyped-def]
    tenant_a, tenant_b = tenants(db)[:2]
    _append(db, tenant_a, 3)
    with db.transaction(tenant_b.id) as session:
        before = audit.verify(session, tenant_b.id).records_checked
    _append(db, tenant_b, 1)
    with db.transaction(tenant_b.id) as session:
        report = audit.verify(session, tenant_b.id)
    assert report.intact and report.records_checked == before + 1


def test_verify_of_unknown_tenant_is_a_usage_error(runner, seeded) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(main, ["audit", "verify", "--tenant", "atlantis"])
    assert result.exit_code == 2
    assert "unknown tenant 'atlantis'" in result.output
