"""The verbs of identity: sign up, verify an address, reset a forgotten password, sign in (with throttling and
TOTP), manage staff, enrol TOTP, and raise a resident's identity assurance by linking them to the resident register.

Operations flush and never commit (the request does). One exception to "a failed request changes
nothing": a failed sign-in or a wrong identity code must still count, so ``LoginFailed`` /
``WrongIdentityCode`` carry what to count, and the view records it with ``register_failed_login`` /
``register_wrong_identity_code`` in a transaction of its own before the error is answered.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import logging
import re
import secrets
import unicodedata
import uuid
from datetime import date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from madoguchi import outbox
from madoguchi.audit import operations as audit
from madoguchi.crypto import Sealer
from madoguchi.db import utcnow
from madoguchi.errors import Conflict, DomainError, Forbidden, NotFound, ValidationFailed
from madoguchi.identity import password_policy, sessions, throttling, totp
from madoguchi.identity.models import (
    Account,
    AccountKind,
    EmailVerification,
    IdentityAssurance,
    IdentityVerification,
    PasswordReset,
    PlatformAdmin,
    PlatformApiToken,
    StaffRole,
)
from madoguchi.identity.passwords import hash_password, needs_rehash, verify_password
from madoguchi.registry.models import Person
from madoguchi.tenancy.models import Tenant

log = logging.getLogger(__name__)
#: Security events without a tenant (platform admins) go here; tenant events go to the audit chain.
security_log = logging.getLogger("madoguchi.security")

EMAIL_VERIFICATION_TTL = timedelta(hours=24)
PASSWORD_RESET_TTL = timedelta(hours=1)
#: Reset emails one account is sent within PASSWORD_RESET_PERIOD; further requests get the same answer and no mail.
PASSWORD_RESETS_PER_PERIOD = 3
PASSWORD_RESET_PERIOD = timedelta(hours=1)
IDENTITY_CODE_TTL = timedelta(days=14)
IDENTITY_CODE_LENGTH = 8
IDENTITY_CODE_MAX_ATTEMPTS = 5
#: Letters a resident may have sent within IDENTITY_LETTER_PERIOD (a letter costs money and reveals nothing).
IDENTITY_LETTERS_PER_PERIOD = 3
IDENTITY_LETTER_PERIOD = timedelta(days=30)
# Crockford's base32 alphabet: no I, L, O, U, so a code read off paper is not misread.
_CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

NOTIFY_ACCOUNT = "notify.account"
NOTIFY_LETTER = "notify.letter"

STAFF_ROLE_ORDER = [StaffRole.CLERK.value, StaffRole.SUPERVISOR.value, StaffRole.TENANT_ADMIN.value]
COUNTER_ROLES = frozenset({StaffRole.CLERK.value, StaffRole.SUPERVISOR.value})


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
    groups = ["".join(secrets.choice(_CODE_ALPHABET.lower()) for _ in range(5)) for _ in range(4)]
    return "-".join(groups)


@functools.cache
def _dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


def _spend_a_hash(password: str) -> None:
    """Cost the same as checking a real password, so timing never tells whether an account exists."""
    verify_password(_dummy_hash(), password)


def second_factor_required(account: Account) -> bool:
    """Every staff account passes a second factor, enrolling at the first sign-in (the session checker)."""
    return account.kind == AccountKind.STAFF


# --- Lookups -----------------------------------------------------------------------------------------


def find_account_by_email(session: Session, tenant_id: uuid.UUID, email: str) -> Account | None:
    return session.execute(
        select(Account).where(Account.tenant_id == tenant_id, Account.email == email)
    ).scalar_one_or_none()


def get_account(session: Session, tenant_id: uuid.UUID, account_id: uuid.UUID) -> Account:
    account = session.execute(
        select(Account).where(Account.tenant_id == tenant_id, Account.id == account_id)
    ).scalar_one_or_none()
    if account is None:
        raise NotFound("There is no such account.")
    return account


def resident_code_of(session: Session, account: Account) -> str | None:
    if account.person_id is None:
        return None
    return session.execute(
        select(Person.resident_code).where(Person.tenant_id == account.tenant_id, Person.id == account.person_id)
    ).scalar_one_or_none()


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# --- Sign-up and address verification ----------------------------------------------------------------


def verification_link(public_url: str, tenant: Tenant, token: str) -> str:
    return f"{public_url.rstrip('/')}/{tenant.slug}/verify-email/{token}"


def sign_up(
    session: Session,
    tenant: Tenant,
    *,
    email: str,
    password: str,
    display_name: str,
    public_url: str,
    data_key: str,
    locale: str | None = None,
) -> None:
    """Open a resident account and mail a verification link; for a known address, mail a reminder instead.

    Returns nothing on purpose: the caller's answer must be the same whether the address was known or not.
    """
    password = check_password(password, email=email)
    locale = locale or tenant.default_locale
    existing = find_account_by_email(session, tenant.id, email)
    if existing is None:
        account = Account(
            tenant_id=tenant.id,
            email=email,
            display_name=display_name,
            kind=AccountKind.RESIDENT.value,
            roles=[],
            identity_assurance=IdentityAssurance.EMAIL.value,
            password_hash=hash_password(password),
            # The language of the sign-up page: emails to the resident use it (notify.messages).
            locale=locale,
        )
        try:
            with session.begin_nested():
                session.add(account)
                session.flush()
        except IntegrityError:
            # Signed up twice at the same moment: the other request created it.
            existing = find_account_by_email(session, tenant.id, email)
            if existing is None:
                raise
        else:
            send_verification_email(session, tenant, account, public_url=public_url, data_key=data_key, locale=locale)
            audit.record(
                session,
                tenant.id,
                actor=f"account:{account.id}",
                action="account.signed_up",
                object_type="account",
                object_id=account.id,
                data={"email": email},
            )
            return
    _spend_hashing_time(password)
    outbox.enqueue(
        session,
        NOTIFY_ACCOUNT,
        {
            "template": "account.already_registered",
            "reference": f"account:{existing.id}",
            "to": existing.email,
            "display_name": existing.display_name,
            "locale": locale,
            "sign_in_url": f"{public_url.rstrip('/')}/{tenant.slug}/login",
            "password_reset_url": f"{public_url.rstrip('/')}/{tenant.slug}/password-reset",
        },
    )
    audit.record(
        session,
        tenant.id,
        actor="anonymous",
        action="account.sign_up_repeated",
        object_type="account",
        object_id=existing.id,
        data={"email": email},
    )


def _spend_hashing_time(password: str) -> None:
    hash_password(password)


def send_verification_email(
    session: Session, tenant: Tenant, account: Account, *, public_url: str, data_key: str, locale: str | None = None
) -> EmailVerification:
    """A new single-use link (24 h) to the account's address; earlier unused links stop working.

    The link travels sealed in the outbox and is removed once the email is sent (``madoguchi.outbox``):
    every email with a one-time link is queued this way."""
    now = utcnow()
    session.execute(
        update(EmailVerification)
        .where(EmailVerification.account_id == account.id, EmailVerification.used_at.is_(None))
        .values(used_at=now)
    )
    token = secrets.token_urlsafe(32)
    verification = EmailVerification(
        tenant_id=tenant.id,
        account_id=account.id,
        token_hash=_token_hash(token),
        created_at=now,
        expires_at=now + EMAIL_VERIFICATION_TTL,
    )
    session.add(verification)
    session.flush()
    outbox.enqueue(
        session,
        NOTIFY_ACCOUNT,
        {
            "template": "account.verify_email",
            "reference": f"account:{account.id}",
            "to": account.email,
            "display_name": account.display_name,
            "locale": locale or account.locale or tenant.default_locale,
            "expires_at": verification.expires_at.isoformat(),
        },
        secrets={"verify_url": verification_link(public_url, tenant, token)},
        sealer=Sealer(data_key),
    )
    return verification


def remember_locale(session: Session, account: Account, locale: str) -> None:
    """The resident chose ``locale`` with the language switch: emails to them use it from now on."""
    if account.kind == AccountKind.RESIDENT and account.locale != locale:
        account.locale = locale
        session.flush()


def resend_verification_email(
    session: Session, tenant: Tenant, account: Account, *, public_url: str, data_key: str
) -> None:
    if account.email_verified_at is not None:
        raise Conflict("This email address is already confirmed.")
    send_verification_email(session, tenant, account, public_url=public_url, data_key=data_key)


def verify_email(session: Session, tenant_id: uuid.UUID, token: str) -> Account:
    """Confirm the address the token was sent to. Single use, 24 hours."""
    now = utcnow()
    verification = session.execute(
        select(EmailVerification).where(
            EmailVerification.tenant_id == tenant_id, EmailVerification.token_hash == _token_hash(token)
        )
    ).scalar_one_or_none()
    if verification is None or verification.used_at is not None or verification.expires_at <= now:
        raise _unusable_link()
    verification.used_at = now
    account = get_account(session, tenant_id, verification.account_id)
    account.email_verified_at = account.email_verified_at or now
    audit.record(
        session,
        tenant_id,
        actor=f"account:{account.id}",
        action="account.email_verified",
        object_type="account",
        object_id=account.id,
        data={"email": account.email},
    )
    return account


def was_verified_by(session: Session, tenant_id: uuid.UUID, token: str) -> Account | None:
    """The account a used token had confirmed, so a second click can say "already confirmed"."""
    verification = session.execute(
        select(EmailVerification).where(
            EmailVerification.tenant_id == tenant_id, EmailVerification.token_hash == _token_hash(token)
        )
    ).scalar_one_or_none()
    if verification is None or verification.used_at is None:
        return None
    account = session.get(Account, verification.account_id)
    return account if account is not None and account.email_verified_at is not None else None


# --- A forgotten password ----------------------------------------------------------------------------


def password_reset_link(public_url: str, tenant: Tenant, token: str) -> str:
    return f"{public_url.rstrip('/')}/{tenant.slug}/password-reset/{token}"


def _resets_since(session: Session, tenant_id: uuid.UUID, account_id: uuid.UUID, since: datetime) -> int:
    return session.execute(
        select(func.count())
        .select_from(PasswordReset)
        .where(
            PasswordReset.tenant_id == tenant_id,
            PasswordReset.account_id == account_id,
            PasswordReset.created_at > since,
        )
    ).scalar_one()


def request_password_reset(
    session: Session, tenant: Tenant, *, email: str, public_url: str, data_key: str, locale: str | None = None
) -> None:
    """Mail a single-use link (valid PASSWORD_RESET_TTL) that sets a new password, if the address has an account.

    Returns nothing, and does the same queries either way (an unknown address counts the resets of a random id):
    the caller's answer, and its timing as far as one query tells, must not say whether the address is known.
    At most PASSWORD_RESETS_PER_PERIOD mails per account and period, so nobody floods a mailbox with them.
    """
    now = utcnow()
    token = secrets.token_urlsafe(32)
    account = find_account_by_email(session, tenant.id, email)
    usable = account is not None and not account.disabled
    recent = _resets_since(session, tenant.id, account.id if account else uuid.uuid4(), now - PASSWORD_RESET_PERIOD)
    sent = usable and recent < PASSWORD_RESETS_PER_PERIOD
    if sent and account is not None:
        session.execute(
            update(PasswordReset)
            .where(PasswordReset.account_id == account.id, PasswordReset.used_at.is_(None))
            .values(used_at=now)
        )
        reset = PasswordReset(
            tenant_id=tenant.id,
            account_id=account.id,
            token_hash=_token_hash(token),
            created_at=now,
            expires_at=now + PASSWORD_RESET_TTL,
        )
        session.add(reset)
        session.flush()
        # Sealed like the verification link: the worker removes it once the email is handed over.
        outbox.enqueue(
            session,
            NOTIFY_ACCOUNT,
            {
                "template": "account.password_reset",
                "reference": f"account:{account.id}",
                "to": account.email,
                "display_name": account.display_name,
                "locale": locale or account.locale or tenant.default_locale,
                "expires_at": reset.expires_at.isoformat(),
            },
            secrets={"reset_url": password_reset_link(public_url, tenant, token)},
            sealer=Sealer(data_key),
        )
    audit.record(
        session,
        tenant.id,
        actor="anonymous",
        action="account.password_reset_requested",
        object_type="account",
        object_id=account.id if account else "-",
        data={"email": email, "sent": sent},
    )


def _unusable_link() -> ValidationFailed:
    return ValidationFailed(
        "This link is not valid (any more).", errors={"token": ["The link is invalid, expired or already used."]}
    )


def _live_password_reset(session: Session, tenant_id: uuid.UUID, token: str) -> PasswordReset:
    stmt = select(PasswordReset).where(
        PasswordReset.tenant_id == tenant_id, PasswordReset.token_hash == _token_hash(token)
    )
    reset = session.execute(stmt).scalar_one_or_none()
    if reset is None or reset.used_at is not None or reset.expires_at <= utcnow():
        raise _unusable_link()
    account = get_account(session, tenant_id, reset.account_id)
    if account.disabled:
        raise _unusable_link()
    return reset


def check_password_reset(session: Session, tenant_id: uuid.UUID, token: str) -> Account:
    """The account a live reset link is for (``ValidationFailed`` otherwise); changes nothing."""
    return get_account(session, tenant_id, _live_password_reset(session, tenant_id, token).account_id)


def reset_password(session: Session, tenant_id: uuid.UUID, token: str, *, new_password: str) -> Account:
    """Set a new password with a reset link: the link is spent, and every session of the account ends.

    The link proved the address, so it counts as confirmed; the sign-in lock is lifted (the new password is
    known to nobody else)."""
    reset = _live_password_reset(session, tenant_id, token)
    account = get_account(session, tenant_id, reset.account_id)
    new_password = check_password(new_password, email=account.email)
    now = utcnow()
    # Conditional, so of two requests racing with one link only one sets a password.
    spent = session.execute(
        update(PasswordReset)
        .where(PasswordReset.id == reset.id, PasswordReset.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if cast(CursorResult[Any], spent).rowcount != 1:
        raise _unusable_link()
    account.password_hash = hash_password(new_password)
    account.email_verified_at = account.email_verified_at or now
    # Proven by the mailbox: earlier failed sign-ins (the forgotten password, or a guesser's) stop slowing it.
    throttling.forget(session, throttle_subject(tenant_id, account.email))
    sessions.end_sessions_of(session, account.id)
    audit.record(
        session,
        tenant_id,
        actor=f"account:{account.id}",
        action="account.password_reset",
        object_type="account",
        object_id=account.id,
    )
    return account


# --- Sign-in -----------------------------------------------------------------------------------------


def throttle_subject(tenant_id: uuid.UUID, email: str) -> str:
    return throttling.subject_of(tenant_id, email)


def _check_throttle(session: Session, subject: str, address: str | None, known: bool) -> None:
    throttling.check(session, subject, address, known_address=known)


def authenticate_password(
    session: Session, tenant_id: uuid.UUID, *, email: str, password: str, address: str | None
) -> Account:
    """The account whose address and password these are, or ``LoginFailed`` (the same for every reason).

    ``SignInThrottled`` first, without checking the password, when too many attempts failed (throttling).
    """
    password = normalize_password(password)
    account = find_account_by_email(session, tenant_id, email)
    known = account is not None and throttling.is_known_address(session, address, account_id=account.id)
    _check_throttle(session, throttle_subject(tenant_id, email), address, known)
    if account is None:
        _spend_a_hash(password)
        raise LoginFailed(reason="unknown_account", email=email)
    if account.disabled:
        _spend_a_hash(password)
        raise LoginFailed(reason="disabled", email=email, account_id=account.id)
    if not account.password_hash or not verify_password(account.password_hash, password):
        raise LoginFailed(reason="bad_password", email=email, account_id=account.id)
    if needs_rehash(account.password_hash):
        account.password_hash = hash_password(password)
    return account


def _open_totp_secret(sealer: Sealer, owner_id: uuid.UUID, sealed: bytes | None) -> str | None:
    """The TOTP secret, sealed for this very account (a secret copied from another row does not open)."""
    if not sealed:
        return None
    try:
        return sealer.open(owner_id, sealed)
    except ValueError:
        log.error("the TOTP secret of %s does not decrypt (wrong data key, or copied from another row)", owner_id)
        return None


def _spend_totp_code(
    session: Session, owner: Account | PlatformAdmin, code: str, *, sealer: Sealer, subject: str, address: str | None
) -> None:
    """Accept a TOTP code once (atomically: of two requests racing with one code, one wins).

    Works for staff accounts and platform admins alike: both keep a sealed secret and the last counter used.
    Wrong codes count towards throttling like wrong passwords (the same ``subject``).
    """
    if isinstance(owner, Account):
        known = throttling.is_known_address(session, address, account_id=owner.id, second_factor_passed=True)
    else:
        known = throttling.is_known_address(session, address, platform_admin_id=owner.id, second_factor_passed=True)
    _check_throttle(session, subject, address, known)
    model = type(owner)
    secret = _open_totp_secret(sealer, owner.id, owner.totp_secret_encrypted)
    counter = totp.matching_counter(secret, code, last_counter=owner.totp_last_counter) if secret else None
    if counter is not None:
        result = session.execute(
            update(model)
            .where(
                model.id == owner.id,
                (model.totp_last_counter.is_(None)) | (model.totp_last_counter < counter),
            )
            .values(totp_last_counter=counter)
            .execution_options(synchronize_session=False)
        )
        if cast(CursorResult[Any], result).rowcount == 1:
            owner.totp_last_counter = counter
            return
    raise LoginFailed(reason="bad_totp", email=owner.email, account_id=owner.id)


def check_totp_code(session: Session, account: Account, code: str, *, sealer: Sealer, address: str | None) -> None:
    subject = throttle_subject(account.tenant_id, account.email)
    _spend_totp_code(session, account, code, sealer=sealer, subject=subject, address=address)


def record_login(session: Session, account: Account, *, second_factor: str, channel: str, ip: str | None) -> None:
    """A successful sign-in: earlier failures stop counting, and the audit trail says so."""
    account.last_login_at = utcnow()
    throttling.forget(session, throttle_subject(account.tenant_id, account.email))
    audit.record(
        session,
        account.tenant_id,
        actor=f"account:{account.id}",
        action="login.succeeded",
        object_type="account",
        object_id=account.id,
        data={"channel": channel, "second_factor": second_factor, "ip": ip},
    )


def register_failed_login(
    session: Session, tenant_id: uuid.UUID, failure: LoginFailed, *, ip: str | None, public_url: str
) -> None:
    """Count a failed sign-in (its own transaction) and tell the owner once when it starts slowing sign-in."""
    tenant = session.execute(select(Tenant).where(Tenant.id == tenant_id)).scalar_one()
    count = throttling.record_failure(session, throttle_subject(tenant.id, failure.email), ip)
    audit.record(
        session,
        tenant.id,
        actor="anonymous",
        action="login.failed",
        object_type="account",
        object_id=failure.account_id or "-",
        data={"email": failure.email, "reason": failure.reason, "ip": ip},
    )
    if count >= throttling.FREE_FAILURES and failure.account_id is not None:
        _notify_owner_of_throttling(session, tenant, failure.account_id, ip=ip, public_url=public_url)


#: A new episode of throttling may be told at most this often, even without a sign-in in between.
THROTTLE_NOTICE_EVERY = timedelta(hours=24)


def _notify_owner_of_throttling(
    session: Session, tenant: Tenant, account_id: uuid.UUID, *, ip: str | None, public_url: str
) -> None:
    """One email per episode: since the account's last sign-in, and at most once a day."""
    account = session.execute(
        select(Account).where(Account.tenant_id == tenant.id, Account.id == account_id).with_for_update()
    ).scalar_one_or_none()
    if account is None or account.disabled:
        return
    now = utcnow()
    notice = account.sign_in_notice_at
    if notice is not None and notice > now - THROTTLE_NOTICE_EVERY:
        signed_in_since = account.last_login_at is not None and account.last_login_at > notice
        if not signed_in_since:  # told already in this episode
            return
    account.sign_in_notice_at = now
    outbox.enqueue(
        session,
        NOTIFY_ACCOUNT,
        {
            "template": "account.sign_in_throttled",
            "reference": f"account:{account.id}",
            "to": account.email,
            "display_name": account.display_name,
            "locale": account.locale or tenant.default_locale,
            "sign_in_url": f"{public_url.rstrip('/')}/{tenant.slug}/login",
        },
    )
    audit.record(
        session,
        tenant.id,
        actor="system",
        action="account.sign_in_throttled",
        object_type="account",
        object_id=account.id,
        data={"ip": ip},
    )


def record_logout(session: Session, account: Account, *, web_session_id: uuid.UUID) -> None:
    sessions.end_session(session, web_session_id)
    audit.record(
        session,
        account.tenant_id,
        actor=f"account:{account.id}",
        action="logout",
        object_type="account",
        object_id=account.id,
        data={"session": str(web_session_id)},
    )


def change_password(
    session: Session, account: Account, *, current_password: str, new_password: str, keep_session: uuid.UUID | None
) -> None:
    """Change one's own password; every other session of the account ends."""
    if not account.password_hash or not verify_password(account.password_hash, normalize_password(current_password)):
        raise ValidationFailed(errors={"current_password": ["The current password is not correct."]})
    new_password = check_password(new_password, email=account.email, field="new_password")
    account.password_hash = hash_password(new_password)
    sessions.end_sessions_of(session, account.id, except_id=keep_session)
    audit.record(
        session,
        account.tenant_id,
        actor=f"account:{account.id}",
        action="account.password_changed",
        object_type="account",
        object_id=account.id,
    )


# --- TOTP enrollment ---------------------------------------------------------------------------------


def _start_enrollment(
    session: Session, owner: Account | PlatformAdmin, *, sealer: Sealer, issuer: str
) -> tuple[str, str]:
    if owner.totp_enabled:
        raise Conflict("An authenticator app is already set up for this account.")
    secret = totp.new_secret()
    owner.totp_secret_encrypted = sealer.seal(owner.id, secret)
    owner.totp_last_counter = None
    session.flush()
    return secret, totp.provisioning_uri(secret, account_name=owner.email, issuer=issuer)


def _confirm_enrollment(owner: Account | PlatformAdmin, code: str, *, sealer: Sealer, start_hint: str) -> None:
    if owner.totp_enabled:
        raise Conflict("An authenticator app is already set up for this account.")
    secret = _open_totp_secret(sealer, owner.id, owner.totp_secret_encrypted)
    if secret is None:
        raise Conflict(f"Start the set-up first: {start_hint}.")
    counter = totp.matching_counter(secret, code, last_counter=None)
    if counter is None:
        raise ValidationFailed(errors={"code": ["The code is not correct: check the app's clock and try again."]})
    owner.totp_enabled_at = utcnow()
    owner.totp_last_counter = counter


def start_totp_enrollment(session: Session, account: Account, *, sealer: Sealer, issuer: str) -> tuple[str, str]:
    """A new secret for the account's authenticator app: (secret, otpauth URI), shown once."""
    if account.kind != AccountKind.STAFF:
        raise Forbidden("A second factor is for staff accounts.")
    return _start_enrollment(session, account, sealer=sealer, issuer=issuer)


def pending_totp_secret(owner: Account | PlatformAdmin, *, sealer: Sealer) -> str | None:
    """The secret of an enrollment not yet confirmed (for showing it again on the setup page)."""
    if owner.totp_enabled:
        return None
    return _open_totp_secret(sealer, owner.id, owner.totp_secret_encrypted)


def confirm_totp_enrollment(session: Session, account: Account, code: str, *, sealer: Sealer) -> None:
    if account.kind != AccountKind.STAFF:
        raise Forbidden("A second factor is for staff accounts.")
    _confirm_enrollment(account, code, sealer=sealer, start_hint="POST .../me/totp")
    audit.record(
        session,
        account.tenant_id,
        actor=f"account:{account.id}",
        action="totp.enabled",
        object_type="account",
        object_id=account.id,
    )


def start_platform_totp_enrollment(
    session: Session, admin: PlatformAdmin, *, sealer: Sealer, issuer: str
) -> tuple[str, str]:
    """A platform admin without an authenticator sets one up at the first sign-in (like staff)."""
    return _start_enrollment(session, admin, sealer=sealer, issuer=issuer)


def confirm_platform_totp_enrollment(session: Session, admin: PlatformAdmin, code: str, *, sealer: Sealer) -> None:
    _confirm_enrollment(admin, code, sealer=sealer, start_hint="ask for a key on the set-up page")
    session.flush()
    security_log.info("platform admin %s: authenticator set up", admin.id)


def reset_totp(session: Session, account: Account, *, actor: str) -> None:
    """Remove an account's authenticator (lost phone); its sessions end. The next login re-enrols."""
    account.totp_secret_encrypted = None
    account.totp_enabled_at = None
    account.totp_last_counter = None
    sessions.end_sessions_of(session, account.id)
    audit.record(
        session, account.tenant_id, actor=actor, action="totp.reset", object_type="account", object_id=account.id
    )


# --- Staff -------------------------------------------------------------------------------------------


def normalize_roles(roles: list[str]) -> list[str]:
    unknown = sorted(set(roles) - set(STAFF_ROLE_ORDER))
    if unknown:
        raise ValidationFailed(errors={"roles": [f"unknown role: {', '.join(unknown)}"]})
    if not roles:
        raise ValidationFailed(errors={"roles": ["at least one role is needed"]})
    return [role for role in STAFF_ROLE_ORDER if role in roles]


_EMAIL_IN_USE = {"email": ["already in use"]}


def list_staff(session: Session, tenant_id: uuid.UUID) -> list[Account]:
    stmt = (
        select(Account)
        .where(Account.tenant_id == tenant_id, Account.kind == AccountKind.STAFF.value)
        .order_by(Account.email)
    )
    return list(session.execute(stmt).scalars())


def get_staff(session: Session, tenant_id: uuid.UUID, account_id: uuid.UUID) -> Account:
    account = get_account(session, tenant_id, account_id)
    if account.kind != AccountKind.STAFF:
        raise NotFound("There is no such staff account.")
    return account


def create_staff(
    session: Session,
    tenant_id: uuid.UUID,
    *,
    email: str,
    display_name: str,
    roles: list[str],
    password: str | None,
    actor: str,
) -> tuple[Account, str | None]:
    """A staff account; returns it and the generated one-time password when none was given."""
    roles = normalize_roles(roles)
    generated = None
    if password is None:
        password = generated = generate_password()
    else:
        password = check_password(password, email=email)
    if find_account_by_email(session, tenant_id, email) is not None:
        raise Conflict("An account with this email address already exists.", errors=_EMAIL_IN_USE)
    account = Account(
        tenant_id=tenant_id,
        email=email,
        display_name=display_name,
        kind=AccountKind.STAFF.value,
        roles=roles,
        identity_assurance=IdentityAssurance.EMAIL.value,
        password_hash=hash_password(password),
    )
    try:
        with session.begin_nested():
            session.add(account)
            session.flush()
    except IntegrityError as error:
        raise Conflict("An account with this email address already exists.", errors=_EMAIL_IN_USE) from error
    audit.record(
        session,
        tenant_id,
        actor=actor,
        action="staff.created",
        object_type="account",
        object_id=account.id,
        data={"email": email, "roles": roles},
    )
    return account, generated


def update_staff(
    session: Session,
    tenant_id: uuid.UUID,
    account_id: uuid.UUID,
    *,
    by: Account,
    roles: list[str] | None = None,
    disabled: bool | None = None,
    actor: str,
) -> Account:
    """Change a staff member's roles or disable/enable them. Disabling ends their sessions at once.

    The municipality always keeps an enabled tenant admin, and nobody disables themselves.
    """
    target = get_staff(session, tenant_id, account_id)
    before: dict[str, Any] = {"roles": list(target.roles or []), "disabled": target.disabled}
    if roles is not None:
        roles = normalize_roles(roles)
    if disabled and target.id == by.id:
        raise Conflict("You cannot disable your own account.")
    new_roles = roles if roles is not None else list(target.roles or [])
    new_disabled = disabled if disabled is not None else target.disabled
    losing_admin = (StaffRole.TENANT_ADMIN in before["roles"] and not before["disabled"]) and (
        StaffRole.TENANT_ADMIN not in new_roles or new_disabled
    )
    if losing_admin and _other_active_admins(session, tenant_id, target.id) == 0:
        raise Conflict("The municipality needs at least one active tenant admin: this would remove the last one.")
    target.roles = new_roles
    target.disabled = new_disabled
    after = {"roles": new_roles, "disabled": new_disabled}
    if new_disabled and not before["disabled"]:
        sessions.end_sessions_of(session, target.id)
    if before["disabled"] != new_disabled:
        audit.record(
            session,
            tenant_id,
            actor=actor,
            action="staff.disabled" if new_disabled else "staff.enabled",
            object_type="account",
            object_id=target.id,
            data={"before": before, "after": after},
        )
    if before["roles"] != new_roles:
        audit.record(
            session,
            tenant_id,
            actor=actor,
            action="staff.roles_changed",
            object_type="account",
            object_id=target.id,
            data={"before": before["roles"], "after": new_roles},
        )
    session.flush()
    return target


def _other_active_admins(session: Session, tenant_id: uuid.UUID, excluding: uuid.UUID) -> int:
    # Locked, so two admins demoting each other at the same moment cannot both succeed (PostgreSQL).
    candidates = session.execute(
        select(Account)
        .where(
            Account.tenant_id == tenant_id,
            Account.kind == AccountKind.STAFF.value,
            Account.disabled.is_(False),
            Account.id != excluding,
        )
        .with_for_update()
    ).scalars()
    return sum(1 for account in candidates if StaffRole.TENANT_ADMIN in (account.roles or []))


# --- Identity assurance ------------------------------------------------------------------------------


def find_person(session: Session, tenant_id: uuid.UUID, resident_code: str) -> Person | None:
    return session.execute(
        select(Person).where(Person.tenant_id == tenant_id, Person.resident_code == resident_code)
    ).scalar_one_or_none()


def _link(session: Session, account: Account, person: Person, *, actor: str, method: str) -> None:
    holder = session.execute(
        select(Account.id).where(Account.tenant_id == account.tenant_id, Account.person_id == person.id)
    ).scalar_one_or_none()
    if holder is not None and holder != account.id:
        raise Conflict("This person is already linked to another account.")
    if account.person_id is not None and account.person_id != person.id:
        raise Conflict("This account is already linked to another person.")
    account.person_id = person.id
    account.identity_assurance = IdentityAssurance.VERIFIED.value
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as error:  # linked by someone else at the same moment
        raise Conflict("This person is already linked to another account.") from error
    audit.record(
        session,
        account.tenant_id,
        actor=actor,
        action="identity.verified",
        object_type="account",
        object_id=account.id,
        data={"method": method, "person_id": str(person.id)},
    )


def link_identity_at_counter(
    session: Session, tenant_id: uuid.UUID, account_id: uuid.UUID, *, resident_code: str, by: Account, actor: str
) -> Account:
    """A clerk saw the resident's identity document at the counter and links the account to the register."""
    if not COUNTER_ROLES & set(by.roles or []):
        raise Forbidden("Only a clerk or supervisor can verify an identity at the counter.")
    account = get_account(session, tenant_id, account_id)
    if account.kind != AccountKind.RESIDENT:
        raise NotFound("There is no such resident account.")
    person = find_person(session, tenant_id, resident_code)
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
    return "".join(secrets.choice(_CODE_ALPHABET) for _ in range(IDENTITY_CODE_LENGTH))


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
    person = find_person(session, tenant.id, resident_code)
    if person is None or person.birth_date != birth_date:
        message = "No one in the resident register matches this resident code and birth date."
        raise ValidationFailed(message, errors={"resident_code": [message], "birth_date": [message]})
    holder = session.execute(
        select(Account.id).where(Account.tenant_id == tenant.id, Account.person_id == person.id)
    ).scalar_one_or_none()
    if holder is not None:
        raise Conflict("This person is already linked to an account: please ask at the counter.")
    now = utcnow()
    recent = session.execute(
        select(func.count())
        .select_from(IdentityVerification)
        .where(
            IdentityVerification.tenant_id == tenant.id,
            IdentityVerification.account_id == account.id,
            IdentityVerification.created_at > now - IDENTITY_LETTER_PERIOD,
        )
    ).scalar_one()
    if recent >= IDENTITY_LETTERS_PER_PERIOD:
        raise Conflict(
            f"At most {IDENTITY_LETTERS_PER_PERIOD} letters are sent in {IDENTITY_LETTER_PERIOD.days} days: "
            "please wait for the letter, or ask at the counter."
        )
    session.execute(
        update(IdentityVerification)
        .where(
            IdentityVerification.account_id == account.id,
            IdentityVerification.used_at.is_(None),
            IdentityVerification.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )
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
    verification = session.execute(
        select(IdentityVerification)
        .where(
            IdentityVerification.tenant_id == account.tenant_id,
            IdentityVerification.account_id == account.id,
            IdentityVerification.used_at.is_(None),
            IdentityVerification.revoked_at.is_(None),
        )
        .order_by(IdentityVerification.created_at.desc())
        .limit(1)
    ).scalar_one_or_none()
    if verification is None or verification.expires_at <= now or verification.attempts >= IDENTITY_CODE_MAX_ATTEMPTS:
        raise WrongIdentityCode(None)
    expected = verification.code_hash
    given = _identity_code_hash(data_key, verification.id, normalize_identity_code(code))
    if not hmac.compare_digest(expected, given):
        raise WrongIdentityCode(verification.id)
    verification.used_at = now
    person = session.execute(
        select(Person).where(Person.tenant_id == account.tenant_id, Person.id == verification.person_id)
    ).scalar_one()
    _link(session, account, person, actor=actor, method="letter")
    return account


def register_wrong_identity_code(session: Session, verification_id: uuid.UUID) -> None:
    """Count a wrong code (its own transaction); the code is dead after IDENTITY_CODE_MAX_ATTEMPTS."""
    session.execute(
        update(IdentityVerification)
        .where(IdentityVerification.id == verification_id)
        .values(attempts=IdentityVerification.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    verification = session.execute(
        select(IdentityVerification)
        .where(IdentityVerification.id == verification_id)
        .execution_options(populate_existing=True)
    ).scalar_one()
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


# --- Platform admins ---------------------------------------------------------------------------------


def find_platform_admin(session: Session, email: str) -> PlatformAdmin | None:
    return session.execute(select(PlatformAdmin).where(PlatformAdmin.email == email)).scalar_one_or_none()


def create_platform_admin(
    session: Session, *, email: str, display_name: str, password: str | None
) -> tuple[PlatformAdmin, str | None]:
    generated = None
    if password is None:
        password = generated = generate_password()
    else:
        password = check_password(password, email=email)
    if find_platform_admin(session, email) is not None:
        raise Conflict("A platform admin with this email address already exists.")
    admin = PlatformAdmin(email=email, display_name=display_name, password_hash=hash_password(password))
    session.add(admin)
    session.flush()
    security_log.info("platform admin %s created", admin.id)
    return admin, generated


PLATFORM_SCOPE = "platform"


def authenticate_platform_admin(session: Session, *, email: str, password: str, address: str | None) -> PlatformAdmin:
    password = normalize_password(password)
    admin = find_platform_admin(session, email)
    known = admin is not None and throttling.is_known_address(session, address, platform_admin_id=admin.id)
    _check_throttle(session, throttling.subject_of(PLATFORM_SCOPE, email), address, known)
    if admin is None or admin.disabled:
        _spend_a_hash(password)
        reason = "unknown_account" if admin is None else "disabled"
        raise LoginFailed(reason=reason, email=email, account_id=admin.id if admin else None)
    if not admin.password_hash or not verify_password(admin.password_hash, password):
        raise LoginFailed(reason="bad_password", email=email, account_id=admin.id)
    if needs_rehash(admin.password_hash):
        admin.password_hash = hash_password(password)
    return admin


def check_platform_totp_code(
    session: Session, admin: PlatformAdmin, code: str, *, sealer: Sealer, address: str | None
) -> None:
    subject = throttling.subject_of(PLATFORM_SCOPE, admin.email)
    _spend_totp_code(session, admin, code, sealer=sealer, subject=subject, address=address)


def record_platform_login(session: Session, admin: PlatformAdmin, *, ip: str | None) -> None:
    admin.last_login_at = utcnow()
    throttling.forget(session, throttling.subject_of(PLATFORM_SCOPE, admin.email))
    security_log.info("platform admin %s signed in from %s", admin.id, ip)


def register_failed_platform_login(session: Session, failure: LoginFailed, *, ip: str | None) -> None:
    """Like ``register_failed_login``, for platform admins (no tenant: the security log, not the audit chain).

    No email: the outbox belongs to a tenant. The security log says when throttling starts.
    """
    count = throttling.record_failure(session, throttling.subject_of(PLATFORM_SCOPE, failure.email), ip)
    security_log.warning("platform admin sign-in failed (%s) from %s", failure.reason, ip)
    if count == throttling.FREE_FAILURES and failure.account_id is not None:
        security_log.warning("platform admin %s: sign-in is being slowed after %s failures", failure.account_id, count)


def enable_platform_totp(session: Session, admin: PlatformAdmin, *, sealer: Sealer, issuer: str) -> tuple[str, str]:
    """Set (or replace) a platform admin's authenticator from the CLI, in force at once."""
    secret = totp.new_secret()
    admin.totp_secret_encrypted = sealer.seal(admin.id, secret)
    admin.totp_enabled_at = utcnow()
    admin.totp_last_counter = None
    session.flush()
    security_log.info("platform admin %s: authenticator set", admin.id)
    return secret, totp.provisioning_uri(secret, account_name=admin.email, issuer=issuer)


# --- Platform API tokens (``/api/v1/admin``) ------------------------------------------------------------

#: Every platform token starts with this, so the admin API tells it from an OAuth access token at a glance.
PLATFORM_TOKEN_PREFIX = "mdgp_"  # noqa: S105 - a prefix, not a secret


def create_platform_token(
    session: Session, admin: PlatformAdmin, *, name: str, lifetime: timedelta
) -> tuple[PlatformApiToken, str]:
    """A bearer token for the platform admin API; returns the row and the token (shown once, stored hashed)."""
    token = PLATFORM_TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    row = PlatformApiToken(
        platform_admin_id=admin.id, name=name, token_hash=_token_hash(token), created_at=now, expires_at=now + lifetime
    )
    session.add(row)
    session.flush()
    security_log.info("platform admin %s: API token %s created", admin.id, row.id)
    return row, token


def platform_admin_of_token(session: Session, token: str) -> tuple[PlatformApiToken, PlatformAdmin] | None:
    """The live token and its enabled admin, or None (unknown, expired, revoked, admin disabled)."""
    if not token.startswith(PLATFORM_TOKEN_PREFIX) or len(token) > 200:
        return None
    row = session.execute(
        select(PlatformApiToken).where(PlatformApiToken.token_hash == _token_hash(token))
    ).scalar_one_or_none()
    now = utcnow()
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return None
    admin = session.get(PlatformAdmin, row.platform_admin_id)
    if admin is None or admin.disabled:
        return None
    # Nothing is written here (no "last used"): API reads stay read-only transactions (see context.py).
    return row, admin
