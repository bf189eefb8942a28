"""The fake provider's hosted page, behind the portal's ``/fake-pay/<ref>``: find the payment, press a button.

The page belongs to no municipality (a provider's checkout never does): it finds the payment by its random
reference in the fake provider's global store, then works inside the payment's tenant. Pressing a button
settles the payment at the "provider" and delivers the provider's signed webhooks through the same receiver as
any provider's (``webhooks.receive``), then sends the resident back to the return address. Decision 0044.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from madoguchi.db import bind_tenant
from madoguchi.payments import webhooks
from madoguchi.payments.providers import fake
from madoguchi.payments.providers.fake_models import FakePayment
from madoguchi.tenancy.models import Tenant

if TYPE_CHECKING:
    from madoguchi.config import Settings


@dataclass(frozen=True)
class HostedPayment:
    payment: FakePayment
    tenant: Tenant


def hosted_payment(session: Session, ref: str) -> HostedPayment | None:
    """The payment behind the page ``ref``, and its tenant (the session is bound to it from now on)."""
    payment = fake.find_payment(session, ref)
    tenant = session.get(Tenant, payment.tenant_id) if payment is not None else None
    if payment is None or tenant is None or not tenant.status_enum.serves_requests:
        return None
    bind_tenant(session, tenant.id)
    return HostedPayment(payment, tenant)


def press(
    session: Session, hosted: HostedPayment, outcome: str, *, settings: Settings, duplicate: bool, out_of_order: bool
) -> list[str]:
    """Settle the payment as ``outcome`` and deliver its webhooks; the receiver's answer to each."""
    provider = fake.FakeProvider(tenant=hosted.tenant, settings=settings, session=session)
    deliveries = provider.settle(hosted.payment.ref, outcome, duplicate=duplicate, out_of_order=out_of_order)
    return [webhooks.receive(session, hosted.tenant, fake.NAME, d.headers, d.raw_body) for d in deliveries]
