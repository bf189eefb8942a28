"""The portal's payment pages and the fake provider's hosted page, over HTTP: pay, come back, see it issued;
a decline leaves the fee payable; amounts in 円 and ¥; another municipality's resident finds nothing. Decision
0044."""

from __future__ import annotations

import re
import uuid

import pytest
from flask import Flask
from flask.testing import FlaskClient

from madoguchi.db import Database
from madoguchi.identity.models import Account
from tests.payments.payment_world import AFTER_FEE_FIXED, with_payments
from tests.payments.payment_world import csrf as _csrf
from tests.payments.payment_world import state_of as _state
from tests.payments.payment_world import submitted as _submitted
from tests.world import HTTPS, Town, client_of

CITY = "sakuragaoka-city"
VILLAGE = "midorikawa-village"
SAME_ORIGIN = {"Referer": f"{HTTPS}/"}


def _client(app: Flask, db: Database, town: Town) -> FlaskClient:
    with db.transaction(town.tenant.id) as session:
        account = session.get(Account, town.resident.account_id)
        assert account is not None
    return client_of(app, db, account)


def _path(location: str) -> str:
    return re.sub(r"^https?://[^/]+", "", location)


def _go_pay(client: FlaskClient, town: Town, application_id: uuid.UUID) -> str:
    """From the pay page to the hosted page: its path."""
    pay_url = f"{HTTPS}/{town.tenant.slug}/applications/{application_id}/pay"
    html = client.get(pay_url).get_data(as_text=True)
    key = re.search(r'name="payment_key" value="([^"]+)"', html)
    assert key, html
    response = client.post(pay_url, data={"csrf_token": _csrf(html), "payment_key": key.group(1)}, headers=SAME_ORIGIN)
    assert response.status_code == 303, response.get_data(as_text=True)
    assert "/fake-pay/" in response.headers["Location"]
    return _path(response.headers["Location"])


def _press(client: FlaskClient, hosted: str, outcome: str, **switches: str) -> str:
    html = client.get(HTTPS + hosted).get_data(as_text=True)
    assert "300円" in html or "¥300" in html
    response = client.post(
        HTTPS + hosted, data={"csrf_token": _csrf(html), "outcome": outcome, **switches}, headers=SAME_ORIGIN
    )
    assert response.status_code == 303
    return response.headers["Location"]


def test_a_resident_pays_on_the_hosted_page_and_the_certificate_is_issued_only_then(app, db, towns) -> None:
    town = with_payments(db, towns[CITY])
    client = _client(app, db, town)
    application_id = _submitted(db, town)
    page = client.get(f"{HTTPS}/{CITY}/applications/{application_id}").get_data(as_text=True)
    assert 'id="pay-link"' in page and "300円" in page
    hosted = _go_pay(client, town, application_id)
    assert _state(db, town, application_id) == "approved"

    back = _press(client, hosted, "succeed")
    assert back.endswith(f"/{CITY}/applications/{application_id}/payment-return")
    landed = client.get(back, follow_redirects=True).get_data(as_text=True)
    assert "300円" in landed and "お支払いを受け付けました" in landed
    assert _state(db, town, application_id) == "issued"
    page = client.get(f"{HTTPS}/{CITY}/applications/{application_id}").get_data(as_text=True)
    assert 'id="pay-link"' not in page
    assert "お支払い完了" in page  # the timeline's payment step


def test_a_declined_payment_leaves_the_fee_payable(app, db, towns) -> None:
    town = with_payments(db, towns[CITY])
    client = _client(app, db, town)
    application_id = _submitted(db, town)
    back = _press(client, _go_pay(client, town, application_id), "decline", duplicate="true", out_of_order="true")
    landed = client.get(back, follow_redirects=True).get_data(as_text=True)
    assert "お支払いできませんでした" in landed
    assert 'id="pay-link"' in landed
    assert _state(db, town, application_id) == "approved"
    back = _press(client, _go_pay(client, town, application_id), "succeed")
    client.get(back)
    assert _state(db, town, application_id) == "issued"


def test_amounts_read_in_yen_in_english(app, db, towns) -> None:
    town = with_payments(db, towns[CITY])
    client = _client(app, db, town)
    application_id = _submitted(db, town)
    html = client.get(f"{HTTPS}/{CITY}/applications/{application_id}/pay?lang=en").get_data(as_text=True)
    assert "Pay ¥300" in html and "300円" not in html


def test_the_same_pay_form_sent_twice_goes_to_the_same_payment(app, db, towns) -> None:
    town = with_payments(db, towns[CITY])
    client = _client(app, db, town)
    application_id = _submitted(db, town)
    pay_url = f"{HTTPS}/{CITY}/applications/{application_id}/pay"
    html = client.get(pay_url).get_data(as_text=True)
    form = {"csrf_token": _csrf(html), "payment_key": re.search(r'name="payment_key" value="([^"]+)"', html)[1]}
    first = client.post(pay_url, data=form, headers=SAME_ORIGIN).headers["Location"]
    second = client.post(pay_url, data=form, headers=SAME_ORIGIN).headers["Location"]
    assert first == second


def test_nothing_to_pay_online_where_the_municipality_takes_fees_at_the_counter(app, db, towns) -> None:
    town = towns[CITY]  # no payments section: issued at once, as before
    client = _client(app, db, town)
    application_id = _submitted(db, town)
    page = client.get(f"{HTTPS}/{CITY}/applications/{application_id}").get_data(as_text=True)
    assert 'id="pay-link"' not in page
    pay_url = f"{HTTPS}/{CITY}/applications/{application_id}/pay"
    html = client.get(pay_url).get_data(as_text=True)
    refused = client.post(pay_url, data={"csrf_token": _csrf(html), "payment_key": "k"}, headers=SAME_ORIGIN)
    assert refused.status_code == 409


def test_after_fee_fixed_waits_for_the_clerk_before_offering_payment(app, db, towns) -> None:
    town = with_payments(db, towns[VILLAGE], AFTER_FEE_FIXED)
    client = _client(app, db, town)
    application_id = _submitted(db, town)
    page = client.get(f"{HTTPS}/{VILLAGE}/applications/{application_id}").get_data(as_text=True)
    assert 'id="pay-link"' not in page


@pytest.mark.parametrize("path", ["/pay", "/payments", "/payment-return"])
def test_another_municipalitys_resident_finds_no_payment_page(app, db, towns, path) -> None:
    city = with_payments(db, towns[CITY])
    village = with_payments(db, towns[VILLAGE])
    application_id = _submitted(db, city)
    outsider = _client(app, db, village)
    assert outsider.get(f"{HTTPS}/{VILLAGE}/applications/{application_id}{path}").status_code == 404
    assert outsider.get(f"{HTTPS}/{CITY}/applications/{application_id}{path}").status_code in (302, 303, 401, 403, 404)


def test_an_unknown_hosted_page_is_not_found(client, seeded) -> None:
    assert client.get(f"{HTTPS}/fake-pay/fake_nope").status_code == 404
