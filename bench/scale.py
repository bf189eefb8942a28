"""Benchmark: the staff queues at 10k and at 1M applications over 1,000 municipalities, and the tenant lists at
10,000 municipalities (issue 15).

    python bench/scale.py [--applications 10000,1000000] [--requests 40] [--tenant-list 10000]

Starts a throwaway PostgreSQL (tests/support/postgres.py) with one database per size, each migrated and seeded
with the shipped catalog and tenants, residents and three clerks per tenant (bench/harness.py); then bulk-loads
in SQL (``INSERT ... SELECT generate_series``, as the superuser; never the ORM) 997 more municipalities, each a
copy of a shipped one with its procedures, and the size's applications Zipf-skewed over all 1,000 (rank r gets
1/r of a share): sakuragaoka-city is rank 1 (the biggest, 13% of all applications), midorikawa-village rank
1,000 (the smallest). Each application gets its history (``application_events``: create, submit, review,
decision; about four rows), a procedure (residency 60%, tax 30%, childcare 10%), a filing time, and a state by
its age: the last 30 days are the open queue (submitted, in review, more information requested, approved, some
issued), older ones are finished (issued, rejected, withdrawn, abandoned drafts). Open ones are assigned to one
of the clerks, but for those still "submitted"; due dates follow each procedure's SLA, so part of the open queue
is overdue. A municipality files as many applications a month at every size: a bigger table is a longer history
(three years at 1M, 30 days at 10k), and the open queue stays about the same.

Then the project runs under gunicorn as production runs it (``infra/gunicorn.conf.py``, as the non-owner app
role, so row-level security applies), one server per size, and a clerk's keep-alive connection per size asks each
queue query of the biggest and the smallest municipality ``--requests`` times, the sizes taking turns (so noise
on the shared machine hits them alike): the staff queue API (50 rows) with each filter it offers, and the
console's queue page (25 rows) with its sorts and filters. Then each query's SQL (built by the repository as the
views build it) runs as often under ``EXPLAIN ANALYZE`` as the app role: the database's own time, without the
rest of the request; a sequential scan of ``applications`` stops the run. It prints p50 and p95 per query and
size, and the ratios of the p95 at the largest size to the p95 at the smallest (issue 15's acceptance: at most
1.2 through HTTP).

Last, ``--tenant-list`` municipalities in all (extra ones, without applications, in the first size's database),
and the time of the tenant lists: ``GET /api/v1/tenants`` (a page, and the next), the platform's front page
``/`` and the platform admin API's ``GET /api/v1/admin/tenants`` (with a platform token), each at its default
page size. ``--applications 0`` measures only those.

Each loaded application names its procedure's settings snapshot by hash, as the app stores it (decision 0027):
the snapshots are copied once per municipality and procedure into ``settings_snapshots``. 1M applications take
about 4 GB (checked against the free disk first). ``snapshot_source`` is the one place that says how a loaded
row gets its snapshot.
"""

from __future__ import annotations

import argparse
import http.client
import json
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import psycopg
from harness import Server, Town, call, migrated, percentile, running, seed_people, server_env, start_gunicorn
from psycopg import sql
from psycopg.types.json import Json
from sqlalchemy import Select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from madoguchi.applications import repository, snapshots
from madoguchi.applications.schemas import assignee_filter
from madoguchi.catalog import operations as catalog
from madoguchi.catalog import repository as catalog_repository
from madoguchi.config import Settings
from madoguchi.console.views.queue import PAGE_SIZE, SORTS
from madoguchi.db import Database
from madoguchi.identity import operations as identity
from madoguchi.identity.models import PlatformAdmin
from madoguchi.identity.passwords import hash_password
from madoguchi.identity.sessions import COOKIE_NAME
from tests.support.postgres import SUPERUSER, ThrowawayPostgres

TENANTS = 1_000
BIGGEST, SMALLEST = "sakuragaoka-city", "midorikawa-village"
#: Zipf ranks of the shipped municipalities (the rest are copies): the two measured ones at either end.
RANKS = {BIGGEST: 1, "shiomi-town": 30, SMALLEST: TENANTS}
#: Days of history at a million applications (fewer at smaller sizes: ``history_days``).
HISTORY_DAYS = 1095
#: How applications spread over procedures.
PROCEDURES = (("residency-certificate", 0.6), ("tax-certificate", 0.3), ("childcare-admission", 0.1))
#: Bytes per loaded application (row, its snapshot, indexes, history), to check the disk before loading.
BYTES_PER_APPLICATION = 4_000
#: Unmeasured requests before each query's measured ones (every worker's first answers are slower).
WARM_UP = 10


# ------------------------------------------------------------------------------------------------ loading


@dataclass
class World:
    """One size: its own database (the sizes side by side on one server), its people, its gunicorn server."""

    size: int
    dbname: str
    pg: ThrowawayPostgres
    settings: Settings
    db: Database
    towns: dict[str, Town]
    server: Server | None = None

    def superuser(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.pg.conninfo(SUPERUSER, self.dbname), autocommit=True)

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.port


def snapshot_source(conn: psycopg.Connection[Any], tenant: Any, template: Any) -> tuple[str, str]:
    """How a loaded application gets its settings snapshot: (its column in ``applications``, the SQL value over
    ``s``, the row of ``bench_procedures`` of its municipality's template and procedure).

    Snapshots are stored once per tenant by hash (decision 0027): the municipality gets its own copies of its
    template's (``settings_snapshots`` is tenant-owned), and each application names one."""
    conn.execute(
        "insert into settings_snapshots (tenant_id, hash, content, created_at)"
        " select %s, hash, content, now() from settings_snapshots where tenant_id = %s on conflict do nothing",
        (tenant, template),
    )
    return "settings_snapshot_hash", "s.snapshot_hash"


def make_templates(world: World) -> None:
    """``bench_procedures``: per shipped municipality and procedure, what an application filed there carries:
    the settings snapshot the app stores (the procedure's effective settings, as ``create_draft`` computes
    them), its SLA, and the form data of a residency certificate filed through the app."""
    with world.superuser() as conn:
        conn.execute(
            "create table bench_procedures (template_id uuid, ordinal int, service_key text,"
            " service_version_id uuid, sla_days int, snapshot_hash text, data jsonb)"
        )
        for town in world.towns.values():
            with world.db.transaction(town.tenant_id) as session:
                offered = {
                    ts.service_key: (ts.service_version_id, catalog.effective_settings(ts, sv))
                    for ts, sv in catalog_repository.enabled_services(session, town.tenant_id)
                }
            filed = conn.execute(
                "select data from applications where tenant_id = %s and service_key = 'residency-certificate' limit 1",
                (town.tenant_id,),
            ).fetchone()
            for ordinal, (key, _) in enumerate(PROCEDURES, 1):
                version, settings = offered[key]
                data = filed[0] if filed and key == "residency-certificate" else {}
                digest = snapshots.snapshot_hash(settings)
                conn.execute(  # as the app stores it: the written key order, in a json (not jsonb) column
                    "insert into settings_snapshots (tenant_id, hash, content, created_at)"
                    " values (%s, %s, %s::json, now()) on conflict do nothing",
                    (town.tenant_id, digest, snapshots.canonical_json(settings).decode()),
                )
                conn.execute(
                    "insert into bench_procedures values (%s, %s, %s, %s, %s, %s, %s)",
                    (
                        town.tenant_id,
                        ordinal,
                        key,
                        version,
                        int(settings.get("sla_days") or 0),
                        digest,
                        Json(data),
                    ),
                )


def add_tenants(conn: psycopg.Connection[Any], towns: dict[str, Town], total: int) -> None:
    """Municipalities up to ``total`` in all, each a copy of a shipped one (its profile and procedures), noted in
    ``bench_tenants`` with its Zipf rank (the shipped ones at ``RANKS``) and its template."""
    conn.execute(
        "create table if not exists bench_tenants (rank int primary key, tenant_id uuid, template_id uuid,"
        " staff uuid[], persons uuid[], loaded int default 0)"
    )
    for slug, rank in RANKS.items():
        town = towns[slug]
        conn.execute(
            "insert into bench_tenants (rank, tenant_id, template_id, staff, persons) values (%s, %s, %s, %s, %s)"
            " on conflict do nothing",
            (rank, town.tenant_id, town.tenant_id, town.staff_ids, town.person_ids),
        )
    templates = [town.tenant_id for town in towns.values()]
    conn.execute(
        """
        with new as (
            select n, gen_random_uuid() as id, (%(templates)s::uuid[])[1 + n %% %(count)s] as template_id
            from generate_series(%(start)s::int, %(total)s::int) n
            where n not in (select rank from bench_tenants)
        ), tenant as (
            insert into tenants (id, slug, name_ja, name_en, local_government_code, prefecture_code, status,
                default_locale, profile, created_at, updated_at)
            select new.id, 'bench-' || lpad(n::text, 5, '0'), t.name_ja || n, t.name_en || ' ' || n,
                '9' || lpad(n::text, 5, '0'), t.prefecture_code, 'live', t.default_locale, t.profile, now(), now()
            from new join tenants t on t.id = new.template_id
            returning id
        ), service as (
            insert into tenant_services (id, tenant_id, service_key, service_version_id, enabled, overrides,
                updated_at)
            select gen_random_uuid(), new.id, ts.service_key, ts.service_version_id, ts.enabled, ts.overrides, now()
            from new join tenant_services ts on ts.tenant_id = new.template_id
        )
        insert into bench_tenants (rank, tenant_id, template_id) select n, id, template_id from new
        """,
        {"templates": templates, "count": len(templates), "start": 1, "total": total},
    )


def history_days(size: int) -> float:
    """Days of filing the applications spread over: a municipality files as many a month at every size, so a
    bigger table is a longer history (three years at 1M), never a longer open queue (at least 30 days)."""
    return max(30.0, HISTORY_DAYS * size / 1_000_000)


def zipf_shares(size: int) -> dict[int, int]:
    """Applications per rank for ``size`` in all: rank r gets size / (r * H), H the harmonic number of TENANTS."""
    harmonic = sum(1 / r for r in range(1, TENANTS + 1))
    return {r: max(1, round(size / (r * harmonic))) for r in range(1, TENANTS + 1)}


_LOAD = """
with r as (
    select g, now() - random() * %(span)s * interval '1 day' as created_at, random() as pick, random() as fate,
        random() as who
    from generate_series(%(first)s::int, %(last)s::int) g
), shaped as (
    select r.*, s.service_key, s.service_version_id, s.sla_days, s.data, {snapshot} as snapshot,
        case when r.created_at > now() - interval '30 days' then
            case when fate < 0.04 then 'draft' when fate < 0.30 then 'submitted' when fate < 0.65 then 'in_review'
                when fate < 0.75 then 'more_info_requested' when fate < 0.85 then 'approved' else 'issued' end
        else
            case when fate < 0.88 then 'issued' when fate < 0.94 then 'rejected' when fate < 0.985 then 'withdrawn'
                else 'draft' end
        end as state
    from r join bench_procedures s on s.template_id = %(template)s
        and s.ordinal = case when r.pick < 0.6 then 1 when r.pick < 0.9 then 2 else 3 end
), inserted as (
    insert into applications (id, tenant_id, reference, service_key, service_version_id, state, channel,
        applicant_person_id, assignee_account_id, data, prefill_sources, {column}, decision, created_at, updated_at,
        submitted_at, decided_at, due_on, lock_version)
    select gen_random_uuid(), %(tenant)s, 'S' || lpad(g::text, 9, '0'), service_key, service_version_id, state,
        case when who < 0.08 then 'counter' else 'online' end,
        (%(persons)s::uuid[])[1 + floor(who * %(person_count)s)::int],
        case when state in ('draft', 'submitted') then null
            else (%(staff)s::uuid[])[1 + floor(fate * 1000)::int %% greatest(%(staff_count)s, 1)] end,
        data, '{{}}', snapshot, '{{}}', created_at, created_at + interval '1 hour',
        case when state <> 'draft' then created_at + interval '10 minutes' end,
        case when state in ('issued', 'rejected', 'withdrawn') then created_at + interval '2 days' end,
        case when state <> 'draft' and sla_days > 0 then (created_at + interval '10 minutes')::date + sla_days end,
        1
    from shaped
    returning id, created_at, state
)
insert into application_events (id, tenant_id, application_id, seq, action, from_state, to_state, actor_role, at)
select gen_random_uuid(), %(tenant)s, i.id, seq,
    (array['create', 'submit', 'start_review',
        case i.state when 'issued' then 'issue' when 'rejected' then 'reject' when 'withdrawn' then 'withdraw'
            when 'approved' then 'approve' else 'request_more_info' end])[seq],
    (array[null, 'draft', 'submitted', 'in_review'])[seq],
    (array['draft', 'submitted', 'in_review', i.state])[seq],
    case when seq <= 2 then 'resident' else 'clerk' end,
    i.created_at + seq * interval '1 hour'
from inserted i, generate_series(1, case i.state when 'draft' then 1 when 'submitted' then 2
    when 'in_review' then 3 else 4 end) seq
"""


def load_applications(world: World) -> float:
    """Every municipality up to its Zipf share of the world's applications; seconds taken."""
    began = time.monotonic()
    shares = zipf_shares(world.size)
    with world.superuser() as conn:
        rows = conn.execute(
            "select rank, tenant_id, template_id, coalesce(staff, '{}'), coalesce(persons, '{}'), loaded"
            " from bench_tenants where rank <= %s order by rank",
            (TENANTS,),
        ).fetchall()
        for rank, tenant, template, staff, persons, loaded in rows:
            wanted = shares[rank]
            if wanted <= loaded:
                continue
            column, value = snapshot_source(conn, tenant, template)
            conn.execute(
                _LOAD.format(column=column, snapshot=value),
                {
                    "span": history_days(world.size),
                    "first": loaded + 1,
                    "last": wanted,
                    "tenant": tenant,
                    "template": template,
                    "staff": staff,
                    "staff_count": len(staff),
                    "persons": persons or [None],
                    "person_count": max(len(persons), 1),
                },
            )
            conn.execute("update bench_tenants set loaded = %s where rank = %s", (wanted, rank))
        conn.execute("vacuum (analyze) applications, application_events")
    return time.monotonic() - began


def table_sizes(world: World) -> str:
    with world.superuser() as conn:
        row = conn.execute(
            "select (select count(*) from applications), (select count(*) from application_events),"
            " pg_size_pretty(pg_total_relation_size('applications')),"
            " pg_size_pretty(pg_total_relation_size('application_events')),"
            " pg_size_pretty(pg_database_size(current_database()))"
        ).fetchone()
    assert row is not None
    return f"{row[0]} applications, {row[1]} events; applications {row[2]}, events {row[3]}, database {row[4]}"


# ------------------------------------------------------------------------------------------------ measuring


@dataclass
class Query:
    """One queue query as a clerk asks it: of the API (50 rows, created order) or the console (25 rows)."""

    name: str
    surface: str
    params: dict[str, str]

    def path(self, town: Town) -> str:
        if self.surface == "api":
            return f"/api/v1/t/{town.slug}/applications/?" + urlencode({"limit": API_PAGE, **self.params})
        return f"/{town.slug}/console/" + (f"?{urlencode(self.params)}" if self.params else "")

    def shown(self, body: bytes) -> int:
        """The rows an answer shows."""
        if self.surface == "api":
            return len(json.loads(body)["items"])
        return body.count(b'class="reference"')

    def statement(self, session: Session, town: Town) -> Select[Any]:
        """The SQL the app runs for it: ``repository.page_statement`` as the API's and the console's views call
        it, for the clerk whose session asks."""
        chosen = self.params.get("assignee")
        filters = repository.queue_filters(
            session,
            town.tenant_id,
            state=self.params.get("state"),
            procedure=self.params.get("procedure"),
            overdue=True if self.params.get("overdue") else None,
            **assignee_filter(chosen, town.staff_ids[0]),
        )
        if self.surface == "api":
            sort, newest_first, limit = "created", self.params.get("order") == "newest", API_PAGE
        else:
            (sort, newest_first), limit = SORTS[self.params.get("sort", "submitted")], PAGE_SIZE
        return repository.page_statement(
            town.tenant_id,
            visible=repository.staff_visible(),
            filters=filters,
            newest_first=newest_first,
            after=None,
            limit=limit,
            sort=sort,
        )


API_PAGE = 50
#: The filters both queues offer (the console takes "overdue" as the API does).
FILTERS = {
    "": {},
    "state=submitted": {"state": "submitted"},
    "state=in_review": {"state": "in_review"},
    "assignee=me": {"assignee": "me"},
    "assignee=none": {"assignee": "none"},
    "overdue": {"overdue": "true"},
    "procedure=tax": {"procedure": "tax-certificate"},
}
#: Every filter with the API's order, and with the console's default sort; the other orders of each.
QUERIES = [
    *(Query(f"api {name}".strip(), "api", params) for name, params in FILTERS.items()),
    Query("api newest first", "api", {"order": "newest"}),
    *(Query(f"console {name or '(oldest submitted)'}", "console", params) for name, params in FILTERS.items()),
    Query("console sort=newest", "console", {"sort": "newest"}),
    Query("console sort=due", "console", {"sort": "due"}),
    Query("console overdue, sort=due", "console", {"overdue": "true", "sort": "due"}),
]


def time_interleaved(
    worlds: list[World], request: Any, count: int, warm_up: int = WARM_UP
) -> dict[int, tuple[list[float], Any]]:
    """``request(world, connection)`` ``count`` times per world (after ``warm_up`` unmeasured times), the worlds
    taking turns (in alternating order), so that noise on the machine hits every size alike: per size, the
    seconds each took and what the last returned."""
    connections = {w.size: http.client.HTTPConnection("127.0.0.1", w.port, timeout=300) for w in worlds}
    latencies: dict[int, list[float]] = {w.size: [] for w in worlds}
    last: dict[int, Any] = {}
    try:
        for n in range(count + warm_up):
            for world in worlds if n % 2 == 0 else worlds[::-1]:
                sent = time.perf_counter()
                last[world.size] = request(world, connections[world.size])
                if n >= warm_up:
                    latencies[world.size].append(time.perf_counter() - sent)
    finally:
        for conn in connections.values():
            conn.close()
    return {size: (latencies[size], last[size]) for size in latencies}


def get(path: str, headers: dict[str, str], conn: http.client.HTTPConnection) -> bytes:
    status, body = call(conn, "GET", path, headers)
    if status != 200:
        raise SystemExit(f"GET {path}: {status} {body[:300]!r}")
    return body


#: (size, municipality, query) -> (HTTP p50 ms, HTTP p95 ms, rows shown, database p50 ms, database p95 ms)
Figures = dict[tuple[int, str, str], tuple[float, float, int, float, float]]


def measure_queues(worlds: list[World], count: int) -> Figures:
    """Each query of the biggest and the smallest municipality ``count`` times through HTTP, then its statement
    ``count`` times under ``EXPLAIN ANALYZE`` as the app role with the tenant bound (the server's own execution
    time: the part that grows with the table, without the noise of the rest of the request)."""
    figures: Figures = {}
    for slug in (BIGGEST, SMALLEST):
        for query in QUERIES:

            def ask(world: World, conn: http.client.HTTPConnection, query: Query = query, slug: str = slug) -> int:
                town = world.towns[slug]
                headers = {"Cookie": f"{COOKIE_NAME}={town.staff_cookies[0]}"}
                return query.shown(get(query.path(town), headers, conn))

            answers = time_interleaved(worlds, ask, count)
            line = f"  {slug:<19} {query.name:<27}"
            for world in worlds:
                latencies, shown = answers[world.size]
                executions = database_times(world, slug, query, count)
                figures[(world.size, slug, query.name)] = p50, p95, _, d50, d95 = (
                    percentile(latencies, 50) * 1000,
                    percentile(latencies, 95) * 1000,
                    shown,
                    percentile(executions, 50),
                    percentile(executions, 95),
                )
                line += f" | {world.size:,}: {p50:5.1f} {p95:5.1f} ms {shown:2d} rows, db {d50:6.2f} {d95:6.2f} ms"
            print(line, flush=True)
    return figures


def database_times(world: World, slug: str, query: Query, count: int) -> list[float]:
    """Execution times (ms) of the query's statement as the app runs it from its sixth time on a connection: psycopg
    has prepared it by then, and PostgreSQL may settle on a generic plan (``force_generic_plan`` here, the worse
    case); a plan that scans ``applications`` ends the run."""
    times = []
    town = world.towns[slug]
    with world.db.transaction(town.tenant_id) as session:
        statement = query.statement(session, town)
        connection = session.connection()
        # $n placeholders for PREPARE; render_postcompile: an expanding IN list one item each (as psycopg sends it).
        numbered = statement.compile(
            dialect=postgresql.dialect(paramstyle="numeric_dollar"), compile_kwargs={"render_postcompile": True}
        )
        arguments = [numbered.params[name] for name in numbered.positiontup or []]
        connection.exec_driver_sql("SET LOCAL plan_cache_mode = force_generic_plan")
        connection.exec_driver_sql(f"PREPARE queue_query AS {numbered}")
        driver = connection.connection.driver_connection  # psycopg's own, to quote the arguments as literals
        assert driver is not None
        values = sql.SQL(", ").join(sql.Literal(value) for value in arguments).as_string(driver)
        for _ in range(count):
            row = driver.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE queue_query({values})").fetchone()
            assert row is not None
            plan = row[0] if isinstance(row[0], list) else json.loads(row[0])
            times.append(float(plan[0]["Execution Time"]))
        connection.exec_driver_sql("DEALLOCATE queue_query")
        if _scans_applications(plan[0]["Plan"]):
            raise SystemExit(f"{slug} {query.name}: a sequential scan of applications:\n{json.dumps(plan)}")
    return times


def _scans_applications(node: dict[str, Any]) -> bool:
    if node.get("Node Type") == "Seq Scan" and node.get("Relation Name") == "applications":
        return True
    return any(_scans_applications(child) for child in node.get("Plans", []))


def keep_sessions_alive(world: World) -> None:
    """Loading a million rows outlasts the sessions' idle timeout: they count as just used."""
    with world.superuser() as conn:
        conn.execute("update web_sessions set last_seen_at = now()")


def platform_token(db: Database) -> str:
    with db.transaction() as session:
        admin = PlatformAdmin(email="bench@example.jp", display_name="Bench", password_hash=hash_password("x" * 20))
        session.add(admin)
        session.flush()
        _, token = identity.create_platform_token(session, admin, name="bench", lifetime=timedelta(days=1))
    return token


def measure_tenant_lists(world: World, token: str, count: int, tenants: int) -> list[tuple[str, float, float, int]]:
    """(what, p50 ms, p95 ms, municipalities shown) of the public tenant list (a page and the next), the
    platform's front page and the platform admin API's list."""
    conn = http.client.HTTPConnection("127.0.0.1", world.port, timeout=300)
    conn.request("GET", "/api/v1/tenants")
    answer = conn.getresponse()
    answer.read()
    conn.close()
    next_path = _next_link(answer.getheader("Link"))

    def listed(body: bytes) -> int:
        page = json.loads(body)
        return len(page["items"] if isinstance(page, dict) else page)

    cases: list[tuple[str, str, dict[str, str], Any]] = [
        ("GET /api/v1/tenants", "/api/v1/tenants", {}, listed),
        ("GET / (the platform's front page)", "/", {}, lambda b: b.count(b'<li class="card"')),
        ("GET /api/v1/admin/tenants", "/api/v1/admin/tenants", {"Authorization": f"Bearer {token}"}, listed),
    ]
    if next_path:
        cases.insert(1, ("GET /api/v1/tenants, the next page", next_path, {}, listed))
    results = []
    for name, path, headers, check in cases:

        def ask(world: World, conn: http.client.HTTPConnection, path: str = path, headers: Any = headers) -> bytes:
            return get(path, headers, conn)

        latencies, body = time_interleaved([world], ask, count, warm_up=2)[world.size]
        results.append((f"{name}", percentile(latencies, 50) * 1000, percentile(latencies, 95) * 1000, check(body)))
        print(
            f"  {name} at {tenants:,} municipalities: p50 {results[-1][1]:.1f} ms, p95 {results[-1][2]:.1f} ms,"
            f" {results[-1][3]} shown",
            flush=True,
        )
    return results


def _next_link(header: str | None) -> str | None:
    """The target of a ``Link`` header's ``rel="next"`` (RFC 8288), as a path."""
    for part in (header or "").split(","):
        target, _, params = part.partition(";")
        if 'rel="next"' in params:
            url = target.strip().strip("<>")
            return "/" + url.split("://", 1)[-1].split("/", 1)[-1] if "://" in url else url
    return None


# ------------------------------------------------------------------------------------------------ main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--applications",
        default="10000,1000000",
        help="comma-separated sizes to measure the queues at, smallest first (default 10000,1000000; 0: none)",
    )
    parser.add_argument("--requests", type=int, default=40, help="measured requests per query (default 40)")
    parser.add_argument(
        "--tenant-list",
        type=int,
        default=10_000,
        help="municipalities when timing the tenant lists (default 10000; 0: skip them)",
    )
    args = parser.parse_args()
    sizes = sorted({int(size) for size in args.applications.split(",") if size.strip() and int(size) > 0})
    reason = ThrowawayPostgres.unavailable_reason()
    if reason:
        raise SystemExit(f"cannot start PostgreSQL: {reason}")
    # Stopped with SIGTERM (a timeout): stop the servers and remove the data on the way out.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(1))

    with ThrowawayPostgres() as pg, tempfile.TemporaryDirectory(prefix="madoguchi-scale-") as folder:
        free = shutil.disk_usage(pg.data_dir).free
        needed = sum(sizes) * BYTES_PER_APPLICATION
        print(f"disk free {free / 1e9:.1f} GB; the sizes need about {needed / 1e9:.1f} GB", flush=True)
        if needed > free * 0.8:
            raise SystemExit("not enough disk for these sizes: choose smaller --applications")
        began = time.monotonic()
        worlds: list[World] = []
        token = ""
        for size in sizes or [0]:
            dbname = f"scale_{size}"
            pg.create_database(dbname)
            (Path(folder) / dbname).mkdir()
            settings, db = migrated(pg, str(Path(folder) / dbname), dbname)
            towns = seed_people(db, settings, residents={"*": 3}, staff=3)
            world = World(size, dbname, pg, settings, db, towns)
            worlds.append(world)
            make_templates(world)
            token = token or platform_token(db)
            with world.superuser() as conn:
                add_tenants(conn, world.towns, TENANTS)
            if size:
                took = load_applications(world)
                print(f"loaded {size:,} in {took:.0f} s: {table_sizes(world)}", flush=True)
        print(f"seeded in {time.monotonic() - began:.0f} s", flush=True)
        if args.tenant_list:
            with worlds[0].superuser() as conn:  # more municipalities in the first world only
                add_tenants(conn, worlds[0].towns, max(args.tenant_list, TENANTS))
                conn.execute("analyze tenants, tenant_services")

        servers: list[Server] = []
        results: Figures = {}
        lists = []
        with running(servers):
            for world in worlds:
                keep_sessions_alive(world)
                env = server_env(world.settings, str(world.settings.data_dir))
                world.server = start_gunicorn(
                    f"project-{world.size}", "madoguchi:create_app()", env, Path(folder), "/healthz"
                )
                servers.append(world.server)
            if sizes:
                results = measure_queues(worlds, args.requests)
            if args.tenant_list:
                lists = measure_tenant_lists(worlds[0], token, args.requests, args.tenant_list)
        for world in worlds:
            world.db.dispose()

    report(sizes, results, lists)


def report(sizes: list[int], results: Figures, lists: list[tuple[str, float, float, int]]) -> None:
    """The queue figures side by side per size, with the ratios of the largest size's p95 to the smallest's."""
    if sizes:
        low, high = sizes[0], sizes[-1]
        print("\nmilliseconds; HTTP: one keep-alive connection per size, the sizes taking turns; db: EXPLAIN ANALYZE")
        head = f"{'municipality':<19} {'query':<27}"
        for size in sizes:
            head += f" | {f'{size:,}: HTTP p50':>16} {'p95':>6} {'rows':>4} {'db p50':>6} {'p95':>6}"
        if high != low:
            head += f" | {'p95 ratio: HTTP':>15} {'db':>6}"
        print(head)
        for slug in (BIGGEST, SMALLEST):
            for query in QUERIES:
                line = f"{slug:<19} {query.name:<27}"
                for size in sizes:
                    p50, p95, shown, d50, d95 = results[(size, slug, query.name)]
                    line += f" | {p50:>16.1f} {p95:>6.1f} {shown:>4} {d50:>6.2f} {d95:>6.2f}"
                if high != low:
                    http_ratio = results[(high, slug, query.name)][1] / results[(low, slug, query.name)][1]
                    db_ratio = results[(high, slug, query.name)][4] / results[(low, slug, query.name)][4]
                    line += f" | {http_ratio:>14.2f}x {db_ratio:>5.2f}x" + ("" if http_ratio <= 1.2 else "  > 1.2")
                print(line)
    if lists:
        print(f"\n{'tenant lists':<44} {'p50 ms':>8} {'p95 ms':>8} {'shown':>6}")
        for name, p50, p95, shown in lists:
            print(f"{name:<44} {p50:>8.1f} {p95:>8.1f} {shown:>6}")


if __name__ == "__main__":
    main()
