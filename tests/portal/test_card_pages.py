"""The pages of signing in with the マイナンバーカード (decision 0048), through the real provider (infra/card-idp):
the button, the callback, a new resident's account, what happened and what to do next, the card on the account
page (link, unlink), and /me. shiomi-town offers the card; midorikawa-village does not."""

from __future__ import annotations

import re
import uuid
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from madoguchi.config import Settings
from madoguchi.db import Database
from madoguchi.identity.card.models import CardAuthorization, CardLink, IdentityEvidence
from madoguchi.identity.card.protocol import BINDING_COOKIE
from madoguchi.identity.models import Account
from madoguchi.tenancy.models import Tenant
from tests.factories import tenants
from tests.identity.conftest import add_account, signed_in
from tests.support import card_pages
from tests.support.card_idp import (
    SAKURAGAOKA_EXACT,
    SHIOMI_EXACT,
    SHIOMI_NOT_REGISTERED,
    SHIOMI_TWO_MATCHES,
    SHIOMI_VARIANT,
    CardIdp,
    cancel_card_login,
    drive_card_login,
    seed_register,
    with_card_idp,
)
from tests.support.card_pages import HTTPS, answer, open_account, outcome_of, page, start

SHIOMI = "shiomi-town"
OFF = "midorikawa-village"


@pytest.fixture
def settings(settings: Settings, card_idp: CardIdp) -> Settings:
    return with_card_idp(settings, card_idp)


@pytest.fixture
def town(db: Database, seeded: None) -> Tenant:
    """shiomi-town with its card holders in the register (the variant and the two-match holders too)."""
    tenant = next(t for t in tenants(db) if t.slug == SHIOMI)
    with db.transaction(tenant.id) as session:
        seed_register(session, tenant)
    return tenant


def _account(db: Database, tenant: Tenant, email: str) -> Account | None:
    with db.transaction(tenant.id) as session:
        return session.execute(select(Account).where(Account.email == email)).scalar_one_or_none()


def _count(db: Database, tenant: Tenant, model: type) -> int:
    with db.transaction(tenant.id) as session:
        return len(session.execute(select(model)).scalars().all())


def _new_resident(app, town: Tenant, holder: str, email: str):
    client = app.test_client()
    callback = card_pages.sign_in(client, town.slug, holder)
    assert callback.status_code == 303, callback.get_data(as_text=True)[:500]
    assert "/card/new-account?a=" in callback.headers["Location"]
    return client, open_account(client, callback.headers["Location"], email)


# --- the button, and where it is not -------------------------------------------------------------------------


def test_sign_in_page_offers_the_card_only_where_the_municipality_switched_it_on(app, town: Tenant) -> None:
    client = app.test_client()
    shown = client.get(page(SHIOMI, "/login?next=/shiomi-town/applications/")).get_data(as_text=True)
    assert "マイナンバーカードでログイン" in shown
    assert 'href="/shiomi-town/card/sign-in?next=/shiomi-town/applications/"' in shown
    english = client.get(page(SHIOMI, "/login?lang=en")).get_data(as_text=True)
    assert "Sign in with your My Number Card" in english
    assert "/card/sign-in" not in client.get(page(OFF, "/login")).get_data(as_text=True)


def test_where_the_card_is_off_its_pages_are_not_there(app, town: Tenant) -> None:
    client = app.test_client()
    assert client.get(page(OFF, "/card/sign-in")).status_code == 404
    assert client.get(page(OFF, f"/card/new-account?a={uuid.uuid4()}")).status_code == 404
    assert client.get(page(SHIOMI, "/card/new-account?a=not-an-id")).status_code == 404
    assert client.get(page(SHIOMI, "/card/result?outcome=made-up")).status_code == 404


def test_the_button_stores_a_request_and_sends_the_browser_to_the_provider_with_a_binding_cookie(
    app, db: Database, town: Tenant, card_idp: CardIdp
) -> None:
    client = app.test_client()
    location = start(client, SHIOMI)
    assert location.startswith(card_idp.issuer)
    query = dict(part.split("=", 1) for part in urlsplit(location).query.split("&"))
    assert query["code_challenge_method"] == "S256"
    assert query["state"].startswith(f"{SHIOMI}.")
    assert "card%2Fcallback" in query["redirect_uri"]
    cookie = client.get_cookie(BINDING_COOKIE, domain="localhost")
    assert cookie is not None and cookie.secure and cookie.http_only and cookie.same_site == "Lax"
    assert _count(db, town, CardAuthorization) == 1


# --- a new resident ----------------------------------------------------------------------------------------


def test_a_new_resident_signs_in_with_the_card_opens_an_account_and_is_verified_at_once(
    app, db: Database, town: Tenant, card_idp: CardIdp
) -> None:
    client, opened = _new_resident(app, town, SHIOMI_EXACT, "misaki@example.jp")
    assert opened.status_code == 303, opened.get_data(as_text=True)[:500]
    assert outcome_of(opened.headers["Location"]) == "verified"
    result = client.get(HTTPS + opened.headers["Location"]).get_data(as_text=True)
    assert "本人確認ができました" in result and 'href="/shiomi-town/"' in result
    me = client.get(f"{HTTPS}/api/v1/t/{SHIOMI}/me").json
    assert me["email"] == "misaki@example.jp"
    assert me["identity_assurance"] == "card"
    assert me["card"]["issuer"] == card_idp.issuer and me["card"]["linked_at"]
    assert [(e["method"], e["level"]) for e in me["identity_evidence"]] == [("card", "card")]
    # The binding cookie is gone once the account is open.
    assert client.get_cookie(BINDING_COOKIE, domain="localhost") is None

    # Later, on another device: the card signs the same account in, and ``next`` is kept within the municipality.
    again = app.test_client()
    back = card_pages.sign_in(again, SHIOMI, SHIOMI_EXACT, next_path="/shiomi-town/applications/")
    assert back.status_code == 303 and back.headers["Location"] == "/shiomi-town/applications/"
    assert again.get(f"{HTTPS}/api/v1/t/{SHIOMI}/me").json["id"] == me["id"]


def test_next_outside_the_municipality_lands_on_its_portal_instead(app, town: Tenant) -> None:
    _new_resident(app, town, SHIOMI_EXACT, "misaki@example.jp")
    for elsewhere in ("https://evil.example/", "//evil.example/", "/midorikawa-village/"):
        client = app.test_client()
        back = card_pages.sign_in(client, SHIOMI, SHIOMI_EXACT, next_path=elsewhere)
        assert back.headers["Location"] == "/shiomi-town/", elsewhere


def test_the_new_account_form_says_what_is_wrong_beside_the_field_and_stores_nothing(
    app, db: Database, town: Tenant
) -> None:
    client = app.test_client()
    callback = card_pages.sign_in(client, SHIOMI, SHIOMI_EXACT)
    form_url = HTTPS + callback.headers["Location"]
    before = _count(db, town, Account)
    refused = open_account(client, form_url, "not an address")
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert re.search(r'id="email"[^>]*aria-invalid="true"', html)
    assert 'id="email-error"' in html
    wrong_language = open_account(client, form_url, "misaki@example.jp", locale="fr")
    assert wrong_language.status_code == 422 and 'id="locale-error"' in wrong_language.get_data(as_text=True)
    no_token = client.post(form_url, data={"email": "misaki@example.jp", "locale": "ja"})
    assert no_token.status_code == 400
    assert _count(db, town, Account) == before
    # Still usable: the address given right this time opens the account.
    assert open_account(client, form_url, "misaki@example.jp").status_code == 303


def test_an_address_already_in_use_is_refused_beside_the_field(app, db: Database, town: Tenant) -> None:
    add_account(db, town, email="taken@example.jp")
    _client, refused = _new_resident(app, town, SHIOMI_EXACT, "taken@example.jp")
    assert refused.status_code == 409
    assert 'id="email-error"' in refused.get_data(as_text=True)
    assert _count(db, town, CardLink) == 0


@pytest.mark.parametrize(
    ("holder", "outcome", "words"),
    [
        (SHIOMI_NOT_REGISTERED, "no_match", "住民基本台帳で見つかりませんでした"),
        (SHIOMI_TWO_MATCHES, "several", "窓口へお越しください"),
        (SHIOMI_VARIANT, "needs_review", "職員が本人確認を行います"),
    ],
)
def test_a_card_the_register_does_not_match_exactly_says_what_to_do_next(
    app, db: Database, town: Tenant, holder: str, outcome: str, words: str
) -> None:
    client, opened = _new_resident(app, town, holder, f"{outcome}@example.jp")
    assert outcome_of(opened.headers["Location"]) == outcome
    html = client.get(HTTPS + opened.headers["Location"]).get_data(as_text=True)
    assert words in html
    if outcome != "needs_review":
        assert "汐見町役場" in html or "電話" in html  # the counter's contact from the tenant file
    me = client.get(f"{HTTPS}/api/v1/t/{SHIOMI}/me").json
    assert me["identity_assurance"] == "email" and me["card"] is not None and me["identity_evidence"] == []


def test_a_card_of_another_municipality_names_it_and_links_to_its_service(app, town: Tenant) -> None:
    client, opened = _new_resident(app, town, SAKURAGAOKA_EXACT, "shota@example.jp")
    assert outcome_of(opened.headers["Location"]) == "other_municipality"
    html = client.get(HTTPS + opened.headers["Location"]).get_data(as_text=True)
    assert "桜ヶ丘市" in html
    assert 'href="/sakuragaoka-city/"' in html


# --- refused answers --------------------------------------------------------------------------------------------


def _assert_plain_failure(response) -> None:
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "マイナンバーカードでのログインができませんでした" in html
    assert 'href="/shiomi-town/card/sign-in"' in html  # try again
    for detail in ("binding", "nonce", "state", "Traceback", "replay"):
        assert detail not in html


def test_an_answer_brought_to_another_browser_is_refused_and_opens_nothing(app, db: Database, town: Tenant) -> None:
    started = app.test_client()
    params = drive_card_login(start(started, SHIOMI), SHIOMI_EXACT)
    elsewhere = app.test_client()
    _assert_plain_failure(answer(elsewhere, params))
    assert _count(db, town, Account) == 0
    # The browser that started it still can (a stranger cannot spend someone else's sign-in), once.
    assert answer(started, params).status_code == 303
    _assert_plain_failure(answer(started, params))


def test_a_replayed_answer_is_refused(app, town: Tenant) -> None:
    client = app.test_client()
    params = drive_card_login(start(client, SHIOMI), SHIOMI_EXACT)
    assert answer(client, params).status_code == 303
    client.set_cookie(BINDING_COOKIE, "whatever", domain="localhost", secure=True)
    _assert_plain_failure(answer(client, params))


def test_a_cancelled_sign_in_and_a_made_up_state_get_the_plain_page(app, town: Tenant) -> None:
    client = app.test_client()
    _assert_plain_failure(answer(client, cancel_card_login(start(client, SHIOMI))))
    made_up = f"{SHIOMI}.{'x' * 43}"
    _assert_plain_failure(answer(client, {"state": made_up, "code": "x"}))
    # A state that names no municipality here: the same page, without a municipality to try again at.
    for state in ("no-such-town." + "x" * 43, "shiomi-town", ""):
        nowhere = answer(client, {"state": state, "code": "x"})
        html = nowhere.get_data(as_text=True)
        assert nowhere.status_code == 400 and "マイナンバーカードでのログインができませんでした" in html
        assert "Traceback" not in html and "no-such-town" not in html


# --- the card on an existing account ------------------------------------------------------------------------


def _resident_of_exact_holder(app, db: Database, town: Tenant):
    """A resident who signed up with a password and was verified at the counter: the register person of
    SHIOMI_EXACT."""
    from madoguchi.identity import operations as identity
    from madoguchi.identity.models import AccountKind
    from madoguchi.registry.models import Person
    from tests.factories import make_account

    account = add_account(db, town, email="misaki@example.jp")
    with db.transaction(town.id) as session:
        person = session.execute(select(Person).where(Person.given_name == "美咲")).scalar_one()
        clerk = make_account(session, town, kind=AccountKind.STAFF, roles=["clerk"])
        identity.link_identity_at_counter(
            session, town.id, account.id, resident_code=person.resident_code, by=clerk, actor=f"account:{clerk.id}"
        )
    return account, signed_in(app, town, account)


def test_a_resident_links_the_card_from_the_account_page_and_unlinks_it_after_confirming(
    app, db: Database, town: Tenant, card_idp: CardIdp
) -> None:
    _account_row, client = _resident_of_exact_holder(app, db, town)
    before = client.get(page(SHIOMI, "/account/identity")).get_data(as_text=True)
    assert "マイナンバーカードを連携する" in before and "本人確認済み（郵送のコードまたは窓口）" in before

    linked = card_pages.link(client, SHIOMI, SHIOMI_EXACT)
    assert linked.status_code == 303 and outcome_of(linked.headers["Location"]) == "verified"
    assert "back=" in linked.headers["Location"]
    shown = client.get(page(SHIOMI, "/account/identity")).get_data(as_text=True)
    assert "連携済み" in shown
    assert urlsplit(card_idp.issuer).hostname in shown  # the provider
    assert "マイナンバーカードで本人確認済み" in shown  # the level in words, and the evidence
    assert "カードの連携を解除する" in shown

    token = card_pages.csrf_of(shown)
    same_origin = {"Referer": f"{HTTPS}/"}
    confirm = client.post(page(SHIOMI, "/account/card/unlink"), data={"csrf_token": token}, headers=same_origin)
    assert confirm.status_code == 200 and "カードの連携を解除しますか" in confirm.get_data(as_text=True)
    assert _count(db, town, CardLink) == 1  # nothing yet
    done = client.post(
        page(SHIOMI, "/account/card/unlink"), data={"csrf_token": token, "confirm": "yes"}, headers=same_origin
    )
    assert done.status_code == 303
    assert _count(db, town, CardLink) == 0
    me = client.get(f"{HTTPS}/api/v1/t/{SHIOMI}/me").json
    assert me["card"] is None and me["identity_assurance"] == "verified"
    # The evidence stays: it is the record of what happened.
    assert _count(db, town, IdentityEvidence) >= 1


def test_linking_needs_a_signed_in_resident_and_a_csrf_token(app, db: Database, town: Tenant) -> None:
    anonymous = app.test_client()
    refused = anonymous.post(page(SHIOMI, "/account/card/link"))
    assert refused.status_code in (303, 400)
    _account_row, client = _resident_of_exact_holder(app, db, town)
    assert client.post(page(SHIOMI, "/account/card/link")).status_code == 400  # no CSRF token
    assert client.post(page(SHIOMI, "/account/card/unlink")).status_code == 400
    assert _count(db, town, CardAuthorization) == 0


def test_the_card_of_another_account_is_not_linked_twice(app, db: Database, town: Tenant) -> None:
    _new_resident(app, town, SHIOMI_EXACT, "first@example.jp")
    other = add_account(db, town, email="second@example.jp")
    client = signed_in(app, town, other)
    taken = card_pages.link(client, SHIOMI, SHIOMI_EXACT)
    assert taken.status_code == 409
    assert "このカードは別のアカウントに連携されています" in taken.get_data(as_text=True)
    assert _count(db, town, CardLink) == 1


def test_where_the_card_is_off_the_account_page_has_no_card_section(app, db: Database, seeded: None) -> None:
    tenant = next(t for t in tenants(db) if t.slug == OFF)
    client = signed_in(app, tenant, add_account(db, tenant))
    html = client.get(page(OFF, "/account/identity")).get_data(as_text=True)
    assert "マイナンバーカードを連携する" not in html
    token = card_pages.csrf_of(html)
    refused = client.post(page(OFF, "/account/card/link"), data={"csrf_token": token}, headers={"Referer": f"{HTTPS}/"})
    assert refused.status_code == 404


def test_the_api_documents_the_card_and_the_evidence_on_me(app) -> None:
    spec = app.test_client().get("/api/v1/openapi.json").json
    me = spec["paths"]["/api/v1/t/{tenant}/me"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    schema = spec["components"]["schemas"][me["$ref"].rsplit("/", 1)[-1]]
    assert {"card", "identity_evidence", "identity_assurance"} <= set(schema["properties"])
    assert "card" in schema["required"] and "identity_evidence" in schema["required"]
