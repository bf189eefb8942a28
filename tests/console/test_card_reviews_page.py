"""A clerk confirms a variant-name card match (decision 0048): the register's name as registered (髙橋) beside the
card's (高橋) and the card's address, only on the reviews page and only while open; confirm or reject; the evidence
on the counter's identity page says method, provider, when and who, never the card's data."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from madoguchi.config import Settings
from madoguchi.db import Database
from madoguchi.identity.card.models import CardMatchReview
from madoguchi.identity.models import Account
from madoguchi.tenancy.models import Tenant
from tests.factories import tenants
from tests.identity.conftest import signed_in, staff_account
from tests.support import card_pages
from tests.support.card_idp import SHIOMI_VARIANT, CardIdp, seed_register, with_card_idp
from tests.support.card_pages import HTTPS, open_account, outcome_of

SHIOMI = "shiomi-town"
SAME_ORIGIN = {"Referer": f"{HTTPS}/"}


@pytest.fixture
def settings(settings: Settings, card_idp: CardIdp) -> Settings:
    return with_card_idp(settings, card_idp)


@pytest.fixture
def town(db: Database, seeded: None) -> Tenant:
    tenant = next(t for t in tenants(db) if t.slug == SHIOMI)
    with db.transaction(tenant.id) as session:
        seed_register(session, tenant, [SHIOMI_VARIANT])
    return tenant


@pytest.fixture
def waiting(app, town: Tenant):
    """A new resident whose card (高橋) matched the register (髙橋) only with the variant folded."""
    client = app.test_client()
    callback = card_pages.sign_in(client, SHIOMI, SHIOMI_VARIANT)
    opened = open_account(client, callback.headers["Location"], "kenta@example.jp")
    assert outcome_of(opened.headers["Location"]) == "needs_review"
    return client


def _review(db: Database, tenant: Tenant) -> CardMatchReview:
    with db.transaction(tenant.id) as session:
        return session.execute(select(CardMatchReview)).scalar_one()


def _reviews_url(slug: str = SHIOMI) -> str:
    return f"{HTTPS}/{slug}/console/card-reviews"


def _decide(client, review: CardMatchReview, token: str, decision: str):
    return client.post(
        f"{_reviews_url()}/{review.id}", data={"csrf_token": token, "decision": decision}, headers=SAME_ORIGIN
    )


def test_a_clerk_sees_the_card_beside_the_register_and_confirms(
    app, db: Database, town: Tenant, waiting, card_idp: CardIdp
) -> None:
    clerk = signed_in(app, town, staff_account(db, town, "clerk"))
    console = clerk.get(f"{HTTPS}/{SHIOMI}/console/").get_data(as_text=True)
    assert "/shiomi-town/console/card-reviews" in console  # in the navigation
    html = clerk.get(_reviews_url()).get_data(as_text=True)
    assert "kenta@example.jp" in html
    assert "髙橋　健太" in html  # the register, as registered
    assert "高橋　健太" in html and "浜通り一丁目12番8号" in html  # the card's name and address
    review = _review(db, town)
    done = clerk.post(
        f"{_reviews_url()}/{review.id}",
        data={"csrf_token": card_pages.csrf_of(html), "decision": "confirm"},
        headers=SAME_ORIGIN,
    )
    assert done.status_code == 303
    after = clerk.get(_reviews_url()).get_data(as_text=True)
    assert "確認待ちはありません" in after and "高橋　健太" not in after  # the card's details are gone
    decided = _review(db, town)
    assert decided.decision == "confirmed" and decided.card_details_sealed is None
    me = waiting.get(f"{HTTPS}/api/v1/t/{SHIOMI}/me").json
    assert me["identity_assurance"] == "card"

    # The counter's identity page shows the evidence: method, provider, when, who; not the card's data.
    with db.transaction(town.id) as session:
        account = session.execute(select(Account).where(Account.email == "kenta@example.jp")).scalar_one()
    page = clerk.get(f"{HTTPS}/{SHIOMI}/console/identity/accounts/{account.id}").get_data(as_text=True)
    assert "本人確認の方法" in page and "マイナンバーカード" in page
    assert str(urlsplit(card_idp.issuer).hostname) in page  # the provider
    assert SHIOMI_VARIANT not in page and str(decided.subject_hash) not in page  # the card's subject, even hashed


def test_a_clerk_rejects_and_the_account_stays_as_it_was(app, db: Database, town: Tenant, waiting) -> None:
    clerk = signed_in(app, town, staff_account(db, town, "supervisor"))
    html = clerk.get(_reviews_url()).get_data(as_text=True)
    review = _review(db, town)
    token = card_pages.csrf_of(html)
    unclear = _decide(clerk, review, token, "maybe")
    assert unclear.status_code == 422 and _review(db, town).decision is None
    done = _decide(clerk, review, token, "reject")
    assert done.status_code == 303 and _review(db, town).decision == "rejected"
    assert waiting.get(f"{HTTPS}/api/v1/t/{SHIOMI}/me").json["identity_assurance"] == "email"
    again = _decide(clerk, review, token, "confirm")
    assert again.status_code == 303 and _review(db, town).decision == "rejected"


def test_only_clerks_and_supervisors_decide(app, db: Database, town: Tenant, waiting) -> None:
    admin = signed_in(app, town, staff_account(db, town, "tenant_admin"))
    assert admin.get(_reviews_url()).status_code == 403
    assert waiting.get(_reviews_url()).status_code == 403  # a resident
    anonymous = app.test_client()
    assert anonymous.get(_reviews_url()).status_code == 303  # to the sign-in page
    clerk = signed_in(app, town, staff_account(db, town, "clerk"))
    review = _review(db, town)
    assert clerk.post(f"{_reviews_url()}/{review.id}", data={"decision": "confirm"}).status_code == 400  # no CSRF
    assert _review(db, town).decision is None
