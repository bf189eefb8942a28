"""Platform admins (no tenant: security events go to the security log, not an audit chain): creation, sign-in
with throttling and an authenticator, and the bearer tokens of the platform admin API (``/api/v1/admin``)."""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy.orm import Session

from madoguchi.crypto import Sealer
from madoguchi.db import utcnow
from madoguchi.errors import Conflict
from madoguchi.identity import repository, throttling, totp
from madoguchi.identity.models import PlatformAdmin, PlatformApiToken
from madoguchi.identity.operations.common import (
    LoginFailed,
    check_password,
    check_throttle,
    generate_password,
    normalize_password,
    security_log,
    spend_a_hash,
    token_hash,
)
from madoguchi.identity.operations.sign_in import spend_totp_code
from madoguchi.identity.passwords import hash_password, needs_rehash, verify_password


def create_platform_admin(
    session: Session, *, email: str, display_name: str, password: str | None
) -> tuple[PlatformAdmin, str | None]:
    generated = None
    if password is None:
        password = generated = generate_password()
    else:
        password = check_password(password, email=email)
    if repository.find_platform_admin(session, email) is not None:
        raise Conflict("A platform admin with this email address already exists.")
    admin = PlatformAdmin(email=email, display_name=display_name, password_hash=hash_password(password))
    session.add(admin)
    session.flush()
    security_log.info("platform admin %s created", admin.id)
    return admin, generated


PLATFORM_SCOPE = "platform"


def authenticate_platform_admin(session: Session, *, email: str, password: str, address: str | None) -> PlatformAdmin:
    password = normalize_password(password)
    admin = repository.find_platform_admin(session, email)
    known = admin is not None and throttling.is_known_address(session, address, platform_admin_id=admin.id)
    check_throttle(session, throttling.subject_of(PLATFORM_SCOPE, email), address, known)
    if admin is None or admin.disabled:
        spend_a_hash(password)
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
    spend_totp_code(session, admin, code, sealer=sealer, subject=subject, address=address)


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
        platform_admin_id=admin.id, name=name, token_hash=token_hash(token), created_at=now, expires_at=now + lifetime
    )
    session.add(row)
    session.flush()
    security_log.info("platform admin %s: API token %s created", admin.id, row.id)
    return row, token


def platform_admin_of_token(session: Session, token: str) -> tuple[PlatformApiToken, PlatformAdmin] | None:
    """The live token and its enabled admin, or None (unknown, expired, revoked, admin disabled)."""
    if not token.startswith(PLATFORM_TOKEN_PREFIX) or len(token) > 200:
        return None
    row = repository.find_platform_token(session, token_hash(token))
    now = utcnow()
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return None
    admin = repository.platform_admin_by_id(session, row.platform_admin_id)
    if admin is None or admin.disabled:
        return None
    # Nothing is written here (no "last used"): API reads stay read-only transactions (see context.py).
    return row, admin
