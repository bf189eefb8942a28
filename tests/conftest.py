"""Shared fixtures: an app on SQLite *and* on PostgreSQL, seeded tenants, a CLI runner, factories.

Every test that asks for ``backend`` (directly or through ``app``/``db``) runs twice: on a fresh SQLite
file and on a real PostgreSQL server started for the test session (tests/support/postgres.py), where the
app connects as the non-owner role that row-level security applies to. Without PostgreSQL binaries the
PostgreSQL half is skipped — unless MADOGUCHI_REQUIRE_POSTGRES=1 (as in CI), which makes it fail.

Isolation between tests: SQLite gets a copy of a migrated template file; PostgreSQL is migrated once and
truncated before each test. Both commit for real, which the concurrency and isolation tests rely on.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from madoguchi import create_app, migrate
from madoguchi.audit.keys import generate_key
from madoguchi.config import Settings
from madoguchi.crypto import Sealer
from madoguchi.db import Base, Database
from tests.support.postgres import ThrowawayPostgres

REPO = Path(__file__).resolve().parents[1]
DATA_KEY = Sealer.generate_key()
AUDIT_KEY = generate_key("test-1")


@dataclass
class Backend:
    name: str
    app_url: str
    owner_url: str

    @property
    def is_postgres(self) -> bool:
        return self.name == "postgresql"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[ThrowawayPostgres]:
    reason = ThrowawayPostgres.unavailable_reason()
    if reason:
        if os.environ.get("MADOGUCHI_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required (MADOGUCHI_REQUIRE_POSTGRES=1) but unavailable: {reason}")
        pytest.skip(f"PostgreSQL unavailable: {reason}")
    with ThrowawayPostgres() as server:
        yield server


@pytest.fixture(scope="session")
def postgres_database(postgres_server: ThrowawayPostgres, worker_id: str) -> Backend:
    """One migrated database per xdist worker."""
    owner_url, app_url = postgres_server.create_database(f"test_{worker_id}")
    migrate.upgrade(Settings(database_url=app_url, migration_database_url=owner_url))
    return Backend("postgresql", app_url, owner_url)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    migrate.upgrade(Settings(database_url=f"sqlite:///{path}", data_dir=path.parent))
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


def _truncate_all(owner_url: str) -> None:
    engine = sa.create_engine(owner_url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        existing = set(sa.inspect(conn).get_table_names()) - {"alembic_version"}
        tables = ", ".join(t.name for t in Base.metadata.sorted_tables if t.name in existing)
        conn.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    engine.dispose()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run every database test on both backends, or only on PostgreSQL when marked ``postgres_only``."""
    if "backend" in metafunc.fixturenames:
        only_postgres = metafunc.definition.get_closest_marker("postgres_only") is not None
        metafunc.parametrize("backend", ["postgresql"] if only_postgres else ["sqlite", "postgresql"], indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "sqlite":
        path = tmp_path / "madoguchi.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        url = f"sqlite:///{path}"
        return Backend("sqlite", url, url)
    database: Backend = request.getfixturevalue("postgres_database")
    _truncate_all(database.owner_url)
    return database


@pytest.fixture
def settings(backend: Backend, tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        database_url=backend.app_url,
        migration_database_url=backend.owner_url,
        services_dir=REPO / "services",
        tenants_dir=REPO / "tenants",
        secret_key="test-secret",
        data_key=DATA_KEY,
        audit_key=AUDIT_KEY,
        db_pool_size=2,
    )


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    database = Database(settings.effective_database_url, pool_size=2, audit_key=settings.audit_key)
    yield database
    database.dispose()


@pytest.fixture
def app(settings: Settings, seeded: None):
    app = create_app(settings)
    app.config["TESTING"] = True
    yield app
    from madoguchi.context import database

    with app.app_context():
        database().dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Point the `madoguchi` CLI (which reads MADOGUCHI_* variables) at the test database."""
    monkeypatch.setenv("MADOGUCHI_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("MADOGUCHI_MIGRATION_DATABASE_URL", settings.migration_database_url)
    monkeypatch.setenv("MADOGUCHI_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("MADOGUCHI_DATA_KEY", settings.data_key)
    monkeypatch.setenv("MADOGUCHI_AUDIT_KEY", settings.audit_key)
    monkeypatch.setenv("MADOGUCHI_SERVICES_DIR", str(settings.services_dir))
    monkeypatch.setenv("MADOGUCHI_TENANTS_DIR", str(settings.tenants_dir))
    return settings


@pytest.fixture
def runner(cli_env: Settings) -> CliRunner:
    return CliRunner()


@pytest.fixture
def seeded(db: Database, settings: Settings) -> None:
    """The shipped catalog published and the shipped tenants synced (no registry data)."""
    from tests.factories import seed_catalog_and_tenants

    seed_catalog_and_tenants(db, settings)


@pytest.fixture(scope="session")
def worker_id(request: pytest.FixtureRequest) -> str:
    """xdist's worker id ("gw0", ...) or "main" without xdist."""
    workerinput = getattr(request.config, "workerinput", None)
    return workerinput["workerid"] if workerinput else "main"
