"""The tenant (a municipality), its status, and the invitations that bring in its first admins."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from madoguchi.db import Base, TenantScoped, new_id, utcnow


class TenantStatus(enum.StrEnum):
    TRIAL = "trial"
    LIVE = "live"
    SUSPENDED = "suspended"
    #: Soft-deleted: gone for everyone (404) until ``madoguchi tenants purge`` removes its data after the
    #: retention period; the row, its slug, its code and its audit chain stay.
    DELETED = "deleted"

    @property
    def serves_requests(self) -> bool:
        return self in (TenantStatus.TRIAL, TenantStatus.LIVE)

    @property
    def is_deleted(self) -> bool:
        return self is TenantStatus.DELETED


#: The statuses in which a municipality is served and listed publicly (``Tenant.status.in_(SERVING_STATUSES)``).
SERVING_STATUSES = (TenantStatus.TRIAL.value, TenantStatus.LIVE.value)


class Tenant(Base):
    """A municipality. Global (not tenant-scoped): resolution must find it before a tenant is bound."""

    __tablename__ = "tenants"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    slug: Mapped[str] = mapped_column(String(63), unique=True)
    name_ja: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    #: 全国地方公共団体コード: six digits, the last a check digit.
    local_government_code: Mapped[str] = mapped_column(String(6), unique=True)
    prefecture_code: Mapped[str] = mapped_column(String(2))
    status: Mapped[str] = mapped_column(String(20), default=TenantStatus.LIVE.value)
    default_locale: Mapped[str] = mapped_column(String(5), default="ja")
    #: locales, prefecture names, branding and contact, as in the tenant file.
    profile: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    #: When a platform admin deleted it (soft delete); its data is purged ``tenant_retention_days`` later.
    deleted_at: Mapped[datetime | None]
    #: When the purge removed its data (the audit chain is kept).
    purged_at: Mapped[datetime | None]

    @property
    def status_enum(self) -> TenantStatus:
        return TenantStatus(self.status)

    def name(self, locale: str) -> str:
        return self.name_en if locale == "en" else self.name_ja


class TenantInvitation(TenantScoped, Base):
    """A one-time link that lets the first (or another) tenant admin set a password and an authenticator.

    Only the SHA-256 of the token is stored; the link is shown once to the platform admin and mailed.
    Single use; expires after ``invitation_lifetime_hours``; a newer invitation to the same address revokes
    the older ones.
    """

    __tablename__ = "tenant_invitations"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(254))
    display_name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: "platform_admin:<id>" or "cli".
    invited_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    accepted_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    #: The tenant admin account the invitation created.
    account_id: Mapped[uuid.UUID | None]
