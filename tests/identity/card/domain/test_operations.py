"""What a verified card does to accounts: sign in, open an account, link, unlink, and the clerk's review
(decision 0048). The card identities are built directly; the protocol that yields them is tested on its own."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from madoguchi.audit import operations as audit
from madoguchi.crypto import Sealer
from madoguchi.db import Database, utcnow
from madoguchi.errors import Conflict, Forbidden, NotFound, ValidationFailed
from madoguchi.identity import operations as identity_operations
from madoguchi.identity.card import operations
from madoguchi.identity.card.models import CardLink, CardMatchReview, CardPurpose
from madoguchi.identity.card.protocol import CardIdentity, CardSignInFailed, subject_hash
from madoguchi.identity.models import Account, IdentityEvidence
from madoguchi.tenancy.models import Tenant
from tests.conftest import DATA_KEY
from tests.identity.card.domain.conftest import (
    ISSUER,
    card_of,
    get_account,
    get_authorization,
    new_authorization,
    register_person,
)
from tests.identity.conftest import Towns, add_account, audit_actions, load_account, outbox, staff_account

ELSEWHERE = "東京都世田谷区桜台一丁目1番1号"


def _sign_in(db: Database, tenant: Tenant, card: CardIdentity) -> tuple[operations.CardOutcome, str]:
    authorization, binding = new_authorization(db, tenant)
    with db.transaction(tenant.id) as session:
        outcome = operations.after_sign_in(session, tenant, get_authorization(session, authorization), card)
    return outcome, binding


def _open_account(db: Database, tenant: Tenant, card: CardIdentity, email: str | None = None):
    """Sign in with an unknown card, then give an email address: the new account and what happened."""
    first, binding = _sign_in(db, tenant, card)
    assert first.kind == "needs_account" and first.authorization is not None
    with db.transaction(tenant.id) as session:
        outcome = operations.create_account_from_card(
            session,
            tenant,
            first.authorization.id,
            browser_binding=binding,
            email=email or f"card-{card.subject[-8:]}@example.jp",
            locale=None,
        )
    assert outcome.account is not None
    return outcome


def _link(db: Database, tenant: Tenant, account: Account, card: CardIdentity) -> operations.CardOutcome:
    authorization, _ = new_authorization(db, tenant, purpose=CardPurpose.LINK, account=account)
    with db.transaction(tenant.id) as session:
        return operations.after_link(
            session, tenant, get_authorization(session, authorization), card, get_account(session, account)
        )


def _links(db: Database, tenant: Tenant) -> list[CardLink]:
    with db.transaction(tenant.id) as session:
        return list(session.execute(select(CardLink)).scalars())


def _evidence(db: Database, tenant: Tenant, account: Account) -> list[IdentityEvidence]:
    with db.transaction(tenant.id) as session:
        return operations.evidence_of(session, tenant.id, account.id)


def _review(db: Database, tenant: Tenant, review_id) -> CardMatchReview:
    with db.transaction(tenant.id) as session:
        return session.execute(select(CardMatchReview).where(CardMatchReview.id == review_id)).scalar_one()


def _no_card_data_in_audit(db: Database, tenant: Tenant, card: CardIdentity) -> None:
    trail = json.dumps([record.data for record in audit_actions(db, tenant)], ensure_ascii=False)
    for secret in (card.subject, card.name, card.address, card.name.replace("　", ""), card.birth_date.isoformat()):
        assert secret not in trail


# --- Signing in, and a new resident's account ------------------------------------------------------------


def test_an_unknown_card_needs_an_account_and_keeps_its_identity_sealed(db: Database, towns: Towns) -> None:
    register_person(db, towns.a)
    card = card_of(towns.a)
    outcome, _ = _sign_in(db, towns.a, card)
    assert outcome.kind == "needs_account" and outcome.account is None
    with db.transaction(towns.a.id) as session:
        stored = get_authorization(session, outcome.authorization)
        assert stored.match == "exact"
        sealed = stored.identity_sealed
    assert sealed is not None and card.name.encode() not in sealed
    assert CardIdentity.from_json(json.loads(Sealer(DATA_KEY).open(towns.a.id, sealed))) == card
    _no_card_data_in_audit(db, towns.a, card)


def test_a_new_resident_whose_card_matches_exactly_is_verified_at_the_card_level(db: Database, towns: Towns) -> None:
    person = register_person(db, towns.a)
    card = card_of(towns.a)
    outcome = _open_account(db, towns.a, card, email="Ichiro@Example.JP")
    assert outcome.kind == "verified"
    account = load_account(db, outcome.account)
    assert account.email == "Ichiro@example.jp"  # normalized like sign-up: the domain lowercased
    assert account.identity_assurance == "card" and account.person_id == person.id
    assert account.password_hash is None and account.email_verified_at is None
    assert account.display_name == "髙橋　一郎"
    [link] = _links(db, towns.a)
    assert link.account_id == account.id and link.issuer == ISSUER
    assert link.subject_hash == subject_hash(ISSUER, card.subject) != card.subject
    [evidence] = _evidence(db, towns.a, account)
    assert (evidence.method, evidence.level, evidence.match) == ("card", "card", "exact")
    assert evidence.person_id == person.id and evidence.verified_by == f"account:{account.id}"
    assert evidence.subject_hash == link.subject_hash and evidence.acr == card.acr
    assert evidence.authenticated_at is not None
    # The card's data is erased from the request; the address gets its verification link.
    with db.transaction(towns.a.id) as session:
        assert get_authorization(session, outcome.authorization).identity_sealed is None
    [mail] = [m for m in outbox(db, towns.a) if m.payload.get("template") == "account.verify_email"]
    assert mail.payload["to"] == "Ichiro@example.jp"
    actions = [r.action for r in audit_actions(db, towns.a)]
    assert {"account.signed_up", "card.linked", "identity.verified"} <= set(actions)
    _no_card_data_in_audit(db, towns.a, card)


def test_a_linked_card_signs_its_account_in_and_is_marked_used(db: Database, towns: Towns) -> None:
    register_person(db, towns.a)
    card = card_of(towns.a)
    account = _open_account(db, towns.a, card).account
    [before] = _links(db, towns.a)
    outcome, _ = _sign_in(db, towns.a, card)
    assert outcome.kind == "signed_in" and outcome.account is not None and outcome.account.id == account.id
    [after] = _links(db, towns.a)
    assert after.last_used_at is not None and after.last_used_at >= before.last_used_at


def test_a_disabled_account_cannot_sign_in_with_its_card(db: Database, towns: Towns) -> None:
    register_person(db, towns.a)
    card = card_of(towns.a)
    account = _open_account(db, towns.a, card).account
    with db.transaction(towns.a.id) as session:
        get_account(session, account).disabled = True
    with pytest.raises(CardSignInFailed) as refused:
        _sign_in(db, towns.a, card)
    assert refused.value.reason == "disabled"


@pytest.mark.parametrize(
    ("card_kwargs", "kind"),
    [
        ({"name": "佐藤　花子", "sex": "female"}, "no_match"),
        (
            {"address": "東京都世田谷区桜台一丁目1番1号", "prefecture": "東京都", "municipality": "世田谷区"},
            "other_municipality",
        ),
        ({"name": "高橋　一郎"}, "needs_review"),
    ],
)
def test_a_new_account_whose_card_does_not_match_exactly_stays_at_the_email_level(
    db: Database, towns: Towns, card_kwargs, kind: str
) -> None:
    register_person(db, towns.a)
    card = card_of(towns.a, **card_kwargs)
    outcome = _open_account(db, towns.a, card)
    assert outcome.kind == kind
    account = load_account(db, outcome.account)
    assert account.identity_assurance == "email" and account.person_id is None
    assert len(_links(db, towns.a)) == 1  # it signs in with the card all the same
    assert _evidence(db, towns.a, account) == []
    if kind == "other_municipality":
        assert outcome.municipality == "東京都世田谷区"
    if kind == "needs_review":
        assert outcome.review is not None and outcome.review.account_id == account.id


def test_two_register_matches_leave_a_new_account_unverified(db: Database, towns: Towns) -> None:
    register_person(db, towns.a, town="本町一丁目")
    register_person(db, towns.a, town="栄町三丁目")
    outcome = _open_account(db, towns.a, card_of(towns.a))
    assert outcome.kind == "several"
    assert load_account(db, outcome.account).person_id is None


def test_opening_the_account_needs_the_same_browser_a_fresh_answer_and_a_free_address(
    db: Database, towns: Towns, monkeypatch: pytest.MonkeyPatch
) -> None:
    register_person(db, towns.a)
    add_account(db, towns.a, email="taken@example.jp")
    first, binding = _sign_in(db, towns.a, card_of(towns.a))
    authorization_id = first.authorization.id

    def create(**kwargs):
        values = {"browser_binding": binding, "email": "new@example.jp", "locale": "ja", **kwargs}
        with db.transaction(towns.a.id) as session:
            return operations.create_account_from_card(session, towns.a, authorization_id, **values)

    with pytest.raises(CardSignInFailed) as other_browser:
        create(browser_binding="another-browser")
    assert other_browser.value.reason == "binding"
    with pytest.raises(CardSignInFailed):
        create(browser_binding=None)
    with pytest.raises(ValidationFailed) as bad_email:
        create(email="not an address")
    assert "email" in bad_email.value.errors
    with pytest.raises(ValidationFailed) as taken_email:
        create(email="taken@EXAMPLE.JP")  # the same address once normalized
    assert "email" in taken_email.value.errors
    # Another municipality's request is not found.
    with pytest.raises(NotFound), db.transaction(towns.b.id) as session:
        operations.create_account_from_card(
            session, towns.b, authorization_id, browser_binding=binding, email="new@example.jp", locale=None
        )
    # Nothing was created by the refusals: the account opens now, once.
    with db.transaction(towns.a.id) as session:
        assert session.execute(select(Account).where(Account.email == "new@example.jp")).first() is None
    assert create().kind == "verified"
    with pytest.raises(CardSignInFailed) as again:
        create(email="another@example.jp")
    assert again.value.reason == "expired_request"


def test_the_sealed_identity_lasts_15_minutes(db: Database, towns: Towns, monkeypatch: pytest.MonkeyPatch) -> None:
    first, binding = _sign_in(db, towns.a, card_of(towns.a))
    shifted = utcnow() + timedelta(minutes=15, seconds=5)
    monkeypatch.setattr(operations, "utcnow", lambda: shifted)
    with pytest.raises(CardSignInFailed) as expired, db.transaction(towns.a.id) as session:
        operations.create_account_from_card(
            session, towns.a, first.authorization.id, browser_binding=binding, email="x@example.jp", locale=None
        )
    assert expired.value.reason == "expired_request"


def test_a_card_linked_in_one_town_is_unknown_in_another(db: Database, towns: Towns) -> None:
    register_person(db, towns.a)
    card = card_of(towns.a)
    _open_account(db, towns.a, card)
    outcome, _ = _sign_in(db, towns.b, card)
    assert outcome.kind == "needs_account"
    assert _links(db, towns.b) == []


# --- Linking a card to an account ------------------------------------------------------------------------


def test_a_signed_in_resident_links_a_card_that_matches_exactly(db: Database, towns: Towns) -> None:
    person = register_person(db, towns.a)
    account = add_account(db, towns.a)
    outcome = _link(db, towns.a, account, card_of(towns.a))
    assert outcome.kind == "verified"
    stored = load_account(db, account)
    assert stored.identity_assurance == "card" and stored.person_id == person.id
    with db.transaction(towns.a.id) as session:
        link = operations.card_link_of(session, towns.a.id, account.id)
    assert link is not None and link.issuer == ISSUER


def test_a_letter_verified_account_rises_to_the_card_level(db: Database, towns: Towns) -> None:
    person = register_person(db, towns.a)
    account = add_account(db, towns.a)
    clerk = staff_account(db, towns.a, "clerk")
    with db.transaction(towns.a.id) as session:
        identity_operations.link_identity_at_counter(
            session, towns.a.id, account.id, resident_code=person.resident_code, by=clerk, actor=f"account:{clerk.id}"
        )
    assert _link(db, towns.a, account, card_of(towns.a)).kind == "verified"
    assert load_account(db, account).identity_assurance == "card"
    newest, oldest = _evidence(db, towns.a, account)
    assert (newest.method, oldest.method) == ("card", "counter")


def test_a_card_linked_to_another_account_is_a_conflict(db: Database, towns: Towns) -> None:
    register_person(db, towns.a)
    card = card_of(towns.a)
    _open_account(db, towns.a, card)
    other = add_account(db, towns.a)
    with pytest.raises(Conflict):
        _link(db, towns.a, other, card)
    assert load_account(db, other).identity_assurance == "email"
    assert len(_links(db, towns.a)) == 1


def test_a_person_already_linked_to_another_account_is_a_conflict_and_nothing_is_linked(
    db: Database, towns: Towns
) -> None:
    person = register_person(db, towns.a)
    add_account(db, towns.a, person_id=person.id)  # verified at the counter, long ago
    account = add_account(db, towns.a)
    with pytest.raises(Conflict):
        _link(db, towns.a, account, card_of(towns.a))
    assert _links(db, towns.a) == []
    assert load_account(db, account).person_id is None


def test_an_account_with_a_card_must_remove_it_before_linking_another(db: Database, towns: Towns) -> None:
    register_person(db, towns.a)
    account = add_account(db, towns.a)
    _link(db, towns.a, account, card_of(towns.a))
    with pytest.raises(Conflict):
        _link(db, towns.a, account, card_of(towns.a))  # another subject: a renewed card


def test_an_answer_to_another_accounts_link_request_is_refused(db: Database, towns: Towns) -> None:
    register_person(db, towns.a)
    starter, other = add_account(db, towns.a), add_account(db, towns.a)
    authorization, _ = new_authorization(db, towns.a, purpose=CardPurpose.LINK, account=starter)
    with pytest.raises(CardSignInFailed) as refused, db.transaction(towns.a.id) as session:
        operations.after_link(
            session,
            towns.a,
            get_authorization(session, authorization),
            card_of(towns.a),
            get_account(session, other),
        )
    assert refused.value.reason == "binding"
    assert _links(db, towns.a) == []


def test_a_card_of_another_municipality_is_linked_for_sign_in_only(db: Database, towns: Towns) -> None:
    account = add_account(db, towns.a)
    card = card_of(towns.a, address="東京都世田谷区桜台一丁目1番1号", prefecture="", municipality="")
    outcome = _link(db, towns.a, account, card)
    assert outcome.kind == "other_municipality" and outcome.municipality == "東京都世田谷区"
    assert load_account(db, account).identity_assurance == "email"
    assert len(_links(db, towns.a)) == 1


# --- Unlinking ---------------------------------------------------------------------------------------------


def test_unlinking_a_card_that_alone_verified_the_account_drops_it_to_email(db: Database, towns: Towns) -> None:
    register_person(db, towns.a)
    account = add_account(db, towns.a)
    _link(db, towns.a, account, card_of(towns.a))
    with db.transaction(towns.a.id) as session:
        operations.unlink_card(session, towns.a, get_account(session, account), actor=f"account:{account.id}")
    stored = load_account(db, account)
    assert stored.identity_assurance == "email" and stored.person_id is None
    assert _links(db, towns.a) == []
    # The evidence is history: it stays.
    assert [e.method for e in _evidence(db, towns.a, account)] == ["card"]
    [record] = [r for r in audit_actions(db, towns.a) if r.action == "card.unlinked"]
    assert record.data["level_before"] == "card" and record.data["level_after"] == "email"
    assert record.data["person_unlinked"] is not None


def test_unlinking_keeps_what_the_counter_verified(db: Database, towns: Towns) -> None:
    person = register_person(db, towns.a)
    account = add_account(db, towns.a)
    clerk = staff_account(db, towns.a, "clerk")
    with db.transaction(towns.a.id) as session:
        identity_operations.link_identity_at_counter(
            session, towns.a.id, account.id, resident_code=person.resident_code, by=clerk, actor=f"account:{clerk.id}"
        )
    _link(db, towns.a, account, card_of(towns.a))
    with db.transaction(towns.a.id) as session:
        operations.unlink_card(session, towns.a, get_account(session, account), actor=f"account:{account.id}")
    stored = load_account(db, account)
    assert stored.identity_assurance == "verified" and stored.person_id == person.id


def test_unlinking_keeps_a_verification_from_before_evidence_was_kept(db: Database, towns: Towns) -> None:
    person = register_person(db, towns.a)
    account = add_account(db, towns.a, person_id=person.id)  # verified, no evidence row
    with db.transaction(towns.a.id) as session:
        audit.record(
            session,
            towns.a.id,
            actor="account:clerk",
            action="identity.verified",
            object_type="account",
            object_id=account.id,
            data={"method": "letter", "person_id": str(person.id)},
        )
    assert _link(db, towns.a, account, card_of(towns.a)).kind == "verified"
    with db.transaction(towns.a.id) as session:
        operations.unlink_card(session, towns.a, get_account(session, account), actor=f"account:{account.id}")
    stored = load_account(db, account)
    assert stored.identity_assurance == "verified" and stored.person_id == person.id


def test_unlinking_a_card_that_verified_nothing_changes_no_level(db: Database, towns: Towns) -> None:
    person = register_person(db, towns.a)
    account = add_account(db, towns.a)
    clerk = staff_account(db, towns.a, "clerk")
    with db.transaction(towns.a.id) as session:
        identity_operations.link_identity_at_counter(
            session, towns.a.id, account.id, resident_code=person.resident_code, by=clerk, actor=f"account:{clerk.id}"
        )
    outcome = _link(db, towns.a, account, card_of(towns.a, address="東京都世田谷区桜台1-1-1", prefecture=""))
    assert outcome.kind == "other_municipality"
    with db.transaction(towns.a.id) as session:
        operations.unlink_card(session, towns.a, get_account(session, account), actor=f"account:{account.id}")
    stored = load_account(db, account)
    assert stored.identity_assurance == "verified" and stored.person_id == person.id


def test_unlinking_withdraws_a_review_and_without_a_card_is_not_found(db: Database, towns: Towns) -> None:
    register_person(db, towns.a)
    account = add_account(db, towns.a)
    outcome = _link(db, towns.a, account, card_of(towns.a, "高橋　一郎"))
    assert outcome.kind == "needs_review"
    with db.transaction(towns.a.id) as session:
        operations.unlink_card(session, towns.a, get_account(session, account), actor=f"account:{account.id}")
    review = _review(db, towns.a, outcome.review.id)
    assert review.decision == "withdrawn" and review.card_details_sealed is None
    with db.transaction(towns.a.id) as session:
        assert operations.open_reviews(session, towns.a.id) == []
    with pytest.raises(NotFound), db.transaction(towns.a.id) as session:
        operations.unlink_card(session, towns.a, get_account(session, account), actor=f"account:{account.id}")


# --- The clerk's review ----------------------------------------------------------------------------------


def _pending_review(db: Database, tenant: Tenant, name: str = "高橋　一郎"):
    person = register_person(db, tenant)  # registered as 髙橋
    account = add_account(db, tenant)
    card = card_of(tenant, name)
    outcome = _link(db, tenant, account, card)
    assert outcome.kind == "needs_review" and outcome.review is not None
    return person, account, card, outcome.review


def _decide(db: Database, tenant: Tenant, review_id, by: Account, *, confirm: bool) -> CardMatchReview:
    with db.transaction(tenant.id) as session:
        return operations.decide_review(session, tenant, review_id, confirm=confirm, by=by, actor=f"account:{by.id}")


def test_a_variant_name_waits_for_a_clerk_with_the_cards_name_and_address_sealed(db: Database, towns: Towns) -> None:
    person, account, card, review = _pending_review(db, towns.a)
    assert review.person_id == person.id and review.reason == "variant_name"
    assert load_account(db, account).identity_assurance == "email"
    with db.transaction(towns.a.id) as session:
        [listed] = operations.open_reviews(session, towns.a.id)
        assert operations.review_card_details(listed) == {"name": card.name, "address": card.address}
    assert card.name.encode() not in listed.card_details_sealed
    _no_card_data_in_audit(db, towns.a, card)


def test_a_clerk_confirms_a_variant_name_and_the_account_reaches_the_card_level(db: Database, towns: Towns) -> None:
    person, account, card, review = _pending_review(db, towns.a)
    clerk = staff_account(db, towns.a, "clerk")
    decided = _decide(db, towns.a, review.id, clerk, confirm=True)
    assert decided.decision == "confirmed" and decided.decided_by == f"account:{clerk.id}"
    assert decided.card_details_sealed is None
    stored = load_account(db, account)
    assert stored.identity_assurance == "card" and stored.person_id == person.id
    [evidence] = _evidence(db, towns.a, account)
    assert (evidence.method, evidence.match, evidence.verified_by) == ("card", "needs_review", f"account:{clerk.id}")
    assert evidence.subject_hash == subject_hash(ISSUER, card.subject)
    # Decided once: the second decision is a conflict, either way.
    with pytest.raises(Conflict):
        _decide(db, towns.a, review.id, clerk, confirm=False)
    # Signing in with the card later finds the account.
    outcome, _ = _sign_in(db, towns.a, card)
    assert outcome.kind == "signed_in" and outcome.account.id == account.id


def test_a_supervisor_rejects_and_nothing_is_linked(db: Database, towns: Towns) -> None:
    _, account, _, review = _pending_review(db, towns.a)
    supervisor = staff_account(db, towns.a, "supervisor")
    decided = _decide(db, towns.a, review.id, supervisor, confirm=False)
    assert decided.decision == "rejected" and decided.card_details_sealed is None
    stored = load_account(db, account)
    assert stored.identity_assurance == "email" and stored.person_id is None
    assert _evidence(db, towns.a, account) == []
    with pytest.raises(Conflict):
        _decide(db, towns.a, review.id, supervisor, confirm=True)


@pytest.mark.parametrize("who", ["resident", "tenant_admin", "accountant"])
def test_only_a_clerk_or_supervisor_decides_a_review(db: Database, towns: Towns, who: str) -> None:
    _, account, _, review = _pending_review(db, towns.a)
    by = add_account(db, towns.a) if who == "resident" else staff_account(db, towns.a, who)
    with pytest.raises(Forbidden):
        _decide(db, towns.a, review.id, by, confirm=True)
    with pytest.raises(Forbidden):  # nor the resident whose review it is
        _decide(db, towns.a, review.id, account, confirm=True)
    assert _review(db, towns.a, review.id).decided_at is None


def test_a_review_of_one_town_cannot_be_decided_from_another(db: Database, towns: Towns) -> None:
    _, account, _, review = _pending_review(db, towns.a)
    clerk_b = staff_account(db, towns.b, "clerk")
    with pytest.raises(NotFound):
        _decide(db, towns.b, review.id, clerk_b, confirm=True)
    # Nor with a clerk of A through B's tenant, or B's clerk through A's.
    clerk_a = staff_account(db, towns.a, "clerk")
    with pytest.raises(Forbidden):
        _decide(db, towns.a, review.id, clerk_b, confirm=True)
    with pytest.raises(Forbidden):
        _decide(db, towns.b, review.id, clerk_a, confirm=True)
    with db.transaction(towns.b.id) as session:
        assert operations.open_reviews(session, towns.b.id) == []
        assert operations.evidence_of(session, towns.b.id, account.id) == []
    assert load_account(db, account).identity_assurance == "email"


def test_confirming_a_person_already_linked_to_another_account_is_a_conflict(db: Database, towns: Towns) -> None:
    person, account, _, review = _pending_review(db, towns.a)
    add_account(db, towns.a, person_id=person.id)  # linked at the counter meanwhile
    clerk = staff_account(db, towns.a, "clerk")
    with pytest.raises(Conflict):
        _decide(db, towns.a, review.id, clerk, confirm=True)
    assert _review(db, towns.a, review.id).decided_at is None  # still open: the clerk may reject it
    assert load_account(db, account).person_id is None


# --- Letters and the counter write evidence too ----------------------------------------------------------


def test_the_counter_and_the_letter_record_their_evidence(db: Database, towns: Towns) -> None:
    at_counter = register_person(db, towns.a)
    by_letter = register_person(db, towns.a, given="二郎", birth=date(1990, 1, 1))
    resident_1, resident_2 = add_account(db, towns.a), add_account(db, towns.a)
    clerk = staff_account(db, towns.a, "clerk")
    with db.transaction(towns.a.id) as session:
        identity_operations.link_identity_at_counter(
            session,
            towns.a.id,
            resident_1.id,
            resident_code=at_counter.resident_code,
            by=clerk,
            actor=f"account:{clerk.id}",
        )
    [counter] = _evidence(db, towns.a, resident_1)
    assert (counter.method, counter.level, counter.verified_by) == ("counter", "verified", f"account:{clerk.id}")
    assert counter.person_id == at_counter.id and counter.issuer is None and counter.subject_hash is None

    with db.transaction(towns.a.id) as session:
        account = get_account(session, resident_2)
        identity_operations.request_identity_letter(
            session,
            towns.a,
            account,
            resident_code=by_letter.resident_code,
            birth_date=by_letter.birth_date,
            data_key=DATA_KEY,
            actor=f"account:{account.id}",
        )
    [letter] = outbox(db, towns.a, "notify.letter")
    code = identity_operations.open_letter_code(letter.payload, towns.a.id, DATA_KEY)
    with db.transaction(towns.a.id) as session:
        account = get_account(session, resident_2)
        identity_operations.confirm_identity_code(
            session, account, code, data_key=DATA_KEY, actor=f"account:{account.id}"
        )
    [evidence] = _evidence(db, towns.a, resident_2)
    assert (evidence.method, evidence.level, evidence.verified_by) == ("letter", "verified", f"account:{resident_2.id}")
    assert evidence.person_id == by_letter.id


def test_an_answer_is_accepted_only_in_the_town_and_for_the_purpose_it_was_asked(db: Database, towns: Towns) -> None:
    authorization, _ = new_authorization(db, towns.a)
    with pytest.raises(CardSignInFailed) as other_town, db.transaction(towns.a.id) as session:
        operations.after_sign_in(session, towns.b, get_authorization(session, authorization), card_of(towns.b))
    assert other_town.value.reason == "state"
    account = add_account(db, towns.a)
    with pytest.raises(CardSignInFailed) as sign_in_answer, db.transaction(towns.a.id) as session:
        operations.after_link(
            session, towns.a, get_authorization(session, authorization), card_of(towns.a), get_account(session, account)
        )
    assert sign_in_answer.value.reason == "state"
    assert _links(db, towns.a) == []


def test_linking_the_same_card_again_changes_nothing(db: Database, towns: Towns) -> None:
    register_person(db, towns.a)
    account = add_account(db, towns.a)
    card = card_of(towns.a)
    assert _link(db, towns.a, account, card).kind == "verified"
    assert _link(db, towns.a, account, card).kind == "verified"
    assert len(_links(db, towns.a)) == 1 and len(_evidence(db, towns.a, account)) == 1
