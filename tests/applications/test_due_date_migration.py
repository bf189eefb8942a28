"""Migration 0027 (decision 0034): applications already waiting for 補正 are paused on the day of the upgrade with
the working days left until their due date; others keep theirs; the downgrade gives the paused ones a due date back.
On SQLite and on PostgreSQL (as the owner, under row-level security)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command

from madoguchi import jp, migrate
from madoguchi.applications.models import Application, SettingsSnapshot
from madoguchi.catalog.models import ServiceVersion
from madoguchi.config import Settings
from madoguchi.tenancy.models import Tenant
from tests.support.schema import schema_differences

pytestmark = pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")

#: The day of the upgrade: Friday 2027-01-08 in Japan.
UPGRADE_DAY = datetime(2027, 1, 8, 10, 0, tzinfo=jp.JAPAN)


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """An empty database of its own, migrated to 0023 (the revision before this one)."""
    monkeypatch.setattr(jp, "now", lambda: UPGRADE_DAY)
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'madoguchi.db'}"
        settings = Settings(database_url=url, data_dir=tmp_path)
    else:
        server = request.getfixturevalue("postgres_server")
        owner_url, app_url = server.create_database(f"due_{uuid.uuid4().hex[:12]}")
        settings = Settings(database_url=app_url, migration_database_url=owner_url)
    migrate.upgrade(settings, "0023")
    return settings


def _owner(settings: Settings, tenant_id: uuid.UUID) -> Iterator[sa.Connection]:
    engine = sa.create_engine(settings.effective_migration_url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":  # row-level security is forced on the owner too
                connection.execute(sa.text("select set_config('app.tenant_id', :t, true)"), {"t": str(tenant_id)})
            yield connection
    finally:
        engine.dispose()


#: The columns of ``applications`` at 0023 these tests write, typed as the model types them.
_APPLICATIONS = sa.table(
    "applications",
    *(
        sa.column(c.name, c.type)
        for c in Application.__table__.c
        if c.name not in ("sla_remaining_days", "sla_paused_on", "submitted_at", "decided_at")
    ),
)


def _file(settings: Settings) -> tuple[uuid.UUID, dict[str, uuid.UUID]]:
    """A tenant with an application waiting for 補正, one in review and one waiting for 補正 past its due date."""
    now = datetime.now(UTC)
    tenant_id, version_id = uuid.uuid4(), uuid.uuid4()
    ids = {"waiting": uuid.uuid4(), "in_review": uuid.uuid4(), "late": uuid.uuid4()}
    for connection in _owner(settings, tenant_id):
        connection.execute(
            ServiceVersion.__table__.insert().values(
                id=version_id, key="residency-certificate", version="1.0.0", definition={}, form_schema={},
                content_sha256="0" * 64, published_at=now,
            )
        )  # fmt: skip
        connection.execute(
            Tenant.__table__.insert().values(
                id=tenant_id, slug="town", name_ja="町", name_en="Town", local_government_code="999990",
                prefecture_code="13", status="live", default_locale="ja", profile={}, created_at=now, updated_at=now,
            )
        )  # fmt: skip
        connection.execute(
            SettingsSnapshot.__table__.insert().values(tenant_id=tenant_id, hash="1" * 64, content={}, created_at=now)
        )
        due = {"waiting": date(2027, 1, 14), "in_review": date(2027, 1, 14), "late": date(2027, 1, 6)}
        for name, application_id in ids.items():
            connection.execute(
                _APPLICATIONS.insert().values(
                    id=application_id, tenant_id=tenant_id, reference=f"RC-{name}", service_key="residency-certificate",
                    service_version_id=version_id, state="in_review" if name == "in_review" else "more_info_requested",
                    channel="online", data={}, prefill_sources={}, decision={}, settings_snapshot_hash="1" * 64,
                    created_at=now, updated_at=now, due_on=due[name], lock_version=1, assignee_account_id=None,
                    applicant_account_id=None, applicant_person_id=None, filed_by_client_id=None,
                )
            )  # fmt: skip
    return tenant_id, ids


def _rows(settings: Settings, tenant_id: uuid.UUID, columns: tuple[str, ...]) -> dict[str, tuple[Any, ...]]:
    table = sa.table("applications", *(sa.column(c) for c in ("reference", *columns)))
    for connection in _owner(settings, tenant_id):
        rows = connection.execute(sa.select(table.c.reference, *(table.c[c] for c in columns))).all()
    return {reference.removeprefix("RC-"): tuple(_as_date(v) for v in values) for reference, *values in rows}


def _as_date(value: Any) -> Any:
    return date.fromisoformat(value) if isinstance(value, str) else value


def test_the_upgrade_pauses_the_applications_waiting_for_more_information_and_the_downgrade_restores_a_due_date(
    fresh: Settings,
) -> None:
    tenant_id, _ids = _file(fresh)
    migrate.upgrade(fresh, "0027")
    columns = ("due_on", "sla_remaining_days", "sla_paused_on")
    # Left after Friday 1/8 up to Thursday 1/14: 1/12 (1/11 is 成人の日), 1/13, 1/14.
    assert _rows(fresh, tenant_id, columns) == {
        "waiting": (None, 3, date(2027, 1, 8)),
        "in_review": (date(2027, 1, 14), None, None),
        "late": (None, 0, date(2027, 1, 8)),
    }
    config = migrate.alembic_config(fresh.effective_migration_url, app_db_role=fresh.app_db_role)
    command.downgrade(config, "0023")
    assert _rows(fresh, tenant_id, ("due_on",)) == {
        "waiting": (date(2027, 1, 14),),
        "in_review": (date(2027, 1, 14),),
        "late": (date(2027, 1, 8),),  # due on the day it was paused: lateness is not carried
    }


@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based index")
def test_the_migrated_closed_days_table_and_pause_columns_match_the_model(backend) -> None:
    touched = ("tenant_closed_days", "sla_remaining_days", "sla_paused_on")
    diffs = schema_differences(backend.owner_url, compare_type=True)
    assert [d for d in diffs if any(name in repr(d) for name in touched)] == []
