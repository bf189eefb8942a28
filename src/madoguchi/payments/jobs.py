"""The periodic jobs of payments: poll intents stuck in ``processing``, expire those left unpaid.

* **Poll** (after DIGIT's 15-minute reconciliation): an online intent ``processing`` for more than ``STUCK_AFTER``
  (a webhook lost or not yet sent) is asked of its provider (``retrieve``) and moved to what the provider says,
  forward only. Each intent is asked again at most every ``STUCK_AFTER``.
* **Expire**: an online intent still ``requires_payment`` after its ``expires_at`` becomes ``expired``. The
  provider is asked first: a payment it took meanwhile (its webhook lost) is applied instead of expiring it, so
  money taken is never hidden behind an expiry.

Each provider is asked in a short read transaction of its own (the fake provider reads its table; Stripe's adapter
none), and each intent is then changed in another (re-read under ``FOR UPDATE``: a webhook applied meanwhile wins,
and the forward-only rule holds). Run by
``madoguchi payments poll`` and ``madoguchi payments expire`` (cron, every few minutes) for every tenant.
Decision 0045.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from madoguchi.config import Settings
from madoguchi.db import Database, utcnow
from madoguchi.payments import states
from madoguchi.payments.intents import log_event
from madoguchi.payments.models import RECORDED_MODES, PaymentIntent
from madoguchi.payments.providers import registry
from madoguchi.payments.providers.base import ProviderError, ProviderPayment
from madoguchi.payments.webhooks import amount_mismatch, apply_status
from madoguchi.tenancy.models import Tenant

log = logging.getLogger(__name__)

#: An intent ``processing`` for longer than this is polled (and polled again no sooner than this).
STUCK_AFTER = timedelta(minutes=15)


@dataclass
class JobReport:
    """What one run did for one tenant: intents looked at, moved, and those whose provider could not answer."""

    looked_at: int = 0
    moved: int = 0
    failed: list[str] = field(default_factory=list)


#: An intent to look at: its id, provider and the provider's reference.
Candidate = tuple[uuid.UUID, str, str | None]


def _candidates(db: Database, tenant: Tenant, *conditions: ColumnElement[bool]) -> list[Candidate]:
    with db.transaction(tenant.id) as session:
        rows = session.execute(
            select(PaymentIntent.id, PaymentIntent.provider, PaymentIntent.provider_ref)
            .where(PaymentIntent.tenant_id == tenant.id, PaymentIntent.mode.not_in(RECORDED_MODES), *conditions)
            .order_by(PaymentIntent.updated_at, PaymentIntent.id)
        ).all()
    return [(row.id, row.provider, row.provider_ref) for row in rows]


def _locked(session: Session, tenant: Tenant, intent_id: uuid.UUID) -> PaymentIntent:
    """The intent, re-read under ``FOR UPDATE``: a webhook applied since it was listed is seen, and waits."""
    mine = (PaymentIntent.tenant_id == tenant.id, PaymentIntent.id == intent_id)
    return session.execute(select(PaymentIntent).where(*mine).with_for_update()).scalar_one()


def _ask(
    db: Database, tenant: Tenant, settings: Settings, provider: str, ref: str, report: JobReport
) -> ProviderPayment | None:
    """What the provider says of ``ref`` (None, reported, when it cannot say). A read-only transaction of its own:
    the fake provider keeps its payments in a table of ours; Stripe's adapter uses none."""
    try:
        if provider not in registry.registered():
            raise ProviderError(f"no payment provider {provider!r} is registered")
        with db.transaction(tenant.id) as session:
            return registry.provider_for(provider, tenant=tenant, settings=settings, session=session).retrieve(ref)
    except ProviderError as error:
        log.warning("payment %s (%s) of tenant %s could not be retrieved: %s", ref, provider, tenant.slug, error)
        report.failed.append(f"{ref}: {error}")
        return None


def _apply_polled(session: Session, tenant: Tenant, intent: PaymentIntent, payment: ProviderPayment, note: str) -> bool:
    mismatch = amount_mismatch(intent, payment.status, payment.amount_jpy)
    if mismatch:
        log.error("payment %s of tenant %s: %s", payment.provider_ref, tenant.slug, mismatch)
        log_event(session, intent, tenant_id=tenant.id, kind="mismatch", provider=intent.provider,
                  from_status=intent.status, to_status=payment.status, note=mismatch)  # fmt: skip
        return False
    return apply_status(session, tenant, intent, payment.status, kind="poll", note=note)


def poll_stuck(db: Database, tenant: Tenant, settings: Settings, *, now: datetime | None = None) -> JobReport:
    """Ask the provider about every intent of ``tenant`` stuck in ``processing``; apply what it says."""
    now = now or utcnow()
    report = JobReport()
    stuck = _candidates(
        db,
        tenant,
        PaymentIntent.status == states.PROCESSING,
        PaymentIntent.updated_at <= now - STUCK_AFTER,
        PaymentIntent.provider_ref.is_not(None),
        or_(PaymentIntent.polled_at.is_(None), PaymentIntent.polled_at <= now - STUCK_AFTER),
    )
    for intent_id, provider, ref in stuck:
        assert ref is not None
        report.looked_at += 1
        payment = _ask(db, tenant, settings, provider, ref, report)
        with db.transaction(tenant.id) as session:
            intent = _locked(session, tenant, intent_id)
            intent.polled_at = now
            if payment is not None and _apply_polled(
                session, tenant, intent, payment, note=f"polled: {payment.failure_code or ''}"
            ):
                report.moved += 1
    return report


def expire_unpaid(db: Database, tenant: Tenant, settings: Settings, *, now: datetime | None = None) -> JobReport:
    """Expire every intent of ``tenant`` still unpaid after its ``expires_at`` (unless its provider took the
    payment meanwhile: then that is applied)."""
    now = now or utcnow()
    report = JobReport()
    overdue = _candidates(
        db,
        tenant,
        PaymentIntent.status == states.REQUIRES_PAYMENT,
        PaymentIntent.expires_at.is_not(None),
        PaymentIntent.expires_at <= now,
    )
    for intent_id, provider, ref in overdue:
        report.looked_at += 1
        payment = _ask(db, tenant, settings, provider, ref, report) if ref else None
        if ref and payment is None:
            continue  # the provider could not say whether it was paid: try again on the next run
        with db.transaction(tenant.id) as session:
            intent = _locked(session, tenant, intent_id)
            intent.polled_at = now if payment is not None else intent.polled_at
            if payment is not None and payment.status != states.REQUIRES_PAYMENT:
                moved = _apply_polled(session, tenant, intent, payment, note="polled before expiry")
            else:
                moved = apply_status(session, tenant, intent, states.EXPIRED, kind="expired", note="unpaid past expiry")
            report.moved += int(moved)
    return report
