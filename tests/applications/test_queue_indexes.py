"""Every queue query is served by an index on PostgreSQL: no sequential scan of ``applications`` (decision 0024).

Thirty thousand applications skewed over three municipalities are loaded in SQL, analysed, and every query the
API's and the console's queues run (each filter, each sort, first and following pages, a resident's own list)
is built by the repository functions the app uses and planned as the app role with the tenant bound, twice: with
its values (the plan of a statement's first executions) and as a generic plan (the one PostgreSQL may settle on
once psycopg has prepared the statement). The migrated indexes also match the model's on both backends.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from madoguchi import models  # noqa: F401 - every model in the metadata
from madoguchi.applications import repository
from madoguchi.applications.models import Application
from madoguchi.catalog.models import TenantService
from madoguchi.db import Database
from madoguchi.identity.models import Account
from madoguchi.identity.principal import Principal
from madoguchi.tenancy.models import Tenant
from tests.applications.conftest import Town

#: Applications per municipality: one big city, a town, a village (the queue must not degrade for either end).
SIZES = {"sakuragaoka-city": 24_000, "shiomi-town": 5_000, "midorikawa-village": 1_000}
TODAY = date(2026, 6, 1)
#: The states the loaded rows cycle through (a seventh are unsent drafts: staff see only the counter ones).
STATES = ("draft", "submitted", "under_review", "more_info_requested", "approved", "rejected", "issued")


def _load(owner: sa.Connection, tenant: Tenant, town: Town, count: int) -> None:
    """``count`` applications of the tenant in one INSERT ... SELECT: states, channels, assignees and due dates
    spread the way a working queue has them (a fifth assigned, half with a due date, most of those past)."""
    owner.execute(sa.text("select set_config('app.tenant_id', :t, true)"), {"t": str(tenant.id)})
    service = owner.execute(
        sa.select(TenantService.service_key, TenantService.service_version_id)
        .where(TenantService.tenant_id == tenant.id)
        .order_by(TenantService.service_key)
    ).all()
    # The rows name one (empty) settings snapshot: these tests plan the queries, they read no settings.
    snapshot = repository.store_snapshot(owner, tenant.id, {})
    owner.execute(
        sa.text(
            """
            INSERT INTO applications (id, tenant_id, reference, service_key, service_version_id, state, channel,
                applicant_account_id, assignee_account_id, data, prefill_sources, settings_snapshot_hash, decision,
                created_at, updated_at, submitted_at, due_on, lock_version)
            SELECT gen_random_uuid(), :tenant, 'RC-' || lpad(g::text, 8, '0'),
                (CAST(:keys AS text[]))[1 + g % :services], (CAST(:versions AS uuid[]))[1 + g % :services],
                (CAST(:states AS text[]))[1 + g % :state_count],
                CASE WHEN g % 13 = 0 THEN 'counter' ELSE 'online' END,
                CASE WHEN g % 50 = 0 THEN CAST(:resident AS uuid) END,
                CASE WHEN g % 5 = 0 THEN CAST(:clerk AS uuid) END,
                '{}', '{}', :snapshot, '{}',
                timestamp '2025-01-01' + g * interval '17 minutes',
                timestamp '2025-01-01' + g * interval '17 minutes',
                CASE WHEN g % 7 <> 0 THEN timestamp '2025-01-01' + g * interval '17 minutes' + interval '1 hour' END,
                CASE WHEN g % 2 = 0 THEN date '2025-01-01' + (g / 60) END,
                1
            FROM generate_series(1, :count) AS g
            """
        ),
        {
            "tenant": tenant.id,
            "keys": [key for key, _ in service],
            "versions": [version for _, version in service],
            "services": len(service),
            "states": list(STATES),
            "state_count": len(STATES),
            "resident": town.resident.account_id,
            "clerk": town.clerk.account_id,
            "snapshot": snapshot,
            "count": count,
        },
    )


@pytest.fixture
def loaded(backend, db: Database, towns: dict[str, Town]) -> Iterator[dict[str, Town]]:
    owner = sa.create_engine(backend.owner_url, poolclass=sa.pool.NullPool)
    try:
        for slug, count in SIZES.items():
            with owner.begin() as connection:
                tenant = connection.execute(sa.select(Tenant).where(Tenant.slug == slug)).one()
                _load(connection, tenant, towns[slug], count)
        with owner.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE applications")
    finally:
        owner.dispose()
    yield towns


def _queue_statements(session: Session, town: Town) -> Iterator[tuple[str, sa.Select[Any]]]:
    """(name, statement) for every query the queues run, as ``api/applications.py`` and
    ``console/views/queue.py`` build them."""
    tenant_id = town.tenant.id
    some_row = session.execute(
        sa.select(Application.id)
        .where(Application.tenant_id == tenant_id)
        .order_by(Application.reference)
        .offset(7)
        .limit(1)
    ).scalar_one()
    filters: dict[str, dict[str, Any]] = {
        "all": {},
        "state": {"state": "submitted"},
        "procedure": {"procedure": session.execute(sa.select(Application.service_key).limit(1)).scalar_one()},
        "assignee": {"assignee_id": town.clerk.account_id},
        "unassigned": {"unassigned": True},
        "overdue": {"overdue": True},
        "not overdue": {"overdue": False},
    }
    staff = repository.staff_visible()
    # The API's queue: staff, order created (oldest or newest first), first page and the next one.
    for name, chosen in filters.items():
        for newest_first in (False, True):
            for after in (None, repository.sort_key_of(session, tenant_id, some_row, "created")):
                yield (
                    f"api {name} newest={newest_first} after={after is not None}",
                    repository.page_statement(
                        tenant_id,
                        visible=staff,
                        filters=repository.queue_filters(session, tenant_id, today=TODAY, **chosen),
                        newest_first=newest_first,
                        after=after,
                        limit=50,
                    ),
                )
    # The console's queue: its three sorts (SORTS in console/views/queue.py), with every filter it offers.
    for sort, newest_first in (("submitted", False), ("submitted", True), ("due", False)):
        for name, chosen in filters.items():
            if chosen.get("overdue") is False:
                continue  # the console offers "overdue" only, not its negation
            for after in (None, repository.sort_key_of(session, tenant_id, some_row, sort)):
                yield (
                    f"console {sort} newest={newest_first} {name} after={after is not None}",
                    repository.page_statement(
                        tenant_id,
                        visible=staff,
                        filters=repository.queue_filters(session, tenant_id, today=TODAY, **chosen),
                        newest_first=newest_first,
                        after=after,
                        limit=25,
                        sort=sort,
                    ),
                )
    # A resident's own applications through the API (visible_to a resident), newest first as the portal lists.
    resident = Principal(method="session", tenant_id=tenant_id, account=session.get(Account, town.resident.account_id))
    yield (
        "api resident's own",
        repository.page_statement(
            tenant_id,
            visible=repository.visible_to(resident),
            filters=[],
            newest_first=True,
            after=None,
            limit=50,
        ),
    )


def _literal(value: Any) -> str:
    return "NULL" if value is None else "'" + str(value).replace("'", "''") + "'"


def _plans(session: Session, statement: sa.Select[Any]) -> dict[str, str]:
    """The statement's plan with its values, and its generic plan (``PREPARE`` under ``force_generic_plan``)."""
    connection = session.connection()
    compiled = statement.compile(dialect=connection.dialect, compile_kwargs={"render_postcompile": True})
    custom = connection.exec_driver_sql(f"EXPLAIN {compiled}", compiled.params).scalars().all()
    # $n placeholders for PREPARE; render_postcompile: the expanding IN list (terminal states) one per item.
    numbered = statement.compile(
        dialect=postgresql.dialect(paramstyle="numeric_dollar"), compile_kwargs={"render_postcompile": True}
    )
    arguments = ", ".join(_literal(numbered.params[name]) for name in numbered.positiontup or [])
    connection.exec_driver_sql("SET LOCAL plan_cache_mode = force_generic_plan")
    connection.exec_driver_sql(f"PREPARE queue_query AS {numbered}")
    try:
        generic = connection.exec_driver_sql(f"EXPLAIN EXECUTE queue_query({arguments})").scalars().all()
    finally:
        connection.exec_driver_sql("DEALLOCATE queue_query")
    return {"custom": "\n".join(custom), "generic": "\n".join(generic)}


@pytest.mark.postgres_only
@pytest.mark.commits
def test_no_queue_query_scans_the_whole_applications_table(db: Database, loaded: dict[str, Town]) -> None:
    scans: dict[str, str] = {}
    planned = 0
    for slug in SIZES:
        town = loaded[slug]
        with db.transaction(town.tenant.id) as session:
            for name, statement in _queue_statements(session, town):
                for kind, plan in _plans(session, statement).items():
                    planned += 1
                    if "Seq Scan on applications" in plan:
                        scans[f"{slug} {name} ({kind} plan)"] = plan
    assert planned > 100
    first = next(iter(scans), "")
    assert not scans, (
        f"{len(scans)} of {planned} plans scan applications:\n" + "\n".join(scans) + f"\n\n{first}:\n{scans[first]}"
    )


#: A municipality's long history (finished, assigned) and its recent open queue, for the time-bound filters.
HISTORY, RECENT = 40_000, 600


def _load_history(owner: sa.Connection, tenant: Tenant, town: Town) -> None:
    """Years of finished, assigned applications, then the last weeks' open ones: half unassigned, most overdue.
    Unassigned and overdue rows are thus a sliver of the table, and the newest: what a real queue looks like."""
    owner.execute(sa.text("select set_config('app.tenant_id', :t, true)"), {"t": str(tenant.id)})
    key, version = owner.execute(
        sa.select(TenantService.service_key, TenantService.service_version_id)
        .where(TenantService.tenant_id == tenant.id)
        .order_by(TenantService.service_key)
        .limit(1)
    ).one()
    snapshot = repository.store_snapshot(owner, tenant.id, {})
    owner.execute(
        sa.text(
            """
            INSERT INTO applications (id, tenant_id, reference, service_key, service_version_id, state, channel,
                assignee_account_id, data, prefill_sources, settings_snapshot_hash, decision, created_at, updated_at,
                submitted_at, due_on, lock_version)
            SELECT gen_random_uuid(), :tenant, 'H-' || lpad(g::text, 8, '0'), :key, :version,
                CASE WHEN g <= :history THEN (ARRAY['issued', 'rejected', 'withdrawn'])[1 + g % 3]
                    ELSE (ARRAY['submitted', 'in_review', 'more_info_requested'])[1 + g % 3] END,
                'online',
                CASE WHEN g <= :history OR g % 2 = 0 THEN CAST(:clerk AS uuid) END,
                '{}', '{}', :snapshot, '{}',
                timestamp '2022-01-01' + g * interval '39 minutes',
                timestamp '2022-01-01' + g * interval '39 minutes',
                timestamp '2022-01-01' + g * interval '39 minutes',
                date '2022-01-01' + (g * 39 / 1440) + 3,
                1
            FROM generate_series(1, :history + :recent) AS g
            """
        ),
        {
            "tenant": tenant.id,
            "key": key,
            "version": version,
            "clerk": town.clerk.account_id,
            "snapshot": snapshot,
            "history": HISTORY,
            "recent": RECENT,
        },
    )


@pytest.mark.postgres_only
@pytest.mark.commits
def test_the_unassigned_overdue_and_state_queues_read_their_own_indexes(
    db: Database, backend, towns: dict[str, Town]
) -> None:
    """Decision 0028: "unassigned" and "overdue" in every queue order read the partial index of their rows, and a
    state in the console's sorts its own index, not a walk of the whole history (which the no-sequential-scan test
    above lets through)."""
    town = towns["shiomi-town"]
    owner = sa.create_engine(backend.owner_url, poolclass=sa.pool.NullPool)
    try:
        with owner.begin() as connection:
            _load_history(
                connection, connection.execute(sa.select(Tenant).where(Tenant.id == town.tenant.id)).one(), town
            )
        with owner.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE applications")
    finally:
        owner.dispose()
    # Today: after the history, so the open applications are overdue (their due dates passed) and the finished
    # ones' due dates are older still.
    today = date(2022, 1, 1) + timedelta(days=(HISTORY + RECENT) * 39 // 1440 + 10)
    expected = {
        "unassigned": "ix_applications_unassigned",
        "overdue": "ix_applications_open",
        "state": "ix_applications_state_",  # the console's sorts after a state (the API's has its own)
    }
    console = [("submitted", False, 25), ("submitted", True, 25), ("due", False, 25)]
    wrong: dict[str, str] = {}
    planned = 0
    with db.transaction(town.tenant.id) as session:
        for name, chosen, orders in (
            ("unassigned", {"unassigned": True}, [("created", False, 50), ("created", True, 50), *console]),
            ("overdue", {"overdue": True}, [("created", False, 50), ("created", True, 50), *console]),
            ("state", {"state": "submitted"}, console),
        ):
            for sort, newest_first, limit in orders:
                statement = repository.page_statement(
                    town.tenant.id,
                    visible=repository.staff_visible(),
                    filters=repository.queue_filters(session, town.tenant.id, today=today, **chosen),
                    newest_first=newest_first,
                    after=None,
                    limit=limit,
                    sort=sort,
                )
                assert len(session.execute(statement).all()) == limit + 1  # a full page: the queue is there
                for kind, plan in _plans(session, statement).items():
                    planned += 1
                    if f"using {expected[name]}" not in plan:
                        wrong[f"{name} {sort} newest={newest_first} ({kind} plan)"] = plan
    assert planned == 26
    first = next(iter(wrong), "")
    assert not wrong, (
        f"{len(wrong)} plans walk another index:\n" + "\n".join(wrong) + f"\n\n{first}:\n{wrong.get(first)}"
    )


def test_the_migrated_application_indexes_match_the_model(backend) -> None:
    """As migrated and as the model declares them, on PostgreSQL as the server itself prints each definition
    (alembic's text comparison of expression indexes trips over the server's line breaks and parentheses); by
    name on SQLite, which keeps the text as written."""
    engine = sa.create_engine(backend.owner_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            migrated = _indexes(connection)
            declared = dict.fromkeys(migrated)
            if backend.is_postgres:
                # DDL is transactional: the model's own indexes in place of the migrated ones, then rolled back.
                for name in migrated:
                    connection.exec_driver_sql(f"DROP INDEX {name}")
                for index in Application.__table__.indexes:
                    index.create(connection)
                declared = _indexes(connection)
            connection.rollback()
    finally:
        engine.dispose()
    assert set(migrated) == {index.name for index in Application.__table__.indexes}
    assert migrated == declared


def _indexes(connection: sa.Connection) -> dict[str, str | None]:
    """The ``ix_`` indexes of ``applications``: name -> definition (PostgreSQL's own rendering; SQLite: None)."""
    if connection.dialect.name == "postgresql":
        query = "select indexname, indexdef from pg_indexes where tablename = 'applications'"
    else:
        query = "select name, null from sqlite_master where type = 'index' and tbl_name = 'applications'"
    return {name: definition for name, definition in connection.exec_driver_sql(query) if name.startswith("ix_")}
