"""Benchmark: the project's HTTP paths side by side with their floors, in one interleaved run (issue 15).

    python bench/http_paths.py [--seconds 3] [--rounds 3] [--connections 16] [--paths submit,queue-api,...]

Starts a throwaway PostgreSQL (tests/support/postgres.py), migrates it, seeds the shipped catalog and
tenants, and adds people, verified residents and staff with live sessions in every tenant, and a few thousand
applications (some filed and submitted through the project's own operations, the rest copied from those in
bulk SQL). Then it starts two gunicorn servers as production runs them (``infra/gunicorn.conf.py``, both
connecting as the non-owner app role, so row-level security applies):

- the project (``madoguchi:create_app()``);
- the floor (bench/http_floor.py): a bare Flask app doing the same database work without the project.

Each path is paired with a floor and driven by N keep-alive connections (threads, ``http.client``); rounds
alternate project and floor per path, so noise on the machine hits both. Per path it prints requests/s, p50
and p99 of the project and of the floor, the CPU time their gunicorn processes (master and workers, not
PostgreSQL) spent per request, and the ratio project/floor (requests/s).

| path          | project                                             | floor                  |
| ------------- | --------------------------------------------------- | ---------------------- |
| submit        | resident ``POST .../applications/`` + ``.../submit`` | one-row insert         |
| queue-api     | staff ``GET /api/v1/t/<t>/applications/?limit=50``  | primary-key read       |
| console-queue | staff ``GET /<t>/console/`` (25 rows)               | primary-key read       |
| procedures    | ``GET /api/v1/t/<t>/procedures``                    | ping (``SELECT 1``)    |
| portal-home   | resident ``GET /<t>/``                              | ping (``SELECT 1``)    |

A "request" of the submit path is both calls (create, then submit), timed together. Worker settings are the
production defaults of ``infra/gunicorn.conf.py``; ``MADOGUCHI_WEB_*`` variables and ``GUNICORN_CMD_ARGS`` (e.g.
``--worker-class=sync --workers=2``) in the environment are passed on to both servers, to measure others. The
API's rate limit is raised so the limiter is consulted but never refuses. The load generator shares the machine
with the servers: on a small machine it takes CPU from the floor more than from the project, so the ratios it
prints are, if anything, flattering to the project.

``--variants 'label=gunicorn args;...'`` starts one project server per set of worker settings (as
``GUNICORN_CMD_ARGS``) and interleaves them all with the one floor, to choose worker settings by measurement
(docs/operations.md quotes the run behind the defaults of ``infra/gunicorn.conf.py``).

(Named http_paths.py, not http.py: run as a script, bench/ comes first on the path, and a bench/http.py would
shadow the standard library's ``http`` package that gunicorn, Flask and this load generator import.)
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from harness import (
    RESIDENCY,
    Server,
    Town,
    call,
    migrated,
    percentile,
    running,
    seed_people,
    server_env,
    start_gunicorn,
)

from madoguchi.identity.sessions import COOKIE_NAME
from tests.support.postgres import SUPERUSER, ThrowawayPostgres

PATHS = ("submit", "queue-api", "console-queue", "procedures", "portal-home")


# ------------------------------------------------------------------------------------------------ seeding


def copy_applications(pg: ThrowawayPostgres, towns: dict[str, Town], per_tenant: dict[str, int]) -> None:
    """Bulk SQL (as the superuser): copy each tenant's submitted applications until it has its share, spread
    over the last 60 days, half of them assigned to one of its clerks; then note every tenant's ids."""
    with psycopg.connect(pg.conninfo(SUPERUSER), autocommit=True) as conn:
        columns = [
            row[0]
            for row in conn.execute(
                "select column_name from information_schema.columns where table_name = 'applications'"
                " and table_schema = 'public' order by ordinal_position"
            )
        ]
        kept = [c for c in columns if c not in ("id", "reference", "created_at", "updated_at", "submitted_at")]
        kept.remove("assignee_account_id")
        listed = ", ".join(kept)
        for slug, town in towns.items():
            have = conn.execute(
                "select count(*) from applications where tenant_id = %s and state <> 'draft'", (town.tenant_id,)
            ).fetchone()
            sources = have[0] if have else 0
            copies = max(0, -(-(per_tenant.get(slug, per_tenant["*"]) - sources) // max(sources, 1)))
            conn.execute(
                f"insert into applications (id, reference, created_at, updated_at, submitted_at,"
                f" assignee_account_id, {listed})"
                f" select gen_random_uuid(), 'B' || substr(md5(random()::text || copy::text), 1, 17), at, at, at,"
                f" case when random() < 0.5 then null"
                f" else (%(staff)s::uuid[])[1 + floor(random() * %(clerks)s)::int] end, {listed}"
                f" from (select a.*, copy, now() - random() * interval '60 days' as at"
                f" from applications a, generate_series(1, %(copies)s) copy"
                f" where a.tenant_id = %(tenant)s and a.state <> 'draft') source",
                {"staff": town.staff_ids, "clerks": len(town.staff_ids), "copies": copies, "tenant": town.tenant_id},
            )
            town.application_ids = [
                row[0]
                for row in conn.execute(
                    "select id from applications where tenant_id = %s and state <> 'draft'", (town.tenant_id,)
                )
            ]
        conn.execute("analyze")


# ------------------------------------------------------------------------------------------------ load


#: One operation on a keep-alive connection: (connection, connection number, random) -> whether it succeeded.
Operation = Callable[[http.client.HTTPConnection, int, random.Random], bool]


@dataclass
class Pair:
    """A path of the project and its floor."""

    name: str
    project: Operation
    floor: Operation


def pairs(town: Town) -> dict[str, Pair]:
    slug, tenant = town.slug, town.tenant_id
    ids = town.application_ids

    def resident(n: int) -> dict[str, str]:
        return {"Cookie": f"{COOKIE_NAME}={town.resident_cookies[n % len(town.resident_cookies)]}"}

    def clerk(n: int) -> dict[str, str]:
        return {"Cookie": f"{COOKIE_NAME}={town.staff_cookies[n % len(town.staff_cookies)]}"}

    def submit(conn: http.client.HTTPConnection, n: int, rng: random.Random) -> bool:
        base = f"/api/v1/t/{slug}/applications"
        headers = {**resident(n), "Idempotency-Key": str(uuid.UUID(int=rng.getrandbits(128)))}
        status, body = call(
            conn, "POST", f"{base}/", headers, {"procedure": "residency-certificate", "data": RESIDENCY}
        )
        if status != 201:
            return False
        headers["Idempotency-Key"] = str(uuid.UUID(int=rng.getrandbits(128)))
        status, _ = call(conn, "POST", f"{base}/{json.loads(body)['id']}/submit", headers)
        return status == 200

    def get(path: str, who: Callable[[int], dict[str, str]] | None = None) -> Operation:
        def operation(conn: http.client.HTTPConnection, n: int, rng: random.Random) -> bool:
            return call(conn, "GET", path, who(n) if who else {})[0] == 200

        return operation

    def insert(conn: http.client.HTTPConnection, n: int, rng: random.Random) -> bool:
        return call(conn, "POST", f"/insert/{tenant}", {})[0] == 201

    def read(conn: http.client.HTTPConnection, n: int, rng: random.Random) -> bool:
        return call(conn, "GET", f"/read/{tenant}/{rng.choice(ids)}", {})[0] == 200

    ping = get("/ping")
    return {
        "submit": Pair("resident create + submit vs one-row insert", submit, insert),
        "queue-api": Pair(
            "staff queue API (50 rows) vs PK read", get(f"/api/v1/t/{slug}/applications/?limit=50", clerk), read
        ),
        "console-queue": Pair("console queue page (25 rows) vs PK read", get(f"/{slug}/console/", clerk), read),
        "procedures": Pair("GET /api/v1/t/<t>/procedures vs ping", get(f"/api/v1/t/{slug}/procedures"), ping),
        "portal-home": Pair("portal home (resident) vs ping", get(f"/{slug}/", resident), ping),
    }


def check_pages(port: int, town: Town) -> None:
    """The queue paths show full pages (50 rows in the API, 25 on the console), or the figures mean nothing."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    cookie = {"Cookie": f"{COOKIE_NAME}={town.staff_cookies[0]}"}
    status, body = call(conn, "GET", f"/api/v1/t/{town.slug}/applications/?limit=50", cookie)
    rows = len(json.loads(body)["items"]) if status == 200 else 0
    status, body = call(conn, "GET", f"/{town.slug}/console/", cookie)
    console_rows = body.count(b'class="reference"') if status == 200 else 0
    conn.close()
    if (rows, console_rows) != (50, 25):
        raise SystemExit(
            f"the staff queue shows {rows} rows in the API and {console_rows} on the console, not 50 and 25"
        )


@dataclass
class Tally:
    """What the rounds of one side of one path added up to."""

    done: int = 0
    failed: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.done / self.seconds if self.seconds else 0.0

    @property
    def cpu_ms(self) -> float:
        """The server's CPU time (master and workers, user and system) per successful request."""
        return self.cpu_seconds * 1000 / self.done if self.done else float("nan")

    def figures(self) -> tuple[float, float, float, float]:
        """Requests/s; p50 and p99 in milliseconds; server CPU milliseconds per request."""
        return self.rate, self.percentile(50) * 1000, self.percentile(99) * 1000, self.cpu_ms

    def percentile(self, p: int) -> float:
        return percentile(self.latencies, p)


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat(pid: int) -> list[str]:
    """Fields of /proc/<pid>/stat after the command name (which may hold spaces): [0] is the state."""
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()


def server_cpu(master: int) -> float:
    """CPU seconds of a gunicorn master and its workers so far, those reaped included (the master's cutime and
    cstime count a worker recycled after max_requests once it has been waited for). NaN without /proc."""
    try:
        fields = _stat(master)
    except OSError:
        return float("nan")
    ticks = sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                child = _stat(int(entry.name))
                if int(child[1]) == master:  # ppid
                    ticks += int(child[11]) + int(child[12])
    return ticks / _TICK


def drive(port: int, operation: Operation, connections: int, seconds: float, tally: Tally | None) -> None:
    """``connections`` threads, each with its own keep-alive connection, repeat ``operation`` for ``seconds``."""
    stop_at = time.perf_counter() + seconds
    lock = threading.Lock()
    began = time.perf_counter()

    def client(n: int) -> None:
        rng = random.Random(n)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        done, failed, latencies = 0, 0, []
        while time.perf_counter() < stop_at:
            sent = time.perf_counter()
            try:
                ok = operation(conn, n, rng)
            except (OSError, http.client.HTTPException):
                conn.close()  # e.g. a worker recycled after max_requests: reconnect
                ok = False
            if ok:
                done += 1
                latencies.append(time.perf_counter() - sent)
            else:
                failed += 1
        conn.close()
        if tally is not None:
            with lock:
                tally.done += done
                tally.failed += failed
                tally.latencies.extend(latencies)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if tally is not None:
        tally.seconds += time.perf_counter() - began


# ------------------------------------------------------------------------------------------------ main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds per round and side (default 3)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per path, project and floor each (default 3)")
    parser.add_argument("--connections", type=int, default=16, help="concurrent keep-alive connections (default 16)")
    parser.add_argument("--paths", default=",".join(PATHS), help=f"comma-separated, of {', '.join(PATHS)}")
    parser.add_argument("--applications", type=int, default=3000, help="applications in all tenants (default 3000)")
    parser.add_argument("--tenant", default="midorikawa-village", help="the tenant driven (default midorikawa-village)")
    parser.add_argument(
        "--variants",
        default="",
        help="compare worker settings: 'label=gunicorn args;label=args', e.g. "
        "'gthread=--workers 5 --threads 4;sync=--worker-class sync --workers 4': one project server per variant "
        "(GUNICORN_CMD_ARGS), all interleaved with the one floor (default: one project, the environment's settings)",
    )
    args = parser.parse_args()
    variants = parse_variants(parser, args.variants)
    chosen = [p.strip() for p in args.paths.split(",") if p.strip()]
    unknown = sorted(set(chosen) - set(PATHS))
    if unknown:
        parser.error(f"unknown paths {', '.join(unknown)}; choose from {', '.join(PATHS)}")
    reason = ThrowawayPostgres.unavailable_reason()
    if reason:
        raise SystemExit(f"cannot start PostgreSQL: {reason}")

    with ThrowawayPostgres() as pg, tempfile.TemporaryDirectory(prefix="madoguchi-bench-") as folder:
        began = time.monotonic()
        settings, db = migrated(pg, folder)
        # The driven tenant: a resident per connection; its share of the applications is half of them.
        towns = seed_people(db, settings, residents={args.tenant: max(args.connections, 4), "*": 4}, staff=3)
        if args.tenant not in towns:
            raise SystemExit(f"no tenant {args.tenant!r}; the shipped ones are {', '.join(sorted(towns))}")
        others = max(1, len(towns) - 1)
        copy_applications(pg, towns, {args.tenant: args.applications // 2, "*": args.applications // 2 // others})
        db.dispose()
        town = towns[args.tenant]
        with psycopg.connect(pg.conninfo(SUPERUSER)) as conn:
            version = conn.execute(
                "select service_version_id from applications where tenant_id = %s limit 1", (town.tenant_id,)
            ).fetchone()
            counts = conn.execute("select count(*), count(distinct tenant_id) from applications").fetchone()
        assert version is not None and counts is not None
        print(
            f"seeded in {time.monotonic() - began:.0f} s: {counts[0]} applications in {counts[1]} tenants, "
            f"{len(town.application_ids)} in {args.tenant}",
            flush=True,
        )

        env = server_env(
            settings,
            folder,
            BENCH_FLOOR_DATABASE_URL=pg.conninfo("madoguchi_app"),
            BENCH_FLOOR_SERVICE_VERSION=str(version[0]),
        )
        servers: list[Server] = []
        with running(servers):
            projects = []
            for label, gunicorn_args in variants.items():
                settings_env = {**env, "GUNICORN_CMD_ARGS": gunicorn_args} if gunicorn_args is not None else env
                projects.append(start_gunicorn(label, "madoguchi:create_app()", settings_env, Path(folder), "/healthz"))
                servers.append(projects[-1])  # stopped on the way out even if a later one fails to start
            floor = start_gunicorn("floor", "http_floor:create_app()", env, Path(folder), "/ping")
            servers.append(floor)
            work = pairs(town)
            tallies = {(name, server.name): Tally() for name in chosen for server in servers}
            for project in projects:
                check_pages(project.port, town)
            for name in chosen:  # warm every worker (imports, templates, caches) before anything counts
                for project in projects:
                    checked = Tally()
                    drive(project.port, work[name].project, args.connections, 1.0, checked)
                    if checked.done == 0:
                        raise SystemExit(f"{name}: {project.name} answered no request successfully; see {project.log}")
                drive(floor.port, work[name].floor, args.connections, 1.0, None)
            for number in range(args.rounds):
                for name in chosen:
                    sides = [
                        (server, work[name].project if server is not floor else work[name].floor) for server in servers
                    ]
                    for server, operation in sides if number % 2 == 0 else sides[::-1]:
                        tally = tallies[name, server.name]
                        cpu = server_cpu(server.process.pid)
                        drive(server.port, operation, args.connections, args.seconds, tally)
                        tally.cpu_seconds += server_cpu(server.process.pid) - cpu

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    workers = os.environ.get("MADOGUCHI_WEB_CONCURRENCY") or f"{(cores or 1) + 1} (default)"
    extra = " ".join(["", *os.environ.get("GUNICORN_CMD_ARGS", "").split()])
    print(
        f"{cores} cores; gunicorn -c infra/gunicorn.conf.py{extra}; MADOGUCHI_WEB_CONCURRENCY={workers}; "
        f"{args.connections} connections; {args.rounds} rounds x {args.seconds:g} s per side, interleaved"
    )
    columns = ("project/s", "p50 ms", "p99 ms", "CPU ms", "floor/s", "p50 ms", "p99 ms", "CPU ms", "ratio")
    print(f"{'path':<44}" + "".join(f" {column:>9}" for column in columns))
    for name in chosen:
        base = tallies[name, "floor"]
        for label in variants:
            mine = tallies[name, label]
            failed = f"  ({mine.failed} project, {base.failed} floor failed)" if mine.failed or base.failed else ""
            title = work[name].name if len(variants) == 1 else f"{name} [{label}]"
            print(
                f"{title:<44}"
                + "".join(
                    f" {rate:>9.1f} {p50:>9.1f} {p99:>9.1f} {cpu:>9.2f}"
                    for rate, p50, p99, cpu in (mine.figures(), base.figures())
                )
                + f" {mine.rate / base.rate if base.rate else float('nan'):>8.3f}x{failed}"
            )
    for label, gunicorn_args in variants.items():
        if gunicorn_args is not None:
            print(f"  [{label}]: GUNICORN_CMD_ARGS={gunicorn_args!r}")


def parse_variants(parser: argparse.ArgumentParser, text: str) -> dict[str, str | None]:
    """``--variants`` as {label: gunicorn arguments}; without it one project, "project", with the environment's."""
    if not text.strip():
        return {"project": None}
    variants: dict[str, str | None] = {}
    for item in filter(None, (part.strip() for part in text.split(";"))):
        label, separator, gunicorn_args = item.partition("=")
        if not separator or not label.strip() or label.strip() in variants or label.strip() == "floor":
            parser.error(f"--variants: {item!r} is not 'label=gunicorn args' with a label of its own")
        variants[label.strip()] = gunicorn_args.strip()
    return variants


if __name__ == "__main__":
    main()
