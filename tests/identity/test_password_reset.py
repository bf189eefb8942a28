"""A forgotten password: a single-use, expiring link by email (only its hash stored) that sets a new password and
ends every session of the account; the same answer whether or not the address has an account; rate-limited."""

from __future__ import annotations

import hashlib
import re
import time

import pytest
from sqlalchemy import select

from madoguchi.db import Database
from madoguchi.identity import operations
from madoguchi.identity.models import Account, PasswordReset
from madoguchi.identity.passwords import verify_password
from madoguchi.notify import messages
from tests.conftest import DATA_KEY
from tests.identity.conftest import (
    HTTPS,
    PASSWORD,
    Towns,
    add_account,
    api,
    audit_actions,
    fresh_ip,
    load_account,
    login,
    outbox,
    page,
    post_form,
    problem,
    secret_of,
    signed_in,
    staff_account,
)

NEW_PASSWORD = "a quiet river in 令和8年"


def _ask(client, tenant, email: str, **ip):
    return client.post(api(tenant, "/accounts/password-reset"), json={"email": email}, **(ip or fresh_ip()))


def _reset(client, tenant, token: str, password: str = NEW_PASSWORD):
    body = {"token": token, "password": password}
    return client.post(api(tenant, "/accounts/password-reset/confirm"), json=body, **fresh_ip())


def _reset_mails(db: Database, tenant) -> list[dict]:
    """The reset emails' payloads, with the link opened from its seal as the worker opens it."""
    mails = [m for m in outbox(db, tenant, "notify.account") if m.payload["template"] == "account.password_reset"]
    for mail in mails:
        assert "reset_url" not in mail.payload, "the one-time link must travel sealed, never in clear"
    return [{**m.payload, "reset_url": secret_of(m, "reset_url")} for m in mails]


def _token(db: Database, tenant, n: int = -1) -> str:
    return str(_reset_mails(db, tenant)[n]["reset_url"]).rsplit("/", 1)[1]


def _resets(db: Database, tenant) -> list[PasswordReset]:
    with db.transaction(tenant.id) as session:
        return list(session.execute(select(PasswordReset).order_by(PasswordReset.created_at)).scalars())


def test_a_reset_link_is_mailed_and_only_its_hash_is_stored(app, client, db: Database, towns: Towns, settings) -> None:
    account = add_account(db, towns.b, email="hanako@example.jp")
    answer = _ask(client, towns.b, "ＨＡＮＡＫＯ@EXAMPLE.JP".lower())  # full-width typed: NFKC finds the account
    assert answer.status_code == 202
    [mail] = _reset_mails(db, towns.b)
    assert mail["to"] == "hanako@example.jp"
    assert mail["reset_url"].startswith(f"{settings.public_url}/{towns.b.slug}/password-reset/")
    token = _token(db, towns.b)
    [row] = _resets(db, towns.b)
    assert row.account_id == account.id
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest() and token not in row.token_hash
    assert (row.expires_at - row.created_at).total_seconds() == 3600
    with app.app_context():  # emails are rendered with the app's translations
        subject, body = messages.render("account.password_reset", "ja", {**_context(towns), **mail, "expires_at": "x"})
    assert "パスワードの再設定" in subject and mail["reset_url"] in body


def _context(towns: Towns) -> dict[str, str]:
    return {"tenant_name": "桜ヶ丘市", "department": "", "phone": "", "hours": "", "portal_url": "https://x/"}


def test_the_new_password_works_the_old_one_not_and_every_session_ends(client, app, db: Database, towns: Towns) -> None:
    account = add_account(db, towns.a)
    elsewhere = signed_in(app, towns.a, account)
    assert elsewhere.get(api(towns.a, "/me")).status_code == 200
    _ask(client, towns.a, account.email)
    assert _reset(client, towns.a, _token(db, towns.a)).status_code == 204

    assert elsewhere.get(api(towns.a, "/me")).status_code == 401  # the other session ended
    assert login(client, towns.a, account.email, PASSWORD).status_code == 401
    assert login(client, towns.a, account.email, NEW_PASSWORD).status_code == 201
    stored = load_account(db, account)
    assert verify_password(stored.password_hash, NEW_PASSWORD)
    assert stored.email_verified_at is not None  # the link proved the address
    assert "account.password_reset" in [r.action for r in audit_actions(db, towns.a)]


def test_a_link_works_once(client, db: Database, towns: Towns) -> None:
    account = add_account(db, towns.a)
    _ask(client, towns.a, account.email)
    token = _token(db, towns.a)
    assert _reset(client, towns.a, token).status_code == 204
    again = _reset(client, towns.a, token, "yet another long passphrase")
    assert again.status_code == 422 and "token" in problem(again)["errors"]
    assert verify_password(load_account(db, account).password_hash, NEW_PASSWORD)


def test_a_link_expires_after_one_hour(client, db: Database, towns: Towns, later) -> None:
    account = add_account(db, towns.a)
    _ask(client, towns.a, account.email)
    token = _token(db, towns.a)
    later(hours=1, minutes=1)
    expired = _reset(client, towns.a, token)
    assert expired.status_code == 422 and "token" in problem(expired)["errors"]
    assert verify_password(load_account(db, account).password_hash, PASSWORD)


def test_a_newer_link_replaces_the_older_one(client, db: Database, towns: Towns) -> None:
    account = add_account(db, towns.a)
    _ask(client, towns.a, account.email)
    _ask(client, towns.a, account.email)
    first, second = _token(db, towns.a, 0), _token(db, towns.a, 1)
    assert _reset(client, towns.a, first).status_code == 422
    assert _reset(client, towns.a, second).status_code == 204


def test_the_answer_is_the_same_for_an_unknown_address_and_nothing_is_sent(client, db: Database, towns: Towns) -> None:
    account = add_account(db, towns.a)
    known, unknown = _ask(client, towns.a, account.email), _ask(client, towns.a, "nobody@example.jp")
    assert (known.status_code, known.json) == (unknown.status_code, unknown.json)
    assert len(_reset_mails(db, towns.a)) == 1

    form_url = page(towns.a, "/password-reset")
    pages = [post_form(client, form_url, {"email": e}, **fresh_ip()) for e in (account.email, "nobody@example.jp")]
    assert pages[0].status_code == pages[1].status_code == 200
    assert pages[0].get_data(as_text=True) == pages[1].get_data(as_text=True)
    assert len(_reset_mails(db, towns.a)) == 2


def test_known_and_unknown_addresses_take_about_the_same_time(client, db: Database, towns: Towns) -> None:
    account = add_account(db, towns.a)

    def timed(email: str) -> float:
        started = time.perf_counter()
        _ask(client, towns.a, email)
        return time.perf_counter() - started

    for _ in range(2):  # warm up both paths
        timed(account.email), timed("nobody@example.jp")
    known = sorted(timed(account.email) for _ in range(1))  # the per-account mail limit allows one more
    unknown = sorted(timed("nobody@example.jp") for _ in range(5))
    # Generous: the point is that no password hash or other slow step runs on one path only.
    assert known[0] < unknown[len(unknown) // 2] * 5 + 0.05


def test_disabled_accounts_and_other_municipalities_get_no_link(client, db: Database, towns: Towns) -> None:
    disabled = add_account(db, towns.a, disabled=True)
    other = add_account(db, towns.b, email="only-in-b@example.jp")
    assert _ask(client, towns.a, disabled.email).status_code == 202
    assert _ask(client, towns.a, other.email).status_code == 202
    assert _reset_mails(db, towns.a) == []


def test_a_token_of_one_municipality_means_nothing_in_another(client, db: Database, towns: Towns) -> None:
    account = add_account(db, towns.a)
    _ask(client, towns.a, account.email)
    token = _token(db, towns.a)
    assert _reset(client, towns.b, token).status_code == 422
    assert client.get(page(towns.b, f"/password-reset/{token}")).status_code == 400
    assert _reset(client, towns.a, token).status_code == 204


def test_the_new_password_follows_the_sign_up_policy(client, db: Database, towns: Towns) -> None:
    account = add_account(db, towns.a, email="policy@example.jp")
    _ask(client, towns.a, account.email)
    token = _token(db, towns.a)
    for weak in ("short", "password1234", "policy@example.jp"):
        refused = _reset(client, towns.a, token, weak)
        assert refused.status_code == 422 and "password" in problem(refused)["errors"]
    assert _reset(client, towns.a, token).status_code == 204  # a refused password does not spend the link


def test_requests_are_rate_limited_per_address_and_mails_per_account(client, db: Database, towns: Towns) -> None:
    account = add_account(db, towns.a)
    same_ip = {"environ_base": {"REMOTE_ADDR": "192.0.2.9"}}
    statuses = [_ask(client, towns.a, account.email, **same_ip).status_code for _ in range(6)]
    assert statuses == [202] * 5 + [429]
    assert len(_reset_mails(db, towns.a)) == operations.PASSWORD_RESETS_PER_PERIOD  # no flood of mails
    refused = _ask(client, towns.a, account.email, **same_ip)
    assert problem(refused)["status"] == 429 and int(refused.headers["Retry-After"]) > 0


def test_the_web_pages_reset_a_password_and_refuse_a_used_link(client, db: Database, towns: Towns) -> None:
    account = add_account(db, towns.b)
    login_page = client.get(page(towns.b, "/login?lang=en")).get_data(as_text=True)
    assert f'href="/{towns.b.slug}/password-reset?lang=en"' in login_page and "Forgot your password?" in login_page
    asked = post_form(client, page(towns.b, "/password-reset?lang=en"), {"email": account.email}, **fresh_ip())
    assert asked.status_code == 200 and "Check your mailbox" in asked.get_data(as_text=True)
    link = page(towns.b, f"/password-reset/{_token(db, towns.b)}?lang=en")
    form = client.get(link).get_data(as_text=True)
    assert account.email in form and 'autocomplete="new-password"' in form

    weak = post_form(client, link, {"password": "short"}, **fresh_ip())
    assert weak.status_code == 422
    assert 'id="password-error"' in weak.get_data(as_text=True)
    done = post_form(client, link, {"password": NEW_PASSWORD}, **fresh_ip())
    assert done.status_code == 200 and "Your new password is set" in done.get_data(as_text=True)
    used = client.get(link)
    assert used.status_code == 400 and "This link cannot be used" in used.get_data(as_text=True)


def test_the_request_form_shows_errors_beside_the_field(client, db: Database, towns: Towns) -> None:
    response = post_form(client, page(towns.b, "/password-reset?lang=en"), {"email": "not an address"}, **fresh_ip())
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="email-error"' in html and 'aria-describedby="email-error"' in html
    assert _reset_mails(db, towns.b) == []


@pytest.mark.parametrize("path", ["/password-reset", "/password-reset/some-token", "/login"])
def test_the_pages_are_in_japanese_and_english(client, db: Database, towns: Towns, path: str) -> None:
    ja = client.get(page(towns.b, f"{path}?lang=ja")).get_data(as_text=True)
    en = client.get(page(towns.b, f"{path}?lang=en")).get_data(as_text=True)
    assert '<html lang="ja">' in ja and '<html lang="en">' in en
    assert "パスワードを忘れた場合" in ja or "リンクは使えません" in ja or "このリンクは" in ja
    assert not re.search(r">[^<]*Forgot your password\?", ja)


def test_staff_may_reset_too_and_still_need_their_second_factor(client, db: Database, towns: Towns) -> None:
    admin = staff_account(db, towns.a, "tenant_admin", totp_secret="JBSWY3DPEHPK3PXP")
    _ask(client, towns.a, admin.email)
    assert _reset(client, towns.a, _token(db, towns.a)).status_code == 204
    assert problem(login(client, towns.a, admin.email, NEW_PASSWORD))["type"].endswith("second-factor-required")


def test_the_already_registered_mail_offers_the_reset_page_not_the_counter(app, db: Database, towns: Towns) -> None:
    with db.transaction(towns.b.id) as session:
        session.add(
            Account(
                tenant_id=towns.b.id,
                email="twice@example.jp",
                display_name="X",
                kind="resident",
                roles=[],
                password_hash="x",
            )
        )
        session.flush()
        operations.sign_up(
            session,
            towns.b,
            email="twice@example.jp",
            password=PASSWORD,
            display_name="X",
            public_url=HTTPS,
            data_key=DATA_KEY,
        )
    [mail] = [m.payload for m in outbox(db, towns.b, "notify.account")]
    with app.app_context():  # emails are rendered with the app's translations
        for locale in ("ja", "en"):
            _, body = messages.render(mail["template"], locale, {**_context(towns), **mail})
            assert f"{HTTPS}/{towns.b.slug}/password-reset" in body
            assert "窓口にお問い合わせ" not in body and "please contact us" not in body
        # A reminder queued before this change (no reset link in it) still renders.
        old = {k: v for k, v in mail.items() if k != "password_reset_url"}
        assert "ログインのページ" in messages.render(mail["template"], "ja", {**_context(towns), **old})[1]
