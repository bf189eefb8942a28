"""The fake provider's own store: the payments it "holds", as a real provider holds them on its side.

One global table (not tenant-scoped): the hosted-page simulator at ``/fake-pay/<ref>`` belongs to no
municipality, as a provider's checkout page does not, and finds a payment by its unguessable reference alone.
Each row still names its tenant (the webhook goes to that tenant's endpoint, signed with that tenant's secret).
It holds no personal data: an amount, a description (the procedure and reference), our metadata ids.
Decision 0044.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from madoguchi.db import Base, utcnow


class FakePayment(Base):
    """One payment at the fake provider: created by ``FakeProvider.create``, settled on its hosted page."""

    __tablename__ = "fake_payments"
    __table_args__ = (UniqueConstraint("tenant_id", "idempotency_key"),)

    #: ``fake_`` + 32 random URL-safe characters: the hosted page's address, so never guessable.
    ref: Mapped[str] = mapped_column(String(60), primary_key=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    amount_jpy: Mapped[int]
    description: Mapped[str] = mapped_column(Text)
    return_url: Mapped[str] = mapped_column(Text)
    payment_metadata: Mapped[dict[str, Any]] = mapped_column(default=dict)
    idempotency_key: Mapped[str] = mapped_column(String(200))
    #: Our statuses (``payments.states``): the fake speaks them directly.
    status: Mapped[str] = mapped_column(String(20))
    failure_code: Mapped[str | None] = mapped_column(String(40))
    refunded_jpy: Mapped[int] = mapped_column(default=0)
    #: How many webhook events the fake has sent for this payment (their ids are ``evt_<ref>_<n>``).
    events_sent: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    succeeded_at: Mapped[datetime | None]
