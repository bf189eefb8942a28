"""Tenant isolation: the ORM safety net on both backends, row-level security on PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy import select, text

from madoguchi.db import CrossTenantWrite, Database, TenantNotBound, bind_tenant
from madoguchi.registry.models import Person
from tests.factories import make_person, tenants


@pytest.fixture
def two_tenants_with_people(db: Database, seeded: None):
    tenant_a, tenant_b = tenants(db)[:2]
    with db.transaction(tenant_a.id) as session:
        make_person(session, tenant_a, given_name="花子")
    with db.transaction(tenant_b.id) as session:
        make_person(session, tenant_b, given_name="次郎")
    return tenant_a, tenant_b


def test_orm_reads_only_rows_of_the_bound_tenant(db: Database, two_tenants_with_people) -> None:
    tenant_a, tenant_b = two_tenants_with_people
    with db.transaction(tenant_a.id) as session:
        names = session.execute(select(Person.given_name)).scalars().all()
        # Even an explicit filter for B's rows finds nothing while bound to A.
        b_rows = session.execute(select(Person).where(Person.tenant_id == tenant_b.id)).scalars().all()
    assert names == ["花子"]
    assert b_rows == []


def test_orm_session_bound_to_no_tenant_sees_no_tenant_rows(db: Database, two_tenants_with_people) -> None:
    with db.transaction() as session:
        assert session.execute(select(Person)).scalars().all() == []


def test_orm_refuses_to_write_a_row_of_another_tenant(db: Database, two_tenants_with_people) -> None:
    tenant_a, tenant_b = two_tenants_with_people
    with pytest.raises(CrossTenantWrite), db.transaction(tenant_a.id) as session:
        make_person(session, tenant_b)


def test_orm_refuses_to_write_a_tenant_row_with_no_tenant_bound(db: Database, two_tenants_with_people) -> None:
    tenant_a, _ = two_tenants_with_people
    with pytest.raises(TenantNotBound), db.transaction() as session:
        make_person(session, tenant_a)


def test_orm_bulk_update_stays_inside_the_tenant(db: Database, two_tenants_with_people) -> None:
    tenant_a, tenant_b = two_tenants_with_people
    with db.transaction(tenant_a.id) as session:
        session.execute(sa.update(Person).values(given_name="変更"))
    with db.transaction(tenant_b.id) as session:
        assert session.execute(select(Person.given_name)).scalars().all() == ["次郎"]


# ---------------------------------------------------------------------------------- PostgreSQL RLS


def _raw_names(session) -> list[str]:
    # text(): bypasses the ORM safety net entirely, so only row-level security stands in the way.
    return list(session.execute(text("select given_name from persons order by given_name")).scalars())


@pytest.mark.postgres_only
def test_raw_sql_as_app_role_sees_only_the_set_tenant(db: Database, two_tenants_with_people) -> None:
    tenant_a, _ = two_tenants_with_people
    with db.transaction(tenant_a.id) as session:
        assert _raw_names(session) == ["花子"]


@pytest.mark.postgres_only
def test_raw_sql_with_no_tenant_set_returns_nothing(db: Database, two_tenants_with_people) -> None:
    with db.transaction() as session:
        assert _raw_names(session) == []
        assert session.execute(text("select count(*) from audit_records")).scalar_one() == 0


@pytest.mark.postgres_only
def test_raw_insert_for_another_tenant_is_refused_by_the_database(db: Database, two_tenants_with_people) -> None:
    tenant_a, tenant_b = two_tenants_with_people
    with pytest.raises(sa.exc.ProgrammingError, match="row-level security"), db.transaction(tenant_a.id) as session:
        session.execute(
            text(
                "insert into facilities (id, tenant_id, facility_code, name_ja, name_en, kind, postal_code, address,"
                " capacity_by_age, accepts_short_hours) values (gen_random_uuid(), :b, 'X-1', 'x', 'x', 'nursery',"
                " '100-0001', 'x', '{}', true)"
            ),
            {"b": str(tenant_b.id)},
        )


@pytest.mark.postgres_only
def test_tenant_setting_does_not_leak_to_the_next_transaction_on_a_pooled_connection(
    settings,
    two_tenants_with_people,
) -> None:
    tenant_a, _ = two_tenants_with_people
    single = Database(settings.database_url, pool_size=1, max_overflow=0)
    try:
        with single.transaction(tenant_a.id) as session:
            pid_a = session.execute(text("select pg_backend_pid()")).scalar_one()
            assert _raw_names(session) == ["花子"]
        with single.transaction() as session:
            assert session.execute(text("select pg_backend_pid()")).scalar_one() == pid_a  # same connection
            assert session.execute(text("select current_setting('app.tenant_id', true)")).scalar_one() in ("", None)
            assert _raw_names(session) == []
    finally:
        single.dispose()


@pytest.mark.postgres_only
def test_binding_a_tenant_mid_transaction_applies_to_that_transaction(db: Database, two_tenants_with_people) -> None:
    tenant_a, _ = two_tenants_with_people
    with db.transaction() as session:
        assert _raw_names(session) == []
        bind_tenant(session, tenant_a.id)
        assert _raw_names(session) == ["花子"]


@pytest.mark.postgres_only
def test_app_role_cannot_bypass_or_own_tenant_tables(db: Database, two_tenants_with_people) -> None:
    with db.transaction() as session:
        role = session.execute(text("select rolsuper, rolbypassrls from pg_roles where rolname = current_user")).one()
        owners = set(
            session.execute(text("select distinct tableowner from pg_tables where schemaname = 'public'")).scalars()
        )
        user = session.execute(text("select current_user")).scalar_one()
    assert tuple(role) == (False, False)
    assert user not in owners


@pytest.mark.postgres_only
def test_app_role_cannot_rewrite_the_audit_trail(db: Database, two_tenants_with_people) -> None:
    tenant_a, _ = two_tenants_with_people
    with pytest.raises(sa.exc.ProgrammingError, match="permission denied"), db.transaction(tenant_a.id) as session:
        session.execute(text("update audit_records set actor = 'someone else'"))


@pytest.mark.postgres_only
def test_request_with_no_tenant_after_one_for_a_sees_nothing_of_a(settings, two_tenants_with_people) -> None:
    from dataclasses import replace

    from madoguchi import create_app
    from madoguchi.context import database, db_session

    tenant_a, _ = two_tenants_with_people
    app = create_app(replace(settings, db_pool_size=1))
    client = app.test_client()
    try:
        with app.app_context():
            database().engine.pool._max_overflow = 0
        assert client.get(f"/api/v1/t/{tenant_a.slug}/procedures").status_code == 200
        with app.test_request_context("/readyz"):
            session = db_session()
            assert session.execute(text("select count(*) from tenant_services")).scalar_one() == 0
            assert _raw_names(session) == []
    finally:
        with app.app_context():
            database().dispose()
