"""Cash, terminal and 定額小為替 recorded by a clerk (payments.counter, decision 0047): what is recorded, what is
refused with nothing changed, the 6-month validity of a postal money order, excess, and idempotency keys."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from madoguchi import jp
from madoguchi.applications import operations
from madoguchi.applications.models import Application
from madoguchi.audit.models import AuditRecord
from madoguchi.errors import Conflict, Forbidden, PaymentRequired, ValidationFailed
from madoguchi.identity.actors import Actor
from madoguchi.payments import counter, states
from madoguchi.payments.counter import OrderInput
from madoguchi.payments.models import PaymentEvent, PaymentIntent, PostalOrder
from madoguchi.tenancy.models import Tenant
from tests.payments.conftest import Desk, collecting, split


def _cash(desk: Desk, application_id: uuid.UUID, key: str = "k1", **kwargs) -> tuple[PaymentIntent, bool]:
    with desk.db.transaction(desk.tenant.id) as session:
        tenant = session.get(Tenant, desk.tenant.id)
        application = session.get(Application, application_id)
        kwargs.setdefault("mode", "cash")
        kwargs.setdefault("actor", desk.clerk)
        intent, created = counter.record_counter_payment(session, tenant, application, idempotency_key=key, **kwargs)
        session.expunge(intent)
        return intent, created


def _postal(
    desk: Desk, application_id: uuid.UUID, orders: list[OrderInput], key: str = "p1", **kwargs
) -> tuple[PostalOrder, bool]:
    with desk.db.transaction(desk.tenant.id) as session:
        tenant = session.get(Tenant, desk.tenant.id)
        application = session.get(Application, application_id)
        kwargs.setdefault("received_on", jp.today())
        record, created = counter.record_postal_orders(
            session, tenant, application, actor=desk.clerk, orders=orders, idempotency_key=key, **kwargs
        )
        session.expunge(record)
        return record, created


def _count(desk: Desk, model: type, application_id: uuid.UUID) -> int:
    with desk.db.transaction(desk.tenant.id) as session:
        return session.execute(
            select(func.count()).select_from(model).where(model.application_id == application_id)
        ).scalar_one()


def _order(face_value: int, days_ago: int = 10, number: str | None = None) -> OrderInput:
    return OrderInput(face_value=face_value, issued_on=jp.today() - timedelta(days=days_ago), number=number)


# ------------------------------------------------------------------------------------------------ cash, terminal


def test_cash_at_the_counter_settles_the_fee_once_even_when_the_clerk_clicks_twice(desk: Desk) -> None:
    application_id = desk.submitted()
    fee = desk.due(application_id)
    assert fee > 0
    first, created = _cash(desk, application_id, "double-click", receipt_number="R-0001")
    again, created_again = _cash(desk, application_id, "double-click", receipt_number="R-0001")
    assert created and not created_again and again.id == first.id
    assert first.status == states.SUCCEEDED and first.mode == "counter_cash" and first.provider == "counter"
    assert first.amount_jpy == fee and first.note == "R-0001" and first.expires_at is None
    assert desk.due(application_id) == 0
    assert _count(desk, PaymentIntent, application_id) == 1
    with desk.db.transaction(desk.tenant.id) as session:
        kinds = session.execute(
            select(PaymentEvent.kind).where(PaymentEvent.intent_id == first.id).order_by(PaymentEvent.at)
        ).scalars()
        assert list(kinds) == ["created", "succeeded"]
        actions = set(
            session.execute(select(AuditRecord.action).where(AuditRecord.object_id == str(first.id))).scalars()
        )
        assert {"payment.created", "payment.succeeded"} <= actions


def test_a_terminal_payment_may_be_part_of_the_fee_and_the_rest_is_still_due(desk: Desk) -> None:
    application_id = desk.submitted(copies=3)
    fee = desk.due(application_id) // 3
    intent, _ = _cash(desk, application_id, "t1", mode="terminal", amount_jpy=2 * fee)
    assert intent.mode == "counter_terminal" and desk.due(application_id) == fee
    rest, _ = _cash(desk, application_id, "t2")  # the amount defaults to what is due
    assert rest.amount_jpy == fee and desk.due(application_id) == 0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"amount_jpy": 100_000}, "amount_jpy"),
        ({"amount_jpy": 0}, "amount_jpy"),
        ({"amount_jpy": -300}, "amount_jpy"),
        ({"mode": "paypay"}, "mode"),
        ({"receipt_number": "R" * 101}, "receipt_number"),
    ],
)
def test_a_wrong_counter_payment_is_refused_by_field_and_nothing_is_recorded(desk: Desk, kwargs, field) -> None:
    application_id = desk.submitted()
    with pytest.raises(ValidationFailed) as refused:
        _cash(desk, application_id, **kwargs)
    assert field in (refused.value.errors or {})
    assert _count(desk, PaymentIntent, application_id) == 0 and desk.due(application_id) == desk.fee


def test_a_mode_the_tenant_does_not_take_is_refused(desk: Desk) -> None:
    collecting(desk.db, desk.tenant, {"provider": "fake", "online": "prepay", "counter_modes": ["cash"]})
    application_id = desk.submitted()
    with pytest.raises(ValidationFailed) as refused:
        _cash(desk, application_id, mode="terminal")
    assert refused.value.errors == {"mode": ["must be one of: cash"]}
    assert _cash(desk, application_id, mode="cash")[1]


def test_a_tenant_without_payments_settings_may_still_record_its_counter_fees(desk: Desk) -> None:
    collecting(desk.db, desk.tenant, None)
    application_id = desk.submitted()
    intent, created = _cash(desk, application_id, mode="terminal")
    assert created and intent.status == states.SUCCEEDED and desk.due(application_id) == 0


def test_nothing_is_taken_when_nothing_is_due_on_a_draft_or_on_a_withdrawn_application(desk: Desk) -> None:
    paid = desk.submitted()
    _cash(desk, paid, "first")
    with pytest.raises(Conflict, match="Nothing is due"):
        _cash(desk, paid, "second")
    with desk.db.transaction(desk.tenant.id) as session:
        tenant = session.get(Tenant, desk.tenant.id)
        actor = Actor.of(session.merge(desk.resident_account))
        draft = operations.create_draft(session, tenant, actor, "residency-certificate", {"copies": 1})
        draft_id = draft.id
    with pytest.raises(Conflict, match="draft"):
        _cash(desk, draft_id)
    withdrawn = desk.submitted()
    with desk.db.transaction(desk.tenant.id) as session:
        tenant = session.get(Tenant, desk.tenant.id)
        operations.transition(session, tenant, Actor.of(session.merge(desk.resident_account)), withdrawn, "withdraw")
    with pytest.raises(Conflict, match="ended"):
        _cash(desk, withdrawn)
    assert _count(desk, PaymentIntent, withdrawn) == 0


def test_only_clerks_and_supervisors_record_and_a_key_names_one_application(desk: Desk) -> None:
    application_id = desk.submitted()
    with pytest.raises(Forbidden):
        _cash(desk, application_id, actor=Actor.of(desk.resident_account))
    assert _cash(desk, application_id, "shared", actor=Actor.of(desk.supervisor_account))[1]
    other = desk.submitted()
    with pytest.raises(Conflict, match="another payment"):
        _cash(desk, other, "shared")
    assert desk.due(other) == desk.fee


def test_issue_waits_for_the_fee_and_goes_through_once_the_cash_is_recorded(desk: Desk) -> None:
    application_id = desk.submitted()

    def step(name: str) -> None:
        with desk.db.transaction(desk.tenant.id) as session:
            tenant = session.get(Tenant, desk.tenant.id)
            operations.transition(session, tenant, desk.clerk, application_id, name)

    step("start_review")
    step("approve")
    with pytest.raises(PaymentRequired):
        step("issue")
    _cash(desk, application_id)
    step("issue")
    with desk.db.transaction(desk.tenant.id) as session:
        assert session.get(Application, application_id).state == "issued"


# ----------------------------------------------------------------------------------------------------- 定額小為替


@pytest.mark.parametrize(
    ("issued_on", "last_day"),
    [
        (date(2026, 1, 15), date(2026, 7, 15)),
        (date(2026, 8, 31), date(2027, 2, 28)),
        (date(2027, 8, 30), date(2028, 2, 29)),  # 閏年
        (date(2026, 12, 29), date(2027, 6, 29)),  # 年末年始 across the year
        (date(2019, 4, 30), date(2019, 10, 30)),  # 平成31年4月30日 → 令和元年
    ],
)
def test_a_postal_money_order_is_cashable_for_six_months_to_the_day_or_the_month_end(issued_on, last_day) -> None:
    assert counter.valid_until(issued_on) == last_day
    assert not counter.is_expired(issued_on, last_day)
    assert counter.is_expired(issued_on, last_day + timedelta(days=1))


def test_orders_of_the_exact_amount_settle_the_fee(desk: Desk) -> None:
    application_id = desk.submitted(copies=2)
    values = split(2 * desk.fee)
    orders = [_order(values[0], number="12-345678"), *(_order(v) for v in values[1:])]
    record, created = _postal(desk, application_id, orders)
    assert created and record.total_jpy == 2 * desk.fee and record.excess_jpy == 0 and record.expired_count == 0
    assert record.orders[0] == {
        "face_value": values[0],
        "issued_on": (jp.today() - timedelta(days=10)).isoformat(),
        "number": "12-345678",
        "expired": False,
    }
    with desk.db.transaction(desk.tenant.id) as session:
        intent = session.get(PaymentIntent, record.intent_id)
        assert intent.mode == "postal_order" and intent.status == states.SUCCEEDED and intent.amount_jpy == 2 * desk.fee
    assert desk.due(application_id) == 0


def test_an_excess_is_refused_unless_recorded_as_returned(desk: Desk) -> None:
    application_id = desk.submitted()
    orders = [_order(v) for v in [*split(desk.fee), 200]]
    with pytest.raises(ValidationFailed) as refused:
        _postal(desk, application_id, orders)
    assert "by 200 yen" in refused.value.errors["excess_returned"][0]
    assert _count(desk, PostalOrder, application_id) == 0 and _count(desk, PaymentIntent, application_id) == 0
    record, _ = _postal(desk, application_id, orders, excess_returned=True)
    assert record.excess_jpy == 200 and record.excess_returned and record.total_jpy == desk.fee + 200
    with desk.db.transaction(desk.tenant.id) as session:
        assert session.get(PaymentIntent, record.intent_id).amount_jpy == desk.fee  # what was applied
    assert desk.due(application_id) == 0


def test_an_order_older_than_six_months_on_the_day_received_is_flagged_and_not_counted(desk: Desk) -> None:
    application_id = desk.submitted(copies=2)
    received = jp.today() - timedelta(days=1)
    stale = [OrderInput(v, received - timedelta(days=200)) for v in split(desk.fee)]
    fresh = [OrderInput(v, received - timedelta(days=3)) for v in split(desk.fee)]
    record, _ = _postal(desk, application_id, stale + fresh, received_on=received)
    assert record.expired_count == len(stale)
    assert [o["expired"] for o in record.orders] == [True] * len(stale) + [False] * len(fresh)
    assert desk.due(application_id) == desk.fee  # only the valid orders counted
    with desk.db.transaction(desk.tenant.id) as session:
        assert f"期限切れ {len(stale)}枚" in session.get(PaymentIntent, record.intent_id).note


def test_only_expired_orders_are_recorded_without_a_payment_and_once(desk: Desk) -> None:
    application_id = desk.submitted()
    stale = [OrderInput(v, jp.today() - timedelta(days=400)) for v in split(desk.fee)]
    first, created = _postal(desk, application_id, stale, "stale")
    again, created_again = _postal(desk, application_id, stale, "stale")
    assert created and not created_again and again.id == first.id
    assert first.intent_id is None and first.expired_count == len(stale)
    assert _count(desk, PostalOrder, application_id) == 1 and desk.due(application_id) == desk.fee


def test_the_same_key_twice_records_the_orders_once(desk: Desk) -> None:
    application_id = desk.submitted()
    orders = [_order(v) for v in split(desk.fee)]
    first, _ = _postal(desk, application_id, orders, "envelope-1")
    again, created = _postal(desk, application_id, orders, "envelope-1")
    assert not created and again.id == first.id
    assert _count(desk, PostalOrder, application_id) == 1 and _count(desk, PaymentIntent, application_id) == 1


@pytest.mark.parametrize(
    ("orders", "received_on", "field"),
    [
        ([], None, "orders"),
        ([OrderInput(600, date(2026, 1, 5))], date(2026, 1, 6), "orders/0/face_value"),
        ([OrderInput(300, date(2026, 1, 7))], date(2026, 1, 6), "orders/0/issued_on"),
        (
            [OrderInput(100, date(2026, 1, 5), "A-1"), OrderInput(200, date(2026, 1, 5), "A-1")],
            date(2026, 1, 6),
            "orders/1/number",
        ),
        ([OrderInput(300, date(2026, 1, 5))], "tomorrow", "received_on"),
    ],
)
def test_wrong_orders_are_refused_by_field_and_nothing_is_recorded(desk: Desk, orders, received_on, field) -> None:
    application_id = desk.submitted()
    when = jp.today() + timedelta(days=1) if received_on == "tomorrow" else received_on or jp.today()
    with pytest.raises(ValidationFailed) as refused:
        _postal(desk, application_id, orders, received_on=when)
    assert field in (refused.value.errors or {})
    assert _count(desk, PostalOrder, application_id) == 0 and desk.due(application_id) == desk.fee


def test_every_legal_denomination_is_taken() -> None:
    assert counter.DENOMINATIONS == (50, 100, 150, 200, 250, 300, 350, 400, 450, 500, 750, 1000)
    assert not counter._order_errors([OrderInput(v, date(2026, 1, 5)) for v in counter.DENOMINATIONS], date(2026, 1, 6))
