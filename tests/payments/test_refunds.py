"""Refunds: staff request with a reason, a supervisor approves (four eyes), partial, never more than was paid; the
provider is asked once; a counter payment is paid back in cash; events, audit and the vendor event."""

from __future__ import annotations

import json
import threading
import uuid

import pytest
from sqlalchemy import select

from madoguchi.audit.models import AuditRecord
from madoguchi.config import Settings
from madoguchi.db import Database
from madoguchi.errors import Conflict, Forbidden, NotFound, SeparationOfDuties, ValidationFailed
from madoguchi.identity.actors import Actor
from madoguchi.notify import webhooks
from madoguchi.outbox import OutboxMessage
from madoguchi.payments import refunds
from madoguchi.payments.models import COUNTER_CASH, PaymentEvent, Refund
from tests.factories import staff
from tests.payments.ledger import Provider, paid_intent
from tests.world import Town

CITY, TOWN = "sakuragaoka-city", "shiomi-town"


def _request(db: Database, town: Town, intent_id: uuid.UUID, amount: object = 300, reason: str = "not_issuable",
             comment: str | None = None, actor: Actor | None = None) -> Refund:  # fmt: skip
    with db.transaction(town.tenant.id) as session:
        return refunds.request_refund(session, town.tenant, intent_id, actor=actor or town.clerk, amount_jpy=amount,
                                      reason=reason, comment=comment)  # fmt: skip


def _approve(db: Database, town: Town, refund_id: uuid.UUID, settings: Settings, actor: Actor | None = None) -> Refund:
    with db.transaction(town.tenant.id) as session:
        return refunds.approve_refund(session, town.tenant, refund_id, actor=actor or town.supervisor,
                                      settings=settings)  # fmt: skip


def _events(db: Database, town: Town, intent_id: uuid.UUID) -> list[str]:
    with db.transaction(town.tenant.id) as session:
        return list(
            session.execute(
                select(PaymentEvent.kind).where(PaymentEvent.intent_id == intent_id).order_by(PaymentEvent.at)
            ).scalars()
        )


def test_a_not_issuable_refund_needs_no_comment_and_the_provider_refunds_it_once(
    db, towns, provider: Provider, settings
) -> None:
    town = towns[CITY]
    intent_id = paid_intent(db, town, ref="pi_city_1")
    refund = _request(db, town, intent_id)
    assert refund.status == "requested"
    assert provider.refunds == []  # nothing reaches the provider before the supervisor decides
    approved = _approve(db, town, refund.id, settings)
    assert approved.status == "succeeded"
    assert approved.provider_ref == "re_1"
    assert approved.approved_by_account_id == town.supervisor.account_id
    assert provider.refunds == [("pi_city_1", 300, f"refund-{refund.id}")]
    assert _events(db, town, intent_id)[-3:] == ["refund_requested", "refund_approved", "refund_succeeded"]
    with db.transaction(town.tenant.id) as session:
        actions = set(
            session.execute(select(AuditRecord.action).where(AuditRecord.object_id == str(refund.id))).scalars()
        )
        vendor = session.execute(select(OutboxMessage).where(OutboxMessage.topic == "payment.refunded")).scalar_one()
    assert {"payment.refund_requested", "payment.refund_approved", "payment.refunded"} <= actions
    assert vendor.payload["intent_id"] == str(intent_id)
    assert vendor.payload["amount_jpy"] == 300
    assert vendor.payload["status"] == "succeeded"
    assert vendor.payload["reference"]
    with db.transaction(town.tenant.id) as session:
        body = json.loads(webhooks.event_body(session, town.tenant, session.merge(vendor)))
    assert body["type"] == "payment.refunded" and "payment.refunded" in webhooks.EVENTS
    assert body["data"] == {
        "tenant": CITY,
        "application_id": vendor.payload["application_id"],
        "reference": vendor.payload["reference"],
        "intent_id": str(intent_id),
        "amount_jpy": 300,
        "status": "succeeded",
    }


@pytest.mark.parametrize("reason", ["duplicate", "overpaid", "other"])
def test_every_reason_but_not_issuable_needs_a_comment(db, towns, provider, reason) -> None:
    town = towns[CITY]
    intent_id = paid_intent(db, town)
    with pytest.raises(ValidationFailed) as refused:
        _request(db, town, intent_id, reason=reason, comment="  ")
    assert set(refused.value.errors or {}) == {"comment"}
    assert (
        _request(db, town, intent_id, reason=reason, comment="二重に納付されたため").comment == "二重に納付されたため"
    )


@pytest.mark.parametrize("reason", ["", "because", "NOT_ISSUABLE"])
def test_an_unknown_reason_is_refused_and_nothing_is_stored(db, towns, provider, reason) -> None:
    town = towns[CITY]
    intent_id = paid_intent(db, town)
    with pytest.raises(ValidationFailed) as refused:
        _request(db, town, intent_id, reason=reason, comment="x")
    assert "reason" in (refused.value.errors or {})
    with db.transaction(town.tenant.id) as session:
        assert session.execute(select(Refund)).scalars().all() == []


def test_partial_refunds_add_up_to_what_was_paid_and_no_more(db, towns, provider, settings) -> None:
    town = towns[CITY]
    intent_id = paid_intent(db, town, amount=900)  # three copies
    first = _request(db, town, intent_id, amount=300)
    _approve(db, town, first.id, settings)
    # A request still waiting for approval holds its amount too.
    _request(db, town, intent_id, amount=400)
    with pytest.raises(ValidationFailed) as refused:
        _request(db, town, intent_id, amount=201)
    assert refused.value.errors == {"amount_jpy": ["at most 200 yen is left to refund of this payment"]}
    last = _request(db, town, intent_id, amount=200)
    assert last.amount_jpy == 200
    with db.transaction(town.tenant.id) as session:
        intent = refunds.get_intent(session, town.tenant, intent_id)
        assert refunds.refundable_jpy(session, intent) == 0
    with pytest.raises(ValidationFailed):
        _request(db, town, intent_id, amount=1)


@pytest.mark.parametrize("amount", [0, -300, 301, "300", 1.5, True, None])
def test_a_refund_of_nothing_of_a_fraction_or_above_what_was_paid_is_refused(db, towns, provider, amount) -> None:
    town = towns[CITY]
    intent_id = paid_intent(db, town)
    with pytest.raises(ValidationFailed) as refused:
        _request(db, town, intent_id, amount=amount)
    assert set(refused.value.errors or {}) == {"amount_jpy"}


def test_a_rejected_or_failed_refund_frees_its_amount(db, towns, provider, settings) -> None:
    town = towns[CITY]
    intent_id = paid_intent(db, town)
    refund = _request(db, town, intent_id)
    with db.transaction(town.tenant.id) as session:
        rejected = refunds.reject_refund(session, town.tenant, refund.id, actor=town.supervisor, comment="交付済み")
    assert rejected.status == "rejected"
    provider.refund_answer = "refuse"
    again = _request(db, town, intent_id)
    failed = _approve(db, town, again.id, settings)
    assert failed.status == "failed"
    assert "refund_failed" in _events(db, town, intent_id)
    provider.refund_answer = "succeeded"
    third = _approve(db, town, _request(db, town, intent_id).id, settings)
    assert third.status == "succeeded"


def test_the_requester_cannot_approve_even_as_a_supervisor(db, towns, provider, settings) -> None:
    town = towns[CITY]
    intent_id = paid_intent(db, town)
    refund = _request(db, town, intent_id, actor=town.supervisor)
    with pytest.raises(SeparationOfDuties):
        _approve(db, town, refund.id, settings, actor=town.supervisor)
    with pytest.raises(SeparationOfDuties), db.transaction(town.tenant.id) as session:
        refunds.reject_refund(session, town.tenant, refund.id, actor=town.supervisor)
    assert provider.refunds == []
    with db.transaction(town.tenant.id) as session:
        other = staff(session, town.tenant, "clerk", "supervisor")
    assert _approve(db, town, refund.id, settings, actor=other).status == "succeeded"


def test_only_a_supervisor_approves_and_only_staff_request(db, towns, provider, settings) -> None:
    town = towns[CITY]
    intent_id = paid_intent(db, town)
    with pytest.raises(Forbidden):
        _request(db, town, intent_id, actor=town.resident)
    refund = _request(db, town, intent_id)
    with db.transaction(town.tenant.id) as session:
        other_clerk = staff(session, town.tenant, "clerk")
        admin = staff(session, town.tenant, "tenant_admin")
    for actor in (other_clerk, admin, town.resident):
        with pytest.raises(Forbidden):
            _approve(db, town, refund.id, settings, actor=actor)
    assert provider.refunds == []


def test_a_refund_is_decided_once(db, towns, provider, settings) -> None:
    town = towns[CITY]
    refund = _request(db, town, paid_intent(db, town))
    _approve(db, town, refund.id, settings)
    with pytest.raises(Conflict):
        _approve(db, town, refund.id, settings)
    assert len(provider.refunds) == 1


def test_a_pending_provider_refund_ends_when_the_provider_says_so(db, towns, provider, settings) -> None:
    town = towns[CITY]
    provider.refund_answer = "pending"
    refund = _approve(db, town, _request(db, town, paid_intent(db, town)).id, settings)
    assert refund.status == "submitted"
    with db.transaction(town.tenant.id) as session:
        submitted = refunds.get_refund(session, town.tenant, refund.id)
        assert refunds.apply_provider_refund(session, town.tenant, submitted, "succeeded") is True
        assert refunds.apply_provider_refund(session, town.tenant, submitted, "failed") is False
        assert submitted.status == "succeeded"
        assert submitted.succeeded_at is not None


def test_a_counter_payment_is_paid_back_in_cash_without_a_provider(db, towns, provider, settings) -> None:
    town = towns[TOWN]
    intent_id = paid_intent(db, town, mode=COUNTER_CASH)
    refund = _approve(db, town, _request(db, town, intent_id, amount=100, reason="overpaid", comment="釣銭誤り").id,
                      settings)  # fmt: skip
    assert refund.status == "succeeded"
    assert provider.refunds == []
    with db.transaction(town.tenant.id) as session:
        note = session.execute(
            select(PaymentEvent.note).where(
                PaymentEvent.intent_id == intent_id, PaymentEvent.kind == "refund_succeeded"
            )
        ).scalar_one()
    assert note == "paid out in cash"


def test_an_intent_that_did_not_succeed_cannot_be_refunded(db, towns, provider) -> None:
    town = towns[CITY]
    intent_id = paid_intent(db, town)
    with db.transaction(town.tenant.id) as session:
        intent = refunds.get_intent(session, town.tenant, intent_id)
        intent.status = "requires_payment"
    with pytest.raises(Conflict):
        _request(db, town, intent_id)


def test_another_municipalitys_intent_and_refund_are_not_found(db, towns, provider, settings) -> None:
    city, town = towns[CITY], towns[TOWN]
    intent_id = paid_intent(db, city)
    refund = _request(db, city, intent_id)
    with pytest.raises(NotFound):
        _request(db, town, intent_id)
    with pytest.raises(NotFound):
        _approve(db, town, refund.id, settings)
    assert provider.refunds == []


@pytest.mark.postgres_only
@pytest.mark.commits  # threads, each with its own connection
def test_two_clerks_requesting_at_once_cannot_together_exceed_what_was_paid(db, towns, provider) -> None:
    town = towns[CITY]
    intent_id = paid_intent(db, town, amount=600)
    with db.transaction(town.tenant.id) as session:
        second_clerk = staff(session, town.tenant, "clerk")
    both_ready = threading.Barrier(2, timeout=10)
    outcomes: dict[str, object] = {}

    def ask(name: str, actor: Actor) -> None:
        session = db.new_session(town.tenant.id)
        try:
            both_ready.wait()  # both ask before either commits
            refunds.request_refund(session, town.tenant, intent_id, actor=actor, amount_jpy=400, reason="not_issuable")
            session.commit()
            outcomes[name] = "committed"
        except ValidationFailed as error:
            session.rollback()
            outcomes[name] = error
        finally:
            session.close()

    threads = [threading.Thread(target=ask, args=(n, a)) for n, a in (("one", town.clerk), ("two", second_clerk))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(str(o) if o == "committed" else "refused" for o in outcomes.values()) == ["committed", "refused"]
    with db.transaction(town.tenant.id) as session:
        assert [r.amount_jpy for r in session.execute(select(Refund)).scalars()] == [400]
