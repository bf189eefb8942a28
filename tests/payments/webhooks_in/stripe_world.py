"""Helpers of the webhooks-in tests: intents at Stripe to send webhooks about, and Stripe events signed the way
Stripe signs them (independently of the ``stripe`` library the adapter checks them with)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from typing import Any

from madoguchi.applications import drafts
from madoguchi.applications.models import Application
from madoguchi.db import Database
from madoguchi.payments import intents
from madoguchi.payments.models import PREPAY, PaymentIntent
from tests.world import RESIDENCY, Town

#: The signing secret of "our endpoint at Stripe" in these tests.
WEBHOOK_SECRET = "whsec_test_madoguchi"


def stripe_intent(db: Database, town: Town, *, ref: str | None = None, amount: int = 300) -> uuid.UUID:
    """An online intent of a new residency certificate request at ``town``, at Stripe as ``ref``."""
    with db.transaction(town.tenant.id) as session:
        application = drafts.create_draft(session, town.tenant, town.resident, "residency-certificate", RESIDENCY)
        intent, _ = intents.create_intent(
            session, town.tenant, application, mode=PREPAY, provider="stripe", amount_jpy=amount,
            idempotency_key=str(uuid.uuid4()), actor="test",
        )  # fmt: skip
        intent.provider_ref = ref or f"pi_{uuid.uuid4().hex[:14]}"
        return intent.id


def unpaid_intent(db: Database, town: Town, *, amount: int = 300) -> tuple[uuid.UUID, str]:
    """A new intent waiting for payment at Stripe: its id and its PaymentIntent's reference."""
    ref = f"pi_{uuid.uuid4().hex[:14]}"
    return stripe_intent(db, town, ref=ref, amount=amount), ref


def set_ref(db: Database, town: Town, intent_id: uuid.UUID, ref: str) -> None:
    with db.transaction(town.tenant.id) as session:
        intent = session.get(PaymentIntent, intent_id)
        assert intent is not None
        intent.provider_ref = ref


def intent_row(db: Database, town: Town, intent_id: uuid.UUID) -> PaymentIntent:
    with db.transaction(town.tenant.id) as session:
        intent = session.get(PaymentIntent, intent_id)
        assert intent is not None
        session.expunge(intent)
        return intent


def application_of(db: Database, town: Town, intent_id: uuid.UUID) -> Application:
    with db.transaction(town.tenant.id) as session:
        intent = session.get(PaymentIntent, intent_id)
        assert intent is not None
        application = session.get(Application, intent.application_id)
        assert application is not None
        session.expunge(application)
        return application


def stripe_event(
    event_type: str, ref: str, *, tenant_id: uuid.UUID | None = None, amount: int = 300, event_id: str | None = None
) -> dict[str, Any]:
    """A Stripe event about PaymentIntent ``ref`` as Stripe sends it."""
    status = {"payment_intent.succeeded": "succeeded", "payment_intent.processing": "processing",
              "payment_intent.canceled": "canceled"}.get(event_type, "requires_payment_method")  # fmt: skip
    metadata = {"tenant_id": str(tenant_id)} if tenant_id else {}
    return {
        "id": event_id or f"evt_{uuid.uuid4().hex[:14]}",
        "object": "event",
        "type": event_type,
        "created": int(time.time()),
        "data": {"object": {"id": ref, "object": "payment_intent", "amount": amount, "currency": "jpy",
                            "status": status, "metadata": metadata}},
    }  # fmt: skip


Signed = tuple[dict[str, str], bytes]


def signed(event: dict[str, Any], *, secret: str = WEBHOOK_SECRET, at: int | None = None) -> Signed:
    """Headers and body of ``event`` signed the way Stripe signs (HMAC-SHA256 over ``<t>.<body>``)."""
    body = json.dumps(event).encode()
    timestamp = int(time.time()) if at is None else at
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={timestamp},v1={mac}", "Content-Type": "application/json"}, body
