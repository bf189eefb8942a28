"""``/applications/<id>/fee-quote`` (decision 0043): staff fix the fee or grant 減免; residents read their quote
without the exemption's reason; another municipality's staff get 404 and change nothing; bad input is 422 naming
the field, nothing changed."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from madoguchi.applications import operations as ops
from madoguchi.db import Database
from madoguchi.identity.models import Account
from madoguchi.outbox import OutboxMessage
from madoguchi.payments import service
from madoguchi.payments.models import FeeQuote
from madoguchi.tenancy.models import Tenant
from tests.factories import make_attachment
from tests.payments.test_quotes import PAYMENTS
from tests.world import HTTPS, RESIDENCY, Town, towns_by_slug

TOWN, OTHER = "shiomi-town", "sakuragaoka-city"


@dataclass
class Desk:
    town: Town
    other: Town
    application_id: uuid.UUID
    resident: FlaskClient
    clerk: FlaskClient
    foreign_clerk: FlaskClient

    def url(self, application_id: uuid.UUID | None = None, slug: str | None = None) -> str:
        slug = slug or self.town.tenant.slug
        return f"{HTTPS}/api/v1/t/{slug}/applications/{application_id or self.application_id}/fee-quote"


@pytest.fixture
def desk(db: Database, seeded: None, sign_in) -> Desk:
    with db.transaction() as session:
        for tenant in session.execute(select(Tenant)).scalars():
            if tenant.slug in PAYMENTS:
                tenant.profile = {**(tenant.profile or {}), "payments": PAYMENTS[tenant.slug]}
    towns = towns_by_slug(db)
    town, other = towns[TOWN], towns[OTHER]
    with db.transaction(town.tenant.id) as session:
        draft = ops.create_draft(session, town.tenant, town.resident, "residency-certificate", dict(RESIDENCY))
        ops.submit(session, town.tenant, town.resident, draft.id)
        resident_account = session.get(Account, town.resident.account_id)
        clerk_account = session.get(Account, town.clerk.account_id)
    with db.transaction(other.tenant.id) as session:
        foreign = session.get(Account, other.supervisor.account_id)
    return Desk(town, other, draft.id, sign_in(resident_account), sign_in(clerk_account), sign_in(foreign))


def _quotes(db: Database, tenant_id: uuid.UUID, application_id: uuid.UUID) -> list[tuple[uuid.UUID, Any]]:
    with db.transaction(tenant_id) as session:
        rows = session.execute(select(FeeQuote).where(FeeQuote.application_id == application_id)).scalars()
        return [(row.id, row.superseded_at) for row in rows]


def test_a_clerk_grants_an_exemption_and_the_resident_sees_nothing_due_but_not_the_reason(db, desk: Desk) -> None:
    before = desk.clerk.get(desk.url())
    assert before.status_code == 200, before.json
    assert (before.json["total_jpy"], before.json["surcharge_jpy"], before.json["amount_due_jpy"]) == (250, 50, 250)

    granted = desk.clerk.post(
        desk.url(), json={"exemption": "public_assistance", "exemption_reason": "生活保護受給証明書（𠮷田 﨑子）を確認"}
    )

    assert granted.status_code == 201, granted.json
    assert (granted.json["total_jpy"], granted.json["surcharge_jpy"], granted.json["amount_due_jpy"]) == (0, 0, 0)
    assert granted.json["exemption_reason"] == "生活保護受給証明書（𠮷田 﨑子）を確認"
    seen = desk.resident.get(desk.url())
    assert seen.status_code == 200
    assert (seen.json["exemption"], seen.json["exemption_reason"], seen.json["total_jpy"]) == (
        "public_assistance",
        None,
        0,
    )


def test_a_clerk_fixes_the_fee_for_payment_after_it_is_fixed(db, desk: Desk) -> None:
    fixed = desk.clerk.post(desk.url(), json={"fixed_fee_jpy": 600})

    assert fixed.status_code == 201, fixed.json
    assert [(line["kind"], line["amount"]) for line in fixed.json["items"]] == [("fee", 600), ("surcharge", 50)]
    assert fixed.json["amount_due_jpy"] == 650
    # 事後決済: fixing the fee emails the resident where to pay (once per fixed fee), nothing before it.
    assert _payment_links(db, desk) == [650]
    assert (
        desk.clerk.post(desk.url(), json={"exemption": "public_assistance", "exemption_reason": "受給証明"}).status_code
        == 201
    )
    assert _payment_links(db, desk) == [650]  # an exemption leaves nothing to pay: no link


def _payment_links(db: Database, desk: Desk) -> list[int]:
    with db.transaction(desk.town.tenant.id) as session:
        messages = session.execute(select(OutboxMessage).where(OutboxMessage.topic == "notify.applicant")).scalars()
        return [
            m.payload["amount_jpy"]
            for m in messages
            if m.payload.get("template") == service.PAYMENT_LINK_TEMPLATE
            and m.payload.get("application_id") == str(desk.application_id)
        ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"exemption": "public_assistance"}, "exemption_reason"),
        ({"exemption": "government_office", "exemption_reason": "照会"}, "exemption"),
        ({"fixed_fee_jpy": "300"}, "fixed_fee_jpy"),
        ({"fixed_fee_jpy": -300}, "fixed_fee_jpy"),
        ({"channel": "fax"}, "channel"),
        ({"price": 1}, "price"),
    ],
    ids=["no-reason", "not-listed", "text-fee", "negative", "channel", "unknown-field"],
)
def test_bad_input_is_422_naming_the_field_and_nothing_changes(db, desk: Desk, body, field) -> None:
    before = _quotes(db, desk.town.tenant.id, desk.application_id)

    refused = desk.clerk.post(desk.url(), json=body)

    assert refused.status_code == 422, refused.json
    assert refused.headers["Content-Type"].startswith("application/problem+json")
    assert field in str(refused.json.get("errors")), refused.json
    assert _quotes(db, desk.town.tenant.id, desk.application_id) == before


def test_evidence_must_be_an_attachment_of_this_application(db, desk: Desk) -> None:
    with db.transaction(desk.town.tenant.id) as session:
        own = make_attachment(session, desk.town.tenant, desk.application_id, "power_of_attorney")
    body = {"exemption": "disaster", "exemption_reason": "り災証明書", "evidence_id": str(uuid.uuid4())}

    assert desk.clerk.post(desk.url(), json=body).status_code == 422
    granted = desk.clerk.post(desk.url(), json={**body, "evidence_id": str(own.id)})
    assert granted.status_code == 201 and granted.json["evidence_id"] == str(own.id)


def test_a_resident_may_not_quote(db, desk: Desk) -> None:
    before = _quotes(db, desk.town.tenant.id, desk.application_id)

    refused = desk.resident.post(desk.url(), json={"exemption": "disaster", "exemption_reason": "自分で"})

    assert refused.status_code == 403
    assert _quotes(db, desk.town.tenant.id, desk.application_id) == before


def test_another_municipalitys_staff_get_404_and_change_nothing(db, desk: Desk) -> None:
    before = _quotes(db, desk.town.tenant.id, desk.application_id)
    body = {"exemption": "public_assistance", "exemption_reason": "越境"}

    on_their_url = desk.foreign_clerk.post(desk.url(), json=body)
    with_our_url = desk.foreign_clerk.post(desk.url(slug=desk.other.tenant.slug), json=body)

    assert (on_their_url.status_code, with_our_url.status_code) == (404, 404)
    assert desk.foreign_clerk.get(desk.url(slug=desk.other.tenant.slug)).status_code == 404
    assert _quotes(db, desk.town.tenant.id, desk.application_id) == before


def test_a_draft_has_no_quote_and_cannot_be_quoted(db, desk: Desk) -> None:
    with db.transaction(desk.town.tenant.id) as session:
        draft = ops.create_draft(
            session, desk.town.tenant, desk.town.resident, "residency-certificate", dict(RESIDENCY)
        )

    assert desk.resident.get(desk.url(draft.id)).status_code == 404
    assert desk.clerk.post(desk.url(draft.id), json={"channel": "counter"}).status_code == 404  # staff never see drafts
