"""The upgrade API for a tenant admin: ``GET/POST /api/v1/t/<tenant>/procedures/<key>/upgrade``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from madoguchi.db import Database
from madoguchi.identity.models import AccountKind, StaffRole
from madoguchi.tenancy.models import Tenant
from tests.catalog.test_upgrades import (
    EXPECTED_CHANGES,
    KEY,
    NEW_VERSION,
    OLD_VERSION,
    audit_records,
    publish_second_version,
    running_version,
)
from tests.factories import tenants
from tests.tenant_admin.conftest import HTTPS, Person, signed_in

ADOPTED = "tenant_service.version_adopted"

#: sakuragaoka-city's residency certificate fee per channel (tenant file), within both versions' ranges.
CITY_FEE = {"counter": 300, "online": 300, "convenience": 250}


def _url(tenant: Tenant, key: str = KEY) -> str:
    return f"{HTTPS}/api/v1/t/{tenant.slug}/procedures/{key}/upgrade"


def _problem(response: Any) -> dict[str, Any]:
    assert response.mimetype == "application/problem+json", (response.status_code, response.get_data(as_text=True))
    return response.json


@pytest.fixture
def world(app: Any, db: Database, seeded: None, tmp_path: Path) -> dict[str, Any]:
    """The second version published; the village (fee 400, now outside) and the city (conforming) with admins."""
    publish_second_version(db, tmp_path)
    village, city = tenants(db)[0], tenants(db)[1]
    return {
        "village": village,
        "city": city,
        "village_admin": signed_in(app, db, village, StaffRole.TENANT_ADMIN),
        "city_admin": signed_in(app, db, city, StaffRole.TENANT_ADMIN),
    }


def test_the_tenant_admin_sees_the_versions_the_difference_and_that_its_settings_conform(
    world: dict[str, Any],
) -> None:
    response = world["city_admin"].http.get(_url(world["city"]))

    assert response.status_code == 200
    body = response.json
    assert (body["current_version"], body["latest_version"], body["upgrade_available"]) == (
        OLD_VERSION,
        NEW_VERSION,
        True,
    )
    assert body["changes"] == [change.as_dict() for change in EXPECTED_CHANGES]
    assert (body["conforms"], body["problems"]) == (True, [])
    assert body["overrides"] == {"fee": CITY_FEE, "sla_days": 2, "auto_issue": True}


def test_a_tenant_whose_fee_is_now_outside_the_range_sees_the_problem_and_cannot_adopt_without_fixing_it(
    db: Database, world: dict[str, Any]
) -> None:
    admin: Person = world["village_admin"]
    village: Tenant = world["village"]
    body = admin.http.get(_url(village)).json
    assert body["conforms"] is False
    assert body["problems"] == [
        {"setting": "fee", "field": "overrides.fee", "message": "400 is outside the allowed range 250..350"}
    ]
    before = running_version(db, village)

    refused = admin.http.post(_url(village), json={})
    assert refused.status_code == 409
    problem = _problem(refused)
    assert problem["type"].endswith(":overrides-no-longer-conform")
    assert problem["errors"] == {"fee": ["400 is outside the allowed range 250..350"]}
    assert problem["version"] == NEW_VERSION

    still_wrong = admin.http.post(_url(village), json={"overrides": {**body["overrides"], "fee": 360}})
    assert still_wrong.status_code == 422
    assert _problem(still_wrong)["errors"] == {"fee": ["360 is outside the allowed range 250..350"]}
    assert running_version(db, village) == before
    assert audit_records(db, village, ADOPTED) == []

    adopted = admin.http.post(_url(village), json={"overrides": {**body["overrides"], "fee": 350}})
    assert adopted.status_code == 200, adopted.json
    assert (adopted.json["current_version"], adopted.json["upgrade_available"]) == (NEW_VERSION, False)
    assert running_version(db, village) == (NEW_VERSION, {**body["overrides"], "fee": 350})
    assert len(audit_records(db, village, ADOPTED)) == 1


def test_a_tenant_whose_settings_conform_adopts_in_one_step(db: Database, world: dict[str, Any]) -> None:
    response = world["city_admin"].http.post(_url(world["city"]), json={})

    assert response.status_code == 200
    assert response.json["current_version"] == NEW_VERSION
    assert running_version(db, world["city"]) == (NEW_VERSION, {"fee": CITY_FEE, "sla_days": 2, "auto_issue": True})
    [record] = audit_records(db, world["city"], ADOPTED)
    assert record.actor == f"account:{world['city_admin'].account_id}"
    assert running_version(db, world["village"])[0] == OLD_VERSION

    again = world["city_admin"].http.post(_url(world["city"]), json={})
    assert again.status_code == 409
    assert "already runs" in _problem(again)["detail"]


def test_a_retried_adoption_with_the_same_idempotency_key_replays_the_answer(
    db: Database, world: dict[str, Any]
) -> None:
    headers = {"Idempotency-Key": "adopt-residency-1"}
    first = world["city_admin"].http.post(_url(world["city"]), json={}, headers=headers)
    replay = world["city_admin"].http.post(_url(world["city"]), json={}, headers=headers)

    assert (first.status_code, replay.status_code) == (200, 200)
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.json == first.json
    assert len(audit_records(db, world["city"], ADOPTED)) == 1


def test_the_admin_of_another_tenant_gets_404_and_nothing_changes(db: Database, world: dict[str, Any]) -> None:
    city_admin: Person = world["city_admin"]
    village: Tenant = world["village"]
    before = running_version(db, village)

    assert city_admin.http.get(_url(village)).status_code == 404
    response = city_admin.http.post(_url(village), json={"overrides": {"fee": 300}})

    assert response.status_code == 404
    assert running_version(db, village) == before
    assert audit_records(db, village, ADOPTED) == []


@pytest.mark.parametrize(
    ("kind", "roles"),
    [(AccountKind.STAFF, [StaffRole.CLERK]), (AccountKind.STAFF, [StaffRole.SUPERVISOR]), (AccountKind.RESIDENT, [])],
)
def test_clerks_supervisors_and_residents_get_403(
    app: Any, db: Database, world: dict[str, Any], kind: str, roles: list[str]
) -> None:
    city: Tenant = world["city"]
    person = signed_in(app, db, city, *roles, kind=kind)

    assert _problem(person.http.get(_url(city)))["status"] == 403
    assert _problem(person.http.post(_url(city), json={}))["status"] == 403
    assert running_version(db, city)[0] == OLD_VERSION


def test_anonymous_callers_get_401(world: dict[str, Any], app: Any) -> None:
    assert app.test_client().get(_url(world["city"])).status_code == 401


def test_an_unknown_procedure_or_version_is_404_and_bad_input_is_422(db: Database, world: dict[str, Any]) -> None:
    admin: Person = world["city_admin"]
    city: Tenant = world["city"]

    assert _problem(admin.http.get(_url(city, "no-such-procedure")))["status"] == 404
    unknown = admin.http.post(_url(city), json={"version": "9.9.9"})
    assert unknown.status_code == 404
    assert "published: 2.2.0, 2.3.0" in _problem(unknown)["detail"]
    assert admin.http.post(_url(city), json={"overrides": "cheap"}).status_code == 422
    assert admin.http.post(_url(city), json={"surprise": 1}).status_code == 422
    assert running_version(db, city)[0] == OLD_VERSION


def test_without_a_newer_version_there_is_nothing_to_adopt(app: Any, db: Database, seeded: None) -> None:
    city = tenants(db)[1]
    admin = signed_in(app, db, city, StaffRole.TENANT_ADMIN)

    body = admin.http.get(_url(city)).json

    assert (body["current_version"], body["latest_version"], body["upgrade_available"]) == (
        OLD_VERSION,
        OLD_VERSION,
        False,
    )
    assert body["changes"] == []
    assert admin.http.post(_url(city), json={}).status_code == 409
