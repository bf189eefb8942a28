"""The tenant (a municipality), its status, the invitations that bring in its first admins, and the days it is
closed beyond the law's (its calendar: ``madoguchi.workdays``, ``tenancy.closed_days``)."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import PrimaryKeyConstraint, String
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


class ClosedDaySource(enum.StrEnum):
    """Where a closed day was configured: each place manages its own (a tenant file sync never removes a day the
    tenant admin entered, and the admin's pages remove only those)."""

    FILE = "file"
    ADMIN = "admin"


class TenantClosedDay(TenantScoped, Base):
    """A day the municipality's offices are closed beyond 土日祝 and 年末年始 (a 臨時閉庁日): no working day for due
    dates. One row per day (the primary key refuses a duplicate). Decision 0034."""

    __tablename__ = "tenant_closed_days"
    __table_args__ = (PrimaryKeyConstraint("tenant_id", "day"),)

    day: Mapped[date]
    #: Why, as residents and staff see it (e.g. 庁舎移転に伴う臨時閉庁); may be empty.
    reason: Mapped[str] = mapped_column(String(100), default="")
    #: ``ClosedDaySource``: the tenant file or the tenant admin.
    source: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: Who entered it (an actor label, or the sync's).
    created_by: Mapped[str] = mapped_column(String(200))
