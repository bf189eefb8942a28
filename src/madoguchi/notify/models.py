"""Outbox messages: side effects written in the same transaction as the change that causes them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from madoguchi.db import Base, TenantScoped, new_id, utcnow


class OutboxMessage(TenantScoped, Base):
    __tablename__ = "outbox_messages"
    __table_args__ = (Index("ix_outbox_pending", "tenant_id", "processed_at", "available_at"),)

    #: Also the deduplication key for whatever the message causes (an email, a webhook delivery).
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    topic: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    available_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(default=0)
    processed_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
