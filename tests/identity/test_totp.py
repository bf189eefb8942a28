"""TOTP second factor for staff: enrollment, sign-in with a code (JSON and the HTML second step), tenant admins."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pyotp
import segno

from madoguchi.db import Database
from madoguchi.identity.sessions import COOKIE_NAME
from tests.identity.conftest import (
    HTTPS,
    PASSWORD,
    Clock,
    Towns,
    add_account,
    api,
    audit_actions,
    fresh_ip,
    load_account,
    login,
    page,
    post_form,
    problem,
    session_row,
    session_token,
    signed_in,
    staff_account,
)


def _enrol(client, tenant, clock: Clock) -> str:
    started = client.post(api(tenant, "/me/totp"))
    assert started.status_code == 201, started.get_data(as_text=True)
    secret = started.json["secret"]
    confirmed = client.post(api(tenant, "/me/totp/confirm"), json={"code": clock.code(secret)})
    assert confirmed.status_code == 200, confirmed.json
    return secret


def test_a_clerk_without_an_authenticator_can_do_nothing_but_enrol(
    app, db: Database, towns: Towns, clock: Clock
) -> None:
    """Issue 12: clerks and supervisors (who approve, issue and revoke certificates) signed in with a password alone."""
    clerk = staff_account(db, towns.a, "clerk", "supervisor", totp_secret=None)
    client = app.test_client()
    response = login(client, towns.a, clerk.email)
    assert response.status_code == 201 and response.json["second_factor"] == "enrollment_required"
    assert client.get(api(towns.a, "/me")).json["second_factor_pending"] is True
    assert client.get(f"{HTTPS}/api/v1/t/{towns.a.slug}/applications/").status_code == 401
    assert client.get(page(towns.a, "/console/")).status_code == 303  # the console sends it to sign in
    started = client.post(api(towns.a, "/me/totp"))
    assert started.status_code == 201
    secret, uri = started.json["secret"], started.json["otpauth_uri"]
    parts = urlsplit(uri)
    assert parts.scheme == "otpauth" and parts.netloc == "totp"
    assert parse_qs(parts.query)["secret"] == [secret] and "Madoguchi" in parse_qs(parts.query)["issuer"][0]
    stored = load_account(db, clerk)
    assert stored.totp_secret_encrypted and secret.encode() not in stored.totp_secret_encrypted
    assert stored.totp_enabled_at is None  # not before a code confirms it
    wrong = client.post(api(towns.a, "/me/totp/confirm"), json={"code": "000000"})
    assert wrong.status_code == 422 and "code" in problem(wrong)["errors"]
    confirmed = client.post(api(towns.a, "/me/totp/confirm"), json={"code": clock.code(secret)})
    assert confirmed.status_code == 200 and confirmed.json["totp_enabled"] is True
    assert "totp.enabled" in [r.action for r in audit_actions(db, towns.a)]
    assert client.get(api(towns.a, "/me")).status_code == 200  # this session passed its second factor
    assert client.post(api(towns.a, "/me/totp")).status_code == 409  # no silent replacement

    fresh = app.test_client()
    without = login(fresh, towns.a, clerk.email)
    assert without.status_code == 401 and problem(without)["type"].endswith("second-factor-required")
    assert session_token(fresh) is None
    with_code = login(fresh, towns.a, clerk.email, totp_code=clock.code(secret))
    assert with_code.status_code == 201 and with_code.json["second_factor"] == "done"
    assert fresh.get(api(towns.a, "/me")).status_code == 200


def test_a_code_is_good_only_once(app, db: Database, towns: Towns, clock: Clock) -> None:
    secret = pyotp.random_base32()
    clerk = staff_account(db, towns.a, "clerk", totp_secret=secret)
    code = clock.code(secret)
    assert login(app.test_client(), towns.a, clerk.email, totp_code=code).status_code == 201
    replay = login(app.test_client(), towns.a, clerk.email, totp_code=code)
    assert replay.status_code == 401 and problem(replay)["type"].endswith("login-failed")
    # An older code of the window is refused too once a newer one was used.
    clock.now += 30
    older = pyotp.TOTP(secret).at(clock.now - 30)
    assert login(app.test_client(), towns.a, clerk.email, totp_code=older).status_code == 401
    assert login(app.test_client(), towns.a, clerk.email, totp_code=clock.current(secret)).status_code == 201


def test_codes_from_a_neighbouring_time_step_are_accepted(app, db: Database, towns: Towns, clock: Clock) -> None:
    secret = pyotp.random_base32()
    clerk = staff_account(db, towns.a, "clerk", totp_secret=secret)
    late = pyotp.TOTP(secret).at(clock.now + 30)  # the phone runs 30 s ahead
    assert login(app.test_client(), towns.a, clerk.email, totp_code=late).status_code == 201
    too_far = pyotp.TOTP(secret).at(clock.now + 120)
    assert login(app.test_client(), towns.a, clerk.email, totp_code=too_far).status_code == 401


def test_wrong_codes_slow_sign_in_down_like_wrong_passwords(app, db: Database, towns: Towns, clock: Clock) -> None:
    secret = pyotp.random_base32()
    clerk = staff_account(db, towns.a, "clerk", totp_secret=secret)
    there = {"environ_base": {"REMOTE_ADDR": "198.51.100.30"}}
    for _ in range(5):
        assert login(app.test_client(), towns.a, clerk.email, totp_code="123456", ip=there).status_code == 401
    waiting = login(app.test_client(), towns.a, clerk.email, totp_code=clock.code(secret), ip=there)
    assert waiting.status_code == 429 and problem(waiting)["type"].endswith("sign-in-throttled")


def test_every_tenant_admin_must_enrol_before_acting(app, db: Database, towns: Towns, clock: Clock) -> None:
    admin = staff_account(db, towns.a, "tenant_admin", totp_secret=None)
    client = app.test_client()
    response = login(client, towns.a, admin.email)
    assert response.status_code == 201
    assert response.json["second_factor"] == "enrollment_required"
    pending_token = session_token(client)
    assert session_row(db, pending_token).second_factor_at is None
    me = client.get(api(towns.a, "/me"))
    assert me.status_code == 200 and me.json["second_factor_pending"] is True
    # Nothing else works with this session.
    assert client.get(api(towns.a, "/staff")).status_code == 401
    password_change = {"current_password": PASSWORD, "new_password": "another long passphrase"}
    assert client.post(api(towns.a, "/me/password"), json=password_change).status_code == 401
    _enrol(client, towns.a, clock)
    assert session_token(client) != pending_token  # the session id rotated with its new privilege
    assert session_row(db, pending_token).revoked_at is not None
    assert client.get(api(towns.a, "/staff")).status_code == 200
    assert client.get(api(towns.a, "/me")).json["second_factor_pending"] is False


def test_a_tenant_admin_with_an_authenticator_needs_the_code(app, db: Database, towns: Towns, clock: Clock) -> None:
    secret = pyotp.random_base32()
    admin = staff_account(db, towns.a, "tenant_admin", totp_secret=secret)
    assert login(app.test_client(), towns.a, admin.email).status_code == 401
    client = app.test_client()
    assert login(client, towns.a, admin.email, totp_code=clock.code(secret)).status_code == 201
    assert client.get(api(towns.a, "/staff")).status_code == 200


def test_residents_have_no_authenticator(app, db: Database, towns: Towns) -> None:
    client = signed_in(app, towns.a, add_account(db, towns.a))
    assert client.post(api(towns.a, "/me/totp")).status_code == 403
    assert client.post(api(towns.a, "/me/totp/confirm"), json={"code": "123456"}).status_code == 403


def test_bad_confirmation_input(app, db: Database, towns: Towns) -> None:
    client = signed_in(app, towns.a, staff_account(db, towns.a, "clerk", totp_secret=None))
    before = client.post(api(towns.a, "/me/totp/confirm"), json={"code": "123456"})
    assert before.status_code == 409  # nothing to confirm yet
    client.post(api(towns.a, "/me/totp"))
    for body in ({}, {"code": 123456}, {"code": "x" * 50}, {"code": "abcdef"}):
        response = client.post(api(towns.a, "/me/totp/confirm"), json=body)
        assert response.status_code == 422 and problem(response), body
    assert client.get(api(towns.a, "/me")).json["totp_enabled"] is False


def test_totp_endpoints_need_a_session(client, towns: Towns) -> None:
    assert client.post(api(towns.a, "/me/totp")).status_code == 401
    assert client.post(api(towns.a, "/me/totp/confirm"), json={"code": "1"}).status_code == 401


# --- The HTML second step and set-up page ------------------------------------------------------------


def test_the_login_form_asks_for_the_code_on_a_second_page(app, db: Database, towns: Towns, clock: Clock) -> None:
    secret = pyotp.random_base32()
    clerk = staff_account(db, towns.b, "clerk", totp_secret=secret)
    client = app.test_client()
    first = post_form(
        client,
        page(towns.b, "/login?lang=en&next=/" + towns.b.slug + "/console/"),
        {"email": clerk.email, "password": PASSWORD},
        **fresh_ip(),
    )
    assert first.status_code == 303
    assert first.headers["Location"].startswith(f"/{towns.b.slug}/login/second-factor?")
    step_one = session_token(client)
    # Between the steps the session authenticates nothing.
    assert client.get(api(towns.b, "/me")).status_code == 401
    second_url = page(towns.b, first.headers["Location"].split(f"/{towns.b.slug}", 1)[1])
    page_html = client.get(second_url).get_data(as_text=True)
    assert '<label for="code">' in page_html and 'autocomplete="one-time-code"' in page_html
    wrong = post_form(client, second_url, {"code": "000000"}, **fresh_ip())
    assert wrong.status_code == 401 and "try again later" in wrong.get_data(as_text=True)
    right = post_form(client, second_url, {"code": clock.code(secret)}, **fresh_ip())
    assert right.status_code == 303 and right.headers["Location"] == f"/{towns.b.slug}/console/"
    assert COOKIE_NAME in right.headers["Set-Cookie"]
    assert session_token(client) != step_one
    assert client.get(api(towns.b, "/me")).status_code == 200


def test_the_second_step_without_a_pending_session_goes_back_to_login(client, towns: Towns) -> None:
    response = client.get(page(towns.a, "/login/second-factor"))
    assert response.status_code == 303 and response.headers["Location"].startswith(f"/{towns.a.slug}/login")


def test_a_tenant_admin_sets_up_the_authenticator_in_the_browser(app, db: Database, towns: Towns, clock: Clock) -> None:
    admin = staff_account(db, towns.b, "tenant_admin", totp_secret=None)
    client = app.test_client()
    first = post_form(
        client, page(towns.b, "/login?lang=en"), {"email": admin.email, "password": PASSWORD}, **fresh_ip()
    )
    assert first.status_code == 303
    assert first.headers["Location"].startswith(f"/{towns.b.slug}/account/two-factor")
    setup_url = page(towns.b, "/account/two-factor?lang=en")
    started = post_form(client, setup_url, {"step": "start"})
    assert started.status_code == 200
    html = started.get_data(as_text=True)
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', html).group(1)
    uri = unescape(re.search(r"<dd><code>(otpauth://[^<]+)</code></dd>", html).group(1))
    assert parse_qs(urlsplit(uri).query)["secret"] == [secret]
    # The same URI as a QR code, drawn inline (no image fetched from anywhere), named for screen readers.
    assert _qr_modules(html) == _qr_modules(str(segno.make(uri, error="m").svg_inline()))
    assert '<svg role="img"' in html and "<title>QR code to scan with your authenticator app</title>" in html
    wrong = post_form(client, setup_url, {"step": "confirm", "code": "000000"})
    assert (
        wrong.status_code == 422 and secret in wrong.get_data(as_text=True) and "<svg" in wrong.get_data(as_text=True)
    )
    done = post_form(client, setup_url, {"step": "confirm", "code": clock.code(secret)})
    assert done.status_code == 303 and done.headers["Location"] == f"/{towns.b.slug}/console/"
    assert client.get(api(towns.b, "/staff")).status_code == 200
    assert "already set up" in client.get(setup_url).get_data(as_text=True)


def _qr_modules(html: str) -> str:
    """The dark modules of the (first) QR code in ``html``: the path segno draws them with."""
    return re.search(r'<path[^>]* stroke="#000"[^>]* d="([^"]+)"', html).group(1)


def test_the_set_up_page_needs_a_staff_session(app, db: Database, towns: Towns) -> None:
    anonymous = app.test_client().get(page(towns.a, "/account/two-factor"))
    assert anonymous.status_code == 303 and "/login" in anonymous.headers["Location"]
    resident = signed_in(app, towns.a, add_account(db, towns.a))
    assert resident.get(page(towns.a, "/account/two-factor")).status_code == 303
