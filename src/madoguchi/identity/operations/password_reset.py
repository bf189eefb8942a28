"""A forgotten password: mail a single-use link (rate-limited per account), check it, set a new password."""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta

from sqlalchemy.orm import Session

from madoguchi import outbox
from madoguchi.audit import operations as audit
from madoguchi.crypto import Sealer
from madoguchi.db import utcnow
from madoguchi.identity import repository, sessions, throttling
from madoguchi.identity.models import Account, PasswordReset
from madoguchi.identity.operations.common import (
    NOTIFY_ACCOUNT,
    check_password,
    get_account,
    throttle_subject,
    token_hash,
    unusable_link,
)
from madoguchi.identity.passwords import hash_password
from madoguchi.tenancy.models import Tenant

PASSWORD_RESET_TTL = timedelta(hours=1)
#: Reset emails one account is sent within PASSWORD_RESET_PERIOD; further requests get the same answer and no mail.
PASSWORD_RESETS_PER_PERIOD = 3
PASSWORD_RESET_PERIOD = timedelta(hours=1)


def password_reset_link(public_url: str, tenant: Tenant, token: str) -> str:
    return f"{public_url.rstrip('/')}/{tenant.slug}/password-reset/{token}"


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
    account = repository.find_account_by_email(session, tenant.id, email)
    usable = account is not None and not account.disabled
    recent = repository.count_password_resets_since(
        session, tenant.id, account.id if account else uuid.uuid4(), now - PASSWORD_RESET_PERIOD
    )
    sent = usable and recent < PASSWORD_RESETS_PER_PERIOD
    if sent and account is not None:
        repository.spend_password_resets(session, account.id, now)
        reset = PasswordReset(
            tenant_id=tenant.id,
            account_id=account.id,
            token_hash=token_hash(token),
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


def _live_password_reset(session: Session, tenant_id: uuid.UUID, token: str) -> PasswordReset:
    reset = repository.find_password_reset(session, tenant_id, token_hash(token))
    if reset is None or reset.used_at is not None or reset.expires_at <= utcnow():
        raise unusable_link()
    account = get_account(session, tenant_id, reset.account_id)
    if account.disabled:
        raise unusable_link()
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
    if not repository.spend_password_reset(session, reset.id, now):
        raise unusable_link()
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
