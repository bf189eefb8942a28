"""The periodic payment jobs: intents stuck in ``processing`` for more than 15 minutes are asked of their provider
(localstripe here), intents left unpaid past ``expires_at`` expire (unless the provider took the payment), and
``madoguchi payments poll|expire`` (and the worker, periodically) run them for every municipality."""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import replace
from datetime import timedelta

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import select

from madoguchi.cli import main
from madoguchi.cli.payments import payment_jobs_every
from madoguchi.config import Settings
from madoguchi.db import Database, utcnow
from madoguchi.payments import intents, jobs, states
from madoguchi.payments.models import PaymentEvent, PaymentIntent
from madoguchi.payments.providers.stripe import StripeProvider
from madoguchi.tenancy.models import Tenant
from tests.payments.webhooks_in.stripe_world import intent_row, stripe_intent
from tests.support.localstripe import LocalStripe
from tests.world import Town

SAKURA, SHIOMI = "sakuragaoka-city", "shiomi-town"
DECLINED_CARD = "4000000000000341"


def at_stripe(db: Database, town: Town, settings: Settings, *, amount: int = 300) -> tuple[uuid.UUID, str]:
    """An intent of ours with its PaymentIntent created at localstripe."""
    intent_id = stripe_intent(db, town, ref="pending", amount=amount)
    created = StripeProvider(town.tenant, settings).create(
        amount_jpy=amount, description="住民票の写し", return_url="/", metadata={"intent_id": str(intent_id)},
        idempotency_key=str(intent_id),
    )  # fmt: skip
    with db.transaction(town.tenant.id) as session:
        intent = session.get(PaymentIntent, intent_id)
        assert intent is not None
        intent.provider_ref = created.provider_ref
    return intent_id, created.provider_ref


def age(db: Database, town: Town, intent_id: uuid.UUID, *, status: str | None = None, **ago: timedelta) -> None:
    """Move the intent to ``status`` (forward, as a webhook would) and set its clock fields ``ago`` into the past."""
    with db.transaction(town.tenant.id) as session:
        intent = session.get(PaymentIntent, intent_id)
        tenant = session.get(Tenant, town.tenant.id)
        assert intent is not None and tenant is not None
        if status is not None:
            intents.move(session, tenant, intent, status, kind="webhook", actor="test")
        for name, delta in ago.items():
            setattr(intent, name, utcnow() - delta)


def overdue_without_reference(db: Database, town: Town) -> uuid.UUID:
    """An intent past its deadline that never reached a provider (no reference): expires without asking anyone."""
    intent_id = stripe_intent(db, town, ref="unused")
    with db.transaction(town.tenant.id) as session:
        intent = session.get(PaymentIntent, intent_id)
        assert intent is not None
        intent.provider_ref, intent.expires_at = None, utcnow() - timedelta(minutes=5)
    return intent_id


def test_a_processing_intent_older_than_15_minutes_is_polled_and_moved(
    db: Database, towns: dict[str, Town], settings: Settings, localstripe: LocalStripe
) -> None:
    town = towns[SAKURA]
    paid, paid_ref = at_stripe(db, town, settings)
    declined, declined_ref = at_stripe(db, town, settings)
    recent, recent_ref = at_stripe(db, town, settings)
    localstripe.pay(paid_ref)
    localstripe.pay(declined_ref, DECLINED_CARD)
    localstripe.pay(recent_ref)
    age(db, town, paid, status=states.PROCESSING, updated_at=timedelta(minutes=16))
    age(db, town, declined, status=states.PROCESSING, updated_at=timedelta(minutes=20))
    age(db, town, recent, status=states.PROCESSING, updated_at=timedelta(minutes=10))

    report = jobs.poll_stuck(db, town.tenant, settings)
    assert (report.looked_at, report.moved, report.failed) == (2, 2, [])
    assert intent_row(db, town, paid).status == states.SUCCEEDED
    failed = intent_row(db, town, declined)
    assert failed.status == states.FAILED and failed.polled_at is not None
    assert intent_row(db, town, recent).status == states.PROCESSING  # its webhook may still come


def test_a_polled_success_for_another_amount_is_recorded_as_a_mismatch_not_applied(
    db: Database, towns: dict[str, Town], settings: Settings, localstripe: LocalStripe
) -> None:
    town = towns[SAKURA]
    intent_id, ref = at_stripe(db, town, settings, amount=300)
    localstripe.post(f"/v1/payment_intents/{ref}", {"amount": "3000"})  # changed at Stripe behind our back
    localstripe.pay(ref)
    age(db, town, intent_id, status=states.PROCESSING, updated_at=timedelta(hours=1))
    assert jobs.poll_stuck(db, town.tenant, settings).moved == 0
    assert intent_row(db, town, intent_id).status == states.PROCESSING
    with db.transaction(town.tenant.id) as session:
        kinds = session.execute(
            select(PaymentEvent.kind, PaymentEvent.note).where(PaymentEvent.intent_id == intent_id)
        ).all()
    [note] = [note for kind, note in kinds if kind == "mismatch"]
    assert note.startswith("amount mismatch: the provider says 3000 yen")


def test_an_intent_polled_recently_is_not_asked_again_and_a_silent_provider_changes_nothing(
    db: Database, towns: dict[str, Town], settings: Settings
) -> None:
    town = towns[SAKURA]
    unknown = stripe_intent(db, town, ref="pi_neverheardof")  # localstripe answers 404
    age(db, town, unknown, status=states.PROCESSING, updated_at=timedelta(hours=1))
    first = jobs.poll_stuck(db, town.tenant, settings)
    assert (first.looked_at, first.moved) == (1, 0)
    assert first.failed and first.failed[0].startswith("pi_neverheardof")
    intent = intent_row(db, town, unknown)
    assert intent.status == states.PROCESSING and intent.polled_at is not None
    assert jobs.poll_stuck(db, town.tenant, settings).looked_at == 0  # asked again after 15 minutes, not now
    assert jobs.poll_stuck(db, town.tenant, settings, now=utcnow() + timedelta(minutes=16)).looked_at == 1


def test_an_unpaid_intent_past_its_deadline_expires_and_one_paid_meanwhile_succeeds_instead(
    db: Database, towns: dict[str, Town], settings: Settings, localstripe: LocalStripe
) -> None:
    town = towns[SAKURA]
    unpaid, _ = at_stripe(db, town, settings)
    paid_late, paid_ref = at_stripe(db, town, settings)  # its webhook was lost
    not_yet, _ = at_stripe(db, town, settings)
    localstripe.pay(paid_ref)
    for intent_id in (unpaid, paid_late):
        age(db, town, intent_id, expires_at=timedelta(minutes=1))
    age(db, town, not_yet, expires_at=-timedelta(hours=1))

    report = jobs.expire_unpaid(db, town.tenant, settings)
    assert (report.looked_at, report.moved) == (2, 2)
    assert intent_row(db, town, unpaid).status == states.EXPIRED
    assert intent_row(db, town, paid_late).status == states.SUCCEEDED
    assert intent_row(db, town, not_yet).status == states.REQUIRES_PAYMENT
    # An ended intent stays ended: a second run finds nothing.
    assert jobs.expire_unpaid(db, town.tenant, settings).looked_at == 0


def test_the_jobs_of_one_municipality_never_touch_another(
    db: Database, towns: dict[str, Town], settings: Settings
) -> None:
    a, b = towns[SAKURA], towns[SHIOMI]
    theirs = stripe_intent(db, b, ref="pi_theirs")
    age(db, b, theirs, expires_at=timedelta(days=1))
    stuck = stripe_intent(db, b, ref="pi_theirs_stuck")
    age(db, b, stuck, status=states.PROCESSING, updated_at=timedelta(hours=1))
    assert jobs.expire_unpaid(db, a.tenant, settings).looked_at == 0
    assert jobs.poll_stuck(db, a.tenant, settings).looked_at == 0
    assert intent_row(db, b, theirs).status == states.REQUIRES_PAYMENT
    assert intent_row(db, b, stuck).polled_at is None


def test_madoguchi_payments_expire_and_poll_run_for_every_municipality(
    db: Database, seeded: None, runner: CliRunner, towns: dict[str, Town]
) -> None:
    town = towns[SHIOMI]
    intent_id = overdue_without_reference(db, town)
    expired = runner.invoke(main, ["payments", "expire"])
    assert expired.exit_code == 0, expired.output
    assert "shiomi-town: 1 looked at, 1 ended" in expired.output
    assert "sakuragaoka-city: 0 looked at, 0 ended" in expired.output
    assert intent_row(db, town, intent_id).status == states.EXPIRED

    polled = runner.invoke(main, ["payments", "poll", "--tenant", "shiomi-town"])
    assert polled.exit_code == 0, polled.output
    assert polled.output.strip() == "shiomi-town: 0 looked at, 0 moved"
    assert runner.invoke(main, ["payments", "poll", "--tenant", "atlantis"]).exit_code != 0


@pytest.mark.commits
def test_the_worker_runs_the_jobs_periodically(
    db: Database, app: Flask, towns: dict[str, Town], settings: Settings
) -> None:
    town = towns[SAKURA]
    intent_id = overdue_without_reference(db, town)
    stop = threading.Event()
    thread = payment_jobs_every(db, replace(settings, payment_jobs_seconds=1), app, stop)
    try:
        deadline = time.monotonic() + 15
        while intent_row(db, town, intent_id).status != states.EXPIRED and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        stop.set()
        thread.join(timeout=15)
    assert intent_row(db, town, intent_id).status == states.EXPIRED
    assert not thread.is_alive()
