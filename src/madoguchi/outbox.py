"""The outbox: side effects written as rows in the caller's transaction (no commit, no message; none lost).

**Secrets in a payload** (one-time links, codes: anything that grants access). Outbox rows are kept after
delivery, so such values never go into ``payload`` as plain text. Pass them separately::

    outbox.enqueue(
        session, "notify.account",
        {"template": "account.verify_email", "to": account.email, ...},   # readable: no secret in here
        secrets={"verify_url": link},                                      # sealed with the data key
        sealer=Sealer(data_key),
    )

They are stored under ``payload["sealed"]``, each sealed with ``madoguchi.crypto.Sealer`` for the message's
tenant. Whoever builds the email reads them with ``open_secrets`` (``madoguchi.notify.messages`` merges them
into the template context, so a ``*_url`` secret is used exactly like a plain ``*_url`` value). The worker
removes them (``scrub_secrets``) as soon as it is done with the message: sent, nothing to send, or given up.
What is left says which names were removed (``payload["scrubbed"]``), and "send again" of such an email is
refused (the person asks for a fresh link instead). Every email that carries a one-time link follows this
(email verification, tenant admin invitation, password reset).

Sending happens in the worker (``madoguchi.notify.worker``); a handler that sends returns a ``Dispatch``.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, Session, mapped_column

from madoguchi.crypto import Sealer
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
    #: The worker's claim of the message (``madoguchi.notify.worker``): which claim, and until when no other
    #: worker may take it. Both None when nobody holds it.
    lease_id: Mapped[uuid.UUID | None]
    lease_expires_at: Mapped[datetime | None]
    #: When the current claim started sending (set just before the email or webhook leaves, in its own
    #: transaction); None until then. A killed worker re-sends at most the messages with this set.
    in_flight_at: Mapped[datetime | None]


#: Payload key of the sealed secrets, and of the names of those removed after delivery.
SEALED, SCRUBBED = "sealed", "scrubbed"


def enqueue(
    session: Session,
    topic: str,
    payload: dict[str, Any],
    *,
    available_at: datetime | None = None,
    secrets: dict[str, str] | None = None,
    sealer: Sealer | None = None,
) -> OutboxMessage:
    """Add a message to the caller's transaction. ``secrets`` (with ``sealer``) travel sealed, see above."""
    if SEALED in payload or SCRUBBED in payload:
        raise ValueError(f"{SEALED!r} and {SCRUBBED!r} are reserved payload keys: pass secrets=...")
    if secrets and sealer is None:
        raise ValueError("secrets need a sealer (the data key) to be stored")
    message = OutboxMessage(
        topic=topic, payload=json.loads(json.dumps(payload, default=str)), available_at=available_at or utcnow()
    )
    session.add(message)
    session.flush()  # assigns the tenant, which the seals are bound to
    if secrets:
        assert sealer is not None
        sealed = {
            name: base64.b64encode(sealer.seal(message.tenant_id, value)).decode() for name, value in secrets.items()
        }
        message.payload = {**message.payload, SEALED: sealed}
        session.flush()
    return message


def open_secrets(message: OutboxMessage, sealer: Sealer | None) -> dict[str, str]:
    """The message's secrets in clear (empty when it has none). Raises when they were scrubbed already."""
    sealed = (message.payload or {}).get(SEALED) or {}
    if not sealed:
        if (message.payload or {}).get(SCRUBBED):
            raise SecretsGone(message)
        return {}
    if sealer is None:
        raise ValueError("this message carries sealed secrets and no data key is configured")
    return {name: sealer.open(message.tenant_id, base64.b64decode(value)) for name, value in sealed.items()}


def scrub_secrets(message: OutboxMessage) -> bool:
    """Remove the message's sealed secrets, keeping their names; True if there were any."""
    payload = dict(message.payload or {})
    sealed = payload.pop(SEALED, None)
    if not sealed:
        return False
    message.payload = {**payload, SCRUBBED: sorted(sealed)}
    return True


def secrets_scrubbed(message: OutboxMessage) -> bool:
    return bool((message.payload or {}).get(SCRUBBED))


class SecretsGone(LookupError):
    """The message's one-time secrets were removed after delivery: it cannot be built again."""

    def __init__(self, message: OutboxMessage) -> None:
        super().__init__(f"outbox message {message.id} carried one-time secrets, removed after its delivery")


@dataclass(frozen=True)
class Dispatch:
    """What a handler hands the worker to send outside any database transaction.

    ``endpoint`` names where it goes (``https://host:443``, ``smtp://relay:25``): the worker limits how many
    sends run at once per endpoint. ``send()`` must not touch the database; it returns an outcome or raises
    (an exception may carry ``after_rollback(session, retry_at=...)`` to write the failed attempt down).
    ``record(session, message, outcome)`` writes a success down, in the transaction that finishes the message.
    Dispatches with the same ``sequence`` (one recipient's emails, one subscription's webhooks) are sent one
    after another in the order of their messages, as they were before sending became concurrent.
    """

    endpoint: str
    send: Callable[[], Any]
    record: Callable[[Session, OutboxMessage, Any], None]
    sequence: str | None = None
