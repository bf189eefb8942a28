"""Signed webhooks: subscriptions, fan-out of events to deliveries, delivery over HTTP, replay.

How an event travels (every step is a row written in a transaction, nothing is sent from a web request):

1. A domain operation writes an outbox message (``application.submitted``, ``application.state_changed``,
   ``document.issued``) in the transaction of the change.
2. The outbox worker runs ``fan_out``: one ``WebhookDelivery`` per active subscription to that event (unique
   per subscription and message, so an event is never delivered twice to one subscription) and one
   ``webhook.deliver`` outbox message per delivery.
3. The worker runs the deliver handler, which says what to send where (a ``Dispatch``); outside any
   transaction, and with at most a few sends at once per endpoint, the worker checks the target again (DNS
   may have changed since subscription), POSTs the signed body to the address that was checked (short connect
   and read timeouts) and records the outcome. A failure is retried with exponential backoff and, after the
   last attempt, the delivery is marked ``failed``.

Signing, the SSRF checks and the HTTP call are in ``notify.webhook_transport``; every query in
``notify.repository``.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from madoguchi import outbox
from madoguchi.audit import operations as audit
from madoguchi.config import Settings
from madoguchi.crypto import Sealer
from madoguchi.db import utcnow
from madoguchi.errors import Conflict, NotFound, ValidationFailed
from madoguchi.notify import repository, webhook_transport
from madoguchi.notify.models import WebhookDelivery, WebhookSubscription

# Re-exported: the API's routes and schemas and tenant import read these through this module.
from madoguchi.notify.repository import deliveries_page as deliveries_page
from madoguchi.notify.repository import list_subscriptions as list_subscriptions
from madoguchi.notify.webhook_transport import MAX_URL_LENGTH as MAX_URL_LENGTH
from madoguchi.notify.webhook_transport import new_secret as new_secret
from madoguchi.outbox import Dispatch, OutboxMessage
from madoguchi.payments import events as payment_events
from madoguchi.tenancy.models import Tenant

log = logging.getLogger(__name__)

APPLICATION_SUBMITTED = "application.submitted"
APPLICATION_STATE_CHANGED = "application.state_changed"
DOCUMENT_ISSUED = "document.issued"
PAYMENT_SUCCEEDED = payment_events.PAYMENT_SUCCEEDED
#: A refund of a fee was paid back (``payments.refunds``; payload: application_id, reference, intent_id, amount_jpy,
#: status).
PAYMENT_REFUNDED = "payment.refunded"
EVENTS = (APPLICATION_SUBMITTED, APPLICATION_STATE_CHANGED, DOCUMENT_ISSUED, PAYMENT_SUCCEEDED, PAYMENT_REFUNDED)

#: Outbox topic of one delivery attempt series (payload: {"delivery_id": ...}).
DELIVER_TOPIC = "webhook.deliver"

PENDING, DELIVERED, FAILED, CANCELLED = "pending", "delivered", "failed", "cancelled"

#: Active subscriptions per owner (a vendor app, or the tenant admins together).
MAX_SUBSCRIPTIONS = 25

# -------------------------------------------------------------------------------------- subscriptions


def _sealer(settings: Settings) -> Sealer:
    return Sealer(settings.data_key)


def get_subscription(
    session: Session, tenant_id: uuid.UUID, subscription_id: uuid.UUID, *, client_id: uuid.UUID | None
) -> WebhookSubscription:
    subscription = repository.find_subscription(session, tenant_id, subscription_id, client_id=client_id)
    if subscription is None:
        raise NotFound("No such webhook subscription.")
    return subscription


def subscribe(
    session: Session,
    tenant: Tenant,
    *,
    actor: str,
    client_id: uuid.UUID | None,
    url: str,
    events: list[str],
    description: str | None,
    settings: Settings,
) -> tuple[WebhookSubscription, str]:
    """Create a subscription; returns it with its signing secret (the only time the secret is readable)."""
    unknown = sorted({e for e in events if e not in EVENTS})
    if unknown or not events:
        raise ValidationFailed(errors={"events": [f"must be one or more of: {', '.join(EVENTS)}"]})
    url = url.strip()
    try:
        webhook_transport.check_url(url, allow_private=settings.webhooks_allow_private)
    except webhook_transport.UnsafeTarget as refusal:
        raise ValidationFailed("The webhook URL is not acceptable.", errors={"url": [str(refusal)]}) from None
    owned = repository.list_subscriptions(session, tenant.id, client_id=client_id)
    if client_id is None:
        owned = [s for s in owned if s.client_id is None]
    if len(owned) >= MAX_SUBSCRIPTIONS:
        raise Conflict(f"At most {MAX_SUBSCRIPTIONS} webhook subscriptions; delete one first.")
    secret = webhook_transport.new_secret()
    subscription = WebhookSubscription(
        tenant_id=tenant.id,
        client_id=client_id,
        url=url,
        events=[e for e in EVENTS if e in events],
        description=description,
        secret_sealed=_sealer(settings).seal(tenant.id, secret),
        created_by=actor,
        created_at=utcnow(),
    )
    session.add(subscription)
    session.flush()
    audit.record(
        session,
        tenant.id,
        actor=actor,
        action="webhook.subscribe",
        object_type="webhook_subscription",
        object_id=subscription.id,
        data={"url": url, "events": subscription.events, "client_id": str(client_id) if client_id else None},
    )
    return subscription, secret


def unsubscribe(session: Session, tenant: Tenant, subscription: WebhookSubscription, *, actor: str) -> None:
    """Stop sending to a subscription. Its log stays; what was still pending is cancelled."""
    now = utcnow()
    subscription.deleted_at = now
    repository.close_deliveries(
        session, subscription.id, from_status=PENDING, to_status=CANCELLED, reason="the subscription was deleted"
    )
    session.flush()
    audit.record(
        session,
        tenant.id,
        actor=actor,
        action="webhook.unsubscribe",
        object_type="webhook_subscription",
        object_id=subscription.id,
        data={"url": subscription.url},
    )


def get_delivery(
    session: Session, tenant_id: uuid.UUID, subscription: WebhookSubscription, delivery_id: uuid.UUID
) -> WebhookDelivery:
    delivery = repository.find_delivery(session, tenant_id, subscription.id, delivery_id)
    if delivery is None:
        raise NotFound("No such delivery.")
    return delivery


def replay(session: Session, tenant: Tenant, delivery: WebhookDelivery, *, actor: str) -> WebhookDelivery:
    """Send a delivered or failed event again: same ``webhook-id`` and body, a fresh series of attempts."""
    if delivery.status == PENDING:
        raise Conflict(
            "This delivery is still pending; it is retried automatically.",
            next_attempt_at=delivery.next_attempt_at.isoformat() if delivery.next_attempt_at else None,
        )
    job = outbox.enqueue(session, DELIVER_TOPIC, {"delivery_id": str(delivery.id), "replay": True})
    delivery.job_id = job.id
    delivery.status = PENDING
    delivery.next_attempt_at = job.available_at
    session.flush()
    audit.record(
        session,
        tenant.id,
        actor=actor,
        action="webhook.replay",
        object_type="webhook_delivery",
        object_id=delivery.id,
        data={"subscription": str(delivery.subscription_id), "webhook_id": str(delivery.message_id)},
    )
    return delivery


# ------------------------------------------------------------------------------------ worker handlers


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def event_body(session: Session, tenant: Tenant, message: OutboxMessage) -> str:
    """The JSON body of an event, as sent: ids, reference, procedure and states. No personal data."""
    payload = message.payload
    data: dict[str, Any] = {"tenant": tenant.slug, "application_id": str(payload["application_id"])}
    if message.topic.startswith("payment."):
        data.update(
            reference=payload["reference"],
            intent_id=str(payload["intent_id"]),
            amount_jpy=int(payload["amount_jpy"]),
            status=payload["status"],
        )
    elif message.topic == DOCUMENT_ISSUED:
        application = repository.application_by_id(session, uuid.UUID(str(payload["application_id"])))
        data.update(
            reference=application.reference,
            service_key=application.service_key,
            document_id=str(payload["document_id"]),
            document_kind=payload["kind"],
        )
    else:
        data.update(
            reference=payload["reference"],
            service_key=payload["service_key"],
            from_state=payload["from"],
            to_state=payload["to"],
        )
    body = {"type": message.topic, "timestamp": _iso(message.created_at), "data": data}
    return json.dumps(body, separators=(",", ":"))


def _vendor_apps_entitled(session: Session, application_id: uuid.UUID, client_ids: set[uuid.UUID]) -> set[uuid.UUID]:
    """Of ``client_ids``, the vendor apps that may hear about the application: the one that filed it, and those
    its applicant has consented to (a consent the resident withdraws ends the events with it)."""
    if not client_ids:
        return set()
    row = repository.filer_and_applicant(session, application_id)
    if row is None:
        return set()
    entitled = {row.filed_by_client_id} & client_ids
    if row.applicant_account_id is not None:
        entitled |= repository.clients_consented_by(session, row.applicant_account_id, client_ids)
    return entitled


def fan_out(session: Session, tenant: Tenant, message: OutboxMessage) -> None:
    """One delivery (and one ``webhook.deliver`` job) per subscription that existed when the event happened
    (deleted subscriptions, those of revoked vendor apps, and those of vendor apps the applicant never consented to
    get nothing)."""
    subscriptions = [
        s for s in repository.subscriptions_existing_at(session, message.created_at) if message.topic in s.events
    ]
    vendor_apps = {s.client_id for s in subscriptions if s.client_id is not None}
    revoked = repository.revoked_clients(session, vendor_apps)
    entitled = _vendor_apps_entitled(session, uuid.UUID(str(message.payload["application_id"])), vendor_apps - revoked)
    # The municipality's own subscriptions hear every event; a vendor app only of the applications it filed or
    # whose resident consented to it (issue 12: a webhooks:manage scope is no licence to watch everyone).
    subscriptions = [s for s in subscriptions if s.client_id is None or s.client_id in entitled]
    if not subscriptions:
        return
    already = repository.subscriptions_delivered(session, message.id)
    body = event_body(session, tenant, message)
    for subscription in subscriptions:
        if subscription.id in already:
            continue
        delivery = WebhookDelivery(
            tenant_id=tenant.id,
            subscription_id=subscription.id,
            message_id=message.id,
            event=message.topic,
            body=body,
            status=PENDING,
            created_at=utcnow(),
        )
        session.add(delivery)
        session.flush()
        job = outbox.enqueue(session, DELIVER_TOPIC, {"delivery_id": str(delivery.id)})
        delivery.job_id = job.id
        delivery.next_attempt_at = job.available_at
    session.flush()


class DeliveryFailed(Exception):
    """An attempt failed. The worker rolls back the handler's savepoint, schedules the retry, then calls
    ``after_rollback`` so the attempt is still written to the delivery log."""

    def __init__(self, delivery_id: uuid.UUID, attempted_at: datetime, error: str, status_code: int | None) -> None:
        super().__init__(error)
        self.delivery_id = delivery_id
        self.attempted_at = attempted_at
        self.error = error
        self.status_code = status_code

    def after_rollback(self, session: Session, *, retry_at: datetime | None) -> None:
        delivery = repository.reload_delivery(session, self.delivery_id)
        if delivery is None:
            return
        delivery.attempts += 1
        delivery.last_attempt_at = self.attempted_at
        delivery.last_status_code = self.status_code
        delivery.last_error = self.error[:2000]
        delivery.next_attempt_at = retry_at
        if retry_at is None:
            delivery.status = FAILED
        session.flush()


def _describe(status: int) -> str:
    if 300 <= status < 400:
        return f"HTTP {status}: redirects are not followed"
    return f"HTTP {status}"


def _cancel(delivery: WebhookDelivery, reason: str) -> None:
    delivery.status, delivery.job_id, delivery.next_attempt_at = CANCELLED, None, None
    delivery.last_error = reason


def deliver(session: Session, tenant: Tenant, message: OutboxMessage, *, settings: Settings) -> Dispatch | None:
    """One attempt of one delivery (the ``webhook.deliver`` handler): what to POST where, or None when there is
    nothing to do. The target is checked again (DNS may have changed) when the worker sends, outside any
    transaction."""
    delivery_id = uuid.UUID(str(message.payload["delivery_id"]))
    delivery = _current_delivery(session, delivery_id, message.id)
    if delivery is None:
        log.info("webhook job %s has nothing to do (delivery %s replaced, done or gone)", message.id, delivery_id)
        return None
    subscription = repository.subscription_by_id(session, delivery.subscription_id)
    if subscription.deleted_at is not None:
        _cancel(delivery, "the subscription was deleted")
        return None
    if subscription.client_id is not None and repository.revoked_clients(session, {subscription.client_id}):
        _cancel(delivery, "the vendor app was revoked")
        return None
    url, sealed, body, webhook_id = (
        subscription.url,
        subscription.secret_sealed,
        delivery.body,
        str(delivery.message_id),
    )

    def send() -> tuple[datetime, int]:
        attempted_at = utcnow()
        status: int | None = None
        try:
            secret = _sealer(settings).open(tenant.id, sealed)
            target = webhook_transport.check_url(url, allow_private=settings.webhooks_allow_private)
            headers = webhook_transport.signed_headers(secret, webhook_id, body)
            status = webhook_transport.post(
                target,
                headers,
                body,
                connect_timeout=settings.webhook_connect_timeout_seconds,
                read_timeout=settings.webhook_read_timeout_seconds,
            )
        except webhook_transport.UnsafeTarget as refusal:
            raise DeliveryFailed(delivery_id, attempted_at, f"blocked: the URL {refusal}", None) from refusal
        except Exception as exc:  # whatever went wrong goes into the log the vendor reads
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            raise DeliveryFailed(delivery_id, attempted_at, error, None) from exc
        if not 200 <= status < 300:
            raise DeliveryFailed(delivery_id, attempted_at, _describe(status), status)
        return attempted_at, status

    def record(session: Session, message: OutboxMessage, outcome: tuple[datetime, int]) -> None:
        delivery = _current_delivery(session, delivery_id, message.id)
        if delivery is None:  # replaced or cancelled while it was being sent
            return
        attempted_at, status = outcome
        delivery.attempts += 1
        delivery.status = DELIVERED
        delivery.last_status_code = status
        delivery.last_error = None
        delivery.last_attempt_at = delivery.delivered_at = attempted_at
        delivery.next_attempt_at = None
        session.flush()

    return Dispatch(webhook_transport.endpoint_of(url), send, record, sequence=f"webhook:{subscription.id}")


def _current_delivery(session: Session, delivery_id: uuid.UUID, job_id: uuid.UUID) -> WebhookDelivery | None:
    """The delivery, locked, if ``job_id`` is still the job in charge of it and it is pending."""
    delivery = repository.reload_delivery(session, delivery_id, lock=True)
    if delivery is None or delivery.job_id != job_id or delivery.status != PENDING:
        return None
    return delivery


def delivery_handler(settings: Settings) -> Callable[[Session, Tenant, OutboxMessage], Dispatch | None]:
    """The ``webhook.deliver`` handler bound to the settings it needs (data key, allow-private, timeouts)."""

    def handle(session: Session, tenant: Tenant, message: OutboxMessage) -> Dispatch | None:
        return deliver(session, tenant, message, settings=settings)

    return handle
