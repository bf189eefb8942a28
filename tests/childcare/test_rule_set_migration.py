"""Migration 0030 builds allocation_rule_sets as the model says, under row-level security, with no DELETE for the
app role (a published rule set is the record of the rules a round ran under), and goes down and up again."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command

from madoguchi import migrate
from madoguchi.config import Settings
from tests.support.schema import schema_differences, tables_of

TABLE = "allocation_rule_sets"


@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based index")
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
def test_the_table_matches_the_model(backend: Any) -> None:
    assert [d for d in schema_differences(backend.owner_url, compare_type=True) if TABLE in tables_of(d)] == []


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Settings, str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'madoguchi.db'}"
        return Settings(database_url=url, data_dir=tmp_path), url
    server = request.getfixturevalue("postgres_server")
    owner_url, app_url = server.create_database(f"rules_{uuid.uuid4().hex[:12]}")
    return Settings(database_url=app_url, migration_database_url=owner_url), owner_url


def test_down_and_up_again(fresh: tuple[Settings, str]) -> None:
    settings, owner_url = fresh
    migrate.upgrade(settings)
    config = migrate.alembic_config(settings.effective_migration_url, app_db_role=settings.app_db_role)
    command.downgrade(config, "0029")
    engine = sa.create_engine(owner_url, poolclass=sa.pool.NullPool)
    try:
        assert TABLE not in sa.inspect(engine).get_table_names()
        command.upgrade(config, "head")
        assert TABLE in sa.inspect(engine).get_table_names()
        if engine.dialect.name == "postgresql":
            with engine.connect() as connection:
                forced = connection.execute(
                    sa.text("select relrowsecurity and relforcerowsecurity from pg_class where relname = :t"),
                    {"t": TABLE},
                ).scalar_one()
                grants = set(
                    connection.execute(
                        sa.text(
                            "select privilege_type from information_schema.role_table_grants "
                            "where table_name = :t and grantee = :r"
                        ),
                        {"t": TABLE, "r": settings.app_db_role},
                    ).scalars()
                )
            assert forced is True
            assert grants == {"SELECT", "INSERT", "UPDATE"}
    finally:
        engine.dispose()
