"""What identity's operations share: their errors, the normalization of emails and passwords, one-time tokens,
the account lookup that answers 404, and the pieces of sign-in that staff and platform admins have in common."""

from __future__ import annotations

import functools
import hashlib
import logging
import re
import secrets
import unicodedata
import uuid

from sqlalchemy.orm import Session

from madoguchi.crypto import Sealer
from madoguchi.errors import DomainError, NotFound, ValidationFailed
from madoguchi.identity import password_policy, repository, throttling
from madoguchi.identity.models import Account, AccountKind
from madoguchi.identity.passwords import hash_password, verify_password

log = logging.getLogger("madoguchi.identity.operations")
#: Security events without a tenant (platform admins) go here; tenant events go to the audit chain.
security_log = logging.getLogger("madoguchi.security")

# Crockford's base32 alphabet: no I, L, O, U, so a code read off paper is not misread.
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

NOTIFY_ACCOUNT = "notify.account"
NOTIFY_LETTER = "notify.letter"


# --- Errors ------------------------------------------------------------------------------------------


class LoginFailed(DomainError):
    """Wrong address, wrong password, wrong code or disabled: one answer for all, on purpose."""

    status, slug, title = 401, "login-failed", "Sign-in failed"
    DETAIL = (
        "The email address, password or code is not correct. After several failed attempts sign-in is "
        "slowed down for a while: if so, try again later."
    )

    def __init__(self, *, reason: str, email: str, account_id: uuid.UUID | None = None) -> None:
        super().__init__(self.DETAIL)
        # Kept off the response (``extra`` would be rendered): for the failure bookkeeping and the audit.
        self.reason = reason
        self.email = email
        self.account_id = account_id


class SecondFactorRequired(DomainError):
    status, slug, title = 401, "second-factor-required", "A second factor is required"

    def __init__(self) -> None:
        super().__init__("This account signs in with an authenticator app: send totp_code with the password.")


class WrongIdentityCode(DomainError):
    status, slug, title = 422, "validation-failed", "The data is not valid"

    def __init__(self, verification_id: uuid.UUID | None) -> None:
        super().__init__(errors={"code": ["The code is not correct, has expired or was used up: request a new one."]})
        self.verification_id = verification_id


# --- Normalization -----------------------------------------------------------------------------------

# Deliberately loose (RFC 5321 allows a lot); the verification mail is the real test of an address.
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


def normalize_email(raw: str) -> str:
    """NFKC, stripped, the domain part lowercased (the local part is the mailbox owner's business).

    Raises ``ValueError`` for anything that is not shaped like an address.
    """
    text = unicodedata.normalize("NFKC", raw).strip()
    if len(text) > 254 or not _EMAIL.match(text) or any(unicodedata.category(c).startswith("C") for c in text):
        raise ValueError("not an email address")
    local, _, domain = text.rpartition("@")
    return f"{local}@{domain.lower()}"


def normalize_password(password: str) -> str:
    """NFKC, as NIST SP 800-63B advises: "ｐａｓｓ" typed on a Japanese keyboard is "pass"."""
    return unicodedata.normalize("NFKC", password)


def check_password(password: str, *, email: str | None, field: str = "password") -> str:
    """The normalized password, or ``ValidationFailed`` naming what the policy refuses."""
    password = normalize_password(password)
    codes = password_policy.problems(password, email=email)
    if codes:
        raise ValidationFailed(errors={field: password_policy.messages(codes)})
    return password


def generate_password() -> str:
    """A one-time password printed or shown once: 4 groups of 5 unambiguous characters (~100 bits)."""
    groups = ["".join(secrets.choice(CODE_ALPHABET.lower()) for _ in range(5)) for _ in range(4)]
    return "-".join(groups)


@functools.cache
def _dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


def spend_a_hash(password: str) -> None:
    """Cost the same as checking a real password, so timing never tells whether an account exists."""
    verify_password(_dummy_hash(), password)


def second_factor_required(account: Account) -> bool:
    """Every staff account passes a second factor, enrolling at the first sign-in (the session checker)."""
    return account.kind == AccountKind.STAFF


def get_account(session: Session, tenant_id: uuid.UUID, account_id: uuid.UUID) -> Account:
    account = repository.find_account(session, tenant_id, account_id)
    if account is None:
        raise NotFound("There is no such account.")
    return account


def resident_code_of(session: Session, account: Account) -> str | None:
    if account.person_id is None:
        return None
    return repository.resident_code(session, account.tenant_id, account.person_id)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def unusable_link() -> ValidationFailed:
    return ValidationFailed(
        "This link is not valid (any more).", errors={"token": ["The link is invalid, expired or already used."]}
    )


def throttle_subject(tenant_id: uuid.UUID, email: str) -> str:
    return throttling.subject_of(tenant_id, email)


def check_throttle(session: Session, subject: str, address: str | None, known: bool) -> None:
    throttling.check(session, subject, address, known_address=known)


def open_totp_secret(sealer: Sealer, owner_id: uuid.UUID, sealed: bytes | None) -> str | None:
    """The TOTP secret, sealed for this very account (a secret copied from another row does not open)."""
    if not sealed:
        return None
    try:
        return sealer.open(owner_id, sealed)
    except ValueError:
        log.error("the TOTP secret of %s does not decrypt (wrong data key, or copied from another row)", owner_id)
        return None
