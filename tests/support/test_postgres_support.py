"""The throwaway PostgreSQL server gives the app a role that row-level security applies to."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import errors

from . import postgres as support
from .postgres import APP_ROLE, OWNER_ROLE, SUPERUSER, PostgresError, ThrowawayPostgres


def require_postgres() -> None:
    reason = ThrowawayPostgres.unavailable_reason()
    if reason is None:
        return
    if os.environ.get("MADOGUCHI_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"MADOGUCHI_REQUIRE_POSTGRES=1 but PostgreSQL cannot be started: {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL not available: {reason} (MADOGUCHI_REQUIRE_POSTGRES=1 turns this into a failure)")


@pytest.fixture(scope="module")
def pg() -> Iterator[ThrowawayPostgres]:
    require_postgres()
    with ThrowawayPostgres() as server:
        yield server


def connect(pg: ThrowawayPostgres, role: str, dbname: str = support.DATABASE) -> psycopg.Connection:
    return psycopg.connect(pg.conninfo(role, dbname), autocommit=True)


def test_urls_are_sqlalchemy_urls_for_the_madoguchi_database(pg: ThrowawayPostgres) -> None:
    assert pg.app_url.startswith(f"postgresql+psycopg://{APP_ROLE}:")
    assert pg.owner_url.startswith(f"postgresql+psycopg://{OWNER_ROLE}:")
    assert pg.superuser_url.startswith(f"postgresql+psycopg://{SUPERUSER}:")
    for url in (pg.app_url, pg.owner_url, pg.superuser_url):
        assert url.endswith(f"@127.0.0.1:{pg.port}/madoguchi")
    assert pg.server_version >= 150000


def test_app_role_is_not_superuser_and_does_not_bypass_rls(pg: ThrowawayPostgres) -> None:
    with connect(pg, APP_ROLE) as conn:
        row = conn.execute(
            "select rolsuper, rolbypassrls, rolcreatedb, rolcreaterole from pg_roles where rolname = current_user"
        ).fetchone()
        assert conn.execute("select current_user, current_database()").fetchone() == (APP_ROLE, "madoguchi")
    assert row == (False, False, False, False)


def test_app_role_cannot_create_tables_in_public(pg: ThrowawayPostgres) -> None:
    with connect(pg, APP_ROLE) as conn, pytest.raises(errors.InsufficientPrivilege):
        conn.execute("create table public.app_made_this (id int)")


def test_owner_creates_tables_the_app_may_use_but_not_alter(pg: ThrowawayPostgres) -> None:
    with connect(pg, OWNER_ROLE) as conn:
        conn.execute("create table public.notes (id serial primary key, body text not null)")
        owner = conn.execute("select tableowner from pg_tables where tablename = 'notes'").fetchone()
    assert owner == (OWNER_ROLE,)

    with connect(pg, APP_ROLE) as conn:
        conn.execute("insert into notes (body) values ('hello')")  # default privileges, sequence included
        conn.execute("update notes set body = 'bye'")
        assert conn.execute("select body from notes").fetchall() == [("bye",)]
        conn.execute("delete from notes")
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("drop table notes")
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("alter table notes disable row level security")


def test_row_level_security_filters_what_the_app_role_sees(pg: ThrowawayPostgres) -> None:
    tenant_a, tenant_b = "00000000-0000-0000-0000-00000000000a", "00000000-0000-0000-0000-00000000000b"
    with connect(pg, OWNER_ROLE) as conn:
        conn.execute("create table public.applications (tenant_id uuid not null, title text not null)")
        conn.execute("alter table applications enable row level security")
        conn.execute(
            "create policy tenant_isolation on applications"
            " using (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)"
        )
        conn.execute(
            "insert into applications values (%s, 'a1'), (%s, 'b1')", (tenant_a, tenant_b)
        )  # the owner is exempt: RLS is not forced

    with psycopg.connect(pg.conninfo(APP_ROLE)) as conn:
        assert conn.execute("select count(*) from applications").fetchone() == (0,)  # no tenant set
        conn.rollback()
        with conn.transaction():
            conn.execute("select set_config('app.tenant_id', %s, true)", (tenant_a,))
            assert conn.execute("select title from applications").fetchall() == [("a1",)]


def test_create_database_sets_up_another_database_the_same_way(pg: ThrowawayPostgres) -> None:
    owner_url, app_url = pg.create_database("madoguchi_gw1")
    assert owner_url == pg.url(OWNER_ROLE, "madoguchi_gw1")
    assert app_url.endswith(f"@127.0.0.1:{pg.port}/madoguchi_gw1")
    with connect(pg, OWNER_ROLE, "madoguchi_gw1") as conn:
        conn.execute("create table public.things (id int)")
    with connect(pg, APP_ROLE, "madoguchi_gw1") as conn:
        conn.execute("insert into things values (1)")
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("create table public.app_made_this (id int)")


def test_create_database_rejects_names_that_are_not_plain_identifiers(pg: ThrowawayPostgres) -> None:
    with pytest.raises(ValueError, match="must match"):
        pg.create_database('x"; drop database madoguchi; --')


def test_stop_shuts_the_server_down_and_deletes_its_folder() -> None:
    require_postgres()
    server = ThrowawayPostgres().start()
    base, conninfo = server.base_dir, server.conninfo(APP_ROLE)
    assert (server.data_dir / "PG_VERSION").is_file()

    server.stop()

    assert not base.exists()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(conninfo, connect_timeout=2).close()
    server.stop()  # a second stop (e.g. the atexit hook) does nothing
    with pytest.raises(PostgresError, match="not running"):
        _ = server.app_url


def test_failed_start_shows_the_server_log_and_leaves_nothing_behind(monkeypatch: pytest.MonkeyPatch) -> None:
    require_postgres()
    monkeypatch.setattr(support, "_SERVER_SETTINGS", {**support._SERVER_SETTINGS, "max_connections": "'plenty'"})
    made: list[Path] = []
    original = ThrowawayPostgres._make_base_dir

    def remember_base_dir(self: ThrowawayPostgres) -> Path:
        made.append(original(self))
        return made[-1]

    monkeypatch.setattr(ThrowawayPostgres, "_make_base_dir", remember_base_dir)

    with pytest.raises(PostgresError, match="did not start") as failure:
        ThrowawayPostgres().start()

    assert 'invalid value for parameter "max_connections"' in str(failure.value)
    assert made
    assert not made[0].exists()
