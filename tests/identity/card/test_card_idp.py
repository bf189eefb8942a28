"""The card's test provider itself (infra/card-idp) and its test helpers: what the relying party's tests rely on —
PKCE required, the card read for every sign-in, a page that says it is a demo, and the holders' register persons."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlencode, urlsplit

import requests
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from madoguchi.db import Database
from madoguchi.registry.models import Person
from madoguchi.tenancy.models import Tenant
from tests.identity.card.conftest import REDIRECT_URI
from tests.support.card_idp import (
    SHIOMI_EXACT,
    SHIOMI_TWO_MATCHES,
    SHIOMI_VARIANT,
    CardIdp,
    drive_card_login,
    holders,
    seed_register,
)


def authorization_url(idp: CardIdp, **params: str) -> str:
    query = {
        "response_type": "code",
        "client_id": idp.client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid profile address",
        "state": "shiomi-town.0123456789abcdefghij",
        "nonce": "n-0123456789",
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "code_challenge_method": "S256",
        **params,
    }
    return f"{idp.issuer}/auth?{urlencode({k: v for k, v in query.items() if v})}"


def test_the_card_reader_page_says_it_is_a_demo_and_offers_every_holder(card_idp: CardIdp) -> None:
    http = requests.Session()
    page = http.get(authorization_url(card_idp), timeout=10)
    assert page.status_code == 200
    assert "デモ・テスト用の認証サーバー" in page.text and "This is a demo / test provider" in page.text
    assert "本物のマイナンバーカードは使わず" in page.text
    for holder in holders():
        assert f'id="holder-{holder["sub"]}"' in page.text
    for stable in ('id="pin"', 'id="read-card"', 'id="cancel"', 'for="pin"'):
        assert stable in page.text
    # No external assets: a page that works offline and inside the tests' sandboxed browser.
    assert not re.search(r'(src|href)="https?://', page.text)


def test_the_provider_refuses_a_request_without_pkce(card_idp: CardIdp) -> None:
    answer = requests.get(
        authorization_url(card_idp, code_challenge="", code_challenge_method=""), allow_redirects=False, timeout=10
    )
    assert answer.status_code == 303
    error = parse_qs(urlsplit(answer.headers["Location"]).query)
    assert error["error"] == ["invalid_request"] and "PKCE" in error["error_description"][0]


def test_the_card_is_read_again_for_every_sign_in_in_the_same_browser(card_idp: CardIdp) -> None:
    http = requests.Session()
    assert "code" in drive_card_login(authorization_url(card_idp), SHIOMI_EXACT, http=http)
    again = http.get(authorization_url(card_idp, nonce="n-another-one"), timeout=10)
    assert again.status_code == 200 and 'id="pin"' in again.text  # the reader page, not a silent sign-in


def test_the_holders_register_persons_are_seeded_for_their_municipality_only(
    db: Database, shiomi: Tenant, sakuragaoka: Tenant
) -> None:
    with db.transaction(shiomi.id) as session:
        seeded = seed_register(session, shiomi)
        assert {sub: len(persons) for sub, persons in seeded.items()} == {
            SHIOMI_EXACT: 1,
            SHIOMI_VARIANT: 1,
            SHIOMI_TWO_MATCHES: 2,
        }
        assert seeded[SHIOMI_EXACT][0].family_name == "葛\U000e0100城"
        assert seeded[SHIOMI_VARIANT][0].family_name == "髙橋"
        assert seeded[SHIOMI_EXACT][0].household.address == "高知県汐見町港町二丁目3番5号"
    with db.transaction(sakuragaoka.id) as session:
        only = seed_register(session, sakuragaoka)
        assert [p.family_name for persons in only.values() for p in persons] == ["\U00020bb7田"]
        assert _count(session) == 1


def _count(session: Session) -> int:
    return int(session.execute(select(func.count()).select_from(Person)).scalar_one())
