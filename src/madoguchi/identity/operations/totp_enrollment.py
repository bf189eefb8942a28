"""Setting up an authenticator app (TOTP): start, show the pending secret again, confirm with a first code; and a
tenant admin removing a staff member's authenticator (a lost phone). Staff accounts and platform admins alike."""

from __future__ import annotations

from sqlalchemy.orm import Session

from madoguchi.audit import operations as audit
from madoguchi.crypto import Sealer
from madoguchi.db import utcnow
from madoguchi.errors import Conflict, Forbidden, ValidationFailed
from madoguchi.identity import sessions, totp
from madoguchi.identity.models import Account, AccountKind, PlatformAdmin
from madoguchi.identity.operations.common import open_totp_secret, security_log


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
    secret = open_totp_secret(sealer, owner.id, owner.totp_secret_encrypted)
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
    return open_totp_secret(sealer, owner.id, owner.totp_secret_encrypted)


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
