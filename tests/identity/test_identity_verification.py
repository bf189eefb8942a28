"""Raising a resident's identity assurance to `verified`: at the counter, or by a code sent by letter."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import date

import pytest
from sqlalchemy import select

from madoguchi.db import Database
from madoguchi.identity import operations
from madoguchi.identity.models import IdentityVerification
from madoguchi.notify import worker
from madoguchi.registry.models import Person
from tests.conftest import DATA_KEY
from tests.factories import make_person
from tests.identity.conftest import (
    Towns,
    add_account,
    api,
    audit_actions,
    load_account,
    outbox,
    problem,
    signed_in,
    staff_account,
)

BIRTH = date(1985, 4, 2)
ADMIN_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def _person(db: Database, tenant, **overrides) -> Person:
    with db.transaction(tenant.id) as session:
        person = make_person(session, tenant, birth_date=BIRTH, **overrides)
        person.household  # noqa: B018 - loaded for the address
        return person


def _verifications(db: Database, tenant) -> list[IdentityVerification]:
    with db.transaction(tenant.id) as session:
        return list(session.execute(select(IdentityVerification).order_by(IdentityVerification.created_at)).scalars())


# --- At the counter ----------------------------------------------------------------------------------


def test_a_clerk_links_a_resident_at_the_counter(app, db: Database, towns: Towns) -> None:
    person = _person(db, towns.a)
    resident = add_account(db, towns.a)
    clerk = staff_account(db, towns.a, "clerk")
    response = signed_in(app, towns.a, clerk).post(
        api(towns.a, f"/accounts/{resident.id}/identity"), json={"resident_code": person.resident_code}
    )
    assert response.status_code == 200, response.json
    assert response.json["identity_assurance"] == "verified"
    assert response.json["resident_code"] == person.resident_code
    stored = load_account(db, resident)
    assert stored.person_id == person.id and stored.is_verified
    [record] = [r for r in audit_actions(db, towns.a) if r.action == "identity.verified"]
    assert record.actor == f"account:{clerk.id}" and record.data["method"] == "counter"
    # The resident sees it at once.
    assert signed_in(app, towns.a, resident).get(api(towns.a, "/me")).json["identity_assurance"] == "verified"


def test_full_width_resident_codes_are_accepted(app, db: Database, towns: Towns) -> None:
    person = _person(db, towns.a)
    resident = add_account(db, towns.a)
    full_width = person.resident_code.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    response = signed_in(app, towns.a, staff_account(db, towns.a, "supervisor")).post(
        api(towns.a, f"/accounts/{resident.id}/identity"), json={"resident_code": f" {full_width} "}
    )
    assert response.status_code == 200


def test_only_clerks_and_supervisors_verify_at_the_counter(app, db: Database, towns: Towns, clock) -> None:
    person = _person(db, towns.a)
    resident = add_account(db, towns.a)
    admin = staff_account(db, towns.a, "tenant_admin", totp_secret=ADMIN_SECRET)
    callers = [signed_in(app, towns.a, admin, totp_code=clock.code(ADMIN_SECRET)), signed_in(app, towns.a, resident)]
    for client in callers:
        response = client.post(
            api(towns.a, f"/accounts/{resident.id}/identity"), json={"resident_code": person.resident_code}
        )
        assert response.status_code == 403 and problem(response)
    assert load_account(db, resident).person_id is None


@pytest.mark.parametrize("code", ["", "123", "abcdefghijk", "123456789012", None])
def test_bad_resident_codes_are_422(app, db: Database, towns: Towns, code) -> None:
    resident = add_account(db, towns.a)
    client = signed_in(app, towns.a, staff_account(db, towns.a, "clerk"))
    response = client.post(api(towns.a, f"/accounts/{resident.id}/identity"), json={"resident_code": code})
    assert response.status_code == 422 and problem(response)["errors"]
    unknown = client.post(api(towns.a, f"/accounts/{resident.id}/identity"), json={"resident_code": "99999999999"})
    assert unknown.status_code == 422 and "resident_code" in problem(unknown)["errors"]
    assert load_account(db, resident).person_id is None


def test_a_person_links_to_at_most_one_account(app, db: Database, towns: Towns) -> None:
    person = _person(db, towns.a)
    first, second = add_account(db, towns.a), add_account(db, towns.a)
    client = signed_in(app, towns.a, staff_account(db, towns.a, "clerk"))
    url = api(towns.a, "/accounts/{}/identity")
    assert client.post(url.format(first.id), json={"resident_code": person.resident_code}).status_code == 200
    assert client.post(url.format(first.id), json={"resident_code": person.resident_code}).status_code == 200
    conflict = client.post(url.format(second.id), json={"resident_code": person.resident_code})
    assert conflict.status_code == 409 and problem(conflict)
    assert load_account(db, second).person_id is None


def test_counter_verification_of_staff_unknown_or_foreign_accounts_is_404(app, db: Database, towns: Towns) -> None:
    person = _person(db, towns.a)
    foreign_resident = add_account(db, towns.b)
    clerk = staff_account(db, towns.a, "clerk")
    client = signed_in(app, towns.a, clerk)
    for target in (uuid.uuid4(), clerk.id, foreign_resident.id):
        response = client.post(
            api(towns.a, f"/accounts/{target}/identity"), json={"resident_code": person.resident_code}
        )
        assert response.status_code == 404, target
    # A's clerk on B's URL: 404 too, and B's resident is untouched.
    on_b = client.post(api(towns.b, f"/accounts/{foreign_resident.id}/identity"), json={"resident_code": "12345678901"})
    assert on_b.status_code == 404
    assert load_account(db, foreign_resident).person_id is None


# --- By letter ---------------------------------------------------------------------------------------


def _request_letter(client, tenant, person: Person, birth: date = BIRTH):
    return client.post(
        api(tenant, "/me/identity-verification"),
        json={"resident_code": person.resident_code, "birth_date": birth.isoformat()},
    )


def _letter_code(db: Database, tenant) -> str:
    letter = outbox(db, tenant, "notify.letter")[-1]
    return operations.open_letter_code(letter.payload, tenant.id, DATA_KEY)


@pytest.mark.commits  # the outbox worker sends on threads of its own
def test_a_resident_verifies_with_a_code_sent_to_their_address(
    app, db: Database, towns: Towns, caplog, settings
) -> None:
    person = _person(db, towns.a)
    resident = add_account(db, towns.a)
    client = signed_in(app, towns.a, resident)
    response = _request_letter(client, towns.a, person)
    assert response.status_code == 202, response.json
    [letter] = outbox(db, towns.a, "notify.letter")
    assert letter.payload["template"] == "identity.code"
    assert letter.payload["recipient"]["address"] == person.household.address
    assert letter.payload["recipient"]["name"] == person.full_name
    code = _letter_code(db, towns.a)
    assert len(code) == 8 and set(code) <= set(operations.CODE_ALPHABET)
    assert code not in json.dumps(letter.payload)  # sealed, not readable in the outbox
    [verification] = _verifications(db, towns.a)
    assert code not in verification.code_hash and len(verification.code_hash) == 64
    assert (verification.expires_at - verification.created_at).days == 14

    # The embedded letter backend logs the template and the reference, never the code.
    with caplog.at_level(logging.INFO):
        assert worker.run_once(db, worker.default_handlers(settings), app=app) == 1
    logged = caplog.text
    assert "identity.code" in logged and f"identity-verification:{verification.id}" in logged
    assert code not in logged

    confirmed = client.post(api(towns.a, "/me/identity-verification/confirm"), json={"code": code.lower()})
    assert confirmed.status_code == 200, confirmed.json
    assert confirmed.json["identity_assurance"] == "verified"
    assert confirmed.json["resident_code"] == person.resident_code
    actions = [r for r in audit_actions(db, towns.a) if r.action.startswith("identity.")]
    assert [r.action for r in actions] == ["identity.letter_requested", "identity.verified"]
    assert actions[-1].data["method"] == "letter"
    again = client.post(api(towns.a, "/me/identity-verification/confirm"), json={"code": code})
    assert again.status_code == 409


def test_details_that_match_nobody_send_no_letter(app, db: Database, towns: Towns) -> None:
    person = _person(db, towns.a)
    foreign = _person(db, towns.b)
    client = signed_in(app, towns.a, add_account(db, towns.a))
    assert _request_letter(client, towns.a, person, date(1990, 1, 1)).status_code == 422
    assert _request_letter(client, towns.a, foreign).status_code == 422  # someone of another municipality
    for body in (
        {},
        {"resident_code": person.resident_code},
        {"resident_code": "x", "birth_date": "1985-04-02"},
        {"resident_code": person.resident_code, "birth_date": "02/04/1985"},
        {"resident_code": person.resident_code, "birth_date": "1985-04-02", "person_id": str(person.id)},
    ):
        response = client.post(api(towns.a, "/me/identity-verification"), json=body)
        assert response.status_code == 422 and problem(response), body
    assert outbox(db, towns.a, "notify.letter") == [] and _verifications(db, towns.a) == []


def test_the_birth_date_may_be_given_in_wareki_and_an_era_date_the_era_never_had_is_refused(
    app, db: Database, towns: Towns
) -> None:
    person = _person(db, towns.a)
    client = signed_in(app, towns.a, add_account(db, towns.a))
    url = api(towns.a, "/me/identity-verification")
    refused = client.post(url, json={"resident_code": person.resident_code, "birth_date": "平成31年5月1日"})
    assert refused.status_code == 422
    assert "平成31年4月30日" in str(problem(refused)["errors"]["birth_date"])
    assert outbox(db, towns.a, "notify.letter") == []
    sent = client.post(url, json={"resident_code": person.resident_code, "birth_date": "昭和60年4月2日"})  # BIRTH
    assert sent.status_code == 202, sent.json
    assert len(outbox(db, towns.a, "notify.letter")) == 1


def test_five_wrong_codes_use_the_letter_up(app, db: Database, towns: Towns) -> None:
    person = _person(db, towns.a)
    resident = add_account(db, towns.a)
    client = signed_in(app, towns.a, resident)
    _request_letter(client, towns.a, person)
    code = _letter_code(db, towns.a)
    for attempt in range(5):
        wrong = client.post(api(towns.a, "/me/identity-verification/confirm"), json={"code": "WRONG000"})
        assert wrong.status_code == 422 and "code" in problem(wrong)["errors"], attempt
    assert _verifications(db, towns.a)[0].attempts == 5
    late = client.post(api(towns.a, "/me/identity-verification/confirm"), json={"code": code})
    assert late.status_code == 422
    assert load_account(db, resident).person_id is None


def test_a_code_expires_after_14_days(app, db: Database, towns: Towns, later) -> None:
    person = _person(db, towns.a)
    resident = add_account(db, towns.a)
    client = signed_in(app, towns.a, resident)
    _request_letter(client, towns.a, person)
    code = _letter_code(db, towns.a)
    later(days=14, minutes=1)
    # (the session would have expired: sign in again at that "later" time)
    client = signed_in(app, towns.a, resident)
    assert client.post(api(towns.a, "/me/identity-verification/confirm"), json={"code": code}).status_code == 422
    assert load_account(db, resident).person_id is None


def test_a_new_letter_replaces_the_previous_code(app, db: Database, towns: Towns) -> None:
    person = _person(db, towns.a)
    client = signed_in(app, towns.a, add_account(db, towns.a))
    _request_letter(client, towns.a, person)
    first = _letter_code(db, towns.a)
    _request_letter(client, towns.a, person)
    second = _letter_code(db, towns.a)
    if first != second:
        assert client.post(api(towns.a, "/me/identity-verification/confirm"), json={"code": first}).status_code == 422
    assert client.post(api(towns.a, "/me/identity-verification/confirm"), json={"code": second}).status_code == 200
    _request_letter(client, towns.a, person)  # already verified now
    assert len(outbox(db, towns.a, "notify.letter")) == 2


def test_letters_are_limited_per_account(app, db: Database, towns: Towns) -> None:
    person = _person(db, towns.a)
    client = signed_in(app, towns.a, add_account(db, towns.a))
    statuses = [_request_letter(client, towns.a, person).status_code for _ in range(4)]
    assert statuses == [202, 202, 202, 409]


def test_a_person_already_linked_gets_no_letter(app, db: Database, towns: Towns) -> None:
    person = _person(db, towns.a)
    add_account(db, towns.a, person_id=person.id)
    client = signed_in(app, towns.a, add_account(db, towns.a))
    response = _request_letter(client, towns.a, person)
    assert response.status_code == 409 and problem(response)
    assert outbox(db, towns.a, "notify.letter") == []


def test_staff_and_verified_residents_request_no_letter(app, db: Database, towns: Towns) -> None:
    person = _person(db, towns.a)
    clerk = signed_in(app, towns.a, staff_account(db, towns.a, "clerk"))
    assert _request_letter(clerk, towns.a, person).status_code == 403
    assert clerk.post(api(towns.a, "/me/identity-verification/confirm"), json={"code": "ABCD1234"}).status_code == 403
    verified = signed_in(app, towns.a, add_account(db, towns.a, person_id=_person(db, towns.a).id))
    assert _request_letter(verified, towns.a, person).status_code == 409
    assert outbox(db, towns.a, "notify.letter") == []


def test_confirming_without_a_letter_is_422(app, db: Database, towns: Towns) -> None:
    client = signed_in(app, towns.a, add_account(db, towns.a))
    for body in ({"code": "ABCD1234"}, {}, {"code": ""}, {"code": 12345678}):
        response = client.post(api(towns.a, "/me/identity-verification/confirm"), json=body)
        assert response.status_code == 422 and problem(response), body


def test_a_letter_code_works_only_for_the_account_that_asked(app, db: Database, towns: Towns) -> None:
    person = _person(db, towns.a)
    asker = signed_in(app, towns.a, add_account(db, towns.a))
    other_account = add_account(db, towns.a)
    other = signed_in(app, towns.a, other_account)
    _request_letter(asker, towns.a, person)
    code = _letter_code(db, towns.a)
    assert other.post(api(towns.a, "/me/identity-verification/confirm"), json={"code": code}).status_code == 422
    assert load_account(db, other_account).person_id is None
