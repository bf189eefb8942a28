"""Schemathesis over the whole OpenAPI document: no server error and no response that breaks the schema.

At least 50 generated examples per operation, against a seeded SQLite app, signed in as a tenant admin
staff member (supervisor) and as a tenant admin, so that authenticated operations are exercised past the
authentication hook and the role checks. The tenant path
parameter is pinned to a real municipality; everything else is generated.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance
from sqlalchemy import select

from madoguchi import create_app
from madoguchi.db import Database
from madoguchi.demo import demo_settings, seed
from madoguchi.identity.models import Account
from madoguchi.identity.sessions import COOKIE_NAME, start_session
from madoguchi.tenancy.models import Tenant

pytestmark = pytest.mark.slow

TENANT = "shiomi-town"


@pytest.fixture(scope="module")
def seeded_app(tmp_path_factory: pytest.TempPathFactory):
    data_dir: Path = tmp_path_factory.mktemp("fuzz")
    config = replace(demo_settings(data_dir), api_rate_limit="100000/minute")
    seed(config)
    app = create_app(config)
    database = Database(config.effective_database_url, audit_key=config.audit_key)
    with database.transaction() as session:
        tenant = session.execute(select(Tenant).where(Tenant.slug == TENANT)).scalar_one()
    accounts = {}
    with database.transaction(tenant.id) as session:
        for role in ("supervisor", "admin"):
            email = f"{role}@{TENANT}.example.jp"
            accounts[role] = session.execute(select(Account).where(Account.email == email)).scalar_one()

    def fresh_session(role: str) -> str:
        # A new session for every call: the fuzzer also logs out and changes passwords, which ends sessions.
        with app.test_request_context(base_url="https://localhost"), database.transaction(tenant.id) as session:
            return start_session(session, accounts[role], second_factor_done=True)[1]

    app.config["FUZZ_SESSION"] = fresh_session
    yield app
    database.dispose()


@pytest.fixture(scope="module")
def api_schema(seeded_app):
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", seeded_app)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=50,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_within_its_schema(case, seeded_app) -> None:
    if "tenant" in (case.path_parameters or {}):
        case.path_parameters["tenant"] = TENANT
    for role in ("supervisor", "admin"):
        response = case.call_and_validate(
            cookies={COOKIE_NAME: seeded_app.config["FUZZ_SESSION"](role)},
            checks=[not_a_server_error, response_schema_conformance],
        )
        # Every call carries a live session: a 401 would mean the fuzzing never got past authentication.
        assert response.status_code != 401, (case.method, case.path)
