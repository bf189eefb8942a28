"""Vendor events of payments: ``payment.succeeded`` goes out through the signed webhooks (``notify.webhooks``)
when any intent of an application succeeds, online or recorded at the counter.

The outbox message is written in the transaction that moved the intent, by an ``intents.on_succeeded`` handler,
so the event exists exactly when the payment does. Its payload is what a vendor may read: ids, the reference,
the amount and the status; nothing personal. Decision 0045.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from madoguchi import outbox
from madoguchi.applications.models import Application
from madoguchi.payments import intents
from madoguchi.payments.models import PaymentIntent
from madoguchi.tenancy.models import Tenant

PAYMENT_SUCCEEDED = "payment.succeeded"


@intents.on_succeeded
def announce_succeeded(session: Session, tenant: Tenant, application: Application, intent: PaymentIntent) -> None:
    outbox.enqueue(
        session,
        PAYMENT_SUCCEEDED,
        {
            "application_id": str(application.id),
            "reference": application.reference,
            "intent_id": str(intent.id),
            "amount_jpy": intent.amount_jpy,
            "status": intent.status,
        },
    )
