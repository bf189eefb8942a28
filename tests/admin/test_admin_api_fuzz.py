"""Schemathesis over the admin API, as a platform admin: no server error and no answer outside the schema, whatever
the body (the shared fuzz test in tests/api calls these endpoints as tenant staff, who only ever get 403).

The tenant id is pinned to a real municipality half of the time, so creation, invitations and every status change
run for real (and then conflict, once it is deleted); the other half it is generated (404).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
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
from madoguchi.identity import operations as identity
from madoguchi.identity.models import PlatformAdmin
from madoguchi.tenancy.models import Tenant

pytestmark = pytest.mark.slow

TENANT = "shiomi-town"


@pytest.fixture(scope="module")
def admin_app(tmp_path_factory: pytest.TempPathFactory):
    data_dir: Path = tmp_path_factory.mktemp("admin-fuzz")
    config = replace(demo_settings(data_dir), api_rate_limit="100000/minute")
    seed(config)
    app = create_app(config)
    database = Database(config.effective_database_url, audit_key=config.audit_key)
    with database.transaction() as session:
        admin = PlatformAdmin(email="fuzz-ops@example.jp", display_name="Fuzz", password_hash=None)
        session.add(admin)
        session.flush()
        _, token = identity.create_platform_token(session, admin, name="fuzz", lifetime=timedelta(hours=1))
        tenant_id = session.execute(select(Tenant.id).where(Tenant.slug == TENANT)).scalar_one()
    app.config["FUZZ_TOKEN"] = token
    app.config["FUZZ_TENANT_ID"] = str(tenant_id)
    yield app
    database.dispose()


@pytest.fixture(scope="module")
def admin_schema(admin_app):
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", admin_app)


schema = schemathesis.pytest.from_fixture("admin_schema").include(path_regex="^/api/v1/admin/")


@schema.parametrize()
@settings(
    max_examples=40,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_every_admin_operation_answers_within_its_schema(case, admin_app) -> None:
    path_parameters = case.path_parameters or {}
    if "tenant_id" in path_parameters and hash(str(case.body)) % 2 == 0:
        path_parameters["tenant_id"] = admin_app.config["FUZZ_TENANT_ID"]
    response = case.call_and_validate(
        headers={"Authorization": f"Bearer {admin_app.config['FUZZ_TOKEN']}"},
        checks=[not_a_server_error, response_schema_conformance],
    )
    assert response.status_code not in (401, 403), (case.method, case.path, response.text[:200])
