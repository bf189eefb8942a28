"""A municipality's staff accounts: list, create (with a one-time password), change roles, disable and enable,
always keeping one active tenant admin."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from madoguchi.audit import operations as audit
from madoguchi.errors import Conflict, NotFound, ValidationFailed
from madoguchi.identity import repository, sessions
from madoguchi.identity.models import Account, AccountKind, IdentityAssurance, StaffRole
from madoguchi.identity.operations.common import check_password, generate_password, get_account
from madoguchi.identity.passwords import hash_password

STAFF_ROLE_ORDER = [
    StaffRole.CLERK.value,
    StaffRole.SUPERVISOR.value,
    StaffRole.TENANT_ADMIN.value,
    StaffRole.ACCOUNTANT.value,
]


def normalize_roles(roles: list[str]) -> list[str]:
    unknown = sorted(set(roles) - set(STAFF_ROLE_ORDER))
    if unknown:
        raise ValidationFailed(errors={"roles": [f"unknown role: {', '.join(unknown)}"]})
    if not roles:
        raise ValidationFailed(errors={"roles": ["at least one role is needed"]})
    return [role for role in STAFF_ROLE_ORDER if role in roles]


_EMAIL_IN_USE = {"email": ["already in use"]}


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
    if repository.find_account_by_email(session, tenant_id, email) is not None:
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
    candidates = repository.lock_other_active_staff(session, tenant_id, excluding)
    return sum(1 for account in candidates if StaffRole.TENANT_ADMIN in (account.roles or []))
