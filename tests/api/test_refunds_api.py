"""Refunds through the API: staff request, a supervisor other than the requester approves (403
separation-of-duties otherwise), problem+json per field for bad input with nothing stored, the applicant reads
their refunds, another municipality's supervisor gets 404."""

from __future__ import annotations

import uuid

from madoguchi.applications import operations
from madoguchi.db import Database
from madoguchi.identity.actors import Actor
from madoguchi.identity.models import AccountKind
from madoguchi.payments import intents
from madoguchi.payments.models import COUNTER_CASH
from tests.api.conftest import HTTPS
from tests.factories import make_account, make_household, make_person, tenants
from tests.world import RESIDENCY

SLUG = "shiomi-town"


def test_refunds_through_the_api(db: Database, sign_in, seeded) -> None:
    by_slug = {tenant.slug: tenant for tenant in tenants(db)}
    tenant, other = by_slug[SLUG], by_slug["midorikawa-village"]
    with db.transaction(tenant.id) as session:
        owner = make_account(session, tenant, person=make_person(session, tenant, make_household(session, tenant)))
        clerk = make_account(session, tenant, kind=AccountKind.STAFF, roles=["clerk", "supervisor"])
        boss = make_account(session, tenant, kind=AccountKind.STAFF, roles=["supervisor"])
        application = operations.create_draft(session, tenant, Actor.of(owner), "residency-certificate", RESIDENCY)
        operations.submit(session, tenant, Actor.of(owner), application.id)
        intent, _ = intents.create_intent(session, tenant, application, mode=COUNTER_CASH, provider="counter",
                                          amount_jpy=600, idempotency_key="api-test", actor="test")  # fmt: skip
        application_id, intent_id = application.id, intent.id
    with db.transaction(other.id) as session:
        foreign = make_account(session, other, kind=AccountKind.STAFF, roles=["clerk", "supervisor"])
    resident, staff, supervisor, stranger = sign_in(owner), sign_in(clerk), sign_in(boss), sign_in(foreign)
    url = f"{HTTPS}/api/v1/t/{SLUG}/applications/{application_id}/refunds"

    refused = staff.post(url, json={"intent_id": str(intent_id), "amount_jpy": 601, "reason": "other"})
    assert refused.status_code == 422 and refused.mimetype == "application/problem+json"
    assert set(refused.json["errors"]) == {"amount_jpy", "comment"}
    assert (
        resident.post(url, json={"intent_id": str(intent_id), "amount_jpy": 1, "reason": "not_issuable"}).status_code
        == 403
    )
    wrong = staff.post(url, json={"intent_id": str(uuid.uuid4()), "amount_jpy": 1, "reason": "not_issuable"})
    assert wrong.status_code == 404
    assert staff.get(url).json == []

    asked = staff.post(url, json={"intent_id": str(intent_id), "amount_jpy": 200, "reason": "not_issuable"})
    assert asked.status_code == 201 and asked.json["status"] == "requested"
    approval = f"{HTTPS}/api/v1/t/{SLUG}/refunds/{asked.json['id']}/approval"
    own = staff.post(approval)
    assert own.status_code == 403 and own.json["type"].endswith("separation-of-duties")
    foreign_url = f"{HTTPS}/api/v1/t/{other.slug}/refunds/{asked.json['id']}/approval"
    assert stranger.post(foreign_url).status_code == 404
    approved = supervisor.post(approval)
    assert approved.status_code == 200 and approved.json["status"] == "succeeded"
    assert approved.json["approved_by_account_id"] == str(boss.id)
    assert supervisor.post(approval).status_code == 409
    # The applicant reads the refunds of their own application.
    assert [r["amount_jpy"] for r in resident.get(url).json] == [200]
