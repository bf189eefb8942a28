"""Sign-in throttling: growing delays per account and per address, shared by every worker, never a lock.

Attacks from issue 12 (anyone could lock any account, tenant admins included, with 5 wrong passwords) and
issue 11 (the per-IP limit locked a whole town hall out behind one LGWAN proxy address).
"""

from __future__ import annotations

import re
import time
from typing import Any

from madoguchi import create_app
from madoguchi.context import database
from madoguchi.db import Database
from madoguchi.identity import throttling
from madoguchi.notify import messages
from tests.identity.conftest import (
    PASSWORD,
    Towns,
    add_account,
    audit_actions,
    load_account,
    login,
    next_code,
    outbox,
    page,
    post_form,
    problem,
    staff_account,
)

WRONG = "not the password at all"
THROTTLED = "urn:madoguchi:problem:sign-in-throttled"


def _from(address: str) -> dict[str, Any]:
    return {"environ_base": {"REMOTE_ADDR": address}}


def _comparable(response) -> dict[str, Any]:
    body = dict(problem(response))
    body.pop("instance", None)
    return {"status": response.status_code, **body}


def _without_seconds(response) -> dict[str, Any]:
    body = _comparable(response)
    body["detail"] = re.sub(r"\d+ seconds", "N seconds", body.get("detail") or "")
    return body


def _fail(client, tenant, email: str, times: int, address: str) -> None:
    for _ in range(times):
        response = login(client, tenant, email, WRONG, ip=_from(address))
        assert response.status_code == 401, problem(response)


def _retry_after(response) -> int:
    """The wait in seconds, rounded up to whole 30 s steps (Flask-Limiter rewrites the header a second short)."""
    assert response.status_code == 429, (response.status_code, response.get_data(as_text=True))
    assert problem(response)["type"] == THROTTLED
    seconds = int(response.headers["Retry-After"])
    return -(-seconds // 30) * 30


def test_an_office_behind_one_proxy_address_is_never_held_up(client, db: Database, towns: Towns) -> None:
    """A town hall: every counter PC behind one LGWAN address, 60 people signing in, a third of them mistyping."""
    proxy = "192.0.2.10"
    people = [add_account(db, towns.a) for _ in range(45)]
    people += [staff_account(db, towns.a, "clerk") for _ in range(15)]
    for n, person in enumerate(people):
        # People, not a flood: fewer than the flood guard's 50 requests a second (boundary.LOGIN_RATE_LIMIT).
        time.sleep(0.1)
        for _ in range(n % 3):  # no typo, one, or two
            assert login(client, towns.a, person.email, WRONG, ip=_from(proxy)).status_code == 401
        code = {"totp_code": next_code(person)} if person.kind == "staff" else {}
        response = login(client, towns.a, person.email, ip=_from(proxy), **code)
        assert response.status_code == 201, (n, response.json)
    # A day's sign-ins later (100 requests and more from one address), a typo still costs nothing.
    assert login(client, towns.a, people[0].email, WRONG, ip=_from(proxy)).status_code == 401
    assert login(client, towns.a, people[0].email, ip=_from(proxy)).status_code == 201


def test_a_guessing_run_against_one_account_is_slowed_more_and_more(client, db: Database, towns: Towns, later) -> None:
    account = add_account(db, towns.a)
    guesser = "198.51.100.7"
    _fail(client, towns.a, account.email, throttling.FREE_FAILURES, guesser)
    refused = login(client, towns.a, account.email, WRONG, ip=_from(guesser))
    assert _retry_after(refused) == 30
    # While it waits, nothing is checked, not even the right password, and nothing is counted.
    assert _retry_after(login(client, towns.a, account.email, PASSWORD, ip=_from(guesser))) == 30
    waits, elapsed, wait = [], 0, 30
    for _ in range(7):  # each guess allowed from then on fails, and the wait after it doubles, up to 15 minutes
        elapsed += wait + 1
        later(seconds=elapsed)
        assert login(client, towns.a, account.email, WRONG, ip=_from(guesser)).status_code == 401
        wait = _retry_after(login(client, towns.a, account.email, WRONG, ip=_from(guesser)))
        waits.append(wait)
    assert waits == [60, 120, 240, 480, 900, 900, 900]
    assert "login.failed" in [r.action for r in audit_actions(db, towns.a)]


def test_a_spray_across_accounts_from_one_address_is_stopped(client, db: Database, towns: Towns, later) -> None:
    sprayer = "203.0.113.66"
    victims = [add_account(db, towns.a) for _ in range(10)]
    unknown = [f"guess{i}@example.jp" for i in range(throttling.ADDRESS_SPRAY_SUBJECTS - 10)]
    emails = [v.email for v in victims] + unknown
    statuses = [login(client, towns.a, email, "Password123!", ip=_from(sprayer)).status_code for email in emails]
    assert statuses == [401] * throttling.ADDRESS_SPRAY_SUBJECTS
    target = add_account(db, towns.a)
    # The next account from that address is not even tried, right password or not.
    assert 0 < _retry_after(login(client, towns.a, target.email, ip=_from(sprayer))) <= 3600
    assert _retry_after(login(client, towns.a, "another@example.jp", WRONG, ip=_from(sprayer))) > 0
    # Nobody else is affected: the accounts sign in from their own addresses.
    assert login(client, towns.a, target.email, ip=_from("192.0.2.99")).status_code == 201
    assert login(client, towns.a, victims[0].email, ip=_from("192.0.2.98")).status_code == 201
    later(minutes=61)
    assert login(client, towns.a, target.email, ip=_from(sprayer)).status_code == 201


def test_a_spray_from_the_office_address_leaves_its_own_accounts_open(client, db: Database, towns: Towns) -> None:
    proxy = "192.0.2.20"
    colleague = add_account(db, towns.a)
    assert login(client, towns.a, colleague.email, ip=_from(proxy)).status_code == 201
    for i in range(throttling.ADDRESS_SPRAY_SUBJECTS):
        login(client, towns.a, f"guess{i}@example.jp", WRONG, ip=_from(proxy))
    assert _retry_after(login(client, towns.a, add_account(db, towns.a).email, ip=_from(proxy))) > 0
    assert login(client, towns.a, colleague.email, ip=_from(proxy)).status_code == 201


def test_an_outsider_cannot_lock_the_tenant_admin_out(app, db: Database, towns: Towns, later, clock) -> None:
    """Guesses from everywhere (a botnet) against the tenant admin: the owner still gets in, at most 15 min later."""
    owner = staff_account(db, towns.a, "tenant_admin")
    office = "192.0.2.30"
    client = app.test_client()
    assert login(client, towns.a, owner.email, totp_code=next_code(owner), ip=_from(office)).status_code == 201
    attack = app.test_client()
    for n in range(40):
        assert login(attack, towns.a, owner.email, WRONG, ip=_from(f"198.18.{n}.1")).status_code in (401, 429)
    assert load_account(db, owner).disabled is False
    # From the office, where the owner signed in before: at once.
    clock.now += 30
    response = login(app.test_client(), towns.a, owner.email, totp_code=next_code(owner), ip=_from(office))
    assert response.status_code == 201
    # The attack goes on; from a new address (at home, on a phone) the owner waits, at most the documented 15 min.
    for n in range(40, 60):
        login(attack, towns.a, owner.email, WRONG, ip=_from(f"198.18.{n}.1"))
    home = "203.0.113.200"
    wait = _retry_after(login(app.test_client(), towns.a, owner.email, ip=_from(home)))
    assert wait <= throttling.LONGEST_DELAY.total_seconds()
    later(seconds=wait + 1)
    clock.now += 30
    response = login(app.test_client(), towns.a, owner.email, totp_code=next_code(owner), ip=_from(home))
    assert response.status_code == 201, response.json


def test_the_owner_is_told_by_email_once_per_episode(app, client, db: Database, towns: Towns, later, settings) -> None:
    account = add_account(db, towns.a)
    guesser = "198.51.100.8"

    def told() -> list[Any]:
        messages = outbox(db, towns.a, "notify.account")
        return [m for m in messages if m.payload["template"] == "account.sign_in_throttled"]

    _fail(client, towns.a, account.email, throttling.FREE_FAILURES - 1, guesser)
    assert told() == []
    _fail(client, towns.a, account.email, 1, guesser)
    later(seconds=31)
    _fail(client, towns.a, account.email, 1, guesser)
    later(seconds=92)
    _fail(client, towns.a, account.email, 1, guesser)
    assert [(m.payload["to"], m.payload["sign_in_url"].endswith(f"/{towns.a.slug}/login")) for m in told()] == [
        (account.email, True)
    ]
    assert "account.sign_in_throttled" in [r.action for r in audit_actions(db, towns.a)]
    with db.transaction(towns.a.id) as session, app.app_context():  # rendered with the app's translations
        email = messages.build(session, towns.a, told()[0], settings)
    assert email is not None and email.recipient == account.email and email.locale == "ja"
    assert "ロックされていません" in email.body and f"/{towns.a.slug}/login" in email.body
    # The owner signs in: the episode ends; a new run of failures is a new episode, told again.
    assert login(client, towns.a, account.email, ip=_from("192.0.2.40")).status_code == 201
    _fail(client, towns.a, account.email, throttling.FREE_FAILURES, guesser)
    assert len(told()) == 2


def test_failures_and_waits_never_reveal_whether_an_account_exists(client, db: Database, towns: Towns) -> None:
    account = add_account(db, towns.a)
    disabled = add_account(db, towns.a, disabled=True)
    answers = [
        _comparable(login(client, towns.a, "nobody@example.jp", WRONG)),
        _comparable(login(client, towns.a, account.email, WRONG)),
        _comparable(login(client, towns.a, disabled.email, PASSWORD)),
    ]
    assert all(answer == answers[0] for answer in answers), answers
    assert answers[0]["status"] == 401 and answers[0]["type"] == "urn:madoguchi:problem:login-failed"
    address = "198.51.100.9"
    _fail(client, towns.a, "nobody@example.jp", throttling.FREE_FAILURES, address)
    _fail(client, towns.a, account.email, throttling.FREE_FAILURES, address)
    unknown = login(client, towns.a, "nobody@example.jp", WRONG, ip=_from(address))
    known = login(client, towns.a, account.email, WRONG, ip=_from(address))
    # The wait is counted down in whole seconds: a busy machine can cross one between the two answers.
    assert _without_seconds(unknown) == _without_seconds(known)
    assert _retry_after(unknown) == _retry_after(known) == 30


def test_failures_are_audited_without_the_password(client, db: Database, towns: Towns) -> None:
    account = add_account(db, towns.a)
    login(client, towns.a, account.email, WRONG)
    login(client, towns.a, "nobody@example.jp", WRONG)
    failures = [r for r in audit_actions(db, towns.a) if r.action == "login.failed"]
    assert [f.data["reason"] for f in failures] == ["bad_password", "unknown_account"]
    assert failures[0].object_id == str(account.id) and failures[0].data["email"] == account.email
    assert all(WRONG not in str(f.data) for f in failures)


def test_the_counts_are_shared_by_every_worker(settings, client, db: Database, towns: Towns) -> None:
    """Two processes (two apps on one database): failures counted by one slow the other down."""
    other_worker = create_app(settings)
    other_worker.config["TESTING"] = True
    account = add_account(db, towns.a)
    address = "198.51.100.10"
    try:
        _fail(client, towns.a, account.email, 3, address)
        _fail(other_worker.test_client(), towns.a, account.email, 2, address)
        assert _retry_after(login(client, towns.a, account.email, ip=_from(address))) == 30
    finally:
        with other_worker.app_context():
            database().dispose()


def test_the_login_page_says_how_long_to_wait(client, db: Database, towns: Towns) -> None:
    account = add_account(db, towns.a)
    address = {"environ_base": {"REMOTE_ADDR": "198.51.100.11"}}
    url = page(towns.a, "/login")
    for _ in range(throttling.FREE_FAILURES):
        assert post_form(client, url, {"email": account.email, "password": WRONG}, **address).status_code == 401
    refused = post_form(client, url, {"email": account.email, "password": PASSWORD}, **address)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) in (29, 30)
    html = refused.get_data(as_text=True)
    assert "ログインを一時的に止めています" in html and "1分後" in html  # towns.a's pages are in Japanese


def test_code_guesses_by_someone_with_the_password_are_slowed_across_addresses(
    app, db: Database, towns: Towns, clock
) -> None:
    """The password leaked: guessing the code from many addresses is slowed account-wide; the owner's desk is not."""
    clerk = staff_account(db, towns.a, "clerk")
    desk = "192.0.2.50"
    assert login(app.test_client(), towns.a, clerk.email, totp_code=next_code(clerk), ip=_from(desk)).status_code == 201
    attackers = []
    for n in range(throttling.ACCOUNT_FREE_FAILURES):
        attacker, there = app.test_client(), _from(f"198.18.{n}.9")
        form = {"email": clerk.email, "password": PASSWORD}
        assert post_form(attacker, page(towns.a, "/login"), form, **there).status_code == 303  # a pending session
        second = page(towns.a, "/login/second-factor")
        assert post_form(attacker, second, {"code": "000000"}, **there).status_code == 401
        attackers.append((attacker, there))
    attacker, there = attackers[0]
    again = post_form(attacker, page(towns.a, "/login/second-factor"), {"code": "000001"}, **there)
    assert again.status_code == 429  # the pending session there does not make the address the owner's
    clock.now += 30
    response = login(app.test_client(), towns.a, clerk.email, totp_code=next_code(clerk), ip=_from(desk))
    assert response.status_code == 201
