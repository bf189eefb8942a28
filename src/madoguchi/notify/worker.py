"""The outbox worker: delivers what transactions left in the outbox, once each, retrying with backoff.

Runs as ``madoguchi worker`` (production, any number of processes on PostgreSQL) or as a thread inside
``madoguchi demo``. SQLite ignores ``FOR UPDATE SKIP LOCKED``, so the embedded default runs exactly one worker
(see DESIGN §7); there the lease below is what keeps one worker from taking a message twice.

How a message travels (every database step is its own short transaction, bound to the message's tenant so
row-level security applies to the worker exactly as to a web request; nothing is sent while a transaction is
open):

1. **Claim.** For each tenant in turn, due messages are selected ``FOR UPDATE SKIP LOCKED`` and their handler
   runs in a savepoint. A handler that only writes rows (a webhook fan-out, a log line) finishes the message
   right there. A handler whose work leaves the machine (an email, a webhook POST) returns a ``Dispatch``
   instead, and the message gets a *lease*: ``lease_id`` and ``lease_expires_at``, during which no other
   worker takes it.
2. **In flight.** Just before sending, one short transaction marks the message ``in_flight_at`` (renewing the
   lease), provided the claim is still this worker's.
3. **Send** outside any transaction, on a bounded thread pool, with at most ``worker_tenant_concurrency``
   sends per tenant and ``worker_endpoint_concurrency`` per endpoint (a webhook's scheme, host and port; the
   SMTP relay), so one dead or slow receiver holds only its share of the pool and never another tenant.
4. **Record** the outcome in its own transaction: done, or the next attempt after ``backoff``; after
   ``MAX_ATTEMPTS`` it gives up. A finished message loses its sealed secrets (``outbox.scrub_secrets``).

A worker killed at any moment re-sends, once the lease has expired, at most the messages that were in flight
(marked, not yet recorded), each with the same id (``webhook-id``, ``Message-ID``); messages it had claimed but
not started were never sent. docs/operations.md says the same to operators.

**The app.** Emails are rendered with the app's translations (Flask-Babel's ``force_locale``, see
``madoguchi.notify.messages``), so the worker is given the app (``madoguchi worker`` builds it once at start; the
demo hands over the one it serves) and runs each handler in a fresh app context of its own: nothing one message
leaves in ``g`` reaches the next. Without an app, handlers run in whatever context the caller has pushed.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from madoguchi import outbox
from madoguchi.config import Settings
from madoguchi.db import Database, new_id, set_sqlite_begin_immediate, sqlite_begin_immediate, utcnow
from madoguchi.notify import email, webhooks
from madoguchi.notify.mailbox import LetterToMailbox, MailboxMailer
from madoguchi.outbox import Dispatch, OutboxMessage
from madoguchi.payments import webhooks as payment_webhooks
from madoguchi.tenancy.models import Tenant, TenantStatus

log = logging.getLogger(__name__)

#: A handler finishes a message in the claim transaction (returns None) or hands back what to send.
Handler = Callable[[Session, Tenant, OutboxMessage], Dispatch | None]

MAX_ATTEMPTS = 8
#: Messages one worker holds per tenant (claimed, waiting or being sent) at most.
BATCH_SIZE = 50
#: How often a waiting worker looks at its stop flag and at finished sends.
_TICK_SECONDS = 0.05


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
        # Payment providers' webhooks, stored by the request that received them, applied here.
        payment_webhooks.TOPIC: payment_webhooks.process_message,
    }


def lease_shorter_than_sends(settings: Settings) -> str | None:
    """Why the lease is too short for the send timeouts (another worker would take a message still being
    sent, and send it twice), or None when it is long enough."""
    longest = max(
        settings.webhook_connect_timeout_seconds + settings.webhook_read_timeout_seconds, settings.smtp_timeout
    )
    if settings.worker_lease_seconds <= longest:
        return (
            f"MADOGUCHI_WORKER_LEASE_SECONDS ({settings.worker_lease_seconds:g}) must be longer than the longest send "
            f"({longest:g} s: webhook connect + read timeout, or the SMTP timeout)"
        )
    return None


# ------------------------------------------------------------------------------------- recording outcomes


def _after_rollback(session: Session, message: OutboxMessage, exc: Exception, retry_at: datetime | None) -> None:
    """A handler's exception may carry ``after_rollback(session, retry_at=...)``: work that must outlive the
    failed attempt (a webhook's delivery log records it). ``retry_at`` None: gave up."""
    record = getattr(exc, "after_rollback", None)
    if record is None:
        return
    try:
        with session.begin_nested():
            record(session, retry_at=retry_at)
    except Exception:
        log.exception("recording the failure of outbox message %s failed", message.id)


def _release(message: OutboxMessage) -> None:
    message.lease_id = message.lease_expires_at = message.in_flight_at = None


def _finish(message: OutboxMessage) -> None:
    message.processed_at = utcnow()
    _release(message)
    # A finished message's one-time links have been handed over (or never will be): they are not kept.
    outbox.scrub_secrets(message)


def _fail(session: Session, message: OutboxMessage, exc: Exception) -> None:
    """Record a failed attempt (``message.attempts`` already counts it): the next one after a backoff, or give up."""
    message.last_error = f"{type(exc).__name__}: {exc}"[:2000]
    if message.attempts >= MAX_ATTEMPTS:
        log.error("outbox message %s gave up after %d attempts: %s", message.id, message.attempts, exc)
        _finish(message)
        _after_rollback(session, message, exc, None)
    else:
        message.available_at = utcnow() + backoff(message.attempts)
        _release(message)
        log.warning("outbox message %s failed (attempt %d): %s", message.id, message.attempts, exc)
        _after_rollback(session, message, exc, message.available_at)


# ----------------------------------------------------------------------------------------------- sending


@dataclass(frozen=True)
class _Job:
    """A claimed message waiting for, or holding, a sending slot."""

    tenant_id: uuid.UUID
    tenant_slug: str
    message_id: uuid.UUID
    lease_id: uuid.UUID
    dispatch: Dispatch


class _Sender:
    """A bounded thread pool that starts a job only when its tenant and its endpoint have a free slot."""

    def __init__(self, database: Database, settings: Settings) -> None:
        self.database = database
        self.lease = timedelta(seconds=settings.worker_lease_seconds)
        self.concurrency = max(1, settings.worker_concurrency)
        self.per_tenant = max(1, settings.worker_tenant_concurrency)
        self.per_endpoint = max(1, settings.worker_endpoint_concurrency)
        self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="outbox-send")
        self._changed = threading.Condition()
        self._waiting: deque[_Job] = deque()
        self._running = 0
        self._running_per_tenant: Counter[uuid.UUID] = Counter()
        self._running_per_endpoint: Counter[str] = Counter()
        self._held_per_tenant: Counter[uuid.UUID] = Counter()
        self._running_sequences: set[str] = set()
        self._closing = False
        #: Sends that succeeded, and jobs finished either way (a waiting worker wakes up on the latter).
        self.delivered = 0
        self.finished = 0

    def held(self, tenant_id: uuid.UUID) -> int:
        with self._changed:
            return self._held_per_tenant[tenant_id]

    def add(self, jobs: list[_Job]) -> None:
        with self._changed:
            for job in jobs:
                self._waiting.append(job)
                self._held_per_tenant[job.tenant_id] += 1
            self._start_what_fits()

    def _start_what_fits(self) -> None:
        """Start every waiting job whose tenant and endpoint have room, oldest first (caller holds the lock)."""
        if self._closing:
            return
        # A sequence with a job running or passed over waits: its messages go out in order, one at a time.
        busy_sequences = set(self._running_sequences)
        for job in list(self._waiting):
            if self._running >= self.concurrency:
                return
            sequence = job.dispatch.sequence
            if (
                self._running_per_tenant[job.tenant_id] >= self.per_tenant
                or self._running_per_endpoint[job.dispatch.endpoint] >= self.per_endpoint
                or (sequence is not None and sequence in busy_sequences)
            ):
                if sequence is not None:
                    busy_sequences.add(sequence)
                continue
            if sequence is not None:
                self._running_sequences.add(sequence)
                busy_sequences.add(sequence)
            self._waiting.remove(job)
            self._running += 1
            self._running_per_tenant[job.tenant_id] += 1
            self._running_per_endpoint[job.dispatch.endpoint] += 1
            self._pool.submit(contextvars.copy_context().run, self._run, job)

    def _run(self, job: _Job) -> None:
        delivered = False
        try:
            # SQLite: this thread's transactions take the write lock up front, as the claim's do.
            set_sqlite_begin_immediate(True)
            delivered = self._send(job)
        except Exception:
            log.exception("outbox message %s: sending or recording failed", job.message_id)
        finally:
            with self._changed:
                self._running -= 1
                self._running_per_tenant[job.tenant_id] -= 1
                self._running_per_endpoint[job.dispatch.endpoint] -= 1
                self._running_sequences.discard(job.dispatch.sequence or "")
                self._held_per_tenant[job.tenant_id] -= 1
                self.delivered += int(delivered)
                self.finished += 1
                self._start_what_fits()
                self._changed.notify_all()

    def _owned(self, session: Session, job: _Job) -> OutboxMessage | None:
        stmt = (
            select(OutboxMessage)
            .where(OutboxMessage.id == job.message_id, OutboxMessage.lease_id == job.lease_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return session.execute(stmt).scalar_one_or_none()

    def _send(self, job: _Job) -> bool:
        with self.database.transaction(job.tenant_id) as session:
            message = self._owned(session, job)
            if message is None or message.processed_at is not None:
                log.info("outbox message %s was taken over by another worker: not sent here", job.message_id)
                return False
            now = utcnow()
            message.in_flight_at = now
            message.lease_expires_at = now + self.lease
            message.attempts += 1
        try:
            outcome: Any = job.dispatch.send()
            failure: Exception | None = None
        except Exception as exc:
            outcome, failure = None, exc
        with self.database.transaction(job.tenant_id) as session:
            message = self._owned(session, job)
            if message is None:
                log.warning("outbox message %s: lease lost while sending; another worker sends it", job.message_id)
                return False
            if failure is not None:
                _fail(session, message, failure)
                return False
            job.dispatch.record(session, message, outcome)
            message.last_error = None
            _finish(message)
            return True

    def wait(self, until: Callable[[], bool], timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            while not until():
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._changed.wait(remaining)
            return True

    def idle(self) -> bool:
        return not self._waiting and not self._running

    def close(self) -> None:
        """Start nothing more, give the waiting jobs' leases back at once, and let the running ones finish
        (each bounded by its send timeouts)."""
        with self._changed:
            self._closing = True
            abandoned = list(self._waiting)
            self._waiting.clear()
        for job in abandoned:
            try:
                with self.database.transaction(job.tenant_id) as session:
                    session.execute(
                        update(OutboxMessage)
                        .where(OutboxMessage.id == job.message_id, OutboxMessage.lease_id == job.lease_id)
                        .values(lease_id=None, lease_expires_at=None)
                    )
            except Exception:
                log.warning("could not give back the lease of outbox message %s; it expires by itself", job.message_id)
        self._pool.shutdown(wait=True)


# ---------------------------------------------------------------------------------------------- claiming


class Worker:
    """One worker: claims due messages tenant by tenant and sends them through a ``_Sender``."""

    def __init__(
        self, database: Database, handlers: dict[str, Handler], settings: Settings, app: Flask | None = None
    ) -> None:
        self.database = database
        self.handlers = handlers
        self.settings = settings
        self.app = app
        self.sender = _Sender(database, settings)
        #: Messages finished in the claim transaction (fan-outs, log lines, nothing to do).
        self.finished_in_claim = 0

    @property
    def delivered(self) -> int:
        return self.finished_in_claim + self.sender.delivered

    def claim_round(self) -> int:
        """Claim what is due for every tenant (up to what this worker may hold of each); returns how many
        messages were finished or handed to the sender."""
        with sqlite_begin_immediate():
            with self.database.transaction() as session:
                # A deleted municipality sends nothing more (its data waits for the purge); a suspended one does.
                stmt = select(Tenant).where(Tenant.status != TenantStatus.DELETED.value).order_by(Tenant.slug)
                tenants = list(session.execute(stmt).scalars())
            progress = 0
            for tenant in tenants:
                room = BATCH_SIZE - self.sender.held(tenant.id)
                if room > 0:
                    progress += self._claim_tenant(tenant, room)
        return progress

    def _claim_tenant(self, tenant: Tenant, room: int) -> int:
        jobs: list[_Job] = []
        finished = 0
        with self.database.transaction(tenant.id) as session:
            now = utcnow()
            stmt = (
                select(OutboxMessage)
                .where(
                    OutboxMessage.processed_at.is_(None),
                    OutboxMessage.available_at <= now,
                    or_(OutboxMessage.lease_expires_at.is_(None), OutboxMessage.lease_expires_at <= now),
                )
                .order_by(OutboxMessage.created_at)
                .limit(room)
                .with_for_update(skip_locked=True)
            )
            for message in session.execute(stmt).scalars():
                if message.in_flight_at is not None:
                    log.warning("outbox message %s: its worker stopped while sending; sending it again", message.id)
                handler = self.handlers.get(message.topic)
                try:
                    if handler is None:
                        raise LookupError(f"no handler for topic {message.topic!r}")
                    with self._app_context(), session.begin_nested():
                        dispatch = handler(session, tenant, message)
                except Exception as exc:
                    message.attempts += 1
                    _fail(session, message, exc)
                    continue
                if dispatch is None:
                    message.attempts += 1
                    message.last_error = None
                    _finish(message)
                    finished += 1
                    continue
                message.lease_id = new_id()
                message.lease_expires_at = now + self.sender.lease
                message.in_flight_at = None
                jobs.append(_Job(tenant.id, tenant.slug, message.id, message.lease_id, dispatch))
        # Only once the leases are committed may the sends start.
        self.sender.add(jobs)
        self.finished_in_claim += finished
        return finished + len(jobs)

    def _app_context(self) -> contextlib.AbstractContextManager[Any]:
        """A context of the worker's app for one message (emails need its translations); none without an app."""
        return self.app.app_context() if self.app is not None else contextlib.nullcontext()

    def close(self) -> None:
        self.sender.close()


def run_once(
    database: Database,
    handlers: dict[str, Handler] | None = None,
    *,
    settings: Settings | None = None,
    app: Flask | None = None,
) -> int:
    """Claim what is due for every tenant once and wait until it is sent; returns how many messages were
    delivered (finished without error).

    Handlers default to ``default_handlers(settings)``, settings to the environment's; ``app`` renders emails."""
    settings = settings or Settings.from_env()
    worker = Worker(database, handlers or default_handlers(settings), settings, app)
    try:
        worker.claim_round()
        worker.sender.wait(worker.sender.idle)
    finally:
        worker.close()
    return worker.delivered


def run_forever(
    database: Database,
    *,
    poll_seconds: float,
    stop: threading.Event,
    settings: Settings | None = None,
    handlers: dict[str, Handler] | None = None,
    app: Flask | None = None,
) -> None:
    """Claim and send until ``stop`` is set: a new claim round as soon as the last one found work or a send
    finished (room for more), else after ``poll_seconds``. On stop, sends in flight finish first."""
    settings = settings or Settings.from_env()
    worker = Worker(database, handlers or default_handlers(settings), settings, app)
    log.info("outbox worker started")
    try:
        while not stop.is_set():
            finished_before = worker.sender.finished

            def a_send_finished(before: int = finished_before) -> bool:
                return worker.sender.finished != before

            try:
                progress = worker.claim_round()
            except Exception:
                log.exception("outbox worker pass failed")
                progress = 0
            if progress:
                continue
            deadline = time.monotonic() + poll_seconds
            while not stop.is_set() and time.monotonic() < deadline:
                if worker.sender.wait(a_send_finished, timeout=_TICK_SECONDS):
                    break
    finally:
        worker.close()
        log.info("outbox worker stopped")
