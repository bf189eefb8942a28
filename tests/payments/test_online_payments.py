"""Paying online before issue (prepay) through the fake provider: auto-issue waits approved for the fee and
issues only on ``succeeded``; a decline leaves it payable; the same idempotency key answers the same intent;
webhooks are signed per tenant, deduplicated and applied forward only; one tenant's webhook never reaches another's
intent. Decision 0044."""

from __future__ import annotations

import dataclasses
import json
import threading
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from madoguchi.applications import operations as ops
from madoguchi.applications import repository
from madoguchi.applications.models import Application
from madoguchi.config import PRODUCTION, Settings
from madoguchi.db import Database, utcnow
from madoguchi.documents.models import IssuedDocument
from madoguchi.errors import Conflict, NotFound
from madoguchi.notify import messages
from madoguchi.outbox import OutboxMessage
from madoguchi.payments import intents, quotes, service, states, webhooks
from madoguchi.payments.models import PaymentEvent, PaymentIntent
from madoguchi.payments.providers import fake
from madoguchi.payments.providers.base import SignatureError
from tests.payments.payment_world import AFTER_FEE_FIXED, with_payments
from tests.world import RESIDENCY, Town

CITY = "sakuragaoka-city"  # auto-issue for verified residents, fee 300円
VILLAGE = "midorikawa-village"
pytestmark = pytest.mark.usefixtures("in_app")

RETURN = "https://localhost/sakuragaoka-city/applications/x/payment-return"


def _submitted(db: Database, town: Town, data: dict | None = None) -> uuid.UUID:
    with db.transaction(town.tenant.id) as session:
        application = ops.create_draft(session, town.tenant, town.resident, "residency-certificate", data or RESIDENCY)
        ops.submit(session, town.tenant, town.resident, application.id)
        return application.id


def _application(db: Database, town: Town, application_id: uuid.UUID) -> Application:
    with db.transaction(town.tenant.id) as session:
        application = repository.get(session, town.tenant.id, application_id)
        _ = application.events  # loaded while the session is open
        return application


def _start(db: Database, town: Town, application_id: uuid.UUID, settings: Settings, key: str | None = None):
    with db.transaction(town.tenant.id) as session:
        application = repository.get(session, town.tenant.id, application_id)
        return service.start_online_payment(
            session, town.tenant, application, actor=town.resident, return_url=RETURN, idempotency_key=key,
            settings=settings,
        )  # fmt: skip


def _pay(db: Database, town: Town, intent: PaymentIntent, settings: Settings, outcome: str, **switches) -> list[str]:
    """Press a button on the hosted page; deliver the provider's webhooks as the simulator does (each stored and
    queued), then let the outbox worker apply them, as ``madoguchi worker`` would."""
    with db.transaction(town.tenant.id) as session:
        provider = fake.FakeProvider(tenant=town.tenant, settings=settings, session=session)
        deliveries = provider.settle(intent.provider_ref, outcome, **switches)
        outcomes = [webhooks.receive(session, town.tenant, "fake", d.headers, d.raw_body) for d in deliveries]
    _apply_queued_webhooks(db, town)
    return outcomes


def _apply_queued_webhooks(db: Database, town: Town) -> None:
    """What the outbox worker does with queued webhooks (``payment.webhook``, in its claim transaction), without
    its sending threads, which a test running in one transaction cannot have."""
    with db.transaction(town.tenant.id) as session:
        queued = session.execute(
            select(OutboxMessage)
            .where(OutboxMessage.topic == webhooks.TOPIC, OutboxMessage.processed_at.is_(None))
            .order_by(OutboxMessage.created_at)
        ).scalars()
        for message in queued:
            webhooks.process_message(session, town.tenant, message)
            message.processed_at = utcnow()


def _paid_at_the_provider_only(db: Database, town: Town, application_id: uuid.UUID, settings: Settings):
    """An intent paid on the hosted page whose webhooks have not arrived yet (still in the outbox, say)."""
    intent = _start(db, town, application_id, settings)
    with db.transaction(town.tenant.id) as session:
        fake.FakeProvider(tenant=town.tenant, settings=settings, session=session).settle(
            intent.provider_ref, fake.SUCCEED
        )
    return intent


def _issued(db: Database, town: Town) -> list[IssuedDocument]:
    with db.transaction(town.tenant.id) as session:
        return list(session.execute(select(IssuedDocument)).scalars())


def _intent(db: Database, town: Town, intent_id: uuid.UUID) -> PaymentIntent:
    with db.transaction(town.tenant.id) as session:
        intent = session.get(PaymentIntent, intent_id)
        assert intent is not None
        return intent


def test_prepay_auto_issue_waits_approved_until_the_payment_succeeds(db, towns, settings) -> None:
    town = with_payments(db, towns[CITY])
    application_id = _submitted(db, town)
    waiting = _application(db, town, application_id)
    assert waiting.state == "approved"
    assert [e.action for e in waiting.events] == ["create", "submit", "start_review", "approve"]
    assert _issued(db, town) == []

    intent = _start(db, town, application_id, settings)
    assert intent.status == states.REQUIRES_PAYMENT and intent.amount_jpy == 300 and intent.mode == "prepay"
    assert intent.redirect_url.endswith(f"/fake-pay/{intent.provider_ref}")
    assert _application(db, town, application_id).state == "approved"

    assert _pay(db, town, intent, settings, fake.SUCCEED) == ["accepted", "accepted"]
    assert _intent(db, town, intent.id).status == states.SUCCEEDED
    issued = _application(db, town, application_id)
    assert issued.state == "issued"
    assert [e.actor_role for e in issued.events][-1] == "system"
    assert len(_issued(db, town)) == 1


def test_a_decline_leaves_the_application_payable_and_a_new_attempt_works(db, towns, settings) -> None:
    town = with_payments(db, towns[CITY])
    application_id = _submitted(db, town)
    first = _start(db, town, application_id, settings)
    _pay(db, town, first, settings, fake.DECLINE)
    declined = _intent(db, town, first.id)
    assert declined.status == states.FAILED and declined.note == "card_declined"
    with db.transaction(town.tenant.id) as session:
        application = repository.get(session, town.tenant.id, application_id)
        assert application.state == "approved"
        assert service.payable(session, town.tenant, application) == 300
    assert _issued(db, town) == []

    second = _start(db, town, application_id, settings)
    assert second.id != first.id and second.provider_ref != first.provider_ref
    _pay(db, town, second, settings, fake.SUCCEED)
    assert _application(db, town, application_id).state == "issued"


def test_a_canceled_payment_leaves_it_payable_too(db, towns, settings) -> None:
    town = with_payments(db, towns[CITY])
    application_id = _submitted(db, town)
    intent = _start(db, town, application_id, settings)
    _pay(db, town, intent, settings, fake.CANCEL)
    assert _intent(db, town, intent.id).status == states.CANCELED
    assert _application(db, town, application_id).state == "approved"
    assert _start(db, town, application_id, settings).id != intent.id


def test_the_same_idempotency_key_answers_the_same_intent_even_once_paid(db, towns, settings) -> None:
    town = with_payments(db, towns[CITY])
    application_id = _submitted(db, town)
    first = _start(db, town, application_id, settings, key="pay-RC-1")
    again = _start(db, town, application_id, settings, key="pay-RC-1")
    assert again.id == first.id and again.provider_ref == first.provider_ref
    _pay(db, town, first, settings, fake.SUCCEED)
    assert _start(db, town, application_id, settings, key="pay-RC-1").id == first.id
    with db.transaction(town.tenant.id) as session:
        count = len(session.execute(select(PaymentIntent)).scalars().all())
    assert count == 1


def test_pressing_pay_twice_without_a_key_reuses_the_open_intent(db, towns, settings) -> None:
    town = with_payments(db, towns[CITY])
    application_id = _submitted(db, town)
    assert _start(db, town, application_id, settings).id == _start(db, town, application_id, settings).id


def test_nothing_to_pay_once_paid_and_nothing_online_without_payments_settings(db, towns, settings) -> None:
    town = with_payments(db, towns[CITY])
    application_id = _submitted(db, town)
    _pay(db, town, _start(db, town, application_id, settings), settings, fake.SUCCEED)
    with pytest.raises(Conflict):
        _start(db, town, application_id, settings)
    village = towns[VILLAGE]
    other = _submitted(db, village)
    with pytest.raises(Conflict) as refused:
        _start(db, village, other, settings)
    assert refused.value.extra["reason"] == "not_online"


def test_without_payments_settings_auto_issue_issues_at_once_as_before(db, towns) -> None:
    town = towns[CITY]
    assert "payments" not in (town.tenant.profile or {})
    assert _application(db, town, _submitted(db, town)).state == "issued"


def test_a_duplicate_and_a_stale_webhook_have_no_second_effect(db, towns, settings) -> None:
    town = with_payments(db, towns[CITY])
    application_id = _submitted(db, town)
    intent = _start(db, town, application_id, settings)
    outcomes = _pay(db, town, intent, settings, fake.SUCCEED, duplicate=True, out_of_order=True)
    # succeeded, the same event again (no second row), then "processing" that should have come first (stored, and
    # ignored by the worker: succeeded never moves back).
    assert outcomes == ["accepted", "duplicate", "accepted"]
    with db.transaction(town.tenant.id) as session:
        events = (
            session.execute(select(PaymentEvent).where(PaymentEvent.intent_id == intent.id).order_by(PaymentEvent.at))
            .scalars()
            .all()
        )
    ignored = [e for e in events if e.kind == "ignored"]
    assert [(e.from_status, e.to_status) for e in ignored] == [(states.SUCCEEDED, states.PROCESSING)]
    assert [e.to_status for e in events if e.kind == "webhook" and e.provider_event_id] == [
        states.SUCCEEDED,
        states.PROCESSING,
    ]
    assert _intent(db, town, intent.id).status == states.SUCCEEDED
    assert len(_issued(db, town)) == 1


def test_a_late_failed_after_succeeded_is_ignored(db, towns, settings) -> None:
    town = with_payments(db, towns[CITY])
    application_id = _submitted(db, town)
    intent = _start(db, town, application_id, settings)
    _pay(db, town, intent, settings, fake.SUCCEED)
    with db.transaction(town.tenant.id) as session:
        stored = session.get(PaymentIntent, intent.id)
        late = fake.ProviderEvent(
            event_id="evt_late", event_type="payment.failed", provider_ref=intent.provider_ref,
            status=states.FAILED, created_at=stored.created_at,
        )  # fmt: skip
        assert service.apply_provider_status(session, town.tenant, stored, late, kind="webhook") is False
    assert _intent(db, town, intent.id).status == states.SUCCEEDED
    assert _application(db, town, application_id).state == "issued"


def test_a_forged_webhook_is_refused_and_changes_nothing(db, towns, settings) -> None:
    town = with_payments(db, towns[CITY])
    application_id = _submitted(db, town)
    intent = _start(db, town, application_id, settings)
    with db.transaction(town.tenant.id) as session:
        provider = fake.FakeProvider(tenant=town.tenant, settings=settings, session=session)
        delivery = provider.settle(intent.provider_ref, fake.SUCCEED)[-1]
        body = json.loads(delivery.raw_body)
        body["data"]["amount_jpy"] = 1
        with pytest.raises(SignatureError):
            webhooks.receive(session, town.tenant, "fake", delivery.headers, json.dumps(body).encode())
        stale = fake.sign(fake.webhook_secret(settings.secret_key, town.tenant.id), delivery.raw_body, 1)
        with pytest.raises(SignatureError):
            webhooks.receive(session, town.tenant, "fake", {fake.SIGNATURE_HEADER: stale}, delivery.raw_body)
    assert _intent(db, town, intent.id).status == states.REQUIRES_PAYMENT
    assert _application(db, town, application_id).state == "approved"


def test_another_tenants_webhook_cannot_touch_this_tenants_intent(db, towns, settings) -> None:
    city = with_payments(db, towns[CITY])
    village = with_payments(db, towns[VILLAGE])
    application_id = _submitted(db, city)
    intent = _start(db, city, application_id, settings)
    with db.transaction(city.tenant.id) as session:
        deliveries = fake.FakeProvider(tenant=city.tenant, settings=settings, session=session).settle(
            intent.provider_ref, fake.SUCCEED
        )
    with db.transaction(village.tenant.id) as session:
        # Signed with the city's secret: the village's endpoint does not accept it.
        with pytest.raises(SignatureError):
            webhooks.receive(session, village.tenant, "fake", deliveries[-1].headers, deliveries[-1].raw_body)
        # Signed with the village's own secret but naming the city's payment: stored unmatched, nothing moves.
        secret = fake.webhook_secret(settings.secret_key, village.tenant.id)
        raw = deliveries[-1].raw_body
        headers = {fake.SIGNATURE_HEADER: fake.sign(secret, raw, int(json.loads(raw)["created"]))}
        assert webhooks.receive(session, village.tenant, "fake", headers, raw) == "unmatched"
    assert _intent(db, city, intent.id).status == states.REQUIRES_PAYMENT
    assert _application(db, city, application_id).state == "approved"


def test_the_fake_provider_refuses_to_take_a_fee_in_production(db, towns, settings) -> None:
    # Its hosted page lets anyone "pay": a production tenant file naming it must not take a fee, and nothing starts.
    town = with_payments(db, towns[CITY])
    application_id = _submitted(db, town)
    production = dataclasses.replace(settings, env=PRODUCTION)
    with pytest.raises(Conflict, match="fake payment provider"):
        _start(db, town, application_id, production)
    with db.transaction(town.tenant.id) as session:
        assert session.execute(select(PaymentIntent)).scalars().all() == []
    assert _application(db, town, application_id).state == "approved"  # still waiting for its fee


def test_a_tenant_cannot_start_a_payment_for_another_tenants_application(db, towns, settings) -> None:
    city = with_payments(db, towns[CITY])
    village = with_payments(db, towns[VILLAGE])
    application_id = _submitted(db, city)
    with db.transaction(village.tenant.id) as session, pytest.raises(NotFound):
        repository.get(session, village.tenant.id, application_id)
    with db.transaction(village.tenant.id) as session:
        assert session.execute(select(PaymentIntent)).scalars().all() == []


def test_amount_due_counts_copies_and_the_intent_takes_it(db, towns, settings) -> None:
    town = with_payments(db, towns[CITY])
    application_id = _submitted(db, town, {**RESIDENCY, "copies": 3})
    intent = _start(db, town, application_id, settings)
    assert intent.amount_jpy == 900
    with db.transaction(town.tenant.id) as session:
        application = repository.get(session, town.tenant.id, application_id)
        assert intents.amount_due(session, application) == 900


def test_after_fee_fixed_the_clerks_fixed_fee_is_payable_and_the_link_is_emailed(db, towns, settings, app) -> None:
    town = with_payments(db, towns[VILLAGE], AFTER_FEE_FIXED)
    application_id = _submitted(db, town)
    with db.transaction(town.tenant.id) as session:
        application = repository.get(session, town.tenant.id, application_id)
        assert service.payable(session, town.tenant, application) == 0  # the submit's quote: not fixed yet
        with pytest.raises(Conflict):
            service.send_payment_link(session, town.tenant, application, actor=town.clerk, settings=settings)
    with db.transaction(town.tenant.id) as session:
        application = repository.get(session, town.tenant.id, application_id)
        quotes.quote_application(session, town.tenant, application, actor=town.clerk.label,
                                 account_id=town.clerk.account_id)  # fmt: skip
        due = service.payable(session, town.tenant, application)
        assert due > 0
        link = service.send_payment_link(session, town.tenant, application, actor=town.clerk, settings=settings)
        assert link.application_url.endswith(f"/{VILLAGE}/applications/{application_id}/pay")
        sent = session.execute(select(OutboxMessage).where(OutboxMessage.topic == "notify.applicant")).scalars()
        message = next(m for m in sent if m.payload["template"] == service.PAYMENT_LINK_TEMPLATE)
        email = messages.build(session, town.tenant, message, settings)
    assert email is not None
    assert email.subject.endswith("手数料のお支払いのお願い")
    assert f"{due:,}円" in email.body and f"/applications/{application_id}" in email.body
    intent = _start(db, town, application_id, settings)
    assert intent.mode == "after_fee_fixed" and intent.amount_jpy == due


def test_a_key_of_another_applications_payment_is_refused(db, towns, settings) -> None:
    town = with_payments(db, towns[CITY])
    first = _submitted(db, town)
    second = _submitted(db, town)
    _start(db, town, first, settings, key="pay-shared")
    with pytest.raises(Conflict):
        _start(db, town, second, settings, key="pay-shared")


def test_back_from_the_provider_before_its_webhook_the_intent_is_asked_for(db, towns, settings) -> None:
    town = with_payments(db, towns[CITY])
    application_id = _submitted(db, town)
    intent = _paid_at_the_provider_only(db, town, application_id, settings)
    with db.transaction(town.tenant.id) as session:
        stored = session.get(PaymentIntent, intent.id)
        assert service.refresh_from_provider(session, town.tenant, stored, settings=settings) is True
        kinds = [
            e.kind for e in session.execute(select(PaymentEvent).where(PaymentEvent.intent_id == intent.id)).scalars()
        ]
    assert "poll" in kinds and "webhook" not in kinds
    assert _application(db, town, application_id).state == "issued"


def test_an_expired_open_intent_is_not_reused(db, towns, settings) -> None:
    town = with_payments(db, towns[CITY])
    application_id = _submitted(db, town)
    first = _start(db, town, application_id, settings)
    with db.transaction(town.tenant.id) as session:
        stored = session.get(PaymentIntent, first.id)
        stored.expires_at = stored.created_at - timedelta(minutes=1)
    assert _start(db, town, application_id, settings).id != first.id


@pytest.mark.commits
@pytest.mark.postgres_only
def test_a_webhook_and_a_poll_reporting_the_same_payment_at_once_issue_once(db, towns, settings) -> None:
    town = with_payments(db, towns[CITY])
    application_id = _submitted(db, town)
    intent = _paid_at_the_provider_only(db, town, application_id, settings)
    report = fake.ProviderPayment(provider_ref=intent.provider_ref, status=states.SUCCEEDED, amount_jpy=300)
    start = threading.Barrier(2)
    moved: list[bool] = []

    def apply(kind: str) -> None:
        start.wait()
        with db.transaction(town.tenant.id) as session:
            stored = session.get(PaymentIntent, intent.id)
            moved.append(service.apply_provider_status(session, town.tenant, stored, report, kind=kind))

    threads = [threading.Thread(target=apply, args=(kind,)) for kind in ("webhook", "poll")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(moved) == [False, True]
    assert _application(db, town, application_id).state == "issued"
    assert len(_issued(db, town)) == 1
