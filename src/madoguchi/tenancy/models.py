"""The tenant (a municipality) and the procedures it has switched on."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from madoguchi.db import Base, TenantScoped, new_id, utcnow


class TenantStatus(enum.StrEnum):
    TRIAL = "trial"
    LIVE = "live"
    SUSPENDED = "suspended"

    @property
    def serves_requests(self) -> bool:
        return self is not TenantStatus.SUSPENDED


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

    @property
    def status_enum(self) -> TenantStatus:
        return TenantStatus(self.status)

    def name(self, locale: str) -> str:
        return self.name_en if locale == "en" else self.name_ja


class TenantService(TenantScoped, Base):
    """A standard procedure switched on by a tenant, pinned to a catalog version, with its overrides."""

    __tablename__ = "tenant_services"
    __table_args__ = (UniqueConstraint("tenant_id", "service_key"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    service_key: Mapped[str] = mapped_column(String(63))
    service_version_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("service_versions.id"))
    enabled: Mapped[bool] = mapped_column(default=True)
    overrides: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
