"""Reconciliation: a settlement report matched line by line (matched / missing / extra / mismatch), unreadable
reports refused by line with nothing stored, and the 収入日計 by JST day (succeeded − refunded)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from madoguchi.db import Database
from madoguchi.errors import Forbidden, ValidationFailed
from madoguchi.identity.actors import Actor
from madoguchi.payments import reconcile, refunds
from madoguchi.payments.models import COUNTER_CASH, PaymentEvent, Refund, SettlementImport, SettlementLine
from tests.payments.ledger import paid_intent
from tests.world import Town

CITY, TOWN = "sakuragaoka-city", "shiomi-town"
DAY = date(2026, 12, 1)
#: 2026-12-01 12:00 JST.
NOON = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
#: 23:59 JST on 2026-12-01 and 00:00 JST on 2026-12-02 (14:59 and 15:00 UTC on the 1st).
LAST_MINUTE = datetime(2026, 12, 1, 14, 59, tzinfo=UTC)
MIDNIGHT = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


def _report(*rows: tuple[str, str, object, str], header: str = "provider_ref,kind,amount_jpy,settled_on") -> bytes:
    lines = [header, *(",".join(str(cell) for cell in row) for row in rows)]
    return ("\r\n".join(lines) + "\r\n").encode()


def _import(db: Database, town: Town, raw: bytes, *, day: date = DAY, actor: Actor | None = None,
            provider: str = "testpay") -> SettlementImport:  # fmt: skip
    with db.transaction(town.tenant.id) as session:
        return reconcile.import_settlement(session, town.tenant, provider=provider, day=day, raw=raw,
                                           actor=actor or town.supervisor)  # fmt: skip


def _lines(db: Database, town: Town, settlement: SettlementImport, **kwargs) -> list[SettlementLine]:
    with db.transaction(town.tenant.id) as session:
        found = reconcile.lines_of(session, settlement, **kwargs)
        session.expunge_all()
        return found


def _refund(db: Database, town: Town, intent_id, amount: int, settings, at: datetime | None = None) -> None:
    with db.transaction(town.tenant.id) as session:
        refund = refunds.request_refund(session, town.tenant, intent_id, actor=town.clerk, amount_jpy=amount,
                                        reason="not_issuable")  # fmt: skip
        refunds.approve_refund(session, town.tenant, refund.id, actor=town.supervisor, settings=settings)
        assert refund.status == "succeeded"
        if at is not None:
            refund.succeeded_at = at


def test_one_missing_one_extra_and_one_mismatch_make_exactly_those_three_lines(db, towns, provider, settings) -> None:
    town = towns[CITY]
    paid_intent(db, town, ref="pi_ok", at=NOON)
    paid_intent(db, town, ref="pi_short", amount=600, at=NOON)
    paid_intent(db, town, ref="pi_missing", at=NOON)
    refunded = paid_intent(db, town, ref="pi_refunded", amount=900, at=NOON)
    _refund(db, town, refunded, 300, settings, at=NOON)
    paid_intent(db, town, ref="pi_next_day", at=MIDNIGHT)  # another day: in neither list
    raw = _report(
        ("pi_ok", "charge", 300, "2026-12-01"),
        ("pi_short", "charge", 300, "2026-12-01"),
        ("pi_refunded", "charge", 900, "2026-12-01"),
        ("pi_refunded", "refund", -300, "2026-12-01"),
        ("pi_stranger", "charge", 500, "2026-12-01"),
    )
    settlement = _import(db, town, raw)
    problems = _lines(db, town, settlement, problems_only=True)
    found = [
        (line.result, line.provider_ref, line.line_number, line.expected_jpy, line.reported_jpy) for line in problems
    ]
    assert found == [
        ("mismatch", "pi_short", 3, 600, 300),
        ("extra", "pi_stranger", 6, None, 500),
        ("missing", "pi_missing", None, 300, None),
    ]  # fmt: skip
    assert settlement.matched == 3
    assert settlement.mismatched == 3
    assert len(_lines(db, town, settlement)) == 6
    with db.transaction(town.tenant.id) as session:
        kinds = session.execute(select(PaymentEvent.kind).where(PaymentEvent.kind.in_(("reconciled", "mismatch"))))
        assert sorted(kinds.scalars()) == ["mismatch", "mismatch", "reconciled", "reconciled", "reconciled"]


def test_a_report_that_matches_has_no_problem_lines(db, towns, provider) -> None:
    town = towns[CITY]
    paid_intent(db, town, ref="pi_a", at=NOON)
    paid_intent(db, town, ref="pi_b", amount=600, at=LAST_MINUTE)
    settlement = _import(db, town, _report(("pi_a", "charge", 300, "2026-12-01"), ("pi_b", "charge", "600", DAY)))
    assert settlement.mismatched == 0
    assert _lines(db, town, settlement, problems_only=True) == []


def test_a_payment_at_0000_jst_belongs_to_the_next_days_report(db, towns, provider) -> None:
    town = towns[CITY]
    paid_intent(db, town, ref="pi_late", at=LAST_MINUTE)
    paid_intent(db, town, ref="pi_midnight", at=MIDNIGHT)
    first = _import(db, town, _report(("pi_late", "charge", 300, "2026-12-01")))
    second = _import(db, town, _report(("pi_midnight", "charge", 300, "2026-12-02")), day=date(2026, 12, 2))
    assert (first.matched, first.mismatched, second.matched, second.mismatched) == (1, 0, 1, 0)


def test_an_unreadable_report_names_every_bad_line_and_stores_nothing(db, towns, provider) -> None:
    town = towns[CITY]
    paid_intent(db, town, ref="pi_a", at=NOON)
    raw = _report(
        ("pi_a", "charge", 300, "2026-12-01"),
        ("pi_b", "payout", 300, "2026-12-01"),
        ("pi_c", "charge", "三百", "2026-12-01"),
        ("pi_d", "charge", 300, "2026-12-02"),
        ("", "charge", 300, "2026/12/01"),
    )
    with pytest.raises(ValidationFailed) as refused:
        _import(db, town, raw)
    assert refused.value.errors == {
        "file": [
            "line 3: kind: must be one of: charge, refund",
            "line 4: amount_jpy: must be a whole number of yen, not 0",
            "line 5: settled_on: 2026-12-02 is not the day of this report (2026-12-01)",
            "line 6: provider_ref: must be the provider's reference of the payment",
            "line 6: settled_on: must be a date YYYY-MM-DD",
        ]
    }
    with db.transaction(town.tenant.id) as session:
        assert session.execute(select(SettlementImport)).scalars().all() == []


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"ref,amount\r\npi_a,300\r\n", "line 1: the header must be provider_ref,kind,amount_jpy,settled_on"),
        (b"", "line 1: the header must be provider_ref,kind,amount_jpy,settled_on"),
        (b"provider_ref,kind,amount_jpy,settled_on\r\npi_a,charge,300\r\n", "line 2: expected 4 columns, found 3"),
        (b"provider_ref,kind,amount_jpy,settled_on\r\npi_a,charge,\x00\x01,2026-12-01\r\n", "line 2"),
    ],
)
def test_a_report_not_in_the_settlement_format_is_refused(db, towns, provider, raw, message) -> None:
    town = towns[CITY]
    paid_intent(db, town)
    with pytest.raises(ValidationFailed) as refused:
        _import(db, town, raw)
    assert (refused.value.errors or {})["file"][0].startswith(message)


def test_a_shift_jis_report_with_a_bom_less_header_in_full_width_is_read(db, towns, provider) -> None:
    town = towns[CITY]
    paid_intent(db, town, ref="pi_a", at=NOON)
    raw = 'ｐｒｏｖｉｄｅｒ＿ｒｅｆ,kind,amount_jpy,settled_on\r\npi_a,CHARGE,"３００",２０２６-１２-０１\r\n'
    settlement = _import(db, town, raw.encode("cp932"))
    assert settlement.matched == 1


def test_an_unknown_provider_is_refused(db, towns, provider) -> None:
    town = towns[CITY]
    paid_intent(db, town)
    with pytest.raises(ValidationFailed) as refused:
        _import(db, town, _report(), provider="paypal")
    assert set(refused.value.errors or {}) == {"provider"}


def test_only_accounting_staff_or_a_supervisor_imports(db, towns, provider) -> None:
    town = towns[CITY]
    paid_intent(db, town)
    for actor in (town.clerk, town.resident):
        with pytest.raises(Forbidden):
            _import(db, town, _report(), actor=actor)


def test_another_municipalitys_payments_are_never_matched(db, towns, provider) -> None:
    city, town = towns[CITY], towns[TOWN]
    paid_intent(db, city, ref="pi_city", at=NOON)
    paid_intent(db, town, ref="pi_town", at=NOON)
    settlement = _import(db, town, _report(("pi_city", "charge", 300, "2026-12-01")))
    lines = _lines(db, town, settlement)
    assert [(line.provider_ref, line.result, line.intent_id) for line in lines][:2] == [
        ("pi_city", "extra", None),
        ("pi_town", "missing", lines[1].intent_id),
    ]
    assert lines[1].intent_id is not None


def test_the_daily_revenue_is_succeeded_minus_refunded_by_jst_day(db, towns, provider, settings) -> None:
    town, other = towns[CITY], towns[TOWN]
    paid_intent(db, town, at=NOON)
    paid_intent(db, town, amount=600, mode=COUNTER_CASH, at=LAST_MINUTE)
    next_day = paid_intent(db, town, amount=900, at=MIDNIGHT)
    _refund(db, town, next_day, 300, settings, at=datetime(2026, 12, 2, 14, 59, tzinfo=UTC))
    paid_intent(db, other, amount=5000, at=NOON)  # another municipality's
    with db.transaction(town.tenant.id) as session:
        rows = reconcile.daily_revenue(session, town.tenant, DAY, date(2026, 12, 3))
        item = reconcile.revenue_item(town.tenant)
        refunded = session.execute(select(Refund.amount_jpy)).scalars().all()
    assert refunded == [300]
    assert [(r.day, r.count, r.collected_jpy, r.refunded_jpy, r.amount_jpy) for r in rows] == [
        (DAY, 2, 900, 0, 900),
        (date(2026, 12, 2), 1, 900, 300, 600),
        (date(2026, 12, 3), 0, 0, 0, 0),
    ]
    text = reconcile.daily_revenue_csv(rows, item).decode("utf-8-sig")
    assert list(csv.reader(io.StringIO(text))) == [
        ["日付", "歳入科目", "件数", "収入額", "還付額", "金額"],
        ["2026-12-01", "手数料", "2", "900", "0", "900"],
        ["2026-12-02", "手数料", "1", "900", "300", "600"],
        ["2026-12-03", "手数料", "0", "0", "0", "0"],
    ]
    assert text.endswith("\r\n")
    english = reconcile.daily_revenue_csv(rows, {"ja": "使用料及び手数料", "en": "Fees and charges"}, locale="en")
    assert english.decode("utf-8-sig").splitlines()[1] == "2026-12-01,Fees and charges,2,900,0,900"


def test_the_revenue_item_comes_from_the_tenants_payments_settings(db, towns) -> None:
    town = towns[CITY]
    town.tenant.profile = {**(town.tenant.profile or {}), "payments": {"revenue_item": {"ja": "証明手数料", "en": "x"}}}
    assert reconcile.revenue_item(town.tenant) == {"ja": "証明手数料", "en": "x"}


@pytest.mark.parametrize(("start", "end"), [(date(2026, 12, 2), DAY), (date(2026, 1, 1), date(2026, 12, 31))])
def test_a_backwards_or_too_long_period_is_refused(db, towns, start, end) -> None:
    town = towns[CITY]
    with pytest.raises(ValidationFailed), db.transaction(town.tenant.id) as session:
        reconcile.daily_revenue(session, town.tenant, start, end)


def test_new_years_eve_at_2359_jst_and_new_years_day_at_0000_jst_are_two_years(db, towns, provider) -> None:
    town = towns[CITY]
    paid_intent(db, town, amount=300, at=datetime(2026, 12, 31, 14, 59, tzinfo=UTC))  # 2026-12-31 23:59 JST
    paid_intent(db, town, amount=450, at=datetime(2026, 12, 31, 15, 0, tzinfo=UTC))  # 2027-01-01 00:00 JST
    with db.transaction(town.tenant.id) as session:
        rows = reconcile.daily_revenue(session, town.tenant, date(2026, 12, 31), date(2027, 1, 1))
    assert [(r.day, r.amount_jpy) for r in rows] == [(date(2026, 12, 31), 300), (date(2027, 1, 1), 450)]
