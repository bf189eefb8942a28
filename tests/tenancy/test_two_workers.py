"""A tenant created, suspended or resumed through the admin API is served that way by every gunicorn worker at once.

Real ``gunicorn -w 2`` (sync workers, no ``--preload``) on the test database. Both workers are warmed first (each has
served the tenant list and a tenant's pages: any per-process cache would now be filled), which is proved by the
access log: its format carries the worker's pid (``%(p)s``) and each request carries a unique probe number. Then
the tenant is created through the admin API, and every following request, on both workers, must serve its portal
page and its procedures; after a suspension every one must answer 403 once ``tenant_cache_seconds`` have passed (the
worker that did not suspend it may serve it that long, decision 0025); after resuming, 200 again at once.
"""

from __future__ import annotations

import http.client
import itertools
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from madoguchi.config import Settings
from madoguchi.db import Database
from madoguchi.identity import operations as identity
from madoguchi.identity.models import PlatformAdmin
from tests.factories import tenants

#: Real gunicorn workers read what the test commits.
pytestmark = [pytest.mark.slow, pytest.mark.commits]

NEW_TOWN = {
    "slug": "hanamizuki-town",
    "name_ja": "花水木町",
    "name_en": "Hanamizuki Town",
    "local_government_code": "131016",
    "services": ["residency-certificate", "tax-certificate"],
}
#: Requests in flight at once: more than the workers, so that neither can serve them all alone.
CONCURRENCY = 4
#: How long a worker keeps a serving tenant (shorter than the default 5 s, to keep the test short).
TENANT_CACHE_SECONDS = 1.0
_probes = itertools.count(1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    port: int
    access_log: Path
    error_log: Path
    token: str

    def request(self, method: str, path: str, body: dict[str, object] | None = None) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            headers = {"Authorization": f"Bearer {self.token}"} if path.startswith("/api/v1/admin") else {}
            payload = None
            if body is not None:
                payload = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
            connection.request(method, path, body=payload, headers=headers)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def worker_pids(self) -> set[int]:
        return {int(pid) for pid in re.findall(r"Booting worker with pid: (\d+)", self.error_log.read_text())}

    def served_by(self, probes: set[int]) -> dict[int, int]:
        """probe number -> pid of the worker that answered it (from the access log)."""
        found: dict[int, int] = {}
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            for line in self.access_log.read_text().splitlines():
                match = re.match(r"^<(\d+)> \d+ \S+ \S+\?probe=(\d+) ", line)
                if match and int(match.group(2)) in probes:
                    found[int(match.group(2))] = int(match.group(1))
            if set(found) == probes:
                return found
            time.sleep(0.1)
        raise AssertionError(f"the access log lacks probes {sorted(probes - set(found))}")

    def sweep(self, paths: list[str], expected: int, *, rounds: int = 6) -> dict[str, set[int]]:
        """Request every path ``rounds`` times, concurrently; every answer must be ``expected``.

        Returns, per path, the pids of the workers that answered it.
        """
        calls = [(path, next(_probes)) for _ in range(rounds) for path in paths]
        with ThreadPoolExecutor(CONCURRENCY) as pool:
            answers = list(pool.map(lambda call: self.request("GET", f"{call[0]}?probe={call[1]}"), calls))
        wrong = [
            f"{path} -> {status}" for (path, _), (status, _) in zip(calls, answers, strict=True) if status != expected
        ]
        assert wrong == [], f"expected {expected} from every worker: {wrong}"
        pids = self.served_by({probe for _, probe in calls})
        by_path: dict[str, set[int]] = {path: set() for path in paths}
        for path, probe in calls:
            by_path[path].add(pids[probe])
        return by_path

    def sweep_until_both_workers_answered(self, paths: list[str], expected: int) -> None:
        """Sweep until each worker has answered each path (every answer along the way must be ``expected``)."""
        workers = self.worker_pids()
        assert len(workers) == 2, workers
        seen: dict[str, set[int]] = {path: set() for path in paths}
        for _ in range(20):
            for path, pids in self.sweep(paths, expected).items():
                seen[path] |= pids
            if all(pids == workers for pids in seen.values()):
                return
        raise AssertionError(f"not every worker answered every path: {seen}, workers {workers}")


def _platform_token(db: Database) -> str:
    with db.transaction() as session:
        admin = PlatformAdmin(email="ops@example.jp", display_name="Ops", password_hash=None)
        session.add(admin)
        session.flush()
        _, token = identity.create_platform_token(session, admin, name="two-workers", lifetime=timedelta(hours=1))
    return token


@pytest.fixture
def server(settings: Settings, db: Database, seeded: None, tmp_path: Path) -> Iterator[Server]:
    port = _free_port()
    running = Server(port, tmp_path / "access.log", tmp_path / "error.log", _platform_token(db))
    env = {k: v for k, v in os.environ.items() if not k.startswith("MADOGUCHI_")}
    env.update(
        {
            "MADOGUCHI_DATABASE_URL": settings.database_url,
            "MADOGUCHI_MIGRATION_DATABASE_URL": settings.migration_database_url,
            "MADOGUCHI_DATA_DIR": str(settings.data_dir),
            "MADOGUCHI_SECRET_KEY": settings.secret_key,
            "MADOGUCHI_DATA_KEY": settings.data_key,
            "MADOGUCHI_AUDIT_KEY": settings.audit_key,
            "MADOGUCHI_DB_POOL_SIZE": "2",
            "MADOGUCHI_TENANT_CACHE_SECONDS": str(TENANT_CACHE_SECONDS),
        }
    )
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--workers=2",
        "--worker-class=sync",
        f"--bind=127.0.0.1:{port}",
        f"--access-logfile={running.access_log}",
        "--access-logformat=%(p)s %(s)s %(m)s %(U)s?%(q)s %(L)s",
        f"--error-logfile={running.error_log}",
        "--log-level=info",
        "madoguchi:create_app()",
    ]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise AssertionError(f"gunicorn exited early:\n{running.error_log.read_text()}")
            try:
                if running.request("GET", "/healthz")[0] == 200 and len(running.worker_pids()) == 2:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"gunicorn did not come up:\n{running.error_log.read_text()}")
            time.sleep(0.2)
        yield running
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_a_tenant_created_suspended_and_resumed_through_the_api_is_served_so_by_both_workers_at_once(
    server: Server, db: Database
) -> None:
    known = tenants(db)[0].slug
    # Warm both workers: each has served the tenant list and a tenant's portal and procedures.
    server.sweep_until_both_workers_answered(
        ["/api/v1/tenants", f"/{known}/", f"/api/v1/t/{known}/procedures"], expected=200
    )
    portal, procedures = f"/{NEW_TOWN['slug']}/", f"/api/v1/t/{NEW_TOWN['slug']}/procedures"
    server.sweep_until_both_workers_answered([portal, procedures], expected=404)

    status, body = server.request("POST", "/api/v1/admin/tenants", NEW_TOWN)
    assert status == 201, body
    tenant_id = json.loads(body)["id"]
    server.sweep_until_both_workers_answered([portal, procedures], expected=200)
    status, body = server.request("GET", f"{procedures}?probe={next(_probes)}")
    assert [p["key"] for p in json.loads(body)] == NEW_TOWN["services"]

    assert server.request("POST", f"/api/v1/admin/tenants/{tenant_id}/suspend")[0] == 200
    time.sleep(TENANT_CACHE_SECONDS)  # what the other worker may still serve from its cache, and no longer
    server.sweep_until_both_workers_answered([portal, procedures], expected=403)

    assert server.request("POST", f"/api/v1/admin/tenants/{tenant_id}/resume")[0] == 200
    server.sweep_until_both_workers_answered([portal, procedures], expected=200)
