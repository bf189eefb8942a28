"""Fixtures and helpers for payments tests: a town in two municipalities, applications with paid intents, and a stand-in
for a provider's API (``Provider``) registered under the name ``testpay``: it answers refunds as a provider would
(at once, later, or refusing) and records what it was asked, so a test can check that a refund reached it once.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

import pytest

from madoguchi.applications import drafts
from madoguchi.applications.models import Application
from madoguchi.db import Database
from madoguchi.payments import intents, states
from madoguchi.payments.models import PREPAY, PaymentIntent
from madoguchi.payments.providers import registry
from madoguchi.payments.providers.base import (
    CreatedPayment,
    ProviderError,
    ProviderEvent,
    ProviderPayment,
    ProviderRefund,
    SettlementRow,
)
from tests.world import RESIDENCY, Town, towns_by_slug

PROVIDER = "testpay"


@dataclass
class Provider:
    """What the provider answers to a refund: ``succeeded``, ``pending`` or ``refuse``."""

    refund_answer: str = "succeeded"
    refunds: list[tuple[str, int, str]] = field(default_factory=list)
    name: str = PROVIDER

    def create(self, **_: object) -> CreatedPayment:
        raise NotImplementedError

    def retrieve(self, provider_ref: str) -> ProviderPayment:
        raise NotImplementedError

    def refund(self, provider_ref: str, *, amount_jpy: int, idempotency_key: str) -> ProviderRefund:
        if self.refund_answer == "refuse":
            raise ProviderError("charge_already_refunded")
        self.refunds.append((provider_ref, amount_jpy, idempotency_key))
        return ProviderRefund(provider_ref=f"re_{len(self.refunds)}", status=self.refund_answer, amount_jpy=amount_jpy)

    def parse_webhook(self, headers: dict[str, str], raw_body: bytes) -> ProviderEvent:
        raise NotImplementedError

    def settlement_report(self, day: object) -> list[SettlementRow]:
        return []


@pytest.fixture
def provider() -> Iterator[Provider]:
    stand_in = Provider()
    registry.register(PROVIDER, lambda **_: stand_in)
    yield stand_in


@pytest.fixture
def towns(db: Database, seeded: None) -> dict[str, Town]:
    return towns_by_slug(db)


def application_of(db: Database, town: Town) -> uuid.UUID:
    with db.transaction(town.tenant.id) as session:
        return drafts.create_draft(session, town.tenant, town.resident, "residency-certificate", RESIDENCY).id


def paid_intent(
    db: Database,
    town: Town,
    application_id: uuid.UUID | None = None,
    *,
    amount: int = 300,
    mode: str = PREPAY,
    ref: str | None = None,
    at: datetime | None = None,
) -> uuid.UUID:
    """A succeeded intent of ``amount`` yen (online through ``testpay`` with reference ``ref``, or recorded at
    the counter), succeeded at ``at`` (aware) when given."""
    application_id = application_id or application_of(db, town)
    with db.transaction(town.tenant.id) as session:
        application = session.get(Application, application_id)
        online = mode == PREPAY
        intent, _ = intents.create_intent(
            session,
            town.tenant,
            application,
            mode=mode,
            provider=PROVIDER if online else "counter",
            amount_jpy=amount,
            idempotency_key=str(uuid.uuid4()),
            actor="system",
        )
        if online:
            intent.provider_ref = ref or f"pi_{uuid.uuid4().hex[:16]}"
            intents.move(session, town.tenant, intent, states.SUCCEEDED, kind="webhook", actor="system")
        if at is not None:
            intent.succeeded_at = at
        return intent.id


def intent_of(db: Database, town: Town, intent_id: uuid.UUID) -> PaymentIntent:
    with db.transaction(town.tenant.id) as session:
        intent = session.get(PaymentIntent, intent_id)
        assert intent is not None
        session.expunge(intent)
        return intent
