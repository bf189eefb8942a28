"""What a verified card does to accounts (decision 0048): sign in, sign up, link, unlink, and the clerk's
confirmation of a variant-name match. Called by the web layer after ``protocol.complete``.

Contract (lead): the signatures and results below are what the portal and console views use.

Like every operation these flush and never commit: a refusal (a domain error) leaves nothing behind once the
request rolls back. The platform's settings (the data key that seals the card's data, the public URL of the
email verification link) come from the app unless a caller passes ``settings``. Nothing from the card goes to the
audit trail beyond the provider's issuer and the keyed hash of the subject.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import uuid
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from madoguchi import jp
from madoguchi.audit import operations as audit
from madoguchi.config import Settings
from madoguchi.crypto import Sealer
from madoguchi.db import utcnow
from madoguchi.errors import Conflict, Forbidden, NotFound, ValidationFailed
from madoguchi.identity import repository as identity_repository
from madoguchi.identity.card import repository
from madoguchi.identity.card.matching import MatchOutcome, match_person
from madoguchi.identity.card.models import (
    CardAuthorization,
    CardLink,
    CardMatch,
    CardMatchReview,
    CardPurpose,
    EvidenceMethod,
    IdentityEvidence,
    ReviewDecision,
)
from madoguchi.identity.card.protocol import CardIdentity, CardSignInFailed, subject_hash
from madoguchi.identity.models import Account, AccountKind, IdentityAssurance
from madoguchi.identity.operations.common import get_account, normalize_email
from madoguchi.identity.operations.identity_letters import COUNTER_ROLES, link_person
from madoguchi.identity.operations.registration import send_verification_email
from madoguchi.identity.schemas import DISPLAY_NAME_MAX_LENGTH, has_control_characters
from madoguchi.registry.models import Person
from madoguchi.tenancy.models import Tenant

#: How long a new resident has, after the provider's answer, to give an email address and open the account.
SIGN_UP_TTL = timedelta(minutes=15)

#: ``CardOutcome.kind`` for each register match that does not link the account.
_UNLINKED_KINDS = {
    CardMatch.NONE: "no_match",
    CardMatch.SEVERAL: "several",
    CardMatch.OTHER_MUNICIPALITY: "other_municipality",
}

EMAIL_TAKEN = (
    "An account with this email address already exists: sign in with it, then link the card under your account."
)


@dataclasses.dataclass(frozen=True)
class CardOutcome:
    """What happened after the provider's answer was accepted.

    ``kind``:
    - ``signed_in``: a card already linked to ``account``: the view starts a session for it.
    - ``verified``: (link, or sign-up finished) ``account`` is now linked to its register person at the card level.
    - ``needs_account``: no account has this card: the view asks for an email address
      (``create_account_from_card`` with ``authorization``) to open one.
    - ``needs_review``: linked for sign-in, but the register match waits for a clerk (``review``).
    - ``no_match`` / ``several`` / ``other_municipality``: the card is linked for sign-in (when an account is
      there) but the account stays at its level; the view says what to do next (the counter, the card's own
      municipality).
    """

    kind: str
    account: Account | None = None
    authorization: CardAuthorization | None = None
    review: CardMatchReview | None = None
    #: For ``other_municipality``: the municipality on the card (to name it to the resident).
    municipality: str | None = None


def _settings(settings: Settings | None) -> Settings:
    return settings if settings is not None else current_app.config["MADOGUCHI"]


def _actor(account: Account) -> str:
    return f"account:{account.id}"


def _card_data(issuer: str, hashed_subject: str) -> dict[str, Any]:
    """All an audit record says of a card."""
    return {"issuer": issuer, "subject_hash": hashed_subject}


def _check_request(authorization: CardAuthorization, tenant: Tenant, purpose: CardPurpose) -> None:
    if authorization.tenant_id != tenant.id or authorization.purpose != purpose.value:
        raise CardSignInFailed("state")


def after_sign_in(
    session: Session,
    tenant: Tenant,
    authorization: CardAuthorization,
    card: CardIdentity,
    *,
    settings: Settings | None = None,
) -> CardOutcome:
    """The answer to a ``sign_in`` request: a linked card signs its account in; an unknown one needs an account.

    A signed-in card only has its ``last_used_at`` set here: the view records the sign-in itself
    (``record_login`` with channel ``card``). For an unknown card the verified identity is kept sealed on the
    request (15 minutes) with the register match, for ``create_account_from_card``."""
    _check_request(authorization, tenant, CardPurpose.SIGN_IN)
    hashed = subject_hash(card.issuer, card.subject)
    link = repository.link_of_card(session, tenant.id, card.issuer, hashed)
    if link is not None:
        account = get_account(session, tenant.id, link.account_id)
        if account.disabled:
            raise CardSignInFailed("disabled", "This account is disabled: please ask the municipality.")
        link.last_used_at = utcnow()
        session.flush()
        return CardOutcome("signed_in", account=account, authorization=authorization)
    outcome = match_person(session, tenant, card)
    sealer = Sealer(_settings(settings).data_key)
    authorization.identity_sealed = sealer.seal(tenant.id, json.dumps(card.to_json(), ensure_ascii=False))
    authorization.match = outcome.match.value
    session.flush()
    audit.record(
        session,
        tenant.id,
        actor="anonymous",
        action="card.account_needed",
        object_type="card_authorization",
        object_id=authorization.id,
        data={**_card_data(card.issuer, hashed), "match": outcome.match.value},
    )
    return CardOutcome("needs_account", authorization=authorization, municipality=outcome.municipality)


def after_link(
    session: Session,
    tenant: Tenant,
    authorization: CardAuthorization,
    card: CardIdentity,
    account: Account,
    *,
    settings: Settings | None = None,
) -> CardOutcome:
    """The answer to a ``link`` request by the signed-in ``account`` (it must be the one that started it)."""
    _check_request(authorization, tenant, CardPurpose.LINK)
    if authorization.account_id != account.id or account.tenant_id != tenant.id:
        raise CardSignInFailed("binding", "This answer belongs to a request another account started.")
    if account.kind != AccountKind.RESIDENT or account.disabled:
        raise Forbidden("Only a resident's account can have a card.")
    hashed = subject_hash(card.issuer, card.subject)
    link = repository.link_of_card(session, tenant.id, card.issuer, hashed)
    if link is not None and link.account_id != account.id:
        raise Conflict("This card is already linked to another account: sign in with the card instead.")
    if link is None:
        if repository.link_of_account(session, tenant.id, account.id) is not None:
            raise Conflict("This account already has a card: remove it first, then link the new one.")
        _add_link(session, tenant, account, card.issuer, hashed)
    else:
        link.last_used_at = utcnow()
        open_review = next(iter(repository.open_reviews(session, tenant.id, account.id)), None)
        if account.identity_assurance == IdentityAssurance.CARD and account.person_id is not None:
            return CardOutcome("verified", account=account, authorization=authorization)
        if open_review is not None:
            return CardOutcome("needs_review", account=account, authorization=authorization, review=open_review)
    outcome = match_person(session, tenant, card)
    result = _apply_match(session, tenant, account, card, hashed, outcome, settings=settings)
    return dataclasses.replace(result, account=account, authorization=authorization)


def create_account_from_card(
    session: Session,
    tenant: Tenant,
    authorization_id: uuid.UUID,
    *,
    browser_binding: str | None,
    email: str,
    locale: str | None,
    settings: Settings | None = None,
) -> CardOutcome:
    """A new resident's account from a verified card (``needs_account``): the email given, the card linked, the
    register matched (``verified`` at the card level when exact). Sends the email verification link.

    The account has no password: it signs in with the card (a password can be set later through the password
    reset link). An address that already has an account is refused beside the field, and nothing is written:
    the card holder is identified by the card, so naming the reason costs nothing, and the way forward (sign in,
    link the card) needs it said."""
    config = _settings(settings)
    authorization = repository.find_authorization(session, tenant.id, authorization_id, lock=True)
    if authorization is None:
        raise NotFound("There is no such card sign-in: sign in with the card again.")
    if authorization.purpose != CardPurpose.SIGN_IN:
        raise CardSignInFailed("state")
    if not browser_binding or not hmac.compare_digest(
        hashlib.sha256(browser_binding.encode()).hexdigest(), authorization.browser_binding_hash
    ):
        raise CardSignInFailed("binding")
    used_at = authorization.used_at
    if used_at is None or authorization.identity_sealed is None or utcnow() > used_at + SIGN_UP_TTL:
        raise CardSignInFailed("expired_request", "This card sign-in has expired: sign in with the card again.")
    try:
        email = normalize_email(email)
    except ValueError:
        raise ValidationFailed(errors={"email": ["Enter an email address like name@example.jp."]}) from None
    sealer = Sealer(config.data_key)
    card = CardIdentity.from_json(json.loads(sealer.open(tenant.id, authorization.identity_sealed)))
    hashed = subject_hash(card.issuer, card.subject)
    if repository.link_of_card(session, tenant.id, card.issuer, hashed) is not None:
        raise Conflict("This card is already linked to an account: sign in with the card.")
    if identity_repository.find_account_by_email(session, tenant.id, email) is not None:
        raise ValidationFailed(EMAIL_TAKEN, errors={"email": [EMAIL_TAKEN]})
    locale = locale or tenant.default_locale
    account = Account(
        tenant_id=tenant.id,
        email=email,
        display_name=_display_name(card.name, email),
        kind=AccountKind.RESIDENT.value,
        roles=[],
        identity_assurance=IdentityAssurance.EMAIL.value,
        password_hash=None,
        locale=locale,
    )
    try:
        with session.begin_nested():
            session.add(account)
            session.flush()
    except IntegrityError:  # the same address signed up at the same moment
        raise ValidationFailed(EMAIL_TAKEN, errors={"email": [EMAIL_TAKEN]}) from None
    audit.record(
        session,
        tenant.id,
        actor=_actor(account),
        action="account.signed_up",
        object_type="account",
        object_id=account.id,
        data={"email": email, "channel": "card"},
    )
    _add_link(session, tenant, account, card.issuer, hashed)
    outcome = match_person(session, tenant, card)
    result = _apply_match(session, tenant, account, card, hashed, outcome, settings=config)
    # The card's data has done its work: only a pending review keeps (its own sealed copy of) name and address.
    authorization.identity_sealed = None
    send_verification_email(
        session, tenant, account, public_url=config.public_url, data_key=config.data_key, locale=locale
    )
    return dataclasses.replace(result, account=account, authorization=authorization)


def _display_name(name: str, email: str) -> str:
    """The card's name as the account's display name (trimmed, no control characters, at most the sign-up page's
    length); the address's local part should the provider give no name."""
    text = jp.clean_name("".join(ch for ch in name if not has_control_characters(ch)))
    return (text or email.partition("@")[0])[:DISPLAY_NAME_MAX_LENGTH]


def _add_link(session: Session, tenant: Tenant, account: Account, issuer: str, hashed: str) -> CardLink:
    now = utcnow()
    link = CardLink(
        tenant_id=tenant.id, account_id=account.id, issuer=issuer, subject_hash=hashed, linked_at=now, last_used_at=now
    )
    try:
        with session.begin_nested():
            session.add(link)
            session.flush()
    except IntegrityError as error:  # the same card (or another card of this account) linked at the same moment
        raise Conflict("This card or this account was linked at the same moment: try again.") from error
    audit.record(
        session,
        tenant.id,
        actor=_actor(account),
        action="card.linked",
        object_type="account",
        object_id=account.id,
        data=_card_data(issuer, hashed),
    )
    return link


def _apply_match(
    session: Session,
    tenant: Tenant,
    account: Account,
    card: CardIdentity,
    hashed: str,
    outcome: MatchOutcome,
    *,
    settings: Settings | None,
) -> CardOutcome:
    """Link the account at the card level (exact), open a review for a clerk (a candidate), or leave it (none,
    several, another municipality)."""
    if outcome.match == CardMatch.EXACT and outcome.person is not None:
        _link_at_card_level(
            session,
            account,
            outcome.person,
            issuer=card.issuer,
            hashed=hashed,
            match=CardMatch.EXACT,
            authenticated_at=card.authenticated_at,
            acr=card.acr,
            verified_by=_actor(account),
        )
        return CardOutcome("verified", account=account)
    if outcome.match == CardMatch.NEEDS_REVIEW and outcome.person is not None:
        details = {"name": card.name, "address": card.address}
        review = CardMatchReview(
            tenant_id=tenant.id,
            account_id=account.id,
            person_id=outcome.person.id,
            issuer=card.issuer,
            subject_hash=hashed,
            reason=outcome.review_reason or "variant_name",
            card_details_sealed=Sealer(_settings(settings).data_key).seal(
                tenant.id, json.dumps(details, ensure_ascii=False)
            ),
            authenticated_at=card.authenticated_at,
            created_at=utcnow(),
        )
        session.add(review)
        session.flush()
        audit.record(
            session,
            tenant.id,
            actor=_actor(account),
            action="card.review_opened",
            object_type="card_match_review",
            object_id=review.id,
            data={
                **_card_data(card.issuer, hashed),
                "account_id": str(account.id),
                "person_id": str(outcome.person.id),
                "reason": review.reason,
            },
        )
        return CardOutcome("needs_review", account=account, review=review)
    return CardOutcome(_UNLINKED_KINDS[outcome.match], account=account, municipality=outcome.municipality)


def _link_at_card_level(
    session: Session,
    account: Account,
    person: Person,
    *,
    issuer: str,
    hashed: str,
    match: CardMatch,
    authenticated_at: Any,
    acr: str | None,
    verified_by: str,
) -> None:
    evidence = IdentityEvidence(
        method=EvidenceMethod.CARD.value,
        level=IdentityAssurance.CARD.value,
        issuer=issuer,
        subject_hash=hashed,
        match=match.value,
        authenticated_at=authenticated_at,
        acr=acr,
        verified_by=verified_by,
    )
    link_person(
        session, account, person, evidence=evidence, audit_data={"match": match.value} | _card_data(issuer, hashed)
    )


def unlink_card(session: Session, tenant: Tenant, account: Account, *, actor: str) -> None:
    """The resident removes the card from their account. The register link and level stay if another method
    verified it; a level that only the card gave drops back to what it was (email or verified).

    At the card level: ``verified`` (same person) when a letter or the counter verified the account (its evidence,
    or for an account verified before evidence was kept, the audit trail's ``identity.verified``), else ``email``
    and no person. A review still open for the card is withdrawn (its sealed details erased)."""
    if account.tenant_id != tenant.id:
        raise NotFound("There is no such account.")
    link = repository.link_of_account(session, tenant.id, account.id)
    if link is None:
        raise NotFound("No card is linked to this account.")
    level_before, person_before = account.identity_assurance, account.person_id
    session.delete(link)
    for review in repository.open_reviews(session, tenant.id, account.id):
        _close(review, ReviewDecision.WITHDRAWN, by=actor)
    if level_before == IdentityAssurance.CARD:
        if account.person_id is not None and _verified_otherwise(session, account):
            account.identity_assurance = IdentityAssurance.VERIFIED.value
        else:
            account.identity_assurance = IdentityAssurance.EMAIL.value
            account.person_id = None
    session.flush()
    audit.record(
        session,
        tenant.id,
        actor=actor,
        action="card.unlinked",
        object_type="account",
        object_id=account.id,
        data={
            **_card_data(link.issuer, link.subject_hash),
            "level_before": level_before,
            "level_after": account.identity_assurance,
            "person_unlinked": str(person_before) if person_before and account.person_id is None else None,
        },
    )


def _verified_otherwise(session: Session, account: Account) -> bool:
    """A letter or the counter linked the account to its current person."""
    assert account.person_id is not None
    others = (EvidenceMethod.LETTER.value, EvidenceMethod.COUNTER.value)
    for evidence in repository.evidence_of(session, account.tenant_id, account.id):
        if evidence.method in others and evidence.person_id == account.person_id:
            return True
    return any(
        (record.data or {}).get("method") in others and (record.data or {}).get("person_id") == str(account.person_id)
        for record in repository.verification_records(session, account.tenant_id, account.id)
    )


def card_link_of(session: Session, tenant_id: uuid.UUID, account_id: uuid.UUID) -> CardLink | None:
    return repository.link_of_account(session, tenant_id, account_id)


def evidence_of(session: Session, tenant_id: uuid.UUID, account_id: uuid.UUID) -> list[IdentityEvidence]:
    """The evidence that verified the account, newest first (staff and the resident see it)."""
    return repository.evidence_of(session, tenant_id, account_id)


def open_reviews(session: Session, tenant_id: uuid.UUID) -> list[CardMatchReview]:
    """The matches waiting for a clerk, oldest first."""
    return repository.open_reviews(session, tenant_id)


def review_card_details(review: CardMatchReview, *, settings: Settings | None = None) -> dict[str, str] | None:
    """The card's name and address as the provider gave them, for the clerk to compare (None once decided)."""
    if review.card_details_sealed is None:
        return None
    sealer = Sealer(_settings(settings).data_key)
    return dict(json.loads(sealer.open(review.tenant_id, review.card_details_sealed)))


def decide_review(
    session: Session, tenant: Tenant, review_id: uuid.UUID, *, confirm: bool, by: Account, actor: str
) -> CardMatchReview:
    """A clerk or supervisor confirms (link at the card level) or rejects a variant-name match."""
    if by.kind != AccountKind.STAFF or by.tenant_id != tenant.id or not COUNTER_ROLES & set(by.roles or []):
        raise Forbidden("Only a clerk or supervisor can confirm a card match.")
    review = repository.find_review(session, tenant.id, review_id, lock=True)
    if review is None:
        raise NotFound("There is no such card match to confirm.")
    if review.decided_at is not None:
        raise Conflict("This card match was already decided.")
    if confirm:
        account = get_account(session, tenant.id, review.account_id)
        person = identity_repository.get_person(session, tenant.id, review.person_id)
        _link_at_card_level(
            session,
            account,
            person,
            issuer=review.issuer,
            hashed=review.subject_hash,
            match=CardMatch.NEEDS_REVIEW,
            authenticated_at=review.authenticated_at,
            acr=None,
            verified_by=actor,
        )
    _close(review, ReviewDecision.CONFIRMED if confirm else ReviewDecision.REJECTED, by=actor)
    session.flush()
    audit.record(
        session,
        tenant.id,
        actor=actor,
        action="card.review_decided",
        object_type="card_match_review",
        object_id=review.id,
        data={
            "decision": review.decision,
            "account_id": str(review.account_id),
            "person_id": str(review.person_id),
            "reason": review.reason,
        },
    )
    return review


def _close(review: CardMatchReview, decision: ReviewDecision, *, by: str) -> None:
    review.decided_at = utcnow()
    review.decision = decision.value
    review.decided_by = by
    review.card_details_sealed = None
