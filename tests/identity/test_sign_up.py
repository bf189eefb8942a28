"""Resident self sign-up and email address verification, over HTTP."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import func, select

from madoguchi.db import Database
from madoguchi.identity.models import Account, EmailVerification
from madoguchi.identity.passwords import verify_password
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
)


def _sign_up(client, tenant, **overrides):
    body = {"email": "hanako@example.jp", "password": PASSWORD, "display_name": "山田 花子", **overrides}
    return client.post(api(tenant, "/accounts"), json=body, **fresh_ip())


def _accounts(db: Database, tenant) -> list[Account]:
    with db.transaction(tenant.id) as session:
        return list(session.execute(select(Account)).scalars())


def _link(db: Database, tenant, n: int = -1) -> str:
    messages = [m for m in outbox(db, tenant, "notify.account") if m.payload["template"] == "account.verify_email"]
    return secret_of(messages[n], "verify_url")


def _token(link: str) -> str:
    return link.rsplit("/", 1)[1]


def test_sign_up_creates_a_resident_and_mails_a_verification_link(client, db: Database, towns: Towns, settings) -> None:
    response = _sign_up(client, towns.a, email="  Hanako@EXAMPLE.ＪＰ ")
    assert response.status_code == 201, response.json
    assert response.json["email"] == "Hanako@example.jp"
    [account] = _accounts(db, towns.a)
    assert account.email == "Hanako@example.jp"  # NFKC, trimmed, domain lowercased, local part kept
    assert account.kind == "resident" and account.roles == [] and account.identity_assurance == "email"
    assert account.email_verified_at is None
    assert account.password_hash and account.password_hash.startswith("$argon2id$")
    [message] = outbox(db, towns.a, "notify.account")
    assert message.payload["template"] == "account.verify_email"
    assert message.payload["to"] == "Hanako@example.jp"
    link = secret_of(message, "verify_url")
    assert re.fullmatch(rf"{re.escape(settings.public_url)}/{towns.a.slug}/verify-email/[A-Za-z0-9_-]{{40,}}", link)
    # Only a hash of the token is stored, and the link only sealed (until the email is sent).
    with db.transaction(towns.a.id) as session:
        stored = session.execute(select(EmailVerification.token_hash)).scalar_one()
    assert _token(link) not in stored and len(stored) == 64
    assert _token(link) not in json.dumps(message.payload) and "verify_url" not in message.payload
    assert "account.signed_up" in [r.action for r in audit_actions(db, towns.a)]


def test_a_known_address_gets_the_same_answer_and_a_reminder_mail(client, db: Database, towns: Towns) -> None:
    first = _sign_up(client, towns.a)
    second = _sign_up(client, towns.a, password="another long passphrase", display_name="Someone else")
    assert second.status_code == first.status_code == 201
    assert second.json == first.json
    [account] = _accounts(db, towns.a)
    assert account.display_name == "山田 花子"
    assert verify_password(account.password_hash, PASSWORD)  # not replaced by the second sign-up
    templates = [m.payload["template"] for m in outbox(db, towns.a, "notify.account")]
    assert templates == ["account.verify_email", "account.already_registered"]
    assert "account.sign_up_repeated" in [r.action for r in audit_actions(db, towns.a)]


def test_the_same_address_may_sign_up_in_another_municipality(client, db: Database, towns: Towns) -> None:
    assert _sign_up(client, towns.a).status_code == 201
    assert _sign_up(client, towns.b).status_code == 201
    assert len(_accounts(db, towns.a)) == len(_accounts(db, towns.b)) == 1
    assert outbox(db, towns.b, "notify.account")[0].payload["template"] == "account.verify_email"


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short pass", "at least 12"),
        ("hanako@example.jp", "email"),
        ("Password1234", "common"),
        ("password!!!!!!!!", "common"),
        ("ｑｗｅｒｔｙ１２３４５６", "common"),  # full-width is the same password
        ("aaaaaaaaaaaaaaaa", "common"),
    ],
)
def test_weak_passwords_are_refused_and_nothing_is_created(
    client, db: Database, towns: Towns, password, message
) -> None:
    response = _sign_up(client, towns.a, password=password)
    assert response.status_code == 422
    assert message in " ".join(problem(response)["errors"]["password"])
    assert _accounts(db, towns.a) == [] and outbox(db, towns.a) == []


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"email": "not-an-address", "password": PASSWORD, "display_name": "x"},
        {"email": "a@b", "password": PASSWORD, "display_name": "x"},
        {"email": "hanako@example.jp", "password": PASSWORD, "display_name": ""},
        {"email": "hanako@example.jp", "password": PASSWORD, "display_name": "bad\u0000name"},
        {"email": "hanako@example.jp", "password": PASSWORD, "display_name": "x", "kind": "staff"},
        {"email": "hanako@example.jp", "password": PASSWORD, "display_name": "x", "roles": ["tenant_admin"]},
        {"email": "hanako@example.jp", "password": 12345678901234, "display_name": "x"},
        {"email": "hanako@example.jp", "password": "p" * 2000, "display_name": "x"},
    ],
)
def test_bad_sign_up_input_is_a_422_problem_and_changes_nothing(client, db: Database, towns: Towns, body) -> None:
    response = client.post(api(towns.a, "/accounts"), json=body, **fresh_ip())
    assert response.status_code == 422
    assert problem(response)["errors"]
    assert _accounts(db, towns.a) == [] and outbox(db, towns.a) == []


def test_sign_up_for_an_unknown_municipality_is_404(client, db: Database, towns: Towns) -> None:
    response = _sign_up(client, "no-such-town")
    assert response.status_code == 404 and problem(response)


def test_sign_up_is_rate_limited_per_address(client, db: Database, towns: Towns) -> None:
    same_ip = {"environ_base": {"REMOTE_ADDR": "192.0.2.7"}}
    statuses = [
        client.post(
            api(towns.a, "/accounts"),
            json={"email": f"r{i}@example.jp", "password": PASSWORD, "display_name": "R"},
            **same_ip,
        ).status_code
        for i in range(6)
    ]
    assert statuses == [201] * 5 + [429]
    refused = client.post(
        api(towns.a, "/accounts"), json={"email": "x@example.jp", "password": PASSWORD, "display_name": "R"}, **same_ip
    )
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert problem(refused)["status"] == 429
    assert len(_accounts(db, towns.a)) == 5


def test_verify_email_confirms_the_address_once(client, db: Database, towns: Towns) -> None:
    _sign_up(client, towns.a)
    token = _token(_link(db, towns.a))
    response = client.post(api(towns.a, "/accounts/verify-email"), json={"token": token}, **fresh_ip())
    assert response.status_code == 204
    [account] = _accounts(db, towns.a)
    assert account.email_verified_at is not None
    assert account.identity_assurance == "email"  # an address is not an identity
    again = client.post(api(towns.a, "/accounts/verify-email"), json={"token": token}, **fresh_ip())
    assert again.status_code == 422 and "token" in problem(again)["errors"]
    assert "account.email_verified" in [r.action for r in audit_actions(db, towns.a)]


def test_a_verification_link_expires_after_24_hours(client, db: Database, towns: Towns, later) -> None:
    _sign_up(client, towns.a)
    token = _token(_link(db, towns.a))
    later(hours=24, minutes=1)
    response = client.post(api(towns.a, "/accounts/verify-email"), json={"token": token}, **fresh_ip())
    assert response.status_code == 422
    assert _accounts(db, towns.a)[0].email_verified_at is None


def test_a_token_of_one_municipality_means_nothing_in_another(client, db: Database, towns: Towns) -> None:
    _sign_up(client, towns.a)
    token = _token(_link(db, towns.a))
    response = client.post(api(towns.b, "/accounts/verify-email"), json={"token": token}, **fresh_ip())
    assert response.status_code == 422
    assert _accounts(db, towns.a)[0].email_verified_at is None


@pytest.mark.parametrize("body", [{}, {"token": ""}, {"token": "x" * 500}, {"token": 5}, {"token": "guess"}])
def test_bad_verification_tokens_are_422(client, db: Database, towns: Towns, body) -> None:
    response = client.post(api(towns.a, "/accounts/verify-email"), json=body, **fresh_ip())
    assert response.status_code == 422 and problem(response)


def test_the_verification_page_confirms_and_then_says_already_confirmed(client, db: Database, towns: Towns) -> None:
    _sign_up(client, towns.b)
    path = _link(db, towns.b).split("/", 3)[3]
    first = client.get(f"{HTTPS}/{path}?lang=en")
    assert first.status_code == 200
    assert "Your email address is confirmed" in first.get_data(as_text=True)
    assert _accounts(db, towns.b)[0].email_verified_at is not None
    second = client.get(f"{HTTPS}/{path}?lang=en")
    assert second.status_code == 200 and "already confirmed" in second.get_data(as_text=True)
    bad = client.get(page(towns.b, "/verify-email/not-a-token"))
    assert bad.status_code == 400
    assert 'lang="ja"' in bad.get_data(as_text=True)  # the municipality's default language


def test_an_unverified_resident_may_sign_in_with_email_assurance(client, db: Database, towns: Towns) -> None:
    _sign_up(client, towns.a)
    assert login(client, towns.a, "hanako@example.jp").status_code == 201
    me = client.get(api(towns.a, "/me"))
    assert me.status_code == 200
    assert me.json["identity_assurance"] == "email" and me.json["email_verified"] is False
    assert me.json["resident_code"] is None and me.json["kind"] == "resident"


def test_a_new_link_can_be_requested_and_replaces_the_old_one(client, db: Database, towns: Towns) -> None:
    _sign_up(client, towns.a)
    old = _token(_link(db, towns.a))
    login(client, towns.a, "hanako@example.jp")
    assert client.post(api(towns.a, "/me/email-verification")).status_code == 202
    new = _token(_link(db, towns.a))
    assert new != old
    assert client.post(api(towns.a, "/accounts/verify-email"), json={"token": old}).status_code == 422
    assert client.post(api(towns.a, "/accounts/verify-email"), json={"token": new}).status_code == 204
    assert client.post(api(towns.a, "/me/email-verification")).status_code == 409


def test_resending_needs_a_session(client, towns: Towns) -> None:
    assert client.post(api(towns.a, "/me/email-verification")).status_code == 401


# --- The HTML sign-up page ---------------------------------------------------------------------------


def test_the_sign_up_page_is_accessible_in_both_languages(client, towns: Towns) -> None:
    ja = client.get(page(towns.b, "/sign-up")).get_data(as_text=True)
    assert '<html lang="ja">' in ja and "アカウントを作成" in ja
    en = client.get(page(towns.b, "/sign-up?lang=en")).get_data(as_text=True)
    assert '<html lang="en">' in en and "Create an account" in en
    for name in ("display_name", "email", "password"):
        assert f'<label for="{name}">' in en and f'id="{name}"' in en
    assert 'name="csrf_token"' in en


def test_the_sign_up_form_shows_errors_beside_the_fields(client, db: Database, towns: Towns) -> None:
    url = page(towns.b, "/sign-up?lang=en")
    response = post_form(client, url, {"display_name": "", "email": "nope", "password": "short"}, **fresh_ip())
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="email-error"' in html and 'aria-describedby="email-error"' in html
    assert 'id="password-error"' in html and "at least 12 characters" in html
    assert 'id="display_name-error"' in html
    assert _accounts(db, towns.b) == []


def test_the_sign_up_form_needs_its_csrf_token(client, db: Database, towns: Towns) -> None:
    response = client.post(
        page(towns.a, "/sign-up"),
        data={"display_name": "X", "email": "x@example.jp", "password": PASSWORD},
        headers={"Referer": f"{HTTPS}/"},
    )
    assert response.status_code == 400
    assert _accounts(db, towns.a) == []


def test_signing_up_with_the_form(client, db: Database, towns: Towns) -> None:
    response = post_form(
        client,
        page(towns.b, "/sign-up?lang=en"),
        {"display_name": "Taro", "email": "taro@example.jp", "password": PASSWORD},
        **fresh_ip(),
    )
    assert response.status_code == 200 and "Check your mailbox" in response.get_data(as_text=True)
    with db.transaction(towns.b.id) as session:
        assert session.execute(select(func.count()).select_from(Account)).scalar_one() == 1


def test_existing_accounts_are_untouched_by_a_sign_up(client, db: Database, towns: Towns) -> None:
    staff = add_account(db, towns.a, email="clerk@example.jp")
    assert _sign_up(client, towns.a, email="clerk@example.jp").status_code == 201
    assert load_account(db, staff).password_hash == staff.password_hash


@pytest.mark.commits  # the outbox worker sends on threads of its own
def test_the_embedded_mail_backend_logs_no_link(app, client, db: Database, towns: Towns, caplog, settings) -> None:
    import logging

    from madoguchi.notify import worker

    _sign_up(client, towns.a)
    token = _token(_link(db, towns.a))
    with caplog.at_level(logging.INFO):
        assert worker.run_once(db, worker.default_handlers(settings), app=app) == 1
    assert "account.verify_email" in caplog.text and "account:" in caplog.text
    assert token not in caplog.text
    assert all(m.processed_at is not None and m.last_error is None for m in outbox(db, towns.a))


def test_the_sign_up_form_normalizes_like_the_api_and_keeps_names_as_written(
    client, db: Database, towns: Towns
) -> None:
    response = post_form(
        client,
        page(towns.b, "/sign-up?lang=en"),
        # A full-width address and password typed on a Japanese keyboard; a name with 外字 and an IVS.
        {
            "display_name": "　髙𠮷 葛󠄀 ",
            "email": "  Taro@EXAMPLE.ＪＰ ",
            "password": "ｃｏｒｒｅｃｔ ｈｏｒｓｅ ｂａｔｔｅｒｙ",
        },
        **fresh_ip(),
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    [account] = _accounts(db, towns.b)
    assert account.email == "Taro@example.jp"  # the same address the API would have stored
    assert account.display_name == "髙𠮷 葛󠄀"  # trimmed, code points kept
    assert verify_password(account.password_hash, "correct horse battery")


@pytest.mark.parametrize("name", ["山田\x7f花子", "x" * 101])
def test_the_sign_up_page_refuses_the_display_names_the_api_refuses(
    client, db: Database, towns: Towns, name: str
) -> None:
    assert _sign_up(client, towns.b, display_name=name).status_code == 422
    response = post_form(
        client,
        page(towns.b, "/sign-up?lang=en"),
        {"display_name": name, "email": "taro@example.jp", "password": PASSWORD},
        **fresh_ip(),
    )
    assert response.status_code == 422
    assert 'id="display_name-error"' in response.get_data(as_text=True)
    assert _accounts(db, towns.b) == []
