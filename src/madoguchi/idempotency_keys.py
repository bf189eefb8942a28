"""The Idempotency-Key table: what the API stored for a key, so a retried write replays its first answer.

The model is foundation (every model is importable by `madoguchi.models` and the tenant export without the API);
the logic that claims and replays keys is the API's (``madoguchi.api.idempotency``).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from madoguchi.db import Base, TenantScoped, new_id, utcnow


class IdempotencyKey(TenantScoped, Base):
    """One ``Idempotency-Key`` of one caller in one tenant, with the response it produced.

    Scoped by tenant and by caller (``client:<id>`` for vendor tokens, ``account:<id>`` otherwise), so
    two clients choosing the same key never collide.
    """

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("tenant_id", "caller", "key"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    caller: Mapped[str] = mapped_column(String(80))
    key: Mapped[str] = mapped_column(String(255))
    #: SHA-256 over method, path and body: the same key with another request is refused.
    request_hash: Mapped[str] = mapped_column(String(64))
    #: in_flight while the first request runs; completed once its response is stored.
    status: Mapped[str] = mapped_column(String(20))
    response_status: Mapped[int | None]
    response_body: Mapped[str | None] = mapped_column(Text)
    response_headers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_at: Mapped[datetime] = mapped_column(default=utcnow)
