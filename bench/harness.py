"""What the HTTP benchmarks share: a migrated throwaway PostgreSQL, signed-in people, gunicorn as production runs it.

Used by bench/http_paths.py (each path against its floor) and bench/scale.py (the queues at 10k and 1M
applications, the tenant lists at 10,000 tenants). Importing it puts the repository root on ``sys.path``: the
throwaway server and the factories come from ``tests/``.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from madoguchi import migrate
from madoguchi.applications import operations
from madoguchi.audit.keys import generate_key
from madoguchi.config import Settings
from madoguchi.crypto import Sealer
from madoguchi.db import Database
from madoguchi.identity.actors import Actor
from madoguchi.identity.models import Account
from madoguchi.identity.sessions import start_session

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the throwaway server and the factories the tests seed with

from tests.factories import make_household, make_person, make_tax, resident, seed_catalog_and_tenants  # noqa: E402
from tests.factories import staff as make_staff  # noqa: E402
from tests.factories import tenants as seeded_tenants  # noqa: E402
from tests.support.postgres import APP_ROLE, DATABASE, OWNER_ROLE, ThrowawayPostgres  # noqa: E402
from tests.world import RESIDENCY  # noqa: E402

FAMILY = ("髙橋", "佐藤", "鈴木", "渡邊", "伊藤", "山本", "中村", "小林", "加藤", "吉田", "𠮷田", "﨑山")
GIVEN = ("一郎", "花子", "美咲", "陽葵", "蓮", "結衣", "大翔", "さくら", "悠真", "凛")
START_SECONDS = 90


# ------------------------------------------------------------------------------------------------ database


def bench_settings(pg: ThrowawayPostgres, folder: str, dbname: str = DATABASE) -> Settings:
    """A throwaway app's settings over a database of the throwaway server: the app role for requests, the owner
    for migrations."""
    return Settings(
        data_dir=Path(folder),
        database_url=pg.url(APP_ROLE, dbname),
        migration_database_url=pg.url(OWNER_ROLE, dbname),
        secret_key="bench-secret",  # noqa: S106 - a throwaway app's
        data_key=Sealer.generate_key(),
        audit_key=generate_key("bench-1"),
    )


def migrated(pg: ThrowawayPostgres, folder: str, dbname: str = DATABASE) -> tuple[Settings, Database]:
    """The schema migrated into ``dbname``, and a database handle on it as the app role."""
    settings = bench_settings(pg, folder, dbname)
    migrate.upgrade(settings)
    return settings, Database(settings.database_url, pool_size=1, audit_key=settings.audit_key)


# ------------------------------------------------------------------------------------------------ seeding


@dataclass
class Town:
    """One tenant's signed-in people (a resident per connection, a few staff) and its applications."""

    tenant_id: uuid.UUID
    slug: str
    resident_cookies: list[str] = field(default_factory=list)
    staff_cookies: list[str] = field(default_factory=list)
    staff_ids: list[uuid.UUID] = field(default_factory=list)
    person_ids: list[uuid.UUID] = field(default_factory=list)
    application_ids: list[uuid.UUID] = field(default_factory=list)


def _session_cookie(db: Database, tenant_id: uuid.UUID, actor: Actor) -> str:
    with db.transaction(tenant_id) as session:
        account = session.get(Account, actor.account_id)
        assert account is not None
        _, token = start_session(session, account, second_factor_done=True)
    return token


def seed_people(db: Database, settings: Settings, *, residents: dict[str, int], staff: int) -> dict[str, Town]:
    """Catalog and tenants as shipped; per tenant, verified residents who each file and submit once through
    the project's operations, and clerks; every one of them with a live session (second factor done)."""
    seed_catalog_and_tenants(db, settings)
    towns: dict[str, Town] = {}
    for tenant in seeded_tenants(db):
        town = towns[tenant.slug] = Town(tenant.id, tenant.slug)
        with db.transaction(tenant.id) as session:
            here = session.merge(tenant)
            filers = []
            for n in range(residents.get(tenant.slug, residents["*"])):
                person = make_person(
                    session,
                    here,
                    make_household(session, here),
                    family_name=FAMILY[n % len(FAMILY)],
                    given_name=GIVEN[n % len(GIVEN)],
                    birth_date=date(1950 + n % 55, 1 + n % 12, 1 + n % 28),
                )
                make_tax(session, here, person, fiscal_year=2025)
                filers.append(resident(session, here, person))
                town.person_ids.append(person.id)
            clerks = [make_staff(session, here, "clerk") for _ in range(staff)]
        for actor in filers:
            town.resident_cookies.append(_session_cookie(db, tenant.id, actor))
            with db.transaction(tenant.id) as session:
                here = session.merge(tenant)
                draft = operations.create_draft(session, here, actor, "residency-certificate", RESIDENCY)
                operations.submit(session, here, actor, draft.id)
        town.staff_cookies = [_session_cookie(db, tenant.id, clerk) for clerk in clerks]
        town.staff_ids = [clerk.account_id for clerk in clerks if clerk.account_id is not None]
    return towns


# ------------------------------------------------------------------------------------------------ servers


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(settings: Settings, folder: str, **extra: str) -> dict[str, str]:
    """The environment of a gunicorn server over the database of ``settings``: the caller's settings stay out, but
    for the worker settings (``MADOGUCHI_WEB_*``), which every server of a run gets alike. The API's rate limit
    is raised so the limiter is consulted but never refuses."""
    source_root = str(Path(migrate.__file__).resolve().parents[1])
    settings_prefixes = ("MADOGUCHI_", "WEB_CONCURRENCY", "FORWARDED_ALLOW_IPS", "PORT")
    env = {k: v for k, v in os.environ.items() if not k.startswith(settings_prefixes) or k.startswith("MADOGUCHI_WEB_")}
    env.update(
        PYTHONPATH=os.pathsep.join([source_root, str(REPO / "bench")]),
        MADOGUCHI_DATABASE_URL=settings.database_url,
        MADOGUCHI_MIGRATION_DATABASE_URL=settings.migration_database_url,
        MADOGUCHI_DATA_DIR=folder,
        MADOGUCHI_SECRET_KEY=settings.secret_key,
        MADOGUCHI_DATA_KEY=settings.data_key,
        MADOGUCHI_AUDIT_KEY=settings.audit_key,
        MADOGUCHI_API_RATE_LIMIT="100000000/minute",
        **extra,
    )
    return env


def start_gunicorn(name: str, app: str, env: dict[str, str], folder: Path, ready_path: str) -> Server:
    """gunicorn as production runs it (``-c infra/gunicorn.conf.py``) on a free loopback port; waits until
    ``ready_path`` answers 200."""
    port = _free_port()
    log = folder / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(REPO / "infra" / "gunicorn.conf.py"), app],
            env={**env, "MADOGUCHI_BIND": f"127.0.0.1:{port}"},
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(name, port, process, log)
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        with contextlib.suppress(OSError):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", ready_path)
            if connection.getresponse().status == 200:
                return server
        time.sleep(0.2)
    server.stop()
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
    raise SystemExit(f"{name}: gunicorn did not come up on port {port}:\n{tail}")


@contextlib.contextmanager
def running(servers: list[Server]) -> Iterator[None]:
    """Stops every server put in ``servers``, however the block ends."""
    try:
        yield
    finally:
        for server in servers:
            server.stop()


# ------------------------------------------------------------------------------------------------ requests


def call(
    conn: http.client.HTTPConnection, method: str, path: str, headers: dict[str, str], body: object = None
) -> tuple[int, bytes]:
    """One request on a keep-alive connection: (status, body)."""
    payload = None if body is None else json.dumps(body).encode()
    if payload is not None:
        headers = {**headers, "Content-Type": "application/json"}
    conn.request(method, path, body=payload, headers=headers)
    response = conn.getresponse()
    return response.status, response.read()


def percentile(latencies: list[float], p: int) -> float:
    """The p-th percentile (inclusive method); NaN for no sample."""
    if len(latencies) < 2:
        return latencies[0] if latencies else float("nan")
    return statistics.quantiles(latencies, n=100, method="inclusive")[p - 1]
