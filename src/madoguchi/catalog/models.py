"""Published versions of the standard catalog (global: every tenant runs the same standard), and each tenant's
adoption of a procedure from it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from madoguchi.db import Base, OrderedJSONType, TenantScoped, new_id, utcnow


class ServiceVersion(Base):
    """One published version of a standard procedure: its service.yaml and form.json, frozen.

    Rows are never updated once published; an application keeps pointing at the version it was filed
    under, so a new version never changes the rules of an application in flight.
    """

    __tablename__ = "service_versions"
    __table_args__ = (UniqueConstraint("key", "version"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    key: Mapped[str] = mapped_column(String(63))
    version: Mapped[str] = mapped_column(String(32))
    #: service.yaml as parsed, without the form.
    definition: Mapped[dict[str, Any]]
    #: form.json (JSON Schema 2020-12).
    form_schema: Mapped[dict[str, Any]] = mapped_column(OrderedJSONType)
    #: SHA-256 of the canonical JSON of definition + form: republishing changed content under an old
    #: version number is refused.
    content_sha256: Mapped[str] = mapped_column(String(64))
    published_at: Mapped[datetime] = mapped_column(default=utcnow)


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
