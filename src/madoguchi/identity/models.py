"""Accounts: residents and staff of one tenant.

Sign-up, sessions and login arrive with the identity issue; this model is what the workflow needs now:
who acts, in which roles, and which registry person a resident is linked to (identity assurance).
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, ForeignKeyConstraint, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from madoguchi.db import Base, TenantScoped, new_id, utcnow


class AccountKind(enum.StrEnum):
    RESIDENT = "resident"
    STAFF = "staff"


class StaffRole(enum.StrEnum):
    CLERK = "clerk"
    SUPERVISOR = "supervisor"
    TENANT_ADMIN = "tenant_admin"


class IdentityAssurance(enum.StrEnum):
    #: self-registered, e-mail confirmed
    EMAIL = "email"
    #: linked to a person in the resident register (at the counter, or by a code sent to the address)
    VERIFIED = "verified"


class Account(TenantScoped, Base):
    __tablename__ = "accounts"
    __table_args__ = (
        UniqueConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "email"),
        ForeignKeyConstraint(["tenant_id", "person_id"], ["persons.tenant_id", "persons.id"]),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(254))
    display_name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    #: staff roles (clerk, supervisor, tenant_admin); empty for residents.
    roles: Mapped[list[Any]] = mapped_column(default=list)
    identity_assurance: Mapped[str] = mapped_column(String(20), default=IdentityAssurance.EMAIL.value)
    person_id: Mapped[uuid.UUID | None]
    password_hash: Mapped[str | None] = mapped_column(String(200))
    disabled: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def is_verified(self) -> bool:
        return self.identity_assurance == IdentityAssurance.VERIFIED and self.person_id is not None


class WebSession(Base):
    """A server-side browser session. Global (not tenant-scoped): the cookie is looked up before the
    tenant is known, and then must match the URL's tenant. Only a hash of the cookie value is stored."""

    __tablename__ = "web_sessions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    #: SHA-256 of the cookie value.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: The account's tenant (None for a platform admin session).
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    account_id: Mapped[uuid.UUID | None]
    platform_admin_id: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    #: Set once the second factor is verified (staff with TOTP); until then the session is "pending".
    second_factor_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    user_agent: Mapped[str | None] = mapped_column(String(300))
    ip_address: Mapped[str | None] = mapped_column(String(45))
