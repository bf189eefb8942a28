"""The applications API for an application filed for someone else (decision 0036): the applicant and the person
concerned apart in every answer, staff linking the person and recording the evidence review, an agent's copy with
the Individual Number kept from the agent, and the number itself never in an answer."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from flask.testing import FlaskClient

from madoguchi.config import Settings
from madoguchi.crypto import Sealer
from madoguchi.db import Database
from madoguchi.identity.models import Account, AccountKind, IdentityAssurance
from madoguchi.registry.models import Person
from madoguchi.tenancy.models import Tenant
from tests.factories import make_account, make_attachment, make_household, make_person, tenants
from tests.world import HTTPS, residency_by_agent

#: A valid Individual Number (its check digit holds): it must never appear in an answer.
NUMBER = "123456789018"
AGENT_WITH_NUMBER: dict[str, Any] = {
    **residency_by_agent("渡邊󠄂 花子"),
    "include": {"individual_number": True},
    "purpose_detail": "勤務先への個人番号の提出（年末調整）",
}


@dataclass
class Counter:
    tenant: Tenant
    other: Tenant
    principal: Person
    agent_account: Account
    agent: FlaskClient
    clerk: FlaskClient
    foreign_clerk: FlaskClient

    def url(self, path: str = "", slug: str | None = None) -> str:
        return f"{HTTPS}/api/v1/t/{slug or self.tenant.slug}/applications{path}"


@pytest.fixture
def counter(db: Database, seeded: None, sign_in, settings: Settings) -> Counter:
    everyone = {t.slug: t for t in tenants(db)}
    tenant, other = everyone["midorikawa-village"], everyone["shiomi-town"]
    with db.transaction(tenant.id) as session:
        principal = make_person(
            session,
            tenant,
            make_household(session, tenant),
            individual_number_encrypted=Sealer(settings.data_key).seal(tenant.id, NUMBER),
        )
        agent_person = make_person(session, tenant, family_name="渡邊󠄂", given_name="花子")
        agent = make_account(session, tenant, person=agent_person)
        # Asking for a copy with the 個人番号 needs the card (decision 0048), whoever the copy goes to.
        agent.identity_assurance = IdentityAssurance.CARD.value
        clerk = make_account(session, tenant, kind=AccountKind.STAFF, roles=["clerk"])
    with db.transaction(other.id) as session:
        foreign = make_account(session, other, kind=AccountKind.STAFF, roles=["clerk", "supervisor"])
    return Counter(tenant, other, principal, agent, sign_in(agent), sign_in(clerk), sign_in(foreign))


def _attach(db: Database, counter: Counter, application_id: str) -> None:
    with db.transaction(counter.tenant.id) as session:
        make_attachment(session, counter.tenant, uuid.UUID(application_id), "power_of_attorney")


def _ok(response: Any, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert NUMBER not in response.get_data(as_text=True)
    return response.json


def test_the_api_shows_applicant_and_person_concerned_apart_and_never_the_number(db: Database, counter: Counter):
    created = _ok(
        counter.agent.post(counter.url("/"), json={"procedure": "residency-certificate", "data": AGENT_WITH_NUMBER}),
        201,
    )
    application_id = created["id"]
    assert created["relation"] == "agent"
    assert created["applicant"] == {"account_id": str(counter.agent_account.id), "person_id": None}
    assert created["person_concerned"] == {"linked": False, "person_id": None}
    # Told at once: the copy goes by post to the person, whatever delivery was chosen (and that choice is kept).
    assert created["forced_delivery"] == "mail" and created["delivery"] == "mail"
    assert created["data"]["delivery"] == "electronic" and created["prefill_sources"] == {}

    _attach(db, counter, application_id)
    _ok(counter.agent.post(counter.url(f"/{application_id}/submit")))
    _ok(counter.clerk.post(counter.url(f"/{application_id}/transitions"), json={"transition": "start_review"}))
    refused = counter.clerk.post(counter.url(f"/{application_id}/transitions"), json={"transition": "approve"})
    assert refused.status_code == 409 and refused.json["rule"] == "person_concerned_confirmed"

    linked = _ok(
        counter.clerk.put(
            counter.url(f"/{application_id}/person-concerned"), json={"resident_code": counter.principal.resident_code}
        )
    )
    assert linked["person_concerned"] == {"linked": True, "person_id": str(counter.principal.id)}
    assert linked["applicant"]["person_id"] == str(counter.agent_account.person_id)  # staff see both entries
    bad = counter.clerk.put(counter.url(f"/{application_id}/evidence-review"), json={"outcome": "maybe"})
    assert bad.status_code == 422 and "outcome" in json.dumps(bad.json["errors"])
    reviewed = _ok(counter.clerk.put(counter.url(f"/{application_id}/evidence-review"), json={"outcome": "accepted"}))
    assert reviewed["evidence_review"]["outcome"] == "accepted"
    for step in ("approve", "issue"):
        _ok(counter.clerk.post(counter.url(f"/{application_id}/transitions"), json={"transition": step}))

    seen_by_agent = _ok(counter.agent.get(counter.url(f"/{application_id}")))
    assert seen_by_agent["state"] == "issued"
    assert seen_by_agent["person_concerned"] == {"linked": True, "person_id": None}
    _ok(counter.agent.get(counter.url(f"/{application_id}/history")))
    # The copy goes by post: the agent has no document to download; the clerk prints it.
    assert _ok(counter.agent.get(counter.url(f"/{application_id}/documents"))) == []
    (document,) = _ok(counter.clerk.get(counter.url(f"/{application_id}/documents")))
    pdf = f"{HTTPS}/api/v1/t/{counter.tenant.slug}/documents/{document['id']}/pdf"
    assert counter.agent.get(pdf).status_code == 404
    assert counter.clerk.get(pdf).status_code in (200, 302)


def test_another_municipality_neither_sees_nor_links(db: Database, counter: Counter) -> None:
    created = _ok(
        counter.agent.post(
            counter.url("/"), json={"procedure": "residency-certificate", "data": residency_by_agent("渡邊󠄂 花子")}
        ),
        201,
    )
    application_id = created["id"]
    _attach(db, counter, application_id)
    _ok(counter.agent.post(counter.url(f"/{application_id}/submit")))
    body = {"resident_code": counter.principal.resident_code}
    # Their own municipality's URL with this application's id: not there.
    url = counter.url(f"/{application_id}/person-concerned", slug=counter.other.slug)
    assert counter.foreign_clerk.put(url, json=body).status_code == 404
    review = counter.url(f"/{application_id}/evidence-review", slug=counter.other.slug)
    assert counter.foreign_clerk.put(review, json={"outcome": "accepted"}).status_code == 404
    # This municipality's URL: their session is not one of its staff.
    url = counter.url(f"/{application_id}/person-concerned")
    assert counter.foreign_clerk.put(url, json=body).status_code in (401, 403, 404)
    assert counter.foreign_clerk.get(counter.url(f"/{application_id}", slug=counter.other.slug)).status_code == 404
    # Nor may the agent link or review their own application.
    assert counter.agent.put(counter.url(f"/{application_id}/person-concerned"), json=body).status_code == 403
    assert _ok(counter.clerk.get(counter.url(f"/{application_id}")))["person_concerned"]["linked"] is False
