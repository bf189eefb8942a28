"""Login throttling: per account (lock after 5 failures, doubling) and per IP address (Flask-Limiter)."""

from __future__ import annotations

from typing import Any

from madoguchi.db import Database
from tests.identity.conftest import PASSWORD, Towns, add_account, audit_actions, load_account, login, problem

WRONG = "not the password at all"


def _comparable(response) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    body = dict(problem(response))
    body.pop("instance", None)
    return {"status": response.status_code, **body}


def _fail(client, tenant, email: str, times: int) -> None:  # type: ignore[no-untyped-def]
    for _ in range(times):
        assert login(client, tenant, email, WRONG).status_code == 401


def test_five_failures_lock_the_account_for_15_minutes(client, db: Database, towns: Towns, later) -> None:  # type: ignore[no-untyped-def]
    account = add_account(db, towns.a)
    _fail(client, towns.a, account.email, 4)
    assert load_account(db, account).failed_login_count == 4
    _fail(client, towns.a, account.email, 1)
    locked = load_account(db, account)
    assert locked.locked_until is not None and locked.lock_count == 1
    # Locked: even the right password is answered like a wrong one, and the response says nothing more.
    refused = login(client, towns.a, account.email)
    assert refused.status_code == 401
    assert _comparable(refused) == _comparable(login(client, towns.a, account.email, WRONG))
    assert "try again later" in refused.json["detail"]
    assert "account.locked" in [r.action for r in audit_actions(db, towns.a)]
    later(minutes=14)
    assert login(client, towns.a, account.email).status_code == 401
    later(minutes=15, seconds=1)
    assert login(client, towns.a, account.email).status_code == 201
    reset = load_account(db, account)
    assert (reset.failed_login_count, reset.lock_count, reset.locked_until) == (0, 0, None)


def test_repeated_locks_double(client, db: Database, towns: Towns, later) -> None:  # type: ignore[no-untyped-def]
    account = add_account(db, towns.a)
    _fail(client, towns.a, account.email, 5)
    later(minutes=16)
    _fail(client, towns.a, account.email, 5)  # the second lock in a row: 30 minutes
    assert load_account(db, account).lock_count == 2
    later(minutes=16 + 29)
    assert login(client, towns.a, account.email).status_code == 401
    later(minutes=16 + 31)
    assert login(client, towns.a, account.email).status_code == 201


def test_a_success_resets_the_count(client, db: Database, towns: Towns) -> None:  # type: ignore[no-untyped-def]
    account = add_account(db, towns.a)
    _fail(client, towns.a, account.email, 4)
    assert login(client, towns.a, account.email).status_code == 201
    _fail(client, towns.a, account.email, 4)
    assert login(client, towns.a, account.email).status_code == 201
    assert load_account(db, account).locked_until is None


def test_failures_never_reveal_whether_an_account_exists(client, db: Database, towns: Towns) -> None:  # type: ignore[no-untyped-def]
    account = add_account(db, towns.a)
    disabled = add_account(db, towns.a, disabled=True)
    locked = add_account(db, towns.a)
    _fail(client, towns.a, locked.email, 5)
    answers = [
        _comparable(login(client, towns.a, "nobody@example.jp", WRONG)),
        _comparable(login(client, towns.a, account.email, WRONG)),
        _comparable(login(client, towns.a, disabled.email, PASSWORD)),
        _comparable(login(client, towns.a, locked.email, PASSWORD)),
    ]
    assert all(answer == answers[0] for answer in answers), answers
    assert answers[0]["status"] == 401 and answers[0]["type"] == "urn:madoguchi:problem:login-failed"


def test_failures_are_audited_without_the_password(client, db: Database, towns: Towns) -> None:  # type: ignore[no-untyped-def]
    account = add_account(db, towns.a)
    login(client, towns.a, account.email, WRONG)
    login(client, towns.a, "nobody@example.jp", WRONG)
    failures = [r for r in audit_actions(db, towns.a) if r.action == "login.failed"]
    assert [f.data["reason"] for f in failures] == ["bad_password", "unknown_account"]
    assert failures[0].object_id == str(account.id) and failures[0].data["email"] == account.email
    assert all(WRONG not in str(f.data) for f in failures)


def test_logins_are_limited_per_ip_address_with_a_429_problem(client, db: Database, towns: Towns) -> None:  # type: ignore[no-untyped-def]
    account = add_account(db, towns.a)
    same_ip = {"environ_base": {"REMOTE_ADDR": "198.51.100.9"}}
    statuses = [login(client, towns.a, f"guess{i}@example.jp", WRONG, ip=same_ip).status_code for i in range(10)]
    assert statuses == [401] * 10
    refused = login(client, towns.a, account.email, ip=same_ip)
    assert refused.status_code == 429
    assert problem(refused)["status"] == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    # Another address is not affected; the account itself was never touched by the guesses.
    assert login(client, towns.a, account.email).status_code == 201


def test_the_login_form_is_limited_per_ip_address_too(client, db: Database, towns: Towns) -> None:  # type: ignore[no-untyped-def]
    from tests.identity.conftest import page, post_form

    same_ip = {"environ_base": {"REMOTE_ADDR": "198.51.100.10"}}
    url = page(towns.a, "/login")
    statuses = [
        post_form(client, url, {"email": "x@example.jp", "password": WRONG}, **same_ip).status_code for _ in range(11)
    ]
    assert statuses[:10] == [401] * 10 and statuses[10] == 429
