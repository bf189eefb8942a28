"""Settings snapshots are tenant-owned and append-only (decision 0027): another municipality's snapshot is not there
for a tenant, neither to row-level security as the app role nor to the ORM layer and its process cache, and
nobody but the owner changes or deletes one."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy import select, text

from madoguchi.applications import repository, snapshots
from madoguchi.applications.models import Application, SettingsSnapshot, SnapshotNotLoaded
from madoguchi.db import CrossTenantWrite, Database
from madoguchi.tenancy.models import Tenant
from tests.factories import tenants

CONTENT = {"version": "9.9.9", "fee": 1234, "workflow": {"initial": "draft", "states": [], "transitions": []}}
#: Raw SQL: only row-level security (not the ORM's criteria) decides what it sees.
COUNT_BY_HASH = text("select count(*) from settings_snapshots where hash = :hash")


def _stored_by_a(db: Database) -> tuple[Tenant, Tenant, str]:
    tenant_a, tenant_b = tenants(db)[:2]
    with db.transaction(tenant_a.id) as session:
        digest = repository.store_snapshot(session, tenant_a.id, CONTENT)
    return tenant_a, tenant_b, digest


@pytest.mark.postgres_only
def test_row_level_security_hides_a_snapshot_from_another_tenant_as_the_app_role(db: Database, seeded: None) -> None:
    tenant_a, tenant_b, digest = _stored_by_a(db)
    with db.transaction(tenant_a.id) as session:
        assert session.execute(COUNT_BY_HASH, {"hash": digest}).scalar_one() == 1
    with db.transaction(tenant_b.id) as session:
        assert session.execute(COUNT_BY_HASH, {"hash": digest}).scalar_one() == 0
    with db.transaction() as session:
        assert session.execute(COUNT_BY_HASH, {"hash": digest}).scalar_one() == 0


@pytest.mark.postgres_only
def test_the_app_role_may_not_write_a_snapshot_row_of_another_tenant(db: Database, seeded: None) -> None:
    tenant_a, tenant_b, _digest = _stored_by_a(db)
    with pytest.raises(sa.exc.ProgrammingError, match="row-level security"), db.transaction(tenant_b.id) as session:
        session.execute(
            text("insert into settings_snapshots (tenant_id, hash, content, created_at) values (:t, :h, '{}', now())"),
            {"t": tenant_a.id, "h": "f" * 64},
        )


@pytest.mark.postgres_only
@pytest.mark.parametrize(
    "statement",
    [
        "update settings_snapshots set content = '{}' where hash = :hash",
        "delete from settings_snapshots where hash = :hash",
    ],
)
def test_the_app_role_may_neither_change_nor_delete_a_snapshot(db: Database, seeded: None, statement: str) -> None:
    tenant_a, _tenant_b, digest = _stored_by_a(db)
    with pytest.raises(sa.exc.ProgrammingError, match="permission denied"), db.transaction(tenant_a.id) as session:
        session.execute(text(statement), {"hash": digest})


def test_the_orm_layer_shows_no_snapshot_of_another_tenant(db: Database, seeded: None) -> None:
    _tenant_a, tenant_b, digest = _stored_by_a(db)
    with db.transaction(tenant_b.id) as session:
        assert session.execute(select(SettingsSnapshot).where(SettingsSnapshot.hash == digest)).first() is None


def test_a_session_of_one_tenant_refuses_to_store_a_snapshot_of_another(db: Database, seeded: None) -> None:
    tenant_a, tenant_b = tenants(db)[:2]
    with pytest.raises(CrossTenantWrite), db.transaction(tenant_b.id) as session:
        repository.store_snapshot(session, tenant_a.id, CONTENT)


def test_the_process_cache_does_not_serve_a_session_of_another_tenant(db: Database, seeded: None) -> None:
    tenant_a, tenant_b, digest = _stored_by_a(db)
    assert snapshots.cache.get((tenant_a.id, digest)) is not None  # storing it cached it
    with db.transaction(tenant_b.id) as session:
        # An application of A in B's session (as if a bug had put it there): B's session reads the table under its
        # own tenant, where the snapshot does not exist, instead of taking it from the cache.
        foreign = Application(id=uuid.uuid4(), tenant_id=tenant_a.id, settings_snapshot_hash=digest)
        session.add(foreign)
        with pytest.raises(SnapshotNotLoaded):
            _ = foreign.settings_snapshot
        session.expunge(foreign)
    with db.transaction(tenant_a.id) as session:
        mine = Application(id=uuid.uuid4(), tenant_id=tenant_a.id, settings_snapshot_hash=digest)
        session.add(mine)
        assert mine.settings_snapshot["fee"] == 1234
        session.expunge(mine)
