"""Tests that run inside one rolled-back transaction keep the tenant safety net (docs/decisions/0022).

Every session of such a test joins the test's connection through a SAVEPOINT. On PostgreSQL that connection is
the app role that row-level security applies to, and ``app.tenant_id`` is set with ``set_config(..., true)``,
which lasts until the *outer* transaction ends: so each session (each request) must set its own tenant, and a
tenant bound by an earlier one must not carry over to the next.
"""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import text

from madoguchi.context import db_session
from madoguchi.db import Database
from tests.conftest import Backend
from tests.factories import make_household, tenants
from tests.support.postgres import APP_ROLE

#: Raw SQL, so only row-level security (not the ORM's criteria) decides what a session sees.
COUNT_HOUSEHOLDS = text("select count(*) from households")


def test_a_seeded_test_runs_joined_and_its_writes_are_rolled_back(
    db: Database, seeded: None, backend: Backend, run: str
) -> None:
    # Both runs write the same unique code: the second would fail if the first one's row had been kept.
    assert backend.joined
    tenant = tenants(db)[0]
    with db.transaction(tenant.id) as session:
        make_household(session, tenant, household_code="JOINED-1")
    with db.transaction(tenant.id) as session:
        assert session.execute(COUNT_HOUSEHOLDS).scalar_one() == 1


@pytest.fixture(params=["first", "second"])
def run(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.mark.postgres_only
def test_the_joined_connection_is_the_app_role_under_row_level_security(db: Database, seeded: None) -> None:
    with db.transaction() as session:
        user, bypasses = session.execute(
            text("select current_user, rolbypassrls from pg_roles where rolname = current_user")
        ).one()
    assert (user, bypasses) == (APP_ROLE, False)


@pytest.mark.postgres_only
def test_row_level_security_refuses_cross_tenant_reads_between_savepoints(db: Database, seeded: None) -> None:
    tenant_a, tenant_b = tenants(db)[:2]
    with db.transaction(tenant_a.id) as session:
        make_household(session, tenant_a)
    # A's session is released (its savepoint, not the test's transaction): its app.tenant_id would still be set
    # if the next session did not set its own.
    with db.transaction() as session:
        assert session.execute(COUNT_HOUSEHOLDS).scalar_one() == 0
    with db.transaction(tenant_a.id) as session:
        assert session.execute(COUNT_HOUSEHOLDS).scalar_one() == 1
    with db.transaction(tenant_b.id) as session:
        assert session.execute(COUNT_HOUSEHOLDS).scalar_one() == 0


@pytest.mark.postgres_only
def test_a_request_after_another_tenants_request_sees_none_of_its_rows(app: Flask, db: Database) -> None:
    tenant_a, tenant_b = tenants(db)[:2]
    with db.transaction(tenant_a.id) as session:
        make_household(session, tenant_a)
    with app.test_request_context(f"/{tenant_a.slug}/"):
        assert db_session().execute(COUNT_HOUSEHOLDS).scalar_one() == 0  # bound to no tenant yet
    client = app.test_client()
    assert client.get(f"https://localhost/{tenant_a.slug}/").status_code == 200
    with app.test_request_context(f"/{tenant_b.slug}/"):
        assert db_session().execute(COUNT_HOUSEHOLDS).scalar_one() == 0
