"""Satisfaction counted per procedure for a month in Japan (``satisfaction.queries.month_counts``), checked against
counts made by hand; and the answers cannot be changed by the application's database role."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy import text

from madoguchi.db import Database
from madoguchi.satisfaction import queries
from madoguchi.satisfaction.models import SatisfactionResponse
from madoguchi.tenancy.models import Tenant
from tests.factories import tenants

#: (tenant index, procedure, score, answered at): the fixture the expectations below were counted from by hand.
ROWS = [
    (0, "residency-certificate", 5, datetime(2026, 10, 31, 15, 0, tzinfo=UTC)),  # 11-01 00:00 JST: November
    (0, "residency-certificate", 4, datetime(2026, 11, 15, 3, 0, tzinfo=UTC)),
    (0, "residency-certificate", 2, datetime(2026, 11, 30, 14, 59, 59, tzinfo=UTC)),  # 11-30 23:59:59 JST
    (0, "residency-certificate", None, datetime(2026, 11, 20, 0, 0, tzinfo=UTC)),  # text only: not counted
    (0, "residency-certificate", 5, datetime(2026, 11, 30, 15, 0, tzinfo=UTC)),  # 12-01 00:00 JST: December
    (0, "residency-certificate", 3, datetime(2026, 10, 31, 14, 59, 59, tzinfo=UTC)),  # 10-31 23:59:59 JST: October
    (0, "tax-certificate", 1, datetime(2026, 11, 2, 0, 0, tzinfo=UTC)),
    (1, "residency-certificate", 5, datetime(2026, 11, 2, 0, 0, tzinfo=UTC)),  # another municipality
]
#: The rows filed at the counter (by index in ROWS); the others came online.
COUNTER = {1}


def seed(db: Database, towns: list[Tenant]) -> None:
    for row, (index, key, score, at) in enumerate(ROWS):
        tenant = towns[index]
        with db.transaction(tenant.id) as session:
            session.add(
                SatisfactionResponse(
                    tenant_id=tenant.id,
                    service_key=key,
                    journey="submitted",
                    channel="counter" if row in COUNTER else "online",
                    score=score,
                    comment=None if score is not None else "text only",
                    answered_at=at,
                    journey_key=uuid.uuid4().hex * 2,
                )
            )


def test_month_counts_per_procedure_in_japan_time(db: Database, seeded: None) -> None:
    towns = tenants(db)
    seed(db, towns)
    with db.transaction(towns[0].id) as session:
        november = queries.month_counts(session, towns[0].id, "2026-11")
        october = queries.month_counts(session, towns[0].id, "2026-10")
        december = queries.month_counts(session, towns[0].id, "2026-12")
        empty = queries.month_counts(session, towns[0].id, "2026-09")
    assert november == {
        "residency-certificate": queries.ProcedureSatisfaction("residency-certificate", scored=3, satisfied=2),
        "tax-certificate": queries.ProcedureSatisfaction("tax-certificate", scored=1, satisfied=0),
    }
    assert november["residency-certificate"].share_satisfied == pytest.approx(2 / 3)
    assert november["tax-certificate"].share_satisfied == 0
    assert october == {"residency-certificate": queries.ProcedureSatisfaction("residency-certificate", 1, 0)}
    assert december == {"residency-certificate": queries.ProcedureSatisfaction("residency-certificate", 1, 1)}
    assert empty == {}
    assert queries.ProcedureSatisfaction("x", 0, 0).share_satisfied is None


def test_month_counts_per_channel(db: Database, seeded: None) -> None:
    towns = tenants(db)
    seed(db, towns)
    with db.transaction(towns[0].id) as session:
        counter = queries.month_counts(session, towns[0].id, "2026-11", channel="counter")
        online = queries.month_counts(session, towns[0].id, "2026-11", channel="online")
    assert counter == {"residency-certificate": queries.ProcedureSatisfaction("residency-certificate", 1, 1)}
    assert online["residency-certificate"] == queries.ProcedureSatisfaction("residency-certificate", 2, 1)
    assert online["tax-certificate"] == queries.ProcedureSatisfaction("tax-certificate", 1, 0)


def test_the_spread_counts_text_only_answers_apart(db: Database, seeded: None) -> None:
    towns = tenants(db)
    seed(db, towns)
    with db.transaction(towns[0].id) as session:
        [residency, tax] = queries.distributions(session, towns[0].id, "2026-11")
    assert (residency.service_key, residency.scores, residency.text_only) == (
        "residency-certificate",
        {4: 1, 2: 1, 5: 1},
        1,
    )
    assert (tax.scores, tax.scored, tax.satisfied) == ({1: 1}, 1, 0)


@pytest.mark.parametrize("period", ["2026-13", "2026-1", "26-11", "2026-11-01", ""])
def test_a_month_that_is_not_one_is_refused(period: str) -> None:
    with pytest.raises(ValueError):
        queries.month_bounds(period)


def test_month_bounds_are_midnight_in_japan() -> None:
    assert queries.month_bounds("2026-12") == (
        datetime(2026, 11, 30, 15, 0, tzinfo=UTC),
        datetime(2026, 12, 31, 15, 0, tzinfo=UTC),
    )


@pytest.mark.postgres_only
@pytest.mark.parametrize(
    "statement",
    ["update satisfaction_responses set score = 1", "delete from satisfaction_responses"],
    ids=["update", "delete"],
)
def test_the_app_role_cannot_change_or_delete_an_answer(db: Database, seeded: None, statement: str) -> None:
    towns = tenants(db)
    seed(db, towns)
    with pytest.raises(sa.exc.ProgrammingError, match="permission denied"), db.transaction(towns[0].id) as session:
        session.execute(text(statement))
    with db.transaction(towns[0].id) as session:
        scores = sorted(s for s in session.execute(text("select score from satisfaction_responses")).scalars() if s)
    assert scores == [1, 2, 3, 4, 5, 5]
