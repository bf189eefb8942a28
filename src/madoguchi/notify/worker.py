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
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from madoguchi.config import Settings
from madoguchi.db import Database, sqlite_begin_immediate, utcnow
from madoguchi.notify import email, webhooks
from madoguchi.notify.mailbox import LetterToMailbox, MailboxMailer
from madoguchi.notify.models import OutboxMessage
from madoguchi.tenancy.models import Tenant, TenantStatus

log = logging.getLogger(__name__)

Handler = Callable[[Session, Tenant, OutboxMessage], None]

MAX_ATTEMPTS = 8
BATCH_SIZE = 50


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, ... capped at 1 h."""
    return timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 3600))


def log_notification(session: Session, tenant: Tenant, message: OutboxMessage) -> None:
    """Notifications that are not emails (staff notices, identity letters): template and reference to the log."""
    payload = message.payload
    log.info(
        "notification %s for tenant %s: %s -> %s",
        message.id,
        tenant.slug,
        payload.get("template"),
        payload.get("application_reference") or payload.get("reference"),
    )


def default_handlers(settings: Settings, *, mailer: email.Mailer | None = None) -> dict[str, Handler]:
    """Handlers per topic. Events fan out to webhook deliveries; each delivery is a ``webhook.deliver`` job.

    ``mailer`` defaults to the backend the settings name. With the mailbox backend (the demo), identity letters
    are written to the mailbox too."""
    mailer = mailer or email.mailer_for(settings)
    letters: Handler = log_notification
    if isinstance(mailer, MailboxMailer):
        letters = LetterToMailbox(settings, mailer.mailbox)
    return {
        "notify.staff": log_notification,
        # Identity letters (paper): the log shows template and reference, never the code.
        "notify.letter": letters,
        # Emails to applicants and account holders (notify.applicant, notify.account), one per message at most.
        **email.handlers(settings, mailer),
        **dict.fromkeys(webhooks.EVENTS, webhooks.fan_out),
        webhooks.DELIVER_TOPIC: webhooks.delivery_handler(settings),
    }


def _after_rollback(session: Session, message: OutboxMessage, exc: Exception, retry_at: datetime | None) -> None:
    """A handler's exception may carry ``after_rollback(session, retry_at=...)``: work that must outlive the
    rolled-back savepoint (a webhook's delivery log records the failed attempt). ``retry_at`` None: gave up."""
    record = getattr(exc, "after_rollback", None)
    if record is None:
        return
    try:
        with session.begin_nested():
            record(session, retry_at=retry_at)
    except Exception:
        log.exception("recording the failure of outbox message %s failed", message.id)


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
                _after_rollback(session, message, exc, None)
            else:
                message.available_at = utcnow() + backoff(message.attempts)
                log.warning("outbox message %s failed (attempt %d): %s", message.id, message.attempts, exc)
                _after_rollback(session, message, exc, message.available_at)
        else:
            message.processed_at = utcnow()
            message.last_error = None
            done += 1
    return done


def run_once(
    database: Database, handlers: dict[str, Handler] | None = None, *, settings: Settings | None = None
) -> int:
    """Drain what is due for every tenant once; returns how many messages were delivered.

    Handlers default to ``default_handlers(settings)``, settings to the environment's."""
    handlers = handlers or default_handlers(settings or Settings.from_env())
    with sqlite_begin_immediate():
        return _run_once(database, handlers)


def _run_once(database: Database, handlers: dict[str, Handler]) -> int:
    with database.transaction() as session:
        # A deleted municipality sends nothing more (its data waits for the purge); a suspended one still does.
        stmt = select(Tenant).where(Tenant.status != TenantStatus.DELETED.value).order_by(Tenant.slug)
        tenants = list(session.execute(stmt).scalars())
    delivered = 0
    for tenant in tenants:
        with database.transaction(tenant.id) as session:
            delivered += process_tenant(session, tenant, handlers)
    return delivered


def run_forever(
    database: Database,
    *,
    poll_seconds: float,
    stop: threading.Event,
    settings: Settings | None = None,
    handlers: dict[str, Handler] | None = None,
) -> None:
    handlers = handlers or default_handlers(settings or Settings.from_env())
    log.info("outbox worker started")
    while not stop.is_set():
        try:
            delivered = run_once(database, handlers)
        except Exception:
            log.exception("outbox worker pass failed")
            delivered = 0
        if not delivered:
            stop.wait(poll_seconds)
    log.info("outbox worker stopped")
