"""The outbox worker: delivers what transactions left in the outbox, once each, retrying with backoff.

Runs as ``madoguchi worker`` (production, any number of processes on PostgreSQL: rows are claimed with
``FOR UPDATE SKIP LOCKED``) or as a thread inside ``madoguchi demo``. SQLite ignores SKIP LOCKED, so the
embedded default runs exactly one worker (see DESIGN §7).

The worker walks tenants one by one and binds its session to each, so row-level security applies to it
exactly as to a web request.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from madoguchi.db import Database, utcnow
from madoguchi.notify.models import OutboxMessage
from madoguchi.tenancy.models import Tenant

log = logging.getLogger(__name__)

Handler = Callable[[Session, Tenant, OutboxMessage], None]

MAX_ATTEMPTS = 8
BATCH_SIZE = 50


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, ... capped at 1 h."""
    return timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 3600))


def log_notification(session: Session, tenant: Tenant, message: OutboxMessage) -> None:
    """The embedded email backend: write the notification to the log (real backends come with documents)."""
    payload = message.payload
    log.info(
        "notification %s for tenant %s: %s -> %s",
        message.id,
        tenant.slug,
        payload.get("template"),
        payload.get("application_reference"),
    )


def ignore(session: Session, tenant: Tenant, message: OutboxMessage) -> None:
    """Events nobody subscribes to yet (webhook subscriptions come with the identity/OAuth issue)."""


DEFAULT_HANDLERS: dict[str, Handler] = {
    "notify.applicant": log_notification,
    "notify.staff": log_notification,
    "application.submitted": ignore,
    "application.state_changed": ignore,
    "document.issued": ignore,
}


def process_tenant(session: Session, tenant: Tenant, handlers: dict[str, Handler]) -> int:
    now = utcnow()
    stmt = (
        select(OutboxMessage)
        .where(OutboxMessage.processed_at.is_(None), OutboxMessage.available_at <= now)
        .order_by(OutboxMessage.created_at)
        .limit(BATCH_SIZE)
        .with_for_update(skip_locked=True)
    )
    done = 0
    for message in session.execute(stmt).scalars():
        handler = handlers.get(message.topic)
        message.attempts += 1
        try:
            if handler is None:
                raise LookupError(f"no handler for topic {message.topic!r}")
            with session.begin_nested():
                handler(session, tenant, message)
        except Exception as exc:
            message.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            if message.attempts >= MAX_ATTEMPTS:
                log.error("outbox message %s gave up after %d attempts: %s", message.id, message.attempts, exc)
                message.processed_at = utcnow()
            else:
                message.available_at = utcnow() + backoff(message.attempts)
                log.warning("outbox message %s failed (attempt %d): %s", message.id, message.attempts, exc)
        else:
            message.processed_at = utcnow()
            message.last_error = None
            done += 1
    return done


def run_once(database: Database, handlers: dict[str, Handler] | None = None) -> int:
    """Drain what is due for every tenant once; returns how many messages were delivered."""
    handlers = handlers or DEFAULT_HANDLERS
    with database.transaction() as session:
        tenants = list(session.execute(select(Tenant).order_by(Tenant.slug)).scalars())
    delivered = 0
    for tenant in tenants:
        with database.transaction(tenant.id) as session:
            delivered += process_tenant(session, tenant, handlers)
    return delivered


def run_forever(database: Database, *, poll_seconds: float, stop: threading.Event) -> None:
    log.info("outbox worker started")
    while not stop.is_set():
        try:
            delivered = run_once(database)
        except Exception:
            log.exception("outbox worker pass failed")
            delivered = 0
        if not delivered:
            stop.wait(poll_seconds)
    log.info("outbox worker stopped")
