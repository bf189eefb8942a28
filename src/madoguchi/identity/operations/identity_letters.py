"""Raising a resident's identity assurance by linking the account to the resident register: at the counter (a
clerk saw the identity document), or by a one-time code sent by letter to the registered address."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import unicodedata
import uuid
from datetime import date, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from madoguchi import outbox
from madoguchi.audit import operations as audit
from madoguchi.crypto import Sealer
from madoguchi.db import utcnow
from madoguchi.errors import Conflict, Forbidden, NotFound, ValidationFailed
from madoguchi.identity import repository
from madoguchi.identity.models import (
    Account,
    AccountKind,
    EvidenceMethod,
    IdentityAssurance,
    IdentityEvidence,
    IdentityVerification,
    StaffRole,
    assurance_meets,
)
from madoguchi.identity.operations.common import CODE_ALPHABET, NOTIFY_LETTER, WrongIdentityCode, get_account
from madoguchi.registry.models import Person
from madoguchi.tenancy.models import Tenant

IDENTITY_CODE_TTL = timedelta(days=14)
IDENTITY_CODE_LENGTH = 8
IDENTITY_CODE_MAX_ATTEMPTS = 5
#: Letters a resident may have sent within IDENTITY_LETTER_PERIOD (a letter costs money and reveals nothing).
IDENTITY_LETTERS_PER_PERIOD = 3
IDENTITY_LETTER_PERIOD = timedelta(days=30)
COUNTER_ROLES = frozenset({StaffRole.CLERK.value, StaffRole.SUPERVISOR.value})


def link_person(
    session: Session, account: Account, person: Person, *, evidence: IdentityEvidence, audit_data: dict[str, Any]
) -> None:
    """Link ``account`` to a register ``person`` at ``evidence.level`` (never lowering a higher level), with the
    evidence recorded and audited: the one way a letter, the counter and the card (decision 0048) verify."""
    holder = repository.account_linked_to(session, account.tenant_id, person.id)
    if holder is not None and holder != account.id:
        raise Conflict("This person in the resident register is already linked to another account.")
    if account.person_id is not None and account.person_id != person.id:
        raise Conflict("This account is linked to another person in the resident register: please ask at the counter.")
    account.person_id = person.id
    # A card-level account linked again to the same person by a letter or the counter stays at the card level.
    if not assurance_meets(account.identity_assurance, evidence.level):
        account.identity_assurance = evidence.level
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as error:  # linked by someone else at the same moment
        raise Conflict("This person in the resident register is already linked to another account.") from error
    evidence.tenant_id, evidence.account_id, evidence.person_id = account.tenant_id, account.id, person.id
    evidence.verified_at = utcnow()
    session.add(evidence)
    session.flush()
    audit.record(
        session,
        account.tenant_id,
        actor=evidence.verified_by,
        action="identity.verified",
        object_type="account",
        object_id=account.id,
        data={"method": evidence.method, "person_id": str(person.id)} | audit_data,
    )


def _link(session: Session, account: Account, person: Person, *, actor: str, method: str) -> None:
    evidence = IdentityEvidence(
        method=EvidenceMethod(method).value, level=IdentityAssurance.VERIFIED.value, verified_by=actor
    )
    link_person(session, account, person, evidence=evidence, audit_data={})


def link_identity_at_counter(
    session: Session, tenant_id: uuid.UUID, account_id: uuid.UUID, *, resident_code: str, by: Account, actor: str
) -> Account:
    """A clerk saw the resident's identity document at the counter and links the account to the register."""
    if not COUNTER_ROLES & set(by.roles or []):
        raise Forbidden("Only a clerk or supervisor can verify an identity at the counter.")
    account = get_account(session, tenant_id, account_id)
    if account.kind != AccountKind.RESIDENT:
        raise NotFound("There is no such resident account.")
    person = repository.find_person(session, tenant_id, resident_code)
    if person is None:
        raise ValidationFailed(errors={"resident_code": ["No one in the resident register has this code."]})
    if account.person_id == person.id and account.is_verified:
        return account
    _link(session, account, person, actor=actor, method="counter")
    return account


def _identity_code_hash(key: str, verification_id: uuid.UUID, code: str) -> str:
    # Keyed: 40 bits of code would fall to a brute force of a leaked plain hash in seconds.
    return hmac.new(key.encode(), f"{verification_id}:{code}".encode(), hashlib.sha256).hexdigest()


def new_identity_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(IDENTITY_CODE_LENGTH))


def normalize_identity_code(code: str) -> str:
    text = "".join(unicodedata.normalize("NFKC", code).upper().split()).replace("-", "")
    # Crockford: O reads as 0, I and L as 1.
    return text.translate(str.maketrans("OIL", "011"))


def request_identity_letter(
    session: Session,
    tenant: Tenant,
    account: Account,
    *,
    resident_code: str,
    birth_date: date,
    data_key: str,
    actor: str,
) -> IdentityVerification:
    """Send a one-time code by letter to the registered address of the person these details name."""
    if account.kind != AccountKind.RESIDENT:
        raise Forbidden("Identity verification is for resident accounts.")
    if account.is_verified:
        raise Conflict("This account is already verified.")
    person = repository.find_person(session, tenant.id, resident_code)
    if person is None or person.birth_date != birth_date:
        message = "No one in the resident register matches this resident code and birth date."
        raise ValidationFailed(message, errors={"resident_code": [message], "birth_date": [message]})
    holder = repository.account_linked_to(session, tenant.id, person.id)
    if holder is not None:
        raise Conflict("This person is already linked to an account: please ask at the counter.")
    now = utcnow()
    recent = repository.count_identity_letters_since(session, tenant.id, account.id, now - IDENTITY_LETTER_PERIOD)
    if recent >= IDENTITY_LETTERS_PER_PERIOD:
        raise Conflict(
            f"At most {IDENTITY_LETTERS_PER_PERIOD} letters are sent in {IDENTITY_LETTER_PERIOD.days} days: "
            "please wait for the letter, or ask at the counter."
        )
    repository.revoke_live_identity_codes(session, account.id, now)
    sealer = Sealer(data_key)
    code = new_identity_code()
    verification = IdentityVerification(
        id=uuid.uuid4(),
        tenant_id=tenant.id,
        account_id=account.id,
        person_id=person.id,
        created_at=now,
        expires_at=now + IDENTITY_CODE_TTL,
        attempts=0,
    )
    verification.code_hash = _identity_code_hash(data_key, verification.id, code)
    session.add(verification)
    session.flush()
    outbox.enqueue(
        session,
        NOTIFY_LETTER,
        {
            "template": "identity.code",
            "reference": f"identity-verification:{verification.id}",
            "locale": "ja",
            "recipient": {"name": person.full_name, "postal_code": person.postal_code, "address": person.address},
            # The code travels sealed: outbox rows are kept, and only the letter printer needs to read it.
            "code_sealed": base64.b64encode(sealer.seal(tenant.id, code)).decode(),
            "expires_on": verification.expires_at.date().isoformat(),
        },
    )
    audit.record(
        session,
        tenant.id,
        actor=actor,
        action="identity.letter_requested",
        object_type="account",
        object_id=account.id,
        data={"person_id": str(person.id), "verification_id": str(verification.id)},
    )
    return verification


def open_letter_code(payload: dict[str, Any], tenant_id: uuid.UUID, data_key: str) -> str:
    """The code of a ``notify.letter`` payload (for the letter printer; never log it)."""
    return Sealer(data_key).open(tenant_id, base64.b64decode(payload["code_sealed"]))


def confirm_identity_code(session: Session, account: Account, code: str, *, data_key: str, actor: str) -> Account:
    """The resident typed the code from the letter: link them to the person it was sent to."""
    if account.kind != AccountKind.RESIDENT:
        raise Forbidden("Identity verification is for resident accounts.")
    if account.is_verified:
        raise Conflict("This account is already verified.")
    now = utcnow()
    verification = repository.latest_live_identity_code(session, account.tenant_id, account.id)
    if verification is None or verification.expires_at <= now or verification.attempts >= IDENTITY_CODE_MAX_ATTEMPTS:
        raise WrongIdentityCode(None)
    expected = verification.code_hash
    given = _identity_code_hash(data_key, verification.id, normalize_identity_code(code))
    if not hmac.compare_digest(expected, given):
        raise WrongIdentityCode(verification.id)
    verification.used_at = now
    person = repository.get_person(session, account.tenant_id, verification.person_id)
    _link(session, account, person, actor=actor, method="letter")
    return account


def register_wrong_identity_code(session: Session, verification_id: uuid.UUID) -> None:
    """Count a wrong code (its own transaction); the code is dead after IDENTITY_CODE_MAX_ATTEMPTS."""
    verification = repository.count_identity_code_attempt(session, verification_id)
    if verification.attempts >= IDENTITY_CODE_MAX_ATTEMPTS:
        verification.revoked_at = utcnow()
    audit.record(
        session,
        verification.tenant_id,
        actor=f"account:{verification.account_id}",
        action="identity.code_rejected",
        object_type="account",
        object_id=verification.account_id,
        data={"verification_id": str(verification.id), "attempts": verification.attempts},
    )
