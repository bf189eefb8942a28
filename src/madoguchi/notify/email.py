"""Email through the outbox: the backends (log, SMTP, Amazon SES), the worker's handler, and staff retries.

How an email travels: an operation writes an outbox message (``notify.applicant``, ``notify.account``) in the
transaction of the change; the worker runs ``EmailHandler`` for it, which builds the email
(``madoguchi.notify.messages``), sends it and records the outcome in ``email_deliveries``.

* **Once per event.** ``email_deliveries.message_id`` is unique: the outbox message id is the dedupe key. A
  message whose email was sent is not sent again, however often the worker sees it. The SMTP ``Message-ID``
  is ``<outbox-message-id@sender-domain>`` on every attempt, so if the process dies between sending and
  committing, the second copy carries the same ``Message-ID`` and mail systems recognise it.
* **Outside transactions.** The handler builds the email in the worker's claim transaction and returns a
  ``Dispatch``; the worker talks to the SMTP relay (or SES) outside any transaction, at most
  ``worker_endpoint_concurrency`` emails at once per relay, and records the outcome in a transaction of its own.
* **Failures.** A failed send raises ``EmailFailed``; the worker schedules the retry with its backoff and calls
  ``after_rollback``, which records the attempt (and, after the last one, status ``failed``) so staff see it.
* **One-time links** travel sealed in the outbox payload and are removed once the email is sent or given up
  (``madoguchi.outbox``); such an email cannot be sent again by staff.
* **Retry now.** Staff (tenant admins, supervisors) re-queue a failed delivery: its outbox message becomes due
  again with a fresh series of attempts; the action is audited.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import uuid
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import parseaddr
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import case, select
from sqlalchemy.orm import Session

from madoguchi import outbox
from madoguchi.audit import operations as audit
from madoguchi.db import utcnow
from madoguchi.errors import Conflict, NotFound
from madoguchi.identity.models import StaffRole
from madoguchi.notify import messages
from madoguchi.notify.mailbox import MailboxMailer
from madoguchi.notify.models import EmailDelivery
from madoguchi.outbox import Dispatch, OutboxMessage
from madoguchi.tenancy.models import Tenant

if TYPE_CHECKING:
    from madoguchi.config import Settings

log = logging.getLogger(__name__)

PENDING, SENT, FAILED = "pending", "sent", "failed"
#: The topics that become emails (``notify.letter`` is paper, ``notify.staff`` stays in the log).
EMAIL_TOPICS = ("notify.applicant", "notify.account")
#: The staff roles who see the tenant's email deliveries (the console's page and ``/email-deliveries`` of the API).
VIEWER_ROLES = frozenset({StaffRole.TENANT_ADMIN.value, StaffRole.SUPERVISOR.value})


# ---------------------------------------------------------------------------------------------- backends


class Mailer(Protocol):
    """Something that sends a complete email or raises."""

    name: str

    def send(self, message: EmailMessage) -> None: ...


class LogMailer:
    """The embedded default: nothing leaves the machine; the log says that an email would have been sent.

    Only the ``Message-ID`` goes to the log: bodies carry links (address verification) that must not."""

    name = "log"
    endpoint = "log"

    def send(self, message: EmailMessage) -> None:
        log.info("email %s not sent (log backend)", message["Message-ID"])


class SmtpMailer:
    """SMTP with ``smtplib``: one connection per email, optional STARTTLS and login."""

    name = "smtp"

    def __init__(self, settings: Settings) -> None:
        self.host = settings.smtp_host
        self.port = settings.smtp_port
        self.timeout = settings.smtp_timeout
        self.starttls = settings.smtp_starttls
        self.username = settings.smtp_username
        self.password = settings.smtp_password
        #: The relay, as the worker's per-endpoint limit counts it.
        self.endpoint = f"smtp://{self.host}:{self.port}"

    def send(self, message: EmailMessage) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            if self.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self.username:
                smtp.login(self.username, self.password)
            # Raises on any refusal (4xx or 5xx) of the sender, the recipient or the data.
            smtp.send_message(message)


class SesMailer:
    """Amazon SES (API v2) through boto3, the email sent as raw MIME so our ``Message-ID`` and headers stay."""

    name = "ses"

    def __init__(self, settings: Settings) -> None:
        # Lazy on purpose: boto3 is imported only when SES is configured (docs/decisions/0016-layers.md).
        import boto3
        from botocore.config import Config

        # Short timeouts and one retry: the outbox worker retries with its own backoff, and a slow SES must not
        # hold a sending slot for botocore's default minute.
        timeouts = Config(
            connect_timeout=settings.smtp_timeout, read_timeout=settings.smtp_timeout, retries={"max_attempts": 2}
        )
        self.client = boto3.client(
            "sesv2", region_name=settings.ses_region, endpoint_url=settings.ses_endpoint_url or None, config=timeouts
        )
        self.sender = parseaddr(settings.email_from)[1]
        self.configuration_set = settings.ses_configuration_set
        self.endpoint = f"ses://{settings.ses_region}"

    def send(self, message: EmailMessage) -> None:
        request: dict[str, Any] = {"FromEmailAddress": self.sender, "Content": {"Raw": {"Data": message.as_bytes()}}}
        if self.configuration_set:
            request["ConfigurationSetName"] = self.configuration_set
        self.client.send_email(**request)


BACKENDS: dict[str, type[LogMailer] | type[SmtpMailer] | type[SesMailer] | type[MailboxMailer]] = {
    "log": LogMailer,
    "smtp": SmtpMailer,
    "ses": SesMailer,
    # The demo's: each email written as a file under <data_dir>/mailbox (madoguchi.notify.mailbox).
    "mailbox": MailboxMailer,
}
#: Backends that keep the email on this machine: the email log says "recorded, not sent" for them.
NOT_SENDING_BACKENDS = frozenset({LogMailer.name, MailboxMailer.name})


def mailer_for(settings: Settings) -> Mailer:
    """The backend ``settings.email_backend`` names."""
    try:
        backend = BACKENDS[settings.email_backend]
    except KeyError:
        raise ValueError(
            f"MADOGUCHI_EMAIL_BACKEND must be one of {', '.join(BACKENDS)}, not {settings.email_backend!r}"
        ) from None
    return backend() if issubclass(backend, LogMailer) else backend(settings)


# ----------------------------------------------------------------------------------------- the handler


@dataclass(frozen=True)
class _Attempt:
    """What an attempt was about, kept to record it after the savepoint that held it was rolled back."""

    message_id: uuid.UUID
    tenant_id: uuid.UUID
    email: messages.Email
    backend: str
    attempted_at: datetime


class EmailFailed(Exception):
    """A send failed. The worker rolls back the handler's savepoint, schedules the retry (or gives up), then
    calls ``after_rollback``, which writes the attempt to the delivery row."""

    def __init__(self, attempt: _Attempt, error: str) -> None:
        super().__init__(error)
        self.attempt = attempt
        self.error = error

    def after_rollback(self, session: Session, *, retry_at: datetime | None) -> None:
        delivery = _delivery_for(session, self.attempt.message_id) or _new_delivery(session, self.attempt)
        delivery.attempts += 1
        delivery.last_attempt_at = self.attempt.attempted_at
        delivery.last_error = self.error[:2000]
        delivery.next_attempt_at = retry_at
        delivery.status = PENDING if retry_at is not None else FAILED
        session.flush()


def _delivery_for(session: Session, message_id: uuid.UUID, *, lock: bool = False) -> EmailDelivery | None:
    stmt = select(EmailDelivery).where(EmailDelivery.message_id == message_id)
    if lock:
        stmt = stmt.with_for_update()
    return session.execute(stmt.execution_options(populate_existing=True)).scalar_one_or_none()


def _new_delivery(session: Session, attempt: _Attempt) -> EmailDelivery:
    delivery = EmailDelivery(
        tenant_id=attempt.tenant_id,
        message_id=attempt.message_id,
        template=attempt.email.template,
        reference=attempt.email.reference,
        recipient=attempt.email.recipient,
        locale=attempt.email.locale,
        subject=attempt.email.subject[:300],
        status=PENDING,
        attempts=0,
        backend=attempt.backend,
        created_at=attempt.attempted_at,
    )
    session.add(delivery)
    session.flush()
    return delivery


def _describe(exc: Exception) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        return f"SMTP {exc.smtp_code}: {text}"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, reply = next(iter(exc.recipients.values()))
        return f"SMTP {code}: {reply.decode(errors='replace') if isinstance(reply, bytes) else reply}"
    return f"{type(exc).__name__}: {exc}"


class EmailHandler:
    """The outbox handler of ``notify.applicant`` and ``notify.account``: one email per message, at most.

    It builds the email in the worker's claim transaction and hands it back as a ``Dispatch``: the SMTP or SES
    conversation happens outside any transaction, limited per relay like any endpoint."""

    def __init__(self, settings: Settings, mailer: Mailer | None = None) -> None:
        self.settings = settings
        self.mailer = mailer or mailer_for(settings)

    def __call__(self, session: Session, tenant: Tenant, message: OutboxMessage) -> Dispatch | None:
        delivery = _delivery_for(session, message.id, lock=True)
        if delivery is not None and delivery.status == SENT:
            log.info("email for outbox message %s was sent already: not again", message.id)
            return None
        email = messages.build(session, tenant, message, self.settings)
        if email is None:
            log.info(
                "no email for outbox message %s (%s): nobody to send it to", message.id, message.payload.get("template")
            )
            return None
        message_id, tenant_id, tenant_slug, mailer = message.id, tenant.id, tenant.slug, self.mailer

        def send() -> _Attempt:
            attempt = _Attempt(message_id, tenant_id, email, mailer.name, utcnow())
            # Template and reference only: bodies carry links and codes that never go to a log.
            log.info(
                "email %s for tenant %s: %s -> %s via %s",
                message_id,
                tenant_slug,
                email.template,
                email.reference,
                mailer.name,
            )
            try:
                mailer.send(email.mime)
            except Exception as exc:
                raise EmailFailed(attempt, _describe(exc)) from exc
            return attempt

        endpoint = getattr(mailer, "endpoint", mailer.name)
        return Dispatch(endpoint, send, _record_sent, sequence=f"email:{email.recipient.lower()}")


def _record_sent(session: Session, message: OutboxMessage, attempt: _Attempt) -> None:
    delivery = _delivery_for(session, message.id, lock=True) or _new_delivery(session, attempt)
    delivery.attempts += 1
    delivery.status = SENT
    delivery.backend = attempt.backend
    delivery.last_attempt_at = attempt.attempted_at
    delivery.sent_at = utcnow()
    delivery.last_error = None
    delivery.next_attempt_at = None
    session.flush()


def handlers(settings: Settings, mailer: Mailer | None = None) -> dict[str, EmailHandler]:
    """The worker's handlers for the email topics (one mailer shared by them)."""
    handler = EmailHandler(settings, mailer)
    return dict.fromkeys(EMAIL_TOPICS, handler)


# ------------------------------------------------------------------------------------- staff operations

_STATUS_ORDER = case({FAILED: 0, PENDING: 1}, value=EmailDelivery.status, else_=2)


def list_deliveries(
    session: Session, tenant_id: uuid.UUID, *, status: str | None = None, limit: int = 200
) -> list[EmailDelivery]:
    """The tenant's email deliveries: failed first, then pending, then sent; newest first within each."""
    stmt = select(EmailDelivery).where(EmailDelivery.tenant_id == tenant_id)
    if status:
        stmt = stmt.where(EmailDelivery.status == status)
    stmt = stmt.order_by(_STATUS_ORDER, EmailDelivery.created_at.desc(), EmailDelivery.id.desc()).limit(limit)
    return list(session.execute(stmt).scalars())


def get_delivery(session: Session, tenant_id: uuid.UUID, delivery_id: uuid.UUID) -> EmailDelivery:
    stmt = select(EmailDelivery).where(EmailDelivery.tenant_id == tenant_id, EmailDelivery.id == delivery_id)
    delivery = session.execute(stmt).scalar_one_or_none()
    if delivery is None:
        raise NotFound("No such email delivery.")
    return delivery


class OneTimeLinkNotKept(Conflict):
    """A failed email that carried a one-time link cannot be sent again: the link is not kept."""

    def __init__(self) -> None:
        super().__init__(
            "This email carried a one-time link, which is not kept after the last attempt: it cannot be sent "
            "again. Ask the person to request a new link (or send a new invitation)."
        )


def retry_delivery(session: Session, tenant: Tenant, delivery: EmailDelivery, *, actor: str) -> EmailDelivery:
    """Queue a failed email again: its outbox message is due now, with a fresh series of attempts."""
    if delivery.status != FAILED:
        raise Conflict("Only a failed email can be sent again; this one is sent or still being retried.")
    message = session.execute(
        select(OutboxMessage).where(OutboxMessage.tenant_id == tenant.id, OutboxMessage.id == delivery.message_id)
    ).scalar_one_or_none()
    if message is None:
        raise Conflict("The event of this email is no longer kept: it cannot be sent again.")
    if outbox.secrets_scrubbed(message):
        raise OneTimeLinkNotKept()
    now = utcnow()
    message.processed_at = None
    message.available_at = now
    message.attempts = 0
    message.last_error = None
    delivery.status = PENDING
    delivery.next_attempt_at = now
    session.flush()
    audit.record(
        session,
        tenant.id,
        actor=actor,
        action="email.retry",
        object_type="email_delivery",
        object_id=delivery.id,
        data={"template": delivery.template, "reference": delivery.reference, "attempts": delivery.attempts},
    )
    return delivery
