"""Every query of identity's operations: accounts, the one-time links and codes, staff, platform admins.

Reads and writes with ``select()``/``update()``; nothing here decides a rule or commits (``identity.operations``
does the first, the request the second). Tenant-owned rows are looked up by ``(tenant_id, ...)``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.orm import Session

from madoguchi.identity.models import (
    Account,
    AccountKind,
    EmailVerification,
    IdentityVerification,
    PasswordReset,
    PlatformAdmin,
    PlatformApiToken,
)
from madoguchi.registry.models import Person
from madoguchi.tenancy.models import Tenant

# --- Accounts ----------------------------------------------------------------------------------------


def find_account_by_email(session: Session, tenant_id: uuid.UUID, email: str) -> Account | None:
    return session.execute(
        select(Account).where(Account.tenant_id == tenant_id, Account.email == email)
    ).scalar_one_or_none()


def find_account(
    session: Session, tenant_id: uuid.UUID, account_id: uuid.UUID, *, lock: bool = False
) -> Account | None:
    stmt = select(Account).where(Account.tenant_id == tenant_id, Account.id == account_id)
    return session.execute(stmt.with_for_update() if lock else stmt).scalar_one_or_none()


def account_linked_to(session: Session, tenant_id: uuid.UUID, person_id: uuid.UUID) -> uuid.UUID | None:
    """The id of the account already linked to this person of the register, if any."""
    return session.execute(
        select(Account.id).where(Account.tenant_id == tenant_id, Account.person_id == person_id)
    ).scalar_one_or_none()


def list_staff(session: Session, tenant_id: uuid.UUID) -> list[Account]:
    stmt = (
        select(Account)
        .where(Account.tenant_id == tenant_id, Account.kind == AccountKind.STAFF.value)
        .order_by(Account.email)
    )
    return list(session.execute(stmt).scalars())


def lock_other_active_staff(session: Session, tenant_id: uuid.UUID, excluding: uuid.UUID) -> list[Account]:
    # Locked, so two admins demoting each other at the same moment cannot both succeed (PostgreSQL).
    return list(
        session.execute(
            select(Account)
            .where(
                Account.tenant_id == tenant_id,
                Account.kind == AccountKind.STAFF.value,
                Account.disabled.is_(False),
                Account.id != excluding,
            )
            .with_for_update()
        ).scalars()
    )


def get_tenant(session: Session, tenant_id: uuid.UUID) -> Tenant:
    return session.execute(select(Tenant).where(Tenant.id == tenant_id)).scalar_one()


def claim_totp_counter(session: Session, owner: Account | PlatformAdmin, counter: int) -> bool:
    """Record ``counter`` as the owner's last TOTP step unless it (or a later one) was used: True if this won."""
    model = type(owner)
    result = session.execute(
        update(model)
        .where(
            model.id == owner.id,
            (model.totp_last_counter.is_(None)) | (model.totp_last_counter < counter),
        )
        .values(totp_last_counter=counter)
        .execution_options(synchronize_session=False)
    )
    return cast(CursorResult[Any], result).rowcount == 1


# --- The resident register ---------------------------------------------------------------------------


def find_person(session: Session, tenant_id: uuid.UUID, resident_code: str) -> Person | None:
    return session.execute(
        select(Person).where(Person.tenant_id == tenant_id, Person.resident_code == resident_code)
    ).scalar_one_or_none()


def get_person(session: Session, tenant_id: uuid.UUID, person_id: uuid.UUID) -> Person:
    return session.execute(select(Person).where(Person.tenant_id == tenant_id, Person.id == person_id)).scalar_one()


def resident_code(session: Session, tenant_id: uuid.UUID, person_id: uuid.UUID) -> str | None:
    return session.execute(
        select(Person.resident_code).where(Person.tenant_id == tenant_id, Person.id == person_id)
    ).scalar_one_or_none()


# --- Email verification links ------------------------------------------------------------------------


def spend_email_verifications(session: Session, account_id: uuid.UUID, now: datetime) -> None:
    """Earlier unused verification links of the account stop working."""
    session.execute(
        update(EmailVerification)
        .where(EmailVerification.account_id == account_id, EmailVerification.used_at.is_(None))
        .values(used_at=now)
    )


def find_email_verification(session: Session, tenant_id: uuid.UUID, token_hash: str) -> EmailVerification | None:
    return session.execute(
        select(EmailVerification).where(
            EmailVerification.tenant_id == tenant_id, EmailVerification.token_hash == token_hash
        )
    ).scalar_one_or_none()


def account_by_id(session: Session, account_id: uuid.UUID) -> Account | None:
    return session.get(Account, account_id)


# --- Password reset links ----------------------------------------------------------------------------


def count_password_resets_since(session: Session, tenant_id: uuid.UUID, account_id: uuid.UUID, since: datetime) -> int:
    return session.execute(
        select(func.count())
        .select_from(PasswordReset)
        .where(
            PasswordReset.tenant_id == tenant_id,
            PasswordReset.account_id == account_id,
            PasswordReset.created_at > since,
        )
    ).scalar_one()


def spend_password_resets(session: Session, account_id: uuid.UUID, now: datetime) -> None:
    """Earlier unused reset links of the account stop working."""
    session.execute(
        update(PasswordReset)
        .where(PasswordReset.account_id == account_id, PasswordReset.used_at.is_(None))
        .values(used_at=now)
    )


def find_password_reset(session: Session, tenant_id: uuid.UUID, token_hash: str) -> PasswordReset | None:
    stmt = select(PasswordReset).where(PasswordReset.tenant_id == tenant_id, PasswordReset.token_hash == token_hash)
    return session.execute(stmt).scalar_one_or_none()


def spend_password_reset(session: Session, reset_id: uuid.UUID, now: datetime) -> bool:
    """Mark one reset link used if nobody did yet: True if this call spent it."""
    # Conditional, so of two requests racing with one link only one sets a password.
    spent = session.execute(
        update(PasswordReset)
        .where(PasswordReset.id == reset_id, PasswordReset.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    return cast(CursorResult[Any], spent).rowcount == 1


# --- Identity letters (one-time codes sent to the registered address) -----------------------------------


def count_identity_letters_since(session: Session, tenant_id: uuid.UUID, account_id: uuid.UUID, since: datetime) -> int:
    return session.execute(
        select(func.count())
        .select_from(IdentityVerification)
        .where(
            IdentityVerification.tenant_id == tenant_id,
            IdentityVerification.account_id == account_id,
            IdentityVerification.created_at > since,
        )
    ).scalar_one()


def revoke_live_identity_codes(session: Session, account_id: uuid.UUID, now: datetime) -> None:
    session.execute(
        update(IdentityVerification)
        .where(
            IdentityVerification.account_id == account_id,
            IdentityVerification.used_at.is_(None),
            IdentityVerification.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )


def latest_live_identity_code(
    session: Session, tenant_id: uuid.UUID, account_id: uuid.UUID
) -> IdentityVerification | None:
    return session.execute(
        select(IdentityVerification)
        .where(
            IdentityVerification.tenant_id == tenant_id,
            IdentityVerification.account_id == account_id,
            IdentityVerification.used_at.is_(None),
            IdentityVerification.revoked_at.is_(None),
        )
        .order_by(IdentityVerification.created_at.desc())
        .limit(1)
    ).scalar_one_or_none()


def count_identity_code_attempt(session: Session, verification_id: uuid.UUID) -> IdentityVerification:
    """Add one to the attempts of a code (atomically) and return the row as it is now."""
    session.execute(
        update(IdentityVerification)
        .where(IdentityVerification.id == verification_id)
        .values(attempts=IdentityVerification.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    return session.execute(
        select(IdentityVerification)
        .where(IdentityVerification.id == verification_id)
        .execution_options(populate_existing=True)
    ).scalar_one()


# --- Platform admins ---------------------------------------------------------------------------------


def find_platform_admin(session: Session, email: str) -> PlatformAdmin | None:
    return session.execute(select(PlatformAdmin).where(PlatformAdmin.email == email)).scalar_one_or_none()


def platform_admin_by_id(session: Session, admin_id: uuid.UUID) -> PlatformAdmin | None:
    return session.get(PlatformAdmin, admin_id)


def find_platform_token(session: Session, token_hash: str) -> PlatformApiToken | None:
    return session.execute(
        select(PlatformApiToken).where(PlatformApiToken.token_hash == token_hash)
    ).scalar_one_or_none()


# --- What the console's pages list -----------------------------------------------------------------------------


def active_staff(session: Session, tenant_id: uuid.UUID) -> list[Account]:
    """The municipality's staff accounts that are not disabled, by name: who work can be assigned to."""
    stmt = (
        select(Account)
        .where(Account.tenant_id == tenant_id, Account.kind == AccountKind.STAFF, Account.disabled.is_(False))
        .order_by(Account.display_name, Account.email)
    )
    return list(session.execute(stmt).scalars())


def display_names(session: Session, tenant_id: uuid.UUID, account_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Account id -> display name, for the given ids that are accounts of this municipality."""
    wanted = set(account_ids)
    if not wanted:
        return {}
    stmt = select(Account.id, Account.display_name).where(Account.tenant_id == tenant_id, Account.id.in_(wanted))
    return {row.id: row.display_name for row in session.execute(stmt)}
