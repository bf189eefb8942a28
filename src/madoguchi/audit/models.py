"""Audit records, chained per tenant: each row's hash covers its content and the previous row's hash."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from madoguchi.db import Base, TenantScoped, new_id, utcnow


class AuditRecord(TenantScoped, Base):
    __tablename__ = "audit_records"
    __table_args__ = (UniqueConstraint("tenant_id", "seq"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    seq: Mapped[int]
    at: Mapped[datetime] = mapped_column(default=utcnow)
    #: "account:<uuid>", "system", "cli:<user>"
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(100))
    object_type: Mapped[str] = mapped_column(String(50))
    object_id: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditChainHead(TenantScoped, Base):
    """The last link of a tenant's chain. Locking this row serialises appends within one tenant."""

    __tablename__ = "audit_chain_heads"

    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("tenants.id", ondelete="RESTRICT"), primary_key=True)
    last_seq: Mapped[int] = mapped_column(default=0)
    last_hash: Mapped[str] = mapped_column(String(64))
