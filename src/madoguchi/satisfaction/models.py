"""A resident's answer to "how did it go?", kept apart from the application it followed.

No foreign key to the application: the answer must not travel with the case file, and staff reading free text must
not see whose it is. ``journey_key`` is a keyed hash of (application, journey), unique per tenant, so one journey is
answered at most once without storing which application it was.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import Index, SmallInteger, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from madoguchi.db import Base, TenantScoped, new_id, utcnow


class Journey(enum.StrEnum):
    #: the resident has just submitted an application
    SUBMITTED = "submitted"
    #: the resident has received what they asked for (a certificate issued, a decision notified)
    ISSUED = "issued"


class SatisfactionResponse(TenantScoped, Base):
    __tablename__ = "satisfaction_responses"
    __table_args__ = (
        UniqueConstraint("tenant_id", "journey_key", name="uq_satisfaction_responses_journey_key"),
        Index("ix_satisfaction_responses_tenant_id_answered_at", "tenant_id", "answered_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    service_key: Mapped[str] = mapped_column(String(63))
    journey: Mapped[str] = mapped_column(String(20))
    #: how the application was filed (online, api, counter): the KPIs count satisfaction per channel too
    channel: Mapped[str] = mapped_column(String(20))
    #: 1 (very dissatisfied) .. 5 (very satisfied); None when the resident wrote only text
    score: Mapped[int | None] = mapped_column(SmallInteger)
    comment: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: HMAC of (application id, journey) under a key derived from the platform secret
    journey_key: Mapped[str] = mapped_column(String(64))
