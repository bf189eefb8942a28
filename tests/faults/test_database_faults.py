"""A sick database answers 503 with Retry-After, never 500: down, connection lost mid-request, pool exhausted,
a lock held in another tenant. /healthz never waits for the database; an Idempotency-Key whose request lost
the database is free again at once.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from typing import Any

import psycopg
import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from madoguchi import create_app
from madoguchi.config import Settings
from madoguchi.context import database
from madoguchi.db import Database
from madoguchi.errors import is_database_unavailable
from madoguchi.idempotency_keys import IdempotencyKey
from tests.conftest import DATA_KEY, REPO, Backend
from tests.documents.certificate_fixtures import HTTPS, World, submit, world
from tests.infra.helpers import free_port
from tests.support.postgres import APP_ROLE, SUPERUSER, ThrowawayPostgres

__all__ = ["world"]
pytestmark = pytest.mark.faults


def _assert_503(response: Any) -> None:
    assert response.status_code == 503, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/problem+json"
    assert int(response.headers["Retry-After"]) > 0
    assert "Traceback" not in response.get_data(as_text=True)


def test_a_database_that_is_down_answers_503_with_retry_after_and_healthz_stays_up(tmp_path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        database_url=f"postgresql+psycopg://nobody:nothing@127.0.0.1:{free_port()}/madoguchi",
        services_dir=REPO / "services",
        tenants_dir=REPO / "tenants",
        secret_key="test-secret",
        data_key=DATA_KEY,
    )
    app = create_app(settings)
    client = app.test_client()
    _assert_503(client.get("/api/v1/tenants"))
    _assert_503(client.get("/api/v1/t/shiomi-town/procedures"))
    page = client.get("/shiomi-town/", headers={"Accept": "text/html"})
    assert page.status_code == 503 and page.mimetype == "text/html" and "Retry-After" in page.headers
    began = time.monotonic()
    assert client.get("/healthz").status_code == 200
    assert time.monotonic() - began < 0.1
    _assert_503(client.get("/readyz"))


def _database_name(backend: Backend) -> str:
    name = make_url(backend.app_url).database
    assert name is not None
    return name


@pytest.mark.postgres_only
def test_statement_and_lock_timeouts_are_set_per_transaction_and_a_timeout_is_503_material(
    settings: Settings,
) -> None:
    web = Database.for_web(replace(settings, db_pool_size=1, db_max_overflow=0))
    try:
        with web.transaction() as session:
            assert session.execute(text("show statement_timeout")).scalar_one() == "10s"
            assert session.execute(text("show lock_timeout")).scalar_one() == "3s"
        with web.engine.connect() as connection:  # the same, only pooled connection, outside a session
            # Transaction-local: the connection went back to the pool with the server's defaults.
            assert connection.exec_driver_sql("show statement_timeout").scalar_one() == "0"
            assert connection.exec_driver_sql("show lock_timeout").scalar_one() == "0"
        with web.transaction() as session, pytest.raises(Exception) as raised:
            session.execute(text("set local statement_timeout = '200ms'; select pg_sleep(2)"))
        assert is_database_unavailable(raised.value)
    finally:
        web.dispose()
    jobs = Database.for_jobs(settings)
    try:
        with jobs.transaction() as session:
            assert session.execute(text("show statement_timeout")).scalar_one() == "10min"
    finally:
        jobs.dispose()


@pytest.mark.postgres_only
def test_an_exhausted_pool_answers_503_within_the_pool_timeout_not_after_30_seconds(
    settings: Settings, seeded: None
) -> None:
    app = create_app(replace(settings, db_pool_size=1, db_max_overflow=0, db_pool_timeout_seconds=0.5))
    client = app.test_client()
    assert client.get("/api/v1/tenants").status_code == 200
    with app.app_context():
        held = database().engine.connect()  # the only connection of the pool
    try:
        began = time.monotonic()
        _assert_503(client.get("/api/v1/tenants"))
        assert time.monotonic() - began < 2
        assert client.get("/healthz").status_code == 200
    finally:
        held.close()
    assert client.get("/api/v1/tenants").status_code == 200
    with app.app_context():
        database().dispose()


@pytest.mark.postgres_only
def test_the_first_request_after_the_database_dropped_every_connection_is_served_on_a_fresh_one(
    settings: Settings, seeded: None, backend: Backend, postgres_server: ThrowawayPostgres
) -> None:
    """No pre-ping on checkout (decision 0025): a pooled connection found dead at the first statement of a request's
    transaction (nothing sent yet) is replaced and the transaction begun again, instead of answering 503."""
    app = create_app(replace(settings, db_pool_size=2, db_max_overflow=0))
    client = app.test_client()
    assert client.get("/api/v1/tenants").status_code == 200
    assert client.get("/api/v1/t/shiomi-town/procedures").status_code == 200
    with psycopg.connect(postgres_server.conninfo(SUPERUSER, _database_name(backend)), autocommit=True) as conn:
        dropped = conn.execute(
            "select pg_terminate_backend(pid) from pg_stat_activity where datname = %s and usename = %s",
            [_database_name(backend), APP_ROLE],
        ).fetchall()
    assert dropped, "no pooled connection to drop: the test proves nothing"
    assert client.get("/api/v1/t/shiomi-town/procedures").status_code == 200
    assert client.get("/api/v1/tenants").status_code == 200
    with app.app_context():
        database().dispose()


class _RowLock:
    """A transaction of the app role holding the row lock of one application (FOR UPDATE) until released."""

    def __init__(self, server: ThrowawayPostgres, dbname: str, tenant_id: Any, application_id: str) -> None:
        self.connection = psycopg.connect(server.conninfo(APP_ROLE, dbname))
        self.connection.execute("select set_config('app.tenant_id', %s, true)", [str(tenant_id)])
        locked = self.connection.execute(
            "select id from applications where id = %s for update", [application_id]
        ).fetchall()
        assert len(locked) == 1

    def release(self) -> None:
        self.connection.rollback()
        self.connection.close()


def _waiting_on_locks(server: ThrowawayPostgres, dbname: str) -> list[int]:
    with psycopg.connect(server.conninfo(SUPERUSER, dbname), autocommit=True) as conn:
        rows = conn.execute(
            "select pid from pg_stat_activity where datname = %s and usename = %s and wait_event_type = 'Lock'",
            [dbname, APP_ROLE],
        ).fetchall()
    return [pid for (pid,) in rows]


@pytest.fixture
def locked_settings(settings: Settings) -> Settings:
    return replace(settings, db_pool_size=2, db_max_overflow=0, db_pool_timeout_seconds=3, db_lock_timeout_seconds=0.5)


@pytest.mark.postgres_only
def test_a_lock_held_in_one_tenant_gives_its_writers_503_while_healthz_is_fast_and_another_tenant_is_served(
    world: World, settings: Settings, locked_settings: Settings, backend: Backend, postgres_server: ThrowawayPostgres
) -> None:
    app = create_app(locked_settings)
    waiting = submit(world.b)  # midorikawa-village: waits for a clerk
    url = world.b.api(f"/applications/{waiting['id']}/transitions")
    clerk_cookie = world.b.clerk.get_cookie("__Host-madoguchi-session", domain="localhost")
    resident_cookie = world.a.resident.get_cookie("__Host-madoguchi-session", domain="localhost")
    assert clerk_cookie is not None and resident_cookie is not None

    def client_with(cookie: Any) -> Any:
        client = app.test_client()
        client.set_cookie(cookie.key, cookie.value, domain="localhost", secure=True, httponly=True)
        return client

    lock = _RowLock(postgres_server, _database_name(backend), world.b.tenant.id, waiting["id"])
    answers: list[tuple[int, float]] = []

    def write() -> None:
        began = time.monotonic()
        response = client_with(clerk_cookie).post(url, json={"transition": "start_review"}, base_url=HTTPS)
        answers.append((response.status_code, time.monotonic() - began))

    try:
        # As many writers as the pool has connections: each holds one while it waits on the lock.
        writers = [threading.Thread(target=write) for _ in range(2)]
        for writer in writers:
            writer.start()
        deadline = time.monotonic() + 5
        while len(_waiting_on_locks(postgres_server, _database_name(backend))) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        began = time.monotonic()
        assert app.test_client().get("/healthz").status_code == 200
        assert time.monotonic() - began < 0.1
        other_tenant = client_with(resident_cookie).get(world.a.api("/applications/"), base_url=HTTPS)
        assert other_tenant.status_code == 200, other_tenant.json
        for writer in writers:
            writer.join(timeout=10)
        assert sorted(status for status, _ in answers) == [503, 503]
        assert all(seconds < 2.5 for _, seconds in answers), answers
    finally:
        lock.release()
    done = client_with(clerk_cookie).post(url, json={"transition": "start_review"}, base_url=HTTPS)
    assert done.status_code == 200 and done.json["state"] == "in_review"
    with app.app_context():
        database().dispose()


@pytest.mark.postgres_only
def test_a_request_that_loses_its_connection_answers_503_and_its_idempotency_key_is_free_at_once(
    world: World, app: Any, db: Database, backend: Backend, postgres_server: ThrowawayPostgres
) -> None:
    dbname = _database_name(backend)
    waiting = submit(world.b)
    url = world.b.api(f"/applications/{waiting['id']}/transitions")
    headers = {"Idempotency-Key": "lost-connection-1"}
    lock = _RowLock(postgres_server, dbname, world.b.tenant.id, waiting["id"])
    answers: list[Any] = []
    request = threading.Thread(
        target=lambda: answers.append(world.b.clerk.post(url, json={"transition": "start_review"}, headers=headers))
    )
    try:
        request.start()
        deadline = time.monotonic() + 5
        while not (pids := _waiting_on_locks(postgres_server, dbname)) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(pids) == 1
        with psycopg.connect(postgres_server.conninfo(SUPERUSER, dbname), autocommit=True) as conn:
            conn.execute("select pg_terminate_backend(%s)", [pids[0]])  # the database drops it mid-request
        request.join(timeout=10)
    finally:
        lock.release()
    (lost,) = answers
    _assert_503(lost)
    retry = world.b.clerk.post(url, json={"transition": "start_review"}, headers=headers)
    assert retry.status_code == 200, retry.json  # not 409 "still being processed"
    assert retry.json["state"] == "in_review"
    with db.transaction(world.b.tenant.id) as session:
        (key,) = session.execute(select(IdempotencyKey).where(IdempotencyKey.key == headers["Idempotency-Key"])).all()
        assert key[0].status == "completed"


@pytest.mark.parametrize(
    "make_error",
    [
        lambda: sa_exc.PendingRollbackError("Can't reconnect until invalid transaction is rolled back"),
        lambda: psycopg.OperationalError("server closed the connection unexpectedly"),
        lambda: sa_exc.OperationalError("commit", {}, psycopg.errors.AdminShutdown("terminating connection")),
    ],
    ids=["pending-rollback", "raw-psycopg", "admin-shutdown"],
)
def test_errors_that_follow_a_lost_connection_count_as_the_database_unavailable(make_error) -> None:
    """A connection lost mid-request also surfaces as the session's PendingRollbackError, or as another error
    raised while handling the first: each is a 503, never a 500 (the restart test once saw one)."""
    assert is_database_unavailable(make_error())
    try:
        try:
            raise make_error()
        except Exception:
            raise KeyError("raised while handling it") from None
    except KeyError as later:
        assert not is_database_unavailable(later)  # `from None`: no cause, and its context is suppressed
    try:
        try:
            raise make_error()
        except Exception as first:
            raise RuntimeError("raised while handling it") from first
    except RuntimeError as later:
        assert is_database_unavailable(later)
    assert not is_database_unavailable(ValueError("a bug"))
