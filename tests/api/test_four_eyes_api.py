"""Four eyes on 上長決裁 through the API: the supervisor who recommended an application cannot approve it.

shiomi-town runs the residency certificate with the optional supervisor approval step.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from flask.testing import FlaskClient

from madoguchi.db import Database
from madoguchi.identity.models import AccountKind
from tests.api.conftest import HTTPS
from tests.factories import make_account, make_household, make_person, tenants
from tests.world import RESIDENCY

SUPERVISED = "shiomi-town"


@dataclass
class Office:
    slug: str
    resident: FlaskClient
    clerk: FlaskClient
    supervisor: FlaskClient
    second_supervisor: FlaskClient
    foreign_supervisor: FlaskClient

    def url(self, path: str = "") -> str:
        return f"{HTTPS}/api/v1/t/{self.slug}/applications{path}"


@pytest.fixture
def office(db: Database, sign_in, seeded) -> Office:
    by_slug = {tenant.slug: tenant for tenant in tenants(db)}
    tenant, other = by_slug[SUPERVISED], by_slug["midorikawa-village"]
    with db.transaction(tenant.id) as session:
        person = make_person(session, tenant, make_household(session, tenant), family_name="髙﨑")
        accounts = [
            make_account(session, tenant, person=person),
            make_account(session, tenant, kind=AccountKind.STAFF, roles=["clerk"]),
            make_account(session, tenant, kind=AccountKind.STAFF, roles=["clerk", "supervisor"]),
            make_account(session, tenant, kind=AccountKind.STAFF, roles=["supervisor"]),
        ]
    with db.transaction(other.id) as session:
        accounts.append(make_account(session, other, kind=AccountKind.STAFF, roles=["clerk", "supervisor"]))
    return Office(SUPERVISED, *(sign_in(account) for account in accounts))


def _recommended_by(office: Office, staff: FlaskClient) -> str:
    created = office.resident.post(office.url("/"), json={"procedure": "residency-certificate", "data": RESIDENCY})
    application_id = created.json["id"]
    assert office.resident.post(office.url(f"/{application_id}/submit")).status_code == 200
    url = office.url(f"/{application_id}/transitions")
    assert staff.post(url, json={"transition": "start_review"}).status_code == 200
    recommended = staff.post(url, json={"transition": "recommend_approval"})
    assert recommended.json["state"] == "awaiting_approval", recommended.json
    return application_id


def _available(client: FlaskClient, office: Office, application_id: str) -> list[str]:
    return [t["name"] for t in client.get(office.url(f"/{application_id}")).json["available_transitions"]]


def test_supervisor_who_recommended_gets_403_naming_the_rule_and_nothing_changes(office: Office) -> None:
    application_id = _recommended_by(office, office.supervisor)
    before = office.supervisor.get(office.url(f"/{application_id}")).json

    refused = office.supervisor.post(office.url(f"/{application_id}/transitions"), json={"transition": "approve"})

    assert refused.status_code == 403
    assert refused.mimetype == "application/problem+json"
    problem = refused.json
    assert problem["type"] == "urn:madoguchi:problem:separation-of-duties"
    assert problem["title"] == "The staff member who recommended cannot approve"
    assert (problem["rule"], problem["transition"], problem["differs_from"]) == (
        "actor_differs_from",
        "approve",
        "recommend_approval",
    )
    after = office.supervisor.get(office.url(f"/{application_id}")).json
    assert (after["state"], after["version"], after["decided_at"]) == ("awaiting_approval", before["version"], None)
    history = office.supervisor.get(office.url(f"/{application_id}/history")).json
    assert "approve" not in [event["action"] for event in history]


def test_the_recommender_is_not_offered_approve_but_another_supervisor_is(office: Office) -> None:
    application_id = _recommended_by(office, office.supervisor)

    assert "approve" not in _available(office.supervisor, office, application_id)
    assert "return_to_review" in _available(office.supervisor, office, application_id)
    assert "approve" in _available(office.second_supervisor, office, application_id)
    approved = office.second_supervisor.post(
        office.url(f"/{application_id}/transitions"), json={"transition": "approve"}
    )
    assert approved.status_code == 200 and approved.json["state"] == "approved"
    # Issuing after another's approval is not restricted: the decision already had four eyes.
    issued = office.supervisor.post(office.url(f"/{application_id}/transitions"), json={"transition": "issue"})
    assert issued.status_code == 200 and issued.json["state"] == "issued"


def test_a_clerks_recommendation_is_approved_by_the_supervisor(office: Office) -> None:
    application_id = _recommended_by(office, office.clerk)
    approved = office.supervisor.post(office.url(f"/{application_id}/transitions"), json={"transition": "approve"})
    assert approved.status_code == 200 and approved.json["state"] == "approved"


def test_supervisor_of_another_tenant_gets_404_not_the_rule(office: Office) -> None:
    application_id = _recommended_by(office, office.supervisor)
    foreign = office.foreign_supervisor.post(
        office.url(f"/{application_id}/transitions"), json={"transition": "approve"}
    )
    assert foreign.status_code == 404
    assert foreign.json["type"] == "urn:madoguchi:problem:not-found"
