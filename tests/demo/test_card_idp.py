"""The demo's card sign-in: the card holders of infra/card-idp/holders.json agree with the register persons they
need, the demo puts those persons in its registers (once), and it starts and stops its card provider."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from madoguchi import jp
from madoguchi.config import Settings
from madoguchi.db import Database
from madoguchi.demo import card_idp as demo_card_idp
from madoguchi.registry.models import Person, format_address
from madoguchi.tenancy.models import Tenant
from tests.factories import tenants
from tests.support import card_idp as support

HOLDERS = support.holders()


def test_the_demo_reads_the_same_holders_as_the_tests() -> None:
    assert demo_card_idp.holders() == HOLDERS
    assert len({h["sub"] for h in HOLDERS}) == len(HOLDERS) == 5


@pytest.mark.parametrize("holder", HOLDERS, ids=[h["sub"] for h in HOLDERS])
def test_each_holder_s_card_agrees_with_the_register_persons_it_needs(holder: dict) -> None:
    card, expected = holder["card"], holder["expect"]
    name = card["name"].replace("\u3000", "").replace(" ", "")
    for row in holder["register"]:
        assert row["birth_date"] == card["birthdate"] and row["sex"] == card["gender"]
        address = format_address(row["prefecture"], row["municipality"], row["town"], row["block"], row["building"])
        assert address == card["address"]["formatted"]
        assert (row["prefecture"], row["municipality"]) == (card["address"]["region"], card["address"]["locality"])
        registered = row["family_name"] + row["given_name"]
        if expected[row["tenant"]] == "needs_review":
            # The card holds a substitute for the register's 外字: equal only once folded.
            assert registered != name and jp.name_search_key(registered) == jp.name_search_key(name)
        else:
            assert registered == name
    outcomes = sorted(expected.values())
    if not holder["register"]:
        assert "none" in outcomes and "exact" not in outcomes
    if len(holder["register"]) == 2:
        assert expected["shiomi-town"] == "several"


def test_the_holders_cover_every_outcome_the_issue_names() -> None:
    at_shiomi = {h["expect"]["shiomi-town"] for h in HOLDERS}
    assert at_shiomi == {"exact", "needs_review", "other_municipality", "none", "several"}
    exact = next(h for h in HOLDERS if h["expect"]["shiomi-town"] == "exact")
    assert "\U000e0100" in exact["card"]["name"]  # an ideographic variation sequence, matched code point for code point


def test_the_demo_registers_hold_the_card_holders_persons_once(db: Database, settings: Settings, seeded: None) -> None:
    by_slug = {t.slug: t for t in tenants(db)}
    added = {slug: demo_card_idp.ensure_holder_persons(db, settings, t) for slug, t in by_slug.items()}
    assert added == {"shiomi-town": 4, "sakuragaoka-city": 1, "midorikawa-village": 0}
    assert all(demo_card_idp.ensure_holder_persons(db, settings, t) == 0 for t in by_slug.values())
    shiomi: Tenant = by_slug["shiomi-town"]
    with db.transaction(shiomi.id) as session:
        persons = {p.resident_code: p for p in session.execute(select(Person)).scalars()}
        katsuragi = persons["39923900001"]
        assert katsuragi.family_name == "葛\U000e0100城" and katsuragi.given_name == "美咲"
        assert katsuragi.household.address == "高知県汐見町港町二丁目3番5号"
        assert persons["39923900002"].family_name == "髙橋"
        assert {persons["39923900003"].full_name, persons["39923900004"].full_name} == {"佐藤\u3000大輔"}


def test_the_demo_starts_its_card_provider_on_loopback_and_stops_it(tmp_path: Path) -> None:
    reason = demo_card_idp.unavailable_reason()
    if reason:
        if support.required():
            pytest.fail(f"the card's provider is required (MADOGUCHI_REQUIRE_CARD_IDP=1): {reason}")
        pytest.skip(reason)
    provider, why = demo_card_idp.start(tmp_path)
    assert provider is not None, why
    try:
        document = requests.get(f"{provider.issuer}/.well-known/openid-configuration", timeout=5).json()
        assert document["issuer"] == provider.issuer and provider.issuer.startswith("http://127.0.0.1:")
        configured = provider.configure(Settings())
        assert (configured.card_oidc_issuer, configured.card_oidc_client_id) == (provider.issuer, "madoguchi-demo")
    finally:
        provider.stop()
    assert provider.process.poll() is not None
    state = tmp_path / demo_card_idp.STATE_FILE
    assert stat.S_IMODE(state.stat().st_mode) == 0o600
    assert "d" in json.loads(state.read_text())["jwks"]["keys"][0]  # private keys: the owner's alone
    # The next run keeps its issuer (a linked card stays the same card) and its client secret.
    again, _ = demo_card_idp.start(tmp_path)
    assert again is not None
    try:
        assert (again.issuer, again.client_secret) == (provider.issuer, provider.client_secret)
    finally:
        again.stop()
