"""Migration 0022 moves every application's settings snapshot into ``settings_snapshots`` and back (decision 0027).

Each test starts from an empty database migrated to 0020, writes applications the way 0020 stored them (the
snapshot in the row, as JSON text), upgrades, reads them back through the app, and downgrades: on SQLite and on
PostgreSQL, where the rows are read as the app role under row-level security.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command

from madoguchi import migrate
from madoguchi.applications import snapshots
from madoguchi.applications.models import Application, SettingsSnapshot
from madoguchi.catalog.models import ServiceVersion
from madoguchi.config import Settings
from madoguchi.db import Database
from madoguchi.tenancy.models import Tenant
from tests.support.schema import schema_differences

# SQLite's reflection cannot read the queue's expression indexes (decision 0024); these tests reflect columns.
pytestmark = pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")

WRITTEN = {
    "version": "1.0.0",
    "fee": 300,
    "title": {"ja": "住民票の写し", "en": "Residence certificate"},
    "form": {"properties": {"purpose": {"type": "string"}, "copies": {"type": "integer"}}},
    "workflow": {"initial": "draft", "states": [{"name": "draft"}], "transitions": []},
}
#: The same settings with the keys in another order (as JSONB stored them before migration 0019): another form.
SORTED = json.loads(json.dumps(WRITTEN, sort_keys=True))
FEE_CHANGED = {**WRITTEN, "fee": 400}


@dataclass
class Fresh:
    settings: Settings
    owner_url: str
    app_url: str


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh(request: pytest.FixtureRequest, tmp_path: Path) -> Fresh:
    """An empty database of its own, migrated to 0020 (the revision before this one)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'madoguchi.db'}"
        found = Fresh(Settings(database_url=url, data_dir=tmp_path), url, url)
    else:
        server = request.getfixturevalue("postgres_server")
        owner_url, app_url = server.create_database(f"snapshots_{uuid.uuid4().hex[:12]}")
        found = Fresh(Settings(database_url=app_url, migration_database_url=owner_url), owner_url, app_url)
    migrate.upgrade(found.settings, "0020")
    return found


def _owner(fresh: Fresh) -> Iterator[sa.Connection]:
    engine = sa.create_engine(fresh.owner_url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as connection:
            yield connection
    finally:
        engine.dispose()


def _as_tenant(connection: sa.Connection, tenant_id: uuid.UUID) -> None:
    if connection.dialect.name == "postgresql":  # row-level security is forced on the owner too
        connection.execute(sa.text("select set_config('app.tenant_id', :t, true)"), {"t": str(tenant_id)})


def _file_old_style(fresh: Fresh) -> dict[uuid.UUID, tuple[uuid.UUID, Any]]:
    """Two tenants' applications as 0020 stored them; returns application id -> (tenant id, snapshot)."""
    now = datetime.now(UTC)
    filed: dict[uuid.UUID, tuple[uuid.UUID, Any]] = {}
    for connection in _owner(fresh):
        tenants, versions = Tenant.__table__, ServiceVersion.__table__
        applications = sa.table("applications", *(sa.column(c.name, c.type) for c in _OLD_APPLICATION_COLUMNS))
        version_id = uuid.uuid4()
        connection.execute(
            versions.insert().values(
                id=version_id, key="residency-certificate", version="1.0.0", definition={}, form_schema={},
                content_sha256="0" * 64, published_at=now,
            )
        )  # fmt: skip
        # Tenant A files the same settings four times (once written with other spacing), the sorted copy and a
        # changed fee once each; tenant B the same settings as A once.
        plan = {"a": [WRITTEN, WRITTEN, WRITTEN, "spaced", SORTED, FEE_CHANGED], "b": [WRITTEN]}
        for number, (slug, snapshots_filed) in enumerate(plan.items()):
            tenant_id = uuid.uuid4()
            connection.execute(
                tenants.insert().values(
                    id=tenant_id, slug=f"town-{slug}", name_ja=slug, name_en=slug,
                    local_government_code=f"99999{number}", prefecture_code="13", status="live",
                    default_locale="ja", profile={}, created_at=now, updated_at=now,
                )
            )  # fmt: skip
            _as_tenant(connection, tenant_id)
            for index, snapshot in enumerate(snapshots_filed):
                application_id = uuid.uuid4()
                text = json.dumps(WRITTEN, indent=1) if snapshot == "spaced" else json.dumps(snapshot)
                connection.execute(
                    applications.insert().values(
                        id=application_id, tenant_id=tenant_id, reference=f"RC-{slug}-{index}",
                        service_key="residency-certificate", service_version_id=version_id, state="draft",
                        channel="online", data={}, prefill_sources={}, decision={},
                        settings_snapshot=sa.cast(sa.literal(text), sa.JSON())
                        if connection.dialect.name == "postgresql" else sa.literal(text),
                        created_at=now, updated_at=now, lock_version=1,
                    )
                )  # fmt: skip
                filed[application_id] = (tenant_id, WRITTEN if snapshot == "spaced" else snapshot)
    return filed


#: The columns of ``applications`` these tests write at 0020: the model's, and the snapshot as it was (JSON text).
_OLD_APPLICATION_COLUMNS = [
    *(c for c in Application.__table__.c if c.name != "settings_snapshot_hash"),
    sa.Column("settings_snapshot", sa.Text()),
]


def _alembic(fresh: Fresh, action: str, revision: str) -> None:
    config = migrate.alembic_config(fresh.settings.effective_migration_url, app_db_role=fresh.settings.app_db_role)
    getattr(command, action)(config, revision)


def test_the_upgrade_stores_each_distinct_snapshot_once_per_tenant_and_the_app_reads_them(fresh: Fresh) -> None:
    filed = _file_old_style(fresh)
    migrate.upgrade(fresh.settings)

    for connection in _owner(fresh):
        columns = {c["name"] for c in sa.inspect(connection).get_columns("applications")}
        assert "settings_snapshot" not in columns and "settings_snapshot_hash" in columns
    db = Database(fresh.app_url)
    try:
        by_tenant: dict[uuid.UUID, set[str]] = {}
        for application_id, (tenant_id, snapshot) in filed.items():
            by_tenant.setdefault(tenant_id, set()).add(snapshots.snapshot_hash(snapshot))
            snapshots.cache.clear()  # read from the table, not from what an earlier loop cached
            with db.transaction(tenant_id) as session:
                application = session.get(Application, application_id)
                assert application is not None
                assert application.settings_snapshot_hash == snapshots.snapshot_hash(snapshot)
                assert application.settings_snapshot == snapshot
                assert list(application.settings_snapshot["form"]["properties"]) == list(snapshot["form"]["properties"])
                assert list(application.settings_snapshot) == list(snapshot)  # written order, not sorted
                assert application.workflow.initial == "draft"
        for tenant_id, hashes in by_tenant.items():
            with db.transaction(tenant_id) as session:
                stored = set(session.execute(sa.select(SettingsSnapshot.hash)).scalars())
            assert stored == hashes
        # A: the settings as written (three rows, one spaced otherwise), the sorted copy, the changed fee; B: one.
        assert sorted(len(hashes) for hashes in by_tenant.values()) == [1, 3]
    finally:
        db.dispose()
        snapshots.cache.clear()


def test_the_downgrade_puts_each_snapshot_back_into_its_application(fresh: Fresh) -> None:
    filed = _file_old_style(fresh)
    migrate.upgrade(fresh.settings)
    _alembic(fresh, "downgrade", "0020")

    for connection in _owner(fresh):
        assert "settings_snapshots" not in sa.inspect(connection).get_table_names()
        applications = sa.table(
            "applications",
            sa.column("id", sa.Uuid()),
            sa.column("tenant_id", sa.Uuid()),
            sa.column("settings_snapshot"),
        )
        for tenant_id in {tenant for tenant, _ in filed.values()}:
            _as_tenant(connection, tenant_id)
            rows = connection.execute(
                sa.select(applications.c.id, sa.cast(applications.c.settings_snapshot, sa.Text)).where(
                    applications.c.tenant_id == tenant_id
                )
            ).all()
            assert {row.id for row in rows} == {a for a, (t, _) in filed.items() if t == tenant_id}
            for application_id, text in rows:
                restored = json.loads(text)
                assert restored == filed[application_id][1]
                assert list(restored) == list(filed[application_id][1])
    # And up again: the same rows move once more.
    migrate.upgrade(fresh.settings)


@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based index")
def test_the_migrated_snapshot_table_and_column_match_the_model(backend) -> None:
    diffs = [d for d in schema_differences(backend.owner_url, compare_type=True) if "settings_snapshot" in repr(d)]
    if backend.is_postgres:
        assert diffs == []
    else:
        # SQLite cannot add a NOT NULL column or a foreign key to an existing table (migration 0022's docstring).
        assert sorted(type(d).__name__ if not isinstance(d, tuple) else d[0] for d in _flat(diffs)) == [
            "add_fk",
            "modify_nullable",
        ]


def _flat(diffs: list[Any]) -> list[Any]:
    return [item for d in diffs for item in (d if isinstance(d, list) else [d])]
