"""The Stripe card payment page, ``/<tenant>/payments/<intent>/stripe``, over HTTP against localstripe: the owner
gets Stripe.js's Payment Element set up with the PaymentIntent's real client secret; only this page lets
Stripe.js's origin into the Content-Security-Policy; another municipality's or another resident's intent, and a
fake-provider intent, are not found; a payment that ended shows its status instead of the form. Decision 0045.

(Typing a card into Stripe's iframe needs a browser and Stripe's own Stripe.js: localstripe's fake Stripe.js has
no Payment Element, so the payment itself is made here as Stripe.js would make it, through the API.)"""

from __future__ import annotations

import re
import uuid
from dataclasses import replace

import pytest
from flask import Flask
from flask.testing import FlaskClient

from madoguchi.applications import repository
from madoguchi.config import Settings
from madoguchi.db import Database
from madoguchi.identity.actors import Actor
from madoguchi.identity.models import Account
from madoguchi.payments import service
from madoguchi.payments.models import PaymentIntent
from madoguchi.payments.providers.stripe import browser_sources
from tests.payments.payment_world import PREPAY, with_payments
from tests.payments.payment_world import csrf as _csrf
from tests.payments.payment_world import state_of as _state
from tests.payments.payment_world import submitted as _submitted
from tests.support.localstripe import API_KEY, LocalStripe
from tests.world import HTTPS, Town, client_of

CITY = "sakuragaoka-city"
VILLAGE = "midorikawa-village"
SAME_ORIGIN = {"Referer": f"{HTTPS}/"}
STRIPE = {**PREPAY, "provider": "stripe"}
PUBLISHABLE_KEY = "pk_test_madoguchi"
DECLINED_CARD = "4000000000000341"


@pytest.fixture
def settings(settings: Settings, localstripe: LocalStripe) -> Settings:
    return replace(
        settings,
        stripe_api_key=API_KEY,
        stripe_api_base=localstripe.api_base,
        stripe_publishable_key=PUBLISHABLE_KEY,
        stripe_js_url=localstripe.js_url,
    )


def _client(app: Flask, db: Database, town: Town, who: Actor | None = None) -> FlaskClient:
    with db.transaction(town.tenant.id) as session:
        account = session.get(Account, (who or town.resident).account_id)
        assert account is not None
    return client_of(app, db, account)


def _start(client: FlaskClient, town: Town, application_id: uuid.UUID) -> str:
    """Press "Pay" on the pay page: the path it sends the resident to."""
    pay_url = f"{HTTPS}/{town.tenant.slug}/applications/{application_id}/pay"
    html = client.get(pay_url).get_data(as_text=True)
    key = re.search(r'name="payment_key" value="([^"]+)"', html)
    assert key, html
    response = client.post(pay_url, data={"csrf_token": _csrf(html), "payment_key": key[1]}, headers=SAME_ORIGIN)
    assert response.status_code == 303, response.get_data(as_text=True)
    return re.sub(r"^https?://[^/]+", "", response.headers["Location"])


def _started(app: Flask, db: Database, town: Town) -> tuple[FlaskClient, uuid.UUID, str]:
    """The resident's client, a submitted application of theirs, and the card page "Pay" sent them to."""
    client = _client(app, db, town)
    application_id = _submitted(db, town)
    return client, application_id, _start(client, town, application_id)


def _intent(db: Database, town: Town, path: str) -> PaymentIntent:
    match = re.fullmatch(rf"/{town.tenant.slug}/payments/([0-9a-f-]{{36}})/stripe", path)
    assert match, path
    with db.transaction(town.tenant.id) as session:
        intent = service.find_intent(session, town.tenant, uuid.UUID(match[1]))
        assert intent is not None
        session.expunge(intent)
        return intent


def _attribute(html: str, name: str) -> str:
    match = re.search(rf'{name}="([^"]*)"', html)
    assert match, f"no {name} on the page"
    return match[1]


def test_the_owner_gets_the_payment_element_with_the_real_client_secret(app, db, towns, localstripe) -> None:
    town = with_payments(db, towns[CITY], STRIPE)
    client, application_id, path = _started(app, db, town)
    intent = _intent(db, town, path)
    assert intent.provider == "stripe" and intent.provider_ref and intent.provider_ref.startswith("pi_")

    response = client.get(HTTPS + path)
    html = response.get_data(as_text=True)
    assert response.status_code == 200, html
    assert _attribute(html, "data-client-secret") == localstripe.client_secret(intent.provider_ref)
    assert _attribute(html, "data-publishable-key") == PUBLISHABLE_KEY
    assert _attribute(html, "data-return-url") == f"{HTTPS}/{CITY}/applications/{application_id}/payment-return"
    assert _attribute(html, "data-locale") == "ja"
    assert f'<script src="{localstripe.js_url}" defer></script>' in html
    assert "/static/stripe-pay.js" in html
    assert "300円を支払う" in html and "カード情報" in html
    assert "<noscript>" in html and "JavaScriptが必要です" in html and "窓口" in html
    assert "<script>" not in html  # no inline script: the page's script is a static file
    assert response.headers["Cache-Control"] == "no-store"  # the client secret stays out of caches
    assert _state(db, town, application_id) == "approved"  # nothing issued before the payment


def test_the_page_reads_in_english_with_yen(app, db, towns) -> None:
    town = with_payments(db, towns[CITY], STRIPE)
    client = _client(app, db, town)
    path = _start(client, town, _submitted(db, town))
    html = client.get(f"{HTTPS}{path}?lang=en").get_data(as_text=True)
    assert "Pay ¥300" in html and "300円" not in html
    assert _attribute(html, "data-locale") == "en"
    assert "Card payment needs JavaScript" in html


def test_only_this_page_lets_stripe_js_in(app, db, towns, localstripe) -> None:
    town = with_payments(db, towns[CITY], STRIPE)
    client, application_id, path = _started(app, db, town)
    policy = client.get(HTTPS + path).headers["Content-Security-Policy"]
    directives = {d.split()[0]: d.split()[1:] for d in (part.strip() for part in policy.split(";"))}
    for name in ("script-src", "frame-src", "connect-src"):
        assert directives[name] == ["'self'", localstripe.api_base], policy
    assert "'unsafe-inline'" not in policy and directives["frame-ancestors"] == ["'none'"]
    assert directives["default-src"] == ["'self'"]
    for other in (f"/{CITY}/applications/{application_id}/pay", f"/{CITY}/applications/{application_id}/payments"):
        elsewhere = client.get(HTTPS + other).headers["Content-Security-Policy"]
        assert localstripe.api_base not in elsewhere and "frame-src" not in elsewhere


def test_stripe_itself_also_needs_its_api_and_3d_secure_frames() -> None:
    assert browser_sources("https://js.stripe.com/v3/") == {
        "script-src": ("https://js.stripe.com",),
        "frame-src": ("https://js.stripe.com", "https://hooks.stripe.com"),
        "connect-src": ("https://js.stripe.com", "https://api.stripe.com"),
    }
    with pytest.raises(ValueError):
        browser_sources("js.stripe.com/v3/")


def test_another_municipality_or_another_resident_finds_no_card_page(app, db, towns) -> None:
    city = with_payments(db, towns[CITY], STRIPE)
    village = with_payments(db, towns[VILLAGE], STRIPE)
    path = _start(_client(app, db, city), city, _submitted(db, city))
    intent_id = _intent(db, city, path).id
    outsider = _client(app, db, village)
    assert outsider.get(f"{HTTPS}/{VILLAGE}/payments/{intent_id}/stripe").status_code == 404
    assert outsider.get(f"{HTTPS}/{CITY}/payments/{intent_id}/stripe").status_code in (302, 303, 401, 403, 404)
    neighbour = _client(app, db, city, city.unverified)  # same town, not their application
    answer = neighbour.get(HTTPS + path)
    assert answer.status_code == 404
    assert "data-client-secret" not in answer.get_data(as_text=True)
    assert _client(app, db, city).get(f"{HTTPS}/{CITY}/payments/{uuid.uuid4()}/stripe").status_code == 404


def test_a_fake_provider_intent_has_no_card_page(app, db, towns) -> None:
    town = with_payments(db, towns[CITY])  # the fake provider
    client = _client(app, db, town)
    application_id = _submitted(db, town)
    assert "/fake-pay/" in _start(client, town, application_id)
    with db.transaction(town.tenant.id) as session:
        application = repository.get(session, town.tenant.id, application_id)
        fake_intent = service.intents.intents_of(session, application)[-1]
        assert fake_intent.provider == "fake"
    assert client.get(f"{HTTPS}/{CITY}/payments/{fake_intent.id}/stripe").status_code == 404


def test_a_paid_intent_shows_its_status_not_the_form(app, db, towns, localstripe) -> None:
    town = with_payments(db, towns[CITY], STRIPE)
    client, application_id, path = _started(app, db, town)
    intent = _intent(db, town, path)
    assert intent.provider_ref is not None
    assert localstripe.pay(intent.provider_ref)["status"] == "succeeded"

    response = client.get(HTTPS + path)  # back here before Stripe's webhook: the page asks Stripe
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "お支払い完了" in html and 'id="stripe-status"' in html
    assert "data-client-secret" not in html and localstripe.js_url not in html
    assert localstripe.api_base not in response.headers["Content-Security-Policy"]
    assert _state(db, town, application_id) == "issued"


def test_a_declined_card_ends_this_payment_and_the_fee_stays_payable(app, db, towns, localstripe) -> None:
    town = with_payments(db, towns[CITY], STRIPE)
    client, application_id, path = _started(app, db, town)
    ref = _intent(db, town, path).provider_ref
    assert ref is not None
    localstripe.pay(ref, DECLINED_CARD)
    # Stripe.js sends the resident to the return page after a decline (stripe-pay.js): it says so.
    landed = client.get(f"{HTTPS}/{CITY}/applications/{application_id}/payment-return", follow_redirects=True)
    assert "お支払いできませんでした" in landed.get_data(as_text=True)
    html = client.get(HTTPS + path).get_data(as_text=True)
    assert "お支払い不成立" in html and "data-client-secret" not in html
    again = _start(client, town, application_id)  # a new intent, a new PaymentIntent
    assert again != path
    assert "data-client-secret" in client.get(HTTPS + again).get_data(as_text=True)
    # The first page now names the newer payment, not a form for the old one.
    assert "data-client-secret" not in client.get(HTTPS + path).get_data(as_text=True)


def test_a_replaced_payment_shows_no_form(app, db, towns) -> None:
    town = with_payments(db, towns[CITY], STRIPE)
    client = _client(app, db, town)
    application_id = _submitted(db, town)
    first = _start(client, town, application_id)
    second = _start(client, town, application_id)  # a second tab: a new key, a new intent
    assert first != second
    old = client.get(HTTPS + first).get_data(as_text=True)
    assert "新しいお支払いに置き換えられました" in old and "data-client-secret" not in old
    assert "data-client-secret" in client.get(HTTPS + second).get_data(as_text=True)


def test_without_a_publishable_key_the_page_says_card_payment_is_unavailable(app, db, towns) -> None:
    town = with_payments(db, towns[CITY], STRIPE)
    client = _client(app, db, town)
    path = _start(client, town, _submitted(db, town))
    app.config["MADOGUCHI"] = replace(app.config["MADOGUCHI"], stripe_publishable_key="")
    response = client.get(HTTPS + path)
    html = response.get_data(as_text=True)
    assert response.status_code == 503
    assert "カードでのお支払いはご利用いただけません" in html and "窓口" in html
    assert "data-client-secret" not in html
