"""Shared fixtures: an app on SQLite *and* on PostgreSQL, seeded tenants, a CLI runner, factories.

Every test that asks for ``backend`` (directly or through ``app``/``db``) runs twice: on SQLite and on a real
PostgreSQL server started for the test session (tests/support/postgres.py), where the app connects as the
non-owner role that row-level security applies to. Without PostgreSQL binaries the PostgreSQL half is skipped —
unless MADOGUCHI_REQUIRE_POSTGRES=1 (as in CI), which makes it fail.

Isolation between tests (docs/decisions/0022-test-isolation.md, docs/testing.md):

* A test that uses ``seeded`` (or ``app``, ``client``, the towns, ...) runs *inside one transaction* that is
  rolled back at its end: a database per backend per worker is migrated and seeded once, one app per backend
  per worker serves every such test that keeps the default settings, and every session any ``Database`` on
  that URL opens joins the test's transaction through a SAVEPOINT (``madoguchi.db.sessions_joined_to``). No
  copy, no truncate, no seeding per test.
* A test marked ``commits`` (or ``faults``/``browser``, or using the CLI ``runner``/``cli_env``), or one that
  does not use ``seeded``, gets a fresh database that commits for real: on SQLite a copy of a migrated
  template file, on PostgreSQL a migrated database truncated before the test.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from click.testing import CliRunner
from flask import Flask

from madoguchi import create_app, migrate
from madoguchi.api.auth import reset_rate_limits
from madoguchi.audit.keys import generate_key
from madoguchi.config import Settings
from madoguchi.context import database as app_database
from madoguchi.crypto import Sealer
from madoguchi.db import Base, Database, make_engine, sessions_joined_to
from madoguchi.documents import storage
from madoguchi.extensions import limiter
from madoguchi.identity import passwords
from madoguchi.identity.operations import common as identity_common
from madoguchi.tenancy.resolution import serving_tenants
from tests.factories import seed_catalog_and_tenants
from tests.support import card_idp as card_idp_support
from tests.support.postgres import ThrowawayPostgres

REPO = Path(__file__).resolve().parents[1]
DATA_KEY = Sealer.generate_key()
AUDIT_KEY = generate_key("test-1")

#: Argon2id at its lowest cost: a hash or a check takes ~0.1 ms instead of ~0.3 s of CPU (the production cost,
#: RFC 9106's low-memory profile). Every test hashes with it (``cheap_password_hashing``) except those that ask for
#: ``production_password_hashing`` (tests/identity/test_password_hashing.py).
TEST_PASSWORD_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
#: The hasher the product ships with, kept before ``cheap_password_hashing`` replaces it.
PRODUCTION_PASSWORD_HASHER = passwords._hasher

#: Markers of tests that need a database that commits for real (several connections, threads, processes).
COMMIT_MARKERS = ("commits", "faults", "browser")
#: Fixtures that hand the database to code outside the test's transaction (the CLI opens its own connections).
COMMIT_FIXTURES = frozenset({"runner", "cli_env"})


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "commits: needs a fresh database that commits for real (threads, several connections, subprocesses,"
        " servers) instead of running inside one rolled-back transaction",
    )


@dataclass
class Backend:
    name: str
    app_url: str
    owner_url: str
    #: Whether the test runs inside one transaction that is rolled back (see the module docstring).
    joined: bool = False

    @property
    def is_postgres(self) -> bool:
        return self.name == "postgresql"


def default_settings(backend: Backend, data_dir: Path) -> Settings:
    """The settings every test app starts from (``settings`` fixture)."""
    return Settings(
        data_dir=data_dir,
        database_url=backend.app_url,
        migration_database_url=backend.owner_url,
        services_dir=REPO / "services",
        tenants_dir=REPO / "tenants",
        secret_key="test-secret",
        data_key=DATA_KEY,
        audit_key=AUDIT_KEY,
        db_pool_size=2,
    )


@dataclass
class BuiltApp:
    """An app built once, and what it looked like right after ``create_app`` (``SharedDatabase.app_for``)."""

    app: Flask
    config: dict
    extensions: dict


#: How many apps with settings other than the defaults a worker keeps per database (the least recently used one is
#: dropped): a folder of tests that all override ``settings`` the same way builds one app, not one per test.
MAX_SHARED_APPS = 8


def _app_key(settings: Settings) -> Settings:
    """What an app is built from: the settings without the parts that differ per test and that ``app_for`` sets
    per test anyway: the data folder, and where documents are stored (the store is rebuilt from the test's
    settings; only its kind, local or S3, is kept in the key)."""
    kind = settings.storage_url.strip().split(":", 1)[0] if settings.storage_url.strip() else ""
    return replace(settings, data_dir=Path("/"), storage_url=kind)


@dataclass
class SharedDatabase:
    """A database migrated and seeded once per worker, and the apps that serve it to every joined test."""

    backend: Backend
    settings: Settings
    engine: sa.Engine = field(init=False)
    #: Apps by ``_app_key`` of the settings they were built with, least recently used first.
    apps: dict[Settings, BuiltApp] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.engine = make_engine(self.backend.app_url, pool_size=1)
        seeding = Database(self.backend.app_url, pool_size=1, audit_key=AUDIT_KEY)
        seed_catalog_and_tenants(seeding, self.settings)
        seeding.dispose()

    def app_for(self, settings: Settings) -> Flask:
        """An app for ``settings`` as new: built once per distinct ``_app_key`` and reset for each test: the test's
        settings and document store, its config as created, no extension built lazily by an earlier test (they
        capture settings), fresh rate-limit counters, no tenant cached by an earlier test (decision 0025)."""
        key = _app_key(settings)
        built = self.apps.pop(key, None)
        if built is None:
            app = create_app(replace(settings, data_dir=self.settings.data_dir))  # the test's folder is set below
            app.config["TESTING"] = True
            built = BuiltApp(app, dict(app.config), dict(app.extensions))
        self.apps[key] = built  # now the most recently used
        while len(self.apps) > MAX_SHARED_APPS:
            _dispose(self.apps.pop(next(iter(self.apps))).app)
        app = built.app
        app.config.clear()
        app.config.update(built.config, MADOGUCHI=settings)
        app.extensions.clear()
        app.extensions.update(built.extensions)
        app.extensions[storage.EXTENSION_KEY] = storage.storage_for(settings)
        limiter.reset()
        reset_rate_limits(app)
        serving_tenants(app).forget()
        return app

    def close(self) -> None:
        for built in self.apps.values():
            _dispose(built.app)
        self.apps.clear()
        self.engine.dispose()


def _dispose(app: Flask) -> None:
    with app.app_context():
        app_database().dispose()


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashing() -> Iterator[None]:
    """Hash passwords at the lowest Argon2id cost in every test of the session (docs/testing.md, "Speed").

    At the production cost every account a test makes and every password sign-in cost ~0.3 s of CPU, which was
    the largest single cost of the suite. Hashes stay real Argon2id (``$argon2id$``, verified, rehashed when the
    parameters change); only the cost differs. Subprocesses (the browser tests' demo server, gunicorn) keep the
    production cost."""
    passwords._hasher = TEST_PASSWORD_HASHER
    identity_common._dummy_hash.cache_clear()  # made with whichever hasher was current
    yield
    passwords._hasher = PRODUCTION_PASSWORD_HASHER
    identity_common._dummy_hash.cache_clear()


@pytest.fixture
def production_password_hashing(monkeypatch: pytest.MonkeyPatch) -> Iterator[PasswordHasher]:
    """The production Argon2id cost for one test (the hasher is handed back)."""
    monkeypatch.setattr(passwords, "_hasher", PRODUCTION_PASSWORD_HASHER)
    identity_common._dummy_hash.cache_clear()
    yield PRODUCTION_PASSWORD_HASHER
    identity_common._dummy_hash.cache_clear()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[ThrowawayPostgres]:
    reason = ThrowawayPostgres.unavailable_reason()
    if reason:
        if os.environ.get("MADOGUCHI_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required (MADOGUCHI_REQUIRE_POSTGRES=1) but unavailable: {reason}")
        pytest.skip(f"PostgreSQL unavailable: {reason}")
    with ThrowawayPostgres() as server:
        yield server


def _migrated_postgres(server: ThrowawayPostgres, name: str) -> Backend:
    owner_url, app_url = server.create_database(name)
    migrate.upgrade(Settings(database_url=app_url, migration_database_url=owner_url))
    return Backend("postgresql", app_url, owner_url)


@pytest.fixture(scope="session")
def postgres_database(postgres_server: ThrowawayPostgres, worker_id: str) -> Backend:
    """One migrated database per xdist worker for the tests that commit (truncated before each)."""
    return _migrated_postgres(postgres_server, f"test_{worker_id}")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    migrate.upgrade(Settings(database_url=f"sqlite:///{path}", data_dir=path.parent))
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def shared_sqlite(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedDatabase]:
    folder = tmp_path_factory.mktemp("shared-sqlite")
    shutil.copy(sqlite_template, folder / "madoguchi.db")
    url = f"sqlite:///{folder / 'madoguchi.db'}"
    backend = Backend("sqlite", url, url, joined=True)
    shared = SharedDatabase(backend, default_settings(backend, folder))
    yield shared
    shared.close()


@pytest.fixture(scope="session")
def shared_postgresql(
    postgres_server: ThrowawayPostgres, worker_id: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SharedDatabase]:
    backend = replace(_migrated_postgres(postgres_server, f"test_{worker_id}_shared"), joined=True)
    shared = SharedDatabase(backend, default_settings(backend, tmp_path_factory.mktemp("shared-postgresql")))
    yield shared
    shared.close()


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


def runs_joined(request: pytest.FixtureRequest) -> bool:
    """Whether this test runs inside one rolled-back transaction (a seeded test that needs no real commits)."""
    names = set(request.fixturenames)
    if "seeded" not in names or names & COMMIT_FIXTURES:
        return False
    return not any(request.node.get_closest_marker(marker) for marker in COMMIT_MARKERS)


@pytest.fixture
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if runs_joined(request):
        shared: SharedDatabase = request.getfixturevalue(f"shared_{request.param}")
        return shared.backend
    if request.param == "sqlite":
        path = tmp_path / "madoguchi.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        url = f"sqlite:///{path}"
        return Backend("sqlite", url, url)
    database: Backend = request.getfixturevalue("postgres_database")
    _truncate_all(database.owner_url)
    return database


@pytest.fixture
def test_transaction(request: pytest.FixtureRequest, backend: Backend) -> Iterator[None]:
    """A joined test's one transaction: every session on the shared database joins it; rolled back at the end."""
    if not backend.joined:
        yield
        return
    shared: SharedDatabase = request.getfixturevalue(f"shared_{backend.name}")
    with shared.engine.connect() as connection:
        transaction = connection.begin()
        with sessions_joined_to(connection):
            yield
        transaction.rollback()


@pytest.fixture
def settings(backend: Backend, tmp_path: Path) -> Settings:
    return default_settings(backend, tmp_path)


@pytest.fixture
def db(settings: Settings, test_transaction: None) -> Iterator[Database]:
    database = Database(settings.effective_database_url, pool_size=2, audit_key=settings.audit_key)
    yield database
    database.dispose()


@pytest.fixture
def app(request: pytest.FixtureRequest, backend: Backend, settings: Settings, seeded: None) -> Iterator[Flask]:
    """The app under test. A joined test gets one of the worker's shared apps, reset by ``SharedDatabase.app_for``
    (one app per distinct settings, apart from ``data_dir`` and the document store, which are the test's own, so
    files never leak between tests); a committing test gets a new one."""
    if backend.joined:
        shared: SharedDatabase = request.getfixturevalue(f"shared_{backend.name}")
        yield shared.app_for(settings)
        return
    app = create_app(settings)
    app.config["TESTING"] = True
    yield app
    _dispose(app)


@pytest.fixture
def client(app: Flask):
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
def seeded(backend: Backend, db: Database, settings: Settings) -> None:
    """The shipped catalog published and the shipped tenants synced (no registry data).

    A joined test finds them in the shared database already; a committing one seeds its fresh database.
    """
    if not backend.joined:
        seed_catalog_and_tenants(db, settings)


@pytest.fixture(scope="session")
def worker_id(request: pytest.FixtureRequest) -> str:
    """xdist's worker id ("gw0", ...) or "main" without xdist."""
    workerinput = getattr(request.config, "workerinput", None)
    return workerinput["workerid"] if workerinput else "main"


@pytest.fixture(scope="session")
def card_idp() -> Iterator[card_idp_support.CardIdp]:
    """The card's OpenID Connect provider (infra/card-idp) on loopback, one per worker for the session.

    Tests that restart it (key rotation) start their own ``CardIdp`` instead. Skipped without node, unless
    MADOGUCHI_REQUIRE_CARD_IDP=1 (CI), which makes it fail. Point an app at it with ``card_settings``."""
    reason = card_idp_support.unavailable_reason()
    if reason:
        if card_idp_support.required():
            pytest.fail(f"the card's provider is required (MADOGUCHI_REQUIRE_CARD_IDP=1) but cannot run: {reason}")
        pytest.skip(f"the card's provider cannot run: {reason}")
    with card_idp_support.CardIdp() as idp:
        yield idp


@pytest.fixture
def card_settings(settings: Settings, card_idp: card_idp_support.CardIdp) -> Settings:
    """``settings`` with card sign-in pointed at ``card_idp``. A test folder whose app should use it overrides
    ``settings`` with it (tests/identity/card/conftest.py), so ``app`` and ``client`` follow."""
    return card_idp_support.with_card_idp(settings, card_idp)
