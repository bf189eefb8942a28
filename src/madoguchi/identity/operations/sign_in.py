"""Signing in to a municipality: password (throttled), the second factor, success and failure bookkeeping (with
one email to the owner when throttling starts), signing out, and changing one's own password."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy.orm import Session

from madoguchi import outbox
from madoguchi.audit import operations as audit
from madoguchi.crypto import Sealer
from madoguchi.db import utcnow
from madoguchi.errors import ValidationFailed
from madoguchi.identity import repository, sessions, throttling, totp
from madoguchi.identity.models import Account, PlatformAdmin
from madoguchi.identity.operations.common import (
    NOTIFY_ACCOUNT,
    LoginFailed,
    check_password,
    check_throttle,
    normalize_password,
    open_totp_secret,
    spend_a_hash,
    throttle_subject,
)
from madoguchi.identity.passwords import hash_password, needs_rehash, verify_password
from madoguchi.tenancy.models import Tenant


def authenticate_password(
    session: Session, tenant_id: uuid.UUID, *, email: str, password: str, address: str | None
) -> Account:
    """The account whose address and password these are, or ``LoginFailed`` (the same for every reason).

    ``SignInThrottled`` first, without checking the password, when too many attempts failed (throttling).
    """
    password = normalize_password(password)
    account = repository.find_account_by_email(session, tenant_id, email)
    known = account is not None and throttling.is_known_address(session, address, account_id=account.id)
    check_throttle(session, throttle_subject(tenant_id, email), address, known)
    if account is None:
        spend_a_hash(password)
        raise LoginFailed(reason="unknown_account", email=email)
    if account.disabled:
        spend_a_hash(password)
        raise LoginFailed(reason="disabled", email=email, account_id=account.id)
    if not account.password_hash or not verify_password(account.password_hash, password):
        raise LoginFailed(reason="bad_password", email=email, account_id=account.id)
    if needs_rehash(account.password_hash):
        account.password_hash = hash_password(password)
    return account


def spend_totp_code(
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
    check_throttle(session, subject, address, known)
    secret = open_totp_secret(sealer, owner.id, owner.totp_secret_encrypted)
    counter = totp.matching_counter(secret, code, last_counter=owner.totp_last_counter) if secret else None
    if counter is not None and repository.claim_totp_counter(session, owner, counter):
        owner.totp_last_counter = counter
        return
    raise LoginFailed(reason="bad_totp", email=owner.email, account_id=owner.id)


def check_totp_code(session: Session, account: Account, code: str, *, sealer: Sealer, address: str | None) -> None:
    subject = throttle_subject(account.tenant_id, account.email)
    spend_totp_code(session, account, code, sealer=sealer, subject=subject, address=address)


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
    tenant = repository.get_tenant(session, tenant_id)
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
    account = repository.find_account(session, tenant.id, account_id, lock=True)
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
