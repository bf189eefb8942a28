"""The life of a municipality after it is created: trial -> live, the first tenant admin's invitation, soft delete,
and the purge of its data once the retention period has passed.

Like every operation these only flush (the request or the CLI commits) and append to the tenant's audit chain.
The purge is the one exception to "the app role does it": it deletes rows, which the app role may not do on most
tables, so ``madoguchi tenants purge`` runs it with the owner role that migrations use (row-level security still
applies: the session is bound to the tenant being purged). The audit chain is kept, and verifies afterwards.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from madoguchi import outbox
from madoguchi.audit import operations as audit
from madoguchi.audit.models import AccessEvent, AuditChainHead, AuditRecord
from madoguchi.crypto import Sealer
from madoguchi.db import Base, bind_tenant, bound_tenant, utcnow
from madoguchi.documents.backend import Storage
from madoguchi.errors import Conflict, ValidationFailed
from madoguchi.identity.models import Account, AccountKind, IdentityAssurance, StaffRole, WebSession
from madoguchi.identity.passwords import hash_password
from madoguchi.oauth.models import OAuthToken
from madoguchi.platform.provisioning import get_tenant, record_tenant_event
from madoguchi.tenancy import resolution
from madoguchi.tenancy.models import Tenant, TenantInvitation, TenantStatus

#: Outbox topic of account emails (the notifications area sends them).
NOTIFY_ACCOUNT = "notify.account"
INVITATION_TEMPLATE = "account.invitation"
#: Tables a purge keeps: the municipality's row (its slug and code stay taken), its audit chain and the record of
#: who read residents' data (append-only; ids only, no personal data of its own).
KEPT_BY_PURGE = frozenset(
    {Tenant.__tablename__, AuditRecord.__tablename__, AuditChainHead.__tablename__, AccessEvent.__tablename__}
)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _existing(session: Session, tenant_id: uuid.UUID) -> Tenant:
    """The tenant, unless it is deleted (a deleted tenant can only be purged)."""
    tenant = get_tenant(session, tenant_id)
    if tenant.status_enum.is_deleted:
        raise Conflict("This municipality is deleted: it can only be purged.")
    return tenant


# --- Trial -> live -----------------------------------------------------------------------------------


def go_live(session: Session, tenant_id: uuid.UUID, *, actor: str) -> Tenant:
    """End the trial: the municipality is live. Only a tenant on trial goes live (a suspended one resumes first)."""
    tenant = _existing(session, tenant_id)
    if tenant.status_enum is not TenantStatus.TRIAL:
        raise Conflict(f"Only a municipality on trial can go live; this one is {tenant.status}.")
    tenant.status = TenantStatus.LIVE.value
    session.flush()
    record_tenant_event(
        session, tenant, actor=actor, action="tenant.go_live", data={"before": "trial", "after": "live"}
    )
    return tenant


# --- Soft delete and purge ---------------------------------------------------------------------------


def purge_due_at(tenant: Tenant, retention_days: int) -> datetime | None:
    return tenant.deleted_at + timedelta(days=retention_days) if tenant.deleted_at else None


def delete_tenant(session: Session, tenant_id: uuid.UUID, *, actor: str) -> Tenant:
    """Soft-delete a municipality: its portal, console and API answer 404, every session and token ends at once.

    Its data stays until the purge (``purge_tenant``) after the retention period; until then nothing is lost.
    """
    tenant = _existing(session, tenant_id)
    before = tenant.status
    now = utcnow()
    tenant.status = TenantStatus.DELETED.value
    tenant.deleted_at = now
    resolution.forget(tenant.slug)  # this process answers 404 at once; the others within tenant_cache_seconds
    session.execute(
        update(WebSession)
        .where(WebSession.tenant_id == tenant.id, WebSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    session.execute(
        update(OAuthToken)
        .where(OAuthToken.tenant_id == tenant.id, OAuthToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    session.flush()
    record_tenant_event(
        session, tenant, actor=actor, action="tenant.delete", data={"before": before, "after": "deleted"}
    )
    return tenant


@dataclass(frozen=True)
class PurgeReport:
    slug: str
    #: table -> rows removed (tables with none are left out)
    removed: dict[str, int]
    #: Storage keys of the files those rows named (attachments, certificate PDFs): the caller deletes them after
    #: the purge commits (``delete_purged_files``), so a rolled-back purge never loses a file.
    storage_keys: list[str] = field(default_factory=list)


def tenant_tables() -> list[sa.Table]:
    """Every table with a ``tenant_id`` that a purge empties, children before parents."""
    return [
        table
        for table in reversed(Base.metadata.sorted_tables)
        if "tenant_id" in table.c and table.name not in KEPT_BY_PURGE
    ]


def purge_tenant(
    session: Session, tenant_id: uuid.UUID, *, retention_days: int, actor: str, now: datetime | None = None
) -> PurgeReport:
    """Remove every row of a deleted municipality past its retention period, except its audit chain.

    Refused (``Conflict``) for a tenant that is not deleted or whose retention period has not passed.
    The municipality's row stays (status deleted, ``purged_at`` set), so its slug and local government code are
    never reused and ``madoguchi audit verify`` still finds and checks its chain, which ends with ``tenant.purge``.
    """
    tenant = get_tenant(session, tenant_id)
    if not tenant.status_enum.is_deleted:
        raise Conflict("Only a deleted municipality can be purged: delete it first.")
    due = purge_due_at(tenant, retention_days)
    now = now or utcnow()
    if due is None or now < due:
        raise Conflict(f"{tenant.slug} is kept until {due:%Y-%m-%d %H:%M} UTC (retention {retention_days} days).")
    bound = bound_tenant(session)
    bind_tenant(session, tenant.id)
    removed: dict[str, int] = {}
    storage_keys: list[str] = []
    try:
        for table in tenant_tables():
            for column in _storage_key_columns(table):
                keys = session.execute(select(column).where(table.c.tenant_id == tenant.id, column.is_not(None)))
                storage_keys.extend(keys.scalars())
            result = cast(CursorResult[Any], session.execute(sa.delete(table).where(table.c.tenant_id == tenant.id)))
            if result.rowcount:
                removed[table.name] = result.rowcount
    finally:
        bind_tenant(session, bound)
    tenant.purged_at = now
    tenant.profile = {"locales": (tenant.profile or {}).get("locales", ["ja"])}  # contact and branding go too
    session.flush()
    record_tenant_event(session, tenant, actor=actor, action="tenant.purge", data={"removed": removed})
    return PurgeReport(tenant.slug, removed, sorted(storage_keys))


def _storage_key_columns(table: sa.Table) -> list[sa.Column[Any]]:
    return [c for c in table.c if c.name == "storage_key" or c.name.endswith("_storage_key")]


def delete_purged_files(storage: Storage, tenant_id: uuid.UUID, report: PurgeReport) -> int:
    """Delete the files of a committed purge; returns how many were removed."""
    for key in report.storage_keys:
        storage.delete(key, tenant_id=tenant_id)
    return len(report.storage_keys)


def tenants_due_for_purge(session: Session, *, retention_days: int, now: datetime | None = None) -> list[Tenant]:
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    stmt = (
        select(Tenant)
        .where(
            Tenant.status == TenantStatus.DELETED.value,
            Tenant.purged_at.is_(None),
            Tenant.deleted_at <= cutoff,
        )
        .order_by(Tenant.slug)
    )
    return list(session.execute(stmt).scalars())


# --- Invitations -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedInvitation:
    invitation: TenantInvitation
    #: The link, shown once (only its token's hash is stored).
    url: str


def invitation_link(public_url: str, tenant: Tenant, token: str) -> str:
    return f"{public_url.rstrip('/')}/{tenant.slug}/invitation/{token}"


def invite_tenant_admin(
    session: Session,
    tenant_id: uuid.UUID,
    *,
    email: str,
    display_name: str,
    public_url: str,
    data_key: str,
    lifetime: timedelta,
    actor: str,
    locale: str | None = None,
) -> IssuedInvitation:
    """A one-time link for a tenant admin: shown once, emailed (outbox ``notify.account``), single use.

    An earlier open invitation to the same address stops working. ``email`` must be normalized already. The
    link travels sealed in the outbox and is removed once the email is sent (``madoguchi.outbox``).
    """
    tenant = _existing(session, tenant_id)
    bound = bound_tenant(session)
    bind_tenant(session, tenant.id)
    try:
        taken = session.execute(
            select(Account.id).where(Account.tenant_id == tenant.id, Account.email == email)
        ).scalar_one_or_none()
        if taken is not None:
            raise Conflict(
                "An account with this email address already exists in this municipality.",
                errors={"email": ["already has an account in this municipality"]},
            )
        now = utcnow()
        session.execute(
            update(TenantInvitation)
            .where(
                TenantInvitation.tenant_id == tenant.id,
                TenantInvitation.email == email,
                TenantInvitation.accepted_at.is_(None),
                TenantInvitation.revoked_at.is_(None),
            )
            .values(revoked_at=now)
        )
        token = secrets.token_urlsafe(32)
        invitation = TenantInvitation(
            tenant_id=tenant.id,
            email=email,
            display_name=display_name,
            token_hash=_token_hash(token),
            invited_by=actor,
            created_at=now,
            expires_at=now + lifetime,
        )
        session.add(invitation)
        session.flush()
        url = invitation_link(public_url, tenant, token)
        outbox.enqueue(
            session,
            NOTIFY_ACCOUNT,
            {
                "template": INVITATION_TEMPLATE,
                "reference": f"invitation:{invitation.id}",
                "to": email,
                "display_name": display_name,
                "locale": locale or tenant.default_locale,
                "tenant_name": {"ja": tenant.name_ja, "en": tenant.name_en},
                "expires_at": invitation.expires_at.isoformat(),
            },
            secrets={"invitation_url": url},
            sealer=Sealer(data_key),
        )
        audit.record(
            session,
            tenant.id,
            actor=actor,
            action="tenant.admin_invited",
            object_type="invitation",
            object_id=invitation.id,
            data={"email": email, "expires_at": invitation.expires_at.isoformat()},
        )
    finally:
        bind_tenant(session, bound)
    return IssuedInvitation(invitation, url)


INVITATION_UNUSABLE = "This invitation link is invalid, has expired or was already used: ask for a new one."


def open_invitation(session: Session, tenant_id: uuid.UUID, token: str) -> TenantInvitation:
    """The usable invitation this token belongs to in the tenant (the session is bound to it), or ValidationFailed."""
    invitation = session.execute(
        select(TenantInvitation).where(
            TenantInvitation.tenant_id == tenant_id, TenantInvitation.token_hash == _token_hash(token)
        )
    ).scalar_one_or_none()
    if (
        invitation is None
        or invitation.accepted_at is not None
        or invitation.revoked_at is not None
        or invitation.expires_at <= utcnow()
    ):
        raise ValidationFailed(INVITATION_UNUSABLE, errors={"token": [INVITATION_UNUSABLE]})
    return invitation


def accept_invitation(session: Session, tenant_id: uuid.UUID, token: str, *, password: str) -> Account:
    """Create the invited tenant admin with this password (already checked against the policy).

    The address counts as confirmed (the link reached it). Tenant admins set up an authenticator app at once:
    the caller starts a pending session that leads to the set-up. Single use, even under concurrency: the
    invitation is claimed by a conditional UPDATE.
    """
    invitation = open_invitation(session, tenant_id, token)
    now = utcnow()
    claimed = session.execute(
        update(TenantInvitation)
        .where(TenantInvitation.id == invitation.id, TenantInvitation.accepted_at.is_(None))
        .values(accepted_at=now)
        .execution_options(synchronize_session=False)
    )
    if cast(CursorResult[Any], claimed).rowcount != 1:
        raise ValidationFailed(INVITATION_UNUSABLE, errors={"token": [INVITATION_UNUSABLE]})
    taken = session.execute(
        select(Account.id).where(Account.tenant_id == tenant_id, Account.email == invitation.email)
    ).scalar_one_or_none()
    if taken is not None:
        raise Conflict("An account with this email address already exists in this municipality.")
    account = Account(
        tenant_id=tenant_id,
        email=invitation.email,
        display_name=invitation.display_name,
        kind=AccountKind.STAFF.value,
        roles=[StaffRole.TENANT_ADMIN.value],
        identity_assurance=IdentityAssurance.EMAIL.value,
        password_hash=hash_password(password),
        email_verified_at=now,
    )
    session.add(account)
    session.flush()
    invitation.accepted_at = now
    invitation.account_id = account.id
    audit.record(
        session,
        tenant_id,
        actor=f"account:{account.id}",
        action="tenant.invitation_accepted",
        object_type="account",
        object_id=account.id,
        data={"invitation_id": str(invitation.id), "email": invitation.email, "roles": account.roles},
    )
    session.flush()
    return account


__all__ = [
    "INVITATION_UNUSABLE",
    "IssuedInvitation",
    "PurgeReport",
    "accept_invitation",
    "delete_tenant",
    "go_live",
    "invite_tenant_admin",
    "open_invitation",
    "purge_due_at",
    "purge_tenant",
    "tenants_due_for_purge",
]
