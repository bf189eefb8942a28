"""Webhooks in: a provider's signed notice that a payment moved, received for one tenant, applied later.

``receive`` runs in the request of ``POST /api/v1/t/<tenant>/payments/webhooks/<provider>`` (and in the fake
provider's simulator, which calls it directly): the adapter's ``parse_webhook`` checks the signature over the raw
body and the timestamp (``WEBHOOK_TOLERANCE_SECONDS``); a bad one raises ``WebhookRefused`` (400) and leaves only a
log line. A good one is stored once as a ``PaymentEvent`` (``kind="webhook"``, ``processed_at`` None; the same
provider event id again is a duplicate with no effect) with an outbox message ``payment.webhook``, and the
provider gets its 2xx at once. The outbox worker's ``process_message`` then applies the status to the intent,
forward only (``intents.move``): a late ``failed`` after ``succeeded`` is logged and ignored.

An event whose payment is not one of this tenant's intents (another tenant's, or one we never made) is stored
*unmatched* and changes nothing: a webhook received at tenant A's address can never touch tenant B's intent,
because the intent is looked up inside the tenant the URL names (and row-level security says the same again).
Decision 0045.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from typing import Literal

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from madoguchi import outbox
from madoguchi.config import Settings
from madoguchi.db import utcnow
from madoguchi.errors import DomainError, NotFound
from madoguchi.outbox import OutboxMessage
from madoguchi.payments import intents, states
from madoguchi.payments.models import PaymentEvent, PaymentIntent
from madoguchi.payments.providers import registry
from madoguchi.payments.providers import stripe as _stripe  # noqa: F401  (registers the stripe adapter)
from madoguchi.payments.providers.base import ProviderEvent, SignatureError
from madoguchi.tenancy.models import Tenant

log = logging.getLogger(__name__)

#: Outbox topic of a stored webhook waiting to be applied (payload: {"event_id": the PaymentEvent's id}).
TOPIC = "payment.webhook"
#: Largest webhook body read (Stripe's events are a few kilobytes).
MAX_BODY_BYTES = 256 * 1024

#: What became of a received webhook: stored to be applied, seen before, or about no intent of this tenant.
Outcome = Literal["accepted", "duplicate", "unmatched"]
ACCEPTED: Outcome = "accepted"
DUPLICATE: Outcome = "duplicate"
UNMATCHED: Outcome = "unmatched"
#: The system actor of what webhooks and the jobs change (audit records).
SYSTEM_ACTOR = "system:payments"


class WebhookRefused(DomainError, SignatureError):
    """The signature does not verify, the timestamp is too old, or the body cannot be read (a ``SignatureError``
    too, for callers such as the fake provider's simulator that catch the adapter's error)."""

    status, slug, title = 400, "webhook-refused", "The webhook's signature or timestamp is not valid"


def _settings(settings: Settings | None) -> Settings:
    if settings is not None:
        return settings
    configured: Settings = current_app.config["MADOGUCHI"]
    return configured


def _intent_of(session: Session, tenant: Tenant, provider: str, event: ProviderEvent) -> PaymentIntent | None:
    """This tenant's intent the event is about, or None (unmatched). The metadata's tenant, when the provider
    echoes it, must be this one too: an event about another tenant's payment never matches here."""
    claimed = event.metadata.get("tenant_id")
    if not event.provider_ref or (claimed is not None and claimed != str(tenant.id)):
        return None
    return session.execute(
        select(PaymentIntent).where(
            PaymentIntent.tenant_id == tenant.id,
            PaymentIntent.provider == provider,
            PaymentIntent.provider_ref == event.provider_ref,
        )
    ).scalar_one_or_none()


def receive(
    session: Session,
    tenant: Tenant,
    provider_name: str,
    headers: dict[str, str],
    raw_body: bytes,
    *,
    settings: Settings | None = None,
) -> Outcome:
    """Check, store and queue one webhook for ``tenant`` (no commit). ``WebhookRefused`` when the signature or the
    timestamp is bad (nothing stored), ``NotFound`` for a provider that does not exist. ``settings`` default to
    the app's."""
    if provider_name not in registry.registered():
        raise NotFound("No such payment provider.")
    provider = registry.provider_for(provider_name, tenant=tenant, settings=_settings(settings), session=session)
    if len(raw_body) > MAX_BODY_BYTES:
        log.warning("payment webhook refused for tenant %s (%s): body of %d bytes", tenant.slug, provider_name,
                    len(raw_body))  # fmt: skip
        raise WebhookRefused("The body is too large.")
    try:
        event = provider.parse_webhook(headers, raw_body)
    except SignatureError as refusal:
        log.warning("payment webhook refused for tenant %s (%s): %s", tenant.slug, provider_name, refusal)
        raise WebhookRefused(str(refusal)) from None
    intent = _intent_of(session, tenant, provider_name, event)
    note = None if intent is not None else f"unmatched: no intent of this tenant for {event.provider_ref!r}"
    if intent is not None and event.status == states.FAILED and event.failure_code:
        note = event.failure_code  # kept on the intent once applied (why the payment failed)
    mismatch = intent is not None and amount_mismatch(intent, event.status, event.amount_jpy)
    if mismatch:
        note = mismatch
        log.error("payment webhook %s for tenant %s: %s", event.event_id, tenant.slug, mismatch)
    try:
        with session.begin_nested():
            row = PaymentEvent(
                tenant_id=tenant.id,
                intent_id=intent.id if intent is not None else None,
                kind="webhook",
                provider=provider_name,
                provider_event_id=event.event_id,
                provider_event_type=event.event_type,
                payload_sha256=hashlib.sha256(raw_body).hexdigest(),
                signature_ok=True,
                from_status=intent.status if intent is not None else None,
                to_status=event.status,
                note=note,
                at=utcnow(),
                # Nothing to apply for an unmatched event, one that moves no status, or a wrong amount: done at once.
                processed_at=None if intent is not None and event.status is not None and not mismatch else utcnow(),
            )
            session.add(row)
            session.flush()
    except IntegrityError:
        log.info("payment webhook %s for tenant %s (%s) is a duplicate", event.event_id, tenant.slug, provider_name)
        return DUPLICATE
    if intent is None:
        log.warning("payment webhook %s (%s, %s) for tenant %s matches none of its intents", event.event_id,
                    provider_name, event.provider_ref, tenant.slug)  # fmt: skip
        return UNMATCHED
    if row.processed_at is None:
        outbox.enqueue(session, TOPIC, {"event_id": str(row.id), "intent_id": str(intent.id)})
    return ACCEPTED


def amount_mismatch(intent: PaymentIntent, status: str | None, amount_jpy: int | None) -> str | None:
    """Why a provider's ``succeeded`` must not be applied to ``intent``: it names another amount than the intent's
    (then a person looks at it: the 会計管理者's reconciliation shows the payment), or None."""
    if status == states.SUCCEEDED and amount_jpy is not None and amount_jpy != intent.amount_jpy:
        return f"amount mismatch: the provider says {amount_jpy} yen, intent {intent.id} is {intent.amount_jpy} yen"
    return None


def process_message(session: Session, tenant: Tenant, message: OutboxMessage) -> None:
    """The outbox worker's handler of ``payment.webhook``: apply the stored event to its intent, once."""
    event = session.execute(
        select(PaymentEvent).where(
            PaymentEvent.tenant_id == tenant.id, PaymentEvent.id == uuid.UUID(str(message.payload["event_id"]))
        )
    ).scalar_one_or_none()
    if event is None or event.processed_at is not None or event.intent_id is None or event.to_status is None:
        return
    intent = session.execute(
        select(PaymentIntent)
        .where(PaymentIntent.tenant_id == tenant.id, PaymentIntent.id == event.intent_id)
        .with_for_update()
    ).scalar_one()
    apply_status(session, tenant, intent, event.to_status, kind="webhook",
                 note=event.note or f"{event.provider_event_type} {event.provider_event_id}")  # fmt: skip
    event.processed_at = utcnow()


def apply_status(session: Session, tenant: Tenant, intent: PaymentIntent, status: str, *, kind: str, note: str) -> bool:
    """Move ``intent`` to the provider's ``status`` if that is forward (True); otherwise ``intents.move`` logs it as
    ``ignored`` and a warning names it, loudest when money was taken for an intent that had already ended (a late
    success after an expiry or a cancel: the 会計管理者 refunds or reconciles it)."""
    if status == intent.status:
        return False
    moved = intents.move(session, tenant, intent, status, kind=kind, actor=SYSTEM_ACTOR, note=note)
    if not moved:
        level = logging.ERROR if status == states.SUCCEEDED else logging.WARNING
        log.log(level, "payment intent %s of tenant %s is %s: %s to %s ignored (%s)", intent.id, tenant.slug,
                intent.status, kind, status, note)  # fmt: skip
    return moved
