"""Sign-up and address verification: open a resident account, mail (and re-mail) the single-use link that
confirms the address, follow it; and remember the language emails to a resident use."""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from madoguchi import outbox
from madoguchi.audit import operations as audit
from madoguchi.crypto import Sealer
from madoguchi.db import utcnow
from madoguchi.errors import Conflict
from madoguchi.identity import repository
from madoguchi.identity.models import Account, AccountKind, EmailVerification, IdentityAssurance
from madoguchi.identity.operations.common import (
    NOTIFY_ACCOUNT,
    check_password,
    get_account,
    token_hash,
    unusable_link,
)
from madoguchi.identity.passwords import hash_password
from madoguchi.tenancy.models import Tenant

EMAIL_VERIFICATION_TTL = timedelta(hours=24)


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
    existing = repository.find_account_by_email(session, tenant.id, email)
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
            existing = repository.find_account_by_email(session, tenant.id, email)
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
    repository.spend_email_verifications(session, account.id, now)
    token = secrets.token_urlsafe(32)
    verification = EmailVerification(
        tenant_id=tenant.id,
        account_id=account.id,
        token_hash=token_hash(token),
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
    verification = repository.find_email_verification(session, tenant_id, token_hash(token))
    if verification is None or verification.used_at is not None or verification.expires_at <= now:
        raise unusable_link()
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
    verification = repository.find_email_verification(session, tenant_id, token_hash(token))
    if verification is None or verification.used_at is None:
        return None
    account = repository.account_by_id(session, verification.account_id)
    return account if account is not None and account.email_verified_at is not None else None
