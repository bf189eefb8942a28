"""Migration 0029 gives every application a relation and, where the applicant was the person, a person concerned
(decision 0036): on SQLite and on PostgreSQL, from rows as 0028 stored them; and its columns match the model."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command

from madoguchi import migrate
from madoguchi.applications.models import Application, SettingsSnapshot
from madoguchi.catalog.models import ServiceVersion
from madoguchi.config import Settings
from madoguchi.registry.models import Household, Person
from madoguchi.tenancy.models import Tenant
from tests.support.schema import schema_differences

# SQLite's reflection cannot read the queue's expression indexes (decision 0024); these tests reflect columns.
pytestmark = pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")

NEW_COLUMNS = (
    "subject_person_id",
    "relation",
    "evidence_review",
    "evidence_review_reason",
    "evidence_reviewed_at",
    "evidence_reviewed_by_account_id",
    "forced_delivery",
)


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Settings, str]:
    """An empty database of its own at 0028 (the revision before this one): its settings and owner URL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'madoguchi.db'}"
        settings, owner_url = Settings(database_url=url, data_dir=tmp_path), url
    else:
        server = request.getfixturevalue("postgres_server")
        owner_url, app_url = server.create_database(f"concerned_{uuid.uuid4().hex[:12]}")
        settings = Settings(database_url=app_url, migration_database_url=owner_url)
    migrate.upgrade(settings, "0028")
    return settings, owner_url


#: ``applications`` as 0028 had it: the model's columns less the ones 0029 adds.
_OLD_APPLICATIONS = sa.table(
    "applications", *(sa.column(c.name, c.type) for c in Application.__table__.c if c.name not in NEW_COLUMNS)
)


def _insert(connection: sa.Connection, table: Any, **values: Any) -> None:
    connection.execute(table.insert().values(**values))


def _file_old_style(connection: sa.Connection) -> dict[str, uuid.UUID]:
    """One tenant, a person, and applications as 0028 stored them: for oneself, as an agent, and a childcare one."""
    now, tenant_id, person_id, version_id = datetime.now(UTC), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    _insert(
        connection, Tenant.__table__, id=tenant_id, slug="town-x", name_ja="町", name_en="Town",
        local_government_code="999990", prefecture_code="13", status="live", default_locale="ja", profile={},
        created_at=now, updated_at=now,
    )  # fmt: skip
    if connection.dialect.name == "postgresql":  # row-level security is forced on the owner too
        connection.execute(sa.text("select set_config('app.tenant_id', :t, true)"), {"t": str(tenant_id)})
    household_id = uuid.uuid4()
    _insert(
        connection, Household.__table__, id=household_id, tenant_id=tenant_id, household_code="H1",
        postal_code="100-0001", prefecture="東京都", municipality="町", town="一丁目", block="1番",
    )  # fmt: skip
    _insert(
        connection, Person.__table__, id=person_id, tenant_id=tenant_id, household_id=household_id,
        resident_code="00000000001", family_name="𠮷田", given_name="花子", family_name_kana="ヨシダ",
        given_name_kana="ハナコ", birth_date=date(1990, 1, 2), sex="female", relation_to_head="世帯主",
        became_resident_on=date(2015, 4, 1), address_set_on=date(2015, 4, 1), updated_at=now,
    )  # fmt: skip
    _insert(
        connection, ServiceVersion.__table__, id=version_id, key="residency-certificate", version="1.0.0",
        definition={}, form_schema={}, content_sha256="0" * 64, published_at=now,
    )  # fmt: skip
    _insert(connection, SettingsSnapshot.__table__, tenant_id=tenant_id, hash="0" * 64, content={}, created_at=now)
    filed = {}
    for name, data in (
        ("self", {"requester": {"relationship": "self"}}),
        ("agent", {"requester": {"relationship": "agent", "agent": {"name": "代理"}}}),
        ("childcare", {"child": {"name": "陽葵"}}),
    ):
        filed[name] = uuid.uuid4()
        _insert(
            connection, _OLD_APPLICATIONS, id=filed[name], tenant_id=tenant_id, reference=f"RC-{name}",
            service_key="residency-certificate", service_version_id=version_id, state="submitted", channel="online",
            applicant_person_id=person_id, data=data, prefill_sources={}, decision={},
            settings_snapshot_hash="0" * 64, created_at=now, updated_at=now, lock_version=1,
        )  # fmt: skip
    filed["person"] = person_id
    filed["tenant"] = tenant_id
    return filed


def test_the_upgrade_keeps_the_applicant_as_the_person_only_where_they_filed_for_themselves(fresh) -> None:
    settings, owner_url = fresh
    engine = sa.create_engine(owner_url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as connection:
            filed = _file_old_style(connection)
        migrate.upgrade(settings)
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(sa.text("select set_config('app.tenant_id', :t, true)"), {"t": str(filed["tenant"])})
            rows = {
                row.reference: (row.relation, row.subject_person_id)
                for row in connection.execute(
                    sa.text("select reference, relation, subject_person_id from applications")
                )
            }
    finally:
        engine.dispose()

    def ids(value: Any) -> Any:
        return uuid.UUID(str(value)) if value is not None else None

    assert {k: (relation, ids(subject)) for k, (relation, subject) in rows.items()} == {
        "RC-self": ("self", filed["person"]),
        # Filed as an agent on the agent's own entry: no person concerned until a clerk links one.
        "RC-agent": ("agent", None),
        "RC-childcare": (None, filed["person"]),
    }
    # And down and up again: the columns go, and come back filled the same way.
    config = migrate.alembic_config(settings.effective_migration_url, app_db_role=settings.app_db_role)
    command.downgrade(config, "0028")
    command.upgrade(config, "head")


@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based index")
def test_the_new_columns_match_the_model(backend) -> None:
    diffs = [d for d in schema_differences(backend.owner_url, compare_type=True) if _touches_new_columns(d)]
    if backend.is_postgres:
        assert diffs == []
    else:  # SQLite cannot add a foreign key to an existing table (migration 0029's docstring)
        assert [type(d).__name__ if not isinstance(d, tuple) else d[0] for d in diffs] == ["add_fk"]


def _touches_new_columns(diff: Any) -> bool:
    text = repr(diff)
    return any(name in text for name in NEW_COLUMNS)
