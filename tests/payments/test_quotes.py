"""Quotes (decision 0043): the fee per channel and per units of persons, the surcharge as its own line, 減免 with a
reason (0 and no surcharge), a clerk's fixed fee, and bad requests refused with nothing changed."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select

from madoguchi.applications import operations as ops
from madoguchi.applications import repository
from madoguchi.audit.models import AuditRecord
from madoguchi.db import Database
from madoguchi.errors import Conflict, ValidationFailed
from madoguchi.payments import intents, quotes
from madoguchi.payments.models import FeeQuote
from madoguchi.tenancy.models import Tenant
from tests.factories import make_person
from tests.world import RESIDENCY, Town, towns_by_slug

AFTER_FEE_FIXED = "shiomi-town"  # fee 200, 5人単位, 事後決済 with a 50円 surcharge, no 官公署 exemption
PREPAY = "sakuragaoka-city"  # fee 300 (250 at the convenience store), prepay, no surcharge
NOT_COLLECTING = "midorikawa-village"  # no payments section

RESIDENCY_SETTINGS = {
    "fee": 300,
    "fee_by_channel": {"counter": 300, "online": 300, "convenience": 200},
    "fee_per": "persons",
    "persons_per_unit": 5,
}
SURCHARGE = {
    "provider": "fake",
    "online": "after_fee_fixed",
    "surcharge": {"amount": 50, "label": quotes.SURCHARGE_LABEL},
}


#: The payments sections of the demo tenant files, set here so these tests do not depend on them.
PAYMENTS = {
    AFTER_FEE_FIXED: {
        **SURCHARGE,
        "exemptions": ["public_assistance", "public_pension", "disaster"],
        "counter_modes": ["cash"],
    },
    PREPAY: {"provider": "fake", "online": "prepay", "counter_modes": ["cash", "terminal"]},
}


@pytest.fixture
def towns(db: Database, seeded: None) -> dict[str, Town]:
    with db.transaction() as session:
        for tenant in session.execute(select(Tenant)).scalars():
            profile = {key: value for key, value in (tenant.profile or {}).items() if key != "payments"}
            tenant.profile = {**profile, **({"payments": PAYMENTS[tenant.slug]} if tenant.slug in PAYMENTS else {})}
    return towns_by_slug(db)


# --- Pricing (pure) ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("persons", "units"), [(1, 1), (5, 1), (6, 2), (10, 2), (11, 3), (20, 4)], ids=lambda value: str(value)
)
def test_every_started_five_persons_count_one_unit(persons: int, units: int) -> None:
    assert quotes.units_of_persons(persons, 5) == units


def test_a_household_of_ten_pays_two_units_a_copy() -> None:
    priced = quotes.price(RESIDENCY_SETTINGS, {"copies": 3}, None, channel="counter", persons=10)

    assert priced.items == [
        {"kind": "fee", "label": quotes.FEE_LABEL, "unit_price": 300, "quantity": 6, "persons": 10, "amount": 1800}
    ]
    assert (priced.fee_jpy, priced.surcharge_jpy, priced.total_jpy) == (1800, 0, 1800)


def test_the_fee_is_the_channels_own() -> None:
    assert quotes.price(RESIDENCY_SETTINGS, {}, None, channel="convenience", persons=1).total_jpy == 200
    assert quotes.price(RESIDENCY_SETTINGS, {}, None, channel="online", persons=1).total_jpy == 300


def test_a_settings_snapshot_from_before_channels_prices_by_its_one_fee_per_copy() -> None:
    priced = quotes.price({"fee": 350, "fee_per": "copy"}, {"copies": 2}, None, channel="counter")

    assert (priced.items[0]["quantity"], priced.items[0]["persons"], priced.total_jpy) == (2, None, 700)


def test_a_fee_per_application_ignores_copies() -> None:
    priced = quotes.price({"fee": 500, "fee_per": "application"}, {"copies": 4}, None, channel="online")

    assert priced.total_jpy == 500


def test_the_surcharge_is_its_own_line_online_only_and_not_fee() -> None:
    online = quotes.price(RESIDENCY_SETTINGS, {"copies": 1}, SURCHARGE, channel="online", persons=2)
    counter = quotes.price(RESIDENCY_SETTINGS, {"copies": 1}, SURCHARGE, channel="counter", persons=2)

    assert [line["kind"] for line in online.items] == ["fee", "surcharge"]
    assert online.items[1] == {
        "kind": "surcharge",
        "label": {"ja": "システム利用料", "en": "System fee"},
        "unit_price": 50,
        "quantity": 1,
        "persons": None,
        "amount": 50,
    }
    assert (online.fee_jpy, online.surcharge_jpy, online.total_jpy) == (300, 50, 350)
    assert (counter.surcharge_jpy, counter.total_jpy) == (0, 300)


def test_an_exemption_waives_fee_and_surcharge() -> None:
    priced = quotes.price(
        RESIDENCY_SETTINGS, {"copies": 2}, SURCHARGE, channel="online", persons=10, exemption="public_assistance"
    )

    assert [(line["kind"], line["quantity"], line["amount"]) for line in priced.items] == [("fee", 4, 0)]
    assert (priced.fee_jpy, priced.surcharge_jpy, priced.total_jpy) == (0, 0, 0)


def test_a_free_procedure_has_no_lines_and_no_surcharge() -> None:
    priced = quotes.price({"fee": 0, "fee_per": "application"}, {}, SURCHARGE, channel="online")

    assert (priced.items, priced.total_jpy) == ([], 0)


# --- Stored quotes ------------------------------------------------------------------------------------------------


def _household_of_ten(db: Database, town: Town) -> None:
    """The town's household (parent, child) grows to ten, one of them with 外字 and IVS in the name, one removed."""
    with db.transaction(town.tenant.id) as session:
        household = session.merge(town.parent).household
        names = ["𠮷男", "髙子", "﨑子", "葛\U000e0100子", "渡邊\U000e0102", "ｲﾁﾛｳ", "花子", "次郎"]
        for given in names:
            make_person(session, town.tenant, household, given_name=given, relation_to_head="子")
        # A member who moved out (除票) is not on the current household's copy.
        gone = make_person(session, town.tenant, household, given_name="三郎", relation_to_head="子")
        gone.removed_on = gone.became_resident_on.replace(year=2024)
        gone.removal_reason = "転出"


def _submitted(db: Database, town: Town, **answers: object) -> uuid.UUID:
    with db.transaction(town.tenant.id) as session:
        draft = ops.create_draft(session, town.tenant, town.resident, "residency-certificate", {**RESIDENCY, **answers})
        ops.submit(session, town.tenant, town.resident, draft.id)
        return draft.id


def _quote(db: Database, town: Town, application_id: uuid.UUID, **kwargs: Any) -> FeeQuote:
    with db.transaction(town.tenant.id) as session:
        tenant = session.get(Tenant, town.tenant.id)
        application = repository.get(session, town.tenant.id, application_id)
        return quotes.quote_application(session, tenant, application, actor="account:test", **kwargs)


def _current(db: Database, town: Town, application_id: uuid.UUID) -> tuple[FeeQuote | None, int]:
    with db.transaction(town.tenant.id) as session:
        application = repository.get(session, town.tenant.id, application_id)
        return intents.current_quote(session, application), intents.amount_due(session, application)


def test_submit_quotes_a_whole_household_of_ten_by_units_of_five_with_the_surcharge_apart(db, towns) -> None:
    town = towns[AFTER_FEE_FIXED]
    _household_of_ten(db, town)

    application_id = _submitted(db, town, scope="whole_household", copies=2)

    quote, due = _current(db, town, application_id)
    assert quote is not None
    fee, surcharge = quote.items
    assert (fee["persons"], fee["quantity"], fee["unit_price"], fee["amount"]) == (10, 4, 200, 800)
    assert surcharge["kind"] == "surcharge" and surcharge["amount"] == 50
    assert (quote.fee_jpy, quote.surcharge_jpy, quote.total_jpy, quote.channel) == (800, 50, 850, "online")
    assert due == 850


def test_picked_members_count_as_persons(db, towns) -> None:
    town = towns[AFTER_FEE_FIXED]
    with db.transaction(town.tenant.id) as session:
        codes = [session.merge(town.parent).resident_code, session.merge(town.child).resident_code]

    quote, _ = _current(db, town, _submitted(db, town, scope="selected", selected_members=codes))

    assert quote is not None and quote.items[0]["persons"] == 2 and quote.fee_jpy == 200


def test_a_clerk_grants_an_exemption_with_reason_and_nothing_is_due(db, towns) -> None:
    town = towns[AFTER_FEE_FIXED]
    application_id = _submitted(db, town)
    first, _ = _current(db, town, application_id)
    evidence = uuid.uuid4()

    quote = _quote(
        db,
        town,
        application_id,
        account_id=town.clerk.account_id,
        exemption="public_assistance",
        exemption_reason="生活保護受給証明書を確認",
        evidence_id=evidence,
    )

    current, due = _current(db, town, application_id)
    assert current is not None and current.id == quote.id
    assert (current.fee_jpy, current.surcharge_jpy, current.total_jpy, due) == (0, 0, 0, 0)
    assert (current.exemption_code, current.exemption_reason) == ("public_assistance", "生活保護受給証明書を確認")
    assert current.exemption_evidence_id == evidence and current.quoted_by_account_id == town.clerk.account_id
    with db.transaction(town.tenant.id) as session:
        superseded = session.get(FeeQuote, first.id) if first else None
        record = session.execute(
            select(AuditRecord).where(
                AuditRecord.action == "payment.exempted", AuditRecord.object_id == str(application_id)
            )
        ).scalar_one()
    assert superseded is not None and superseded.superseded_at is not None
    assert record.data["reason"] == "生活保護受給証明書を確認" and record.data["exemption"] == "public_assistance"


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        ({"exemption": "public_assistance", "exemption_reason": "   "}, "exemption_reason"),
        ({"exemption": "public_assistance"}, "exemption_reason"),
        # 汐見町 does not list 官公署 requests among its exemptions.
        ({"exemption": "government_office", "exemption_reason": "法務局からの照会"}, "exemption"),
        ({"exemption_reason": "理由だけ"}, "exemption"),
        ({"exemption": "disaster", "exemption_reason": "り災証明", "fixed_fee_jpy": 300}, "fixed_fee_jpy"),
        ({"fixed_fee_jpy": -1}, "fixed_fee_jpy"),
        ({"fixed_fee_jpy": True}, "fixed_fee_jpy"),
        ({"fixed_fee_jpy": 1_000_001}, "fixed_fee_jpy"),
        ({"channel": "fax"}, "channel"),
    ],
    ids=["blank-reason", "no-reason", "not-listed", "reason-alone", "both", "negative", "bool", "too-much", "channel"],
)
def test_a_bad_request_names_its_field_and_changes_nothing(db, towns, request_, field) -> None:
    town = towns[AFTER_FEE_FIXED]
    application_id = _submitted(db, town)
    before, _ = _current(db, town, application_id)

    with pytest.raises(ValidationFailed) as refused:
        _quote(db, town, application_id, **request_)

    assert refused.value.errors is not None and field in refused.value.errors
    after, due = _current(db, town, application_id)
    assert before is not None and after is not None and after.id == before.id and due == before.total_jpy


def test_a_clerk_fixes_the_fee_and_the_surcharge_follows(db, towns) -> None:
    town = towns[AFTER_FEE_FIXED]
    application_id = _submitted(db, town)

    quote = _quote(db, town, application_id, fixed_fee_jpy=600, account_id=town.clerk.account_id)

    assert [(line["kind"], line["amount"]) for line in quote.items] == [("fee", 600), ("surcharge", 50)]
    assert (quote.fee_jpy, quote.total_jpy) == (600, 650)
    assert _current(db, town, application_id)[1] == 650


def test_a_quote_for_the_counter_has_the_counter_fee_and_no_surcharge(db, towns) -> None:
    town = towns[AFTER_FEE_FIXED]
    application_id = _submitted(db, town)

    quote = _quote(db, town, application_id, channel="counter")

    assert (quote.fee_jpy, quote.surcharge_jpy, quote.total_jpy) == (200, 0, 200)


def test_a_tenant_not_collecting_may_still_waive_with_any_code(db, towns) -> None:
    town = towns[NOT_COLLECTING]
    application_id = _submitted(db, town)

    quote = _quote(db, town, application_id, exemption="government_office", exemption_reason="年金事務所の照会")

    assert quote.total_jpy == 0


def test_a_draft_cannot_be_quoted_but_can_be_previewed(db, towns) -> None:
    town = towns[PREPAY]
    with db.transaction(town.tenant.id) as session:
        draft = ops.create_draft(
            session, town.tenant, town.resident, "residency-certificate", {**RESIDENCY, "copies": 3}
        )
        preview = quotes.preview(session, town.tenant, draft)
        with pytest.raises(Conflict):
            quotes.quote_application(session, town.tenant, draft, actor="account:test")
        stored = session.execute(select(FeeQuote).where(FeeQuote.application_id == draft.id)).scalars().all()

    assert (preview.total_jpy, preview.surcharge_jpy, stored) == (900, 0, [])
