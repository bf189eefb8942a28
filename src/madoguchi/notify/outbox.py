"""Writing outbox messages. They are rows in the caller's transaction: no commit, no message; no message lost."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from madoguchi.db import utcnow
from madoguchi.notify.models import OutboxMessage


def enqueue(
    session: Session, topic: str, payload: dict[str, Any], *, available_at: datetime | None = None
) -> OutboxMessage:
    message = OutboxMessage(
        topic=topic, payload=json.loads(json.dumps(payload, default=str)), available_at=available_at or utcnow()
    )
    session.add(message)
    session.flush()
    return message
