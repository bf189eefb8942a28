"""PostgreSQL restarted (``pg_ctl restart -m fast`` and ``-m immediate``) while 16 clients file and submit
applications with Idempotency-Keys through a real gunicorn run as ``infra/gunicorn.conf.py`` runs it.

What must hold: no answer is a 500 (the outage is 503 with Retry-After); every request that failed succeeds when
retried with its key within 5 s of the database being back; nothing is lost (every key that succeeded has its
application) and nothing is duplicated (one application per key, whatever the number of retries).
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import func, select

import madoguchi
from madoguchi.applications.models import Application
from madoguchi.config import Settings
from madoguchi.db import Database
from madoguchi.identity.sessions import COOKIE_NAME
from tests.documents.certificate_fixtures import World, world
from tests.infra.helpers import REPO, environment_without_settings, free_port
from tests.support.postgres import SUPERUSER, ThrowawayPostgres
from tests.world import RESIDENCY

__all__ = ["world"]
pytestmark = [pytest.mark.faults, pytest.mark.postgres_only]

CLIENTS = 16
RECOVERY_SECONDS = 5.0


@dataclass
class Gunicorn:
    port: int
    log: Path

    def request(self, method: str, path: str, *, headers: dict[str, str], body: Any = None) -> tuple[int, Any]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            payload = None if body is None else json.dumps(body).encode()
            connection.request(method, path, body=payload, headers={"Content-Type": "application/json", **headers})
            response = connection.getresponse()
            raw = response.read()
            try:
                return response.status, json.loads(raw) if raw else None
            except ValueError:
                return response.status, raw.decode("utf-8", "replace")
        finally:
            connection.close()


@pytest.fixture
def gunicorn(settings: Settings, world: World, tmp_path: Path) -> Iterator[Gunicorn]:
    port = free_port()
    running = Gunicorn(port, tmp_path / "gunicorn.log")
    source_root = str(Path(madoguchi.__file__).resolve().parents[1])
    env = environment_without_settings(
        MADOGUCHI_BIND=f"127.0.0.1:{port}",
        MADOGUCHI_WEB_CONCURRENCY="2",
        MADOGUCHI_WEB_THREADS="4",
        MADOGUCHI_WEB_MAX_REQUESTS="0",
        MADOGUCHI_DATABASE_URL=settings.database_url,
        MADOGUCHI_MIGRATION_DATABASE_URL=settings.migration_database_url,
        MADOGUCHI_DATA_DIR=str(settings.data_dir),
        MADOGUCHI_SECRET_KEY=settings.secret_key,
        MADOGUCHI_DATA_KEY=settings.data_key,
        MADOGUCHI_AUDIT_KEY=settings.audit_key,
        MADOGUCHI_DB_POOL_SIZE="4",
        MADOGUCHI_API_RATE_LIMIT="100000/minute",
        PYTHONPATH=os.pathsep.join(filter(None, [source_root, os.environ.get("PYTHONPATH", "")])),
    )
    with running.log.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                str(REPO / "infra" / "gunicorn.conf.py"),
                "madoguchi:create_app()",
            ],
            env=env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise AssertionError(f"gunicorn exited early:\n{running.log.read_text()[-3000:]}")
            try:
                if running.request("GET", "/api/v1/tenants", headers={})[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"gunicorn did not come up:\n{running.log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield running
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class Attempt:
    key: str
    status: int
    at: float
    seconds: float


@dataclass
class Load:
    """16 residents' worth of traffic: file, then submit, each call retried with its key until it succeeds."""

    server: Gunicorn
    base: str
    cookie: str
    stop: threading.Event = field(default_factory=threading.Event)
    attempts: list[Attempt] = field(default_factory=list)
    created: dict[str, set[str]] = field(default_factory=dict)  # create key -> application ids answered
    transport_errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def call(self, key: str, path: str, body: Any, ok: int) -> Any:
        deadline = time.monotonic() + 60
        answer: Any = None
        while time.monotonic() < deadline:
            sent = time.monotonic()
            try:
                status, answer = self.server.request(
                    "POST", path, headers={"Cookie": f"{COOKIE_NAME}={self.cookie}", "Idempotency-Key": key}, body=body
                )
            except OSError as error:
                with self.lock:
                    self.transport_errors.append(f"{key}: {error!r}")
                time.sleep(0.05)
                continue
            with self.lock:
                self.attempts.append(Attempt(key, status, time.monotonic(), time.monotonic() - sent))
            if status == ok:
                return answer
            time.sleep(0.05)
        raise AssertionError(f"{key} never succeeded: {answer}")

    def client(self, number: int) -> None:
        for sequence in range(1000):
            if self.stop.is_set():
                return
            key = f"c{number}-{sequence}"
            created = self.call(
                f"{key}-create",
                f"{self.base}/applications/",
                {"procedure": "residency-certificate", "data": RESIDENCY},
                201,
            )
            with self.lock:
                self.created.setdefault(f"{key}-create", set()).add(created["id"])
            submitted = self.call(f"{key}-submit", f"{self.base}/applications/{created['id']}/submit", None, 200)
            assert submitted["state"] == "submitted", submitted


@pytest.fixture
def durable_commits(postgres_server: ThrowawayPostgres) -> Iterator[None]:
    """The throwaway server trades durability for speed (synchronous_commit off): an immediate shutdown would
    then lose commits already acknowledged, which production (RDS, synchronous commits) never does."""
    with psycopg.connect(postgres_server.conninfo(SUPERUSER, "postgres"), autocommit=True) as conn:
        conn.execute("alter system set synchronous_commit = on")
        conn.execute("select pg_reload_conf()")
    yield
    with psycopg.connect(postgres_server.conninfo(SUPERUSER, "postgres"), autocommit=True) as conn:
        conn.execute("alter system reset synchronous_commit")
        conn.execute("select pg_reload_conf()")


@pytest.mark.usefixtures("durable_commits")
@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_a_postgres_restart_under_load_gives_no_500_and_every_retry_succeeds_with_nothing_lost_or_doubled(
    gunicorn: Gunicorn, world: World, db: Database, postgres_server: ThrowawayPostgres, mode: str
) -> None:
    town = world.b
    cookie = town.resident.get_cookie(COOKIE_NAME, domain="localhost")
    assert cookie is not None
    load = Load(gunicorn, f"/api/v1/t/{town.tenant.slug}", cookie.value)
    clients = [threading.Thread(target=load.client, args=(n,), daemon=True) for n in range(CLIENTS)]
    for client in clients:
        client.start()
    # Restart once every client has filed and submitted at least once: warm workers, load in full swing.
    deadline = time.monotonic() + 60
    while len(load.created) <= CLIENTS and time.monotonic() < deadline:
        time.sleep(0.05)
    restart_began = time.monotonic()
    postgres_server.restart(mode)
    back = time.monotonic()
    time.sleep(1.5)
    load.stop.set()
    for client in clients:
        client.join(timeout=60)
    assert not any(client.is_alive() for client in clients)

    statuses: dict[int, int] = {}
    for attempt in load.attempts:
        statuses[attempt.status] = statuses.get(attempt.status, 0) + 1
    failed_keys = {a.key for a in load.attempts if a.status >= 300}
    recovered_at = {key: max(a.at for a in load.attempts if a.key == key and a.status < 300) for key in failed_keys}
    slowest = max((at - back for at in recovered_at.values()), default=0.0)
    print(
        f"\n{mode} restart: {back - restart_began:.2f} s down; {len(load.attempts)} answers {statuses}; "
        f"{len(failed_keys)} keys failed then succeeded, the last {slowest:.2f} s after the database was back "
        f"(a successful request took {statistics.median(a.seconds for a in load.attempts if a.status < 300):.2f} s "
        "in the median)"
    )
    unhandled = [line for line in gunicorn.log.read_text().splitlines() if "unhandled error" in line or "Error" in line]
    assert 500 not in statuses and all(s in (200, 201, 409, 503) for s in statuses), (statuses, unhandled[-20:])
    assert load.transport_errors == []
    assert failed_keys, "the restart hit no request: the test proved nothing"
    assert slowest <= RECOVERY_SECONDS, recovered_at

    assert all(len(ids) == 1 for ids in load.created.values()), "a retried key answered another application"
    ids = {next(iter(ids)) for ids in load.created.values()}
    with db.transaction(town.tenant.id) as session:
        filed = session.execute(
            select(func.count())
            .select_from(Application)
            .where(Application.applicant_account_id == town.resident_account.id)
        ).scalar_one()
        states = set(session.execute(select(Application.state).where(Application.id.in_(ids))).scalars())
    assert filed == len(load.created), "lost or duplicated applications"
    assert states == {"submitted"}
