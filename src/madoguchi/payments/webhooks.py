"""Webhooks in: a provider's signed event, verified by its adapter, applied to the tenant's intent.

MINIMAL STAND-IN written by the ``flows`` part so the fake provider's simulator can deliver its webhooks; the
``stripe`` part owns this module (storage of the raw event, the outbox, the HTTP endpoint): the lead keeps its
version, with this signature. Here the event is applied synchronously: verified (``parse_webhook`` raises
``SignatureError``: nothing stored), deduplicated by the provider's event id, matched to this tenant's intent by
the provider's reference (an event for no intent of this tenant is stored unmatched and changes nothing).
"""

from __future__ import annotations

import hashlib
from typing import Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from madoguchi.payments import intents, service
from madoguchi.payments.models import PaymentEvent, PaymentIntent
from madoguchi.tenancy.models import Tenant

Outcome = Literal["applied", "ignored", "duplicate", "unmatched"]


def receive(session: Session, tenant: Tenant, provider_name: str, headers: dict[str, str], raw_body: bytes) -> Outcome:
    """Verify and apply one webhook delivery (raises ``SignatureError`` when it does not verify)."""
    event = service.adapter(session, tenant, provider_name).parse_webhook(headers, raw_body)
    seen = session.execute(
        select(PaymentEvent.id).where(
            PaymentEvent.tenant_id == tenant.id,
            PaymentEvent.provider == provider_name,
            PaymentEvent.provider_event_id == event.event_id,
        )
    ).first()
    if seen is not None:
        return "duplicate"
    digest = hashlib.sha256(raw_body).hexdigest()
    intent = session.execute(
        select(PaymentIntent).where(
            PaymentIntent.tenant_id == tenant.id,
            PaymentIntent.provider == provider_name,
            PaymentIntent.provider_ref == event.provider_ref,
        )
    ).scalar_one_or_none()
    try:
        with session.begin_nested():
            if intent is None:
                intents.log_event(
                    session,
                    None,
                    tenant_id=tenant.id,
                    kind="webhook",
                    provider=provider_name,
                    provider_event_id=event.event_id,
                    provider_event_type=event.event_type,
                    payload_sha256=digest,
                    signature_ok=True,
                    note="matches no payment of ours",
                )
                return "unmatched"
            moved = service.apply_provider_status(
                session, tenant, intent, event, kind="webhook", payload_sha256=digest, signature_ok=True
            )
    except IntegrityError:
        return "duplicate"  # the same event delivered concurrently: the first one had the effect
    return "applied" if moved else "ignored"
