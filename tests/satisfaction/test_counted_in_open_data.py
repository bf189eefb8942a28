"""End to end: a resident's answer given on the portal is counted in the next month's published KPIs.

The clock is stopped on the last evening of a month (JST) while the resident answers, then advanced to the 5th of the
next month, when the month is closed and published. Nine answers are already there, so the resident's is the tenth:
the published count goes from hidden (1–9) to 10, and the share of satisfied answers appears with it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select

from madoguchi import jp
from madoguchi.db import Database
from madoguchi.opendata import publish
from madoguchi.opendata.compute import MonthNotClosed
from madoguchi.opendata.models import KpiMonth
from madoguchi.satisfaction.models import SatisfactionResponse
from tests.portal.conftest import Towns
from tests.satisfaction.test_portal_question import post_answer, submitted_application, submitted_page

MONTH = "2026-11"


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=jp.JAPAN)


def published_row(db: Database, tenant_id: uuid.UUID, key: str) -> dict[str, Any]:
    with db.transaction(tenant_id) as session:
        month = session.execute(
            select(KpiMonth).where(KpiMonth.dataset == "procedure-kpis", KpiMonth.period == MONTH)
        ).scalar_one()
        return next(row for row in month.published if row["procedure_key"] == key)


def earlier_answers(db: Database, tenant_id: uuid.UUID, scores: tuple[int, ...]) -> None:
    """Answers other residents gave earlier in the month (rows, as the form writes them)."""
    with db.transaction(tenant_id) as session:
        for score in scores:
            session.add(
                SatisfactionResponse(
                    tenant_id=tenant_id,
                    service_key="residency-certificate",
                    journey="submitted",
                    channel="online",
                    score=score,
                    answered_at=at(2026, 11, 3),
                    journey_key=uuid.uuid4().hex,
                )
            )


def publish_month(db: Database, tenant_id: uuid.UUID, now: datetime) -> None:
    with db.transaction() as session:
        tenants = [t for t in publish.publishing_tenants(session) if t.id == tenant_id]
        publish.publish(session, tenants, MONTH, now=now)


def test_an_answer_on_the_portal_appears_in_the_next_months_published_counts(
    towns: Towns, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = towns.a
    earlier_answers(db, a.tenant.id, (5, 5, 4, 4, 4, 3, 2, 1, 5))  # six of nine satisfied
    monkeypatch.setattr("madoguchi.jp.now", lambda: at(2026, 11, 30, 23, 50))
    application_id = submitted_application(db, a)
    answered = post_answer(
        a.client, a.tenant, application_id, submitted_page(a, application_id), journey="submitted", score="5"
    )
    assert answered.status_code in (200, 303), answered.get_data(as_text=True)[:500]

    # The month is still open on its last evening: nothing can be published yet.
    with pytest.raises(MonthNotClosed, match="not closed"):
        publish_month(db, a.tenant.id, jp.now())

    # The 5th of the next month: the month is closed and published with the resident's answer as the tenth.
    monkeypatch.setattr("madoguchi.jp.now", lambda: at(2026, 12, 5, 9, 0))
    publish_month(db, a.tenant.id, jp.now())
    row = published_row(db, a.tenant.id, "residency-certificate")
    assert row["satisfaction_responses"] == 10
    assert row["satisfaction_score"] == pytest.approx(7 / 10)
    assert "satisfaction_responses" not in row["suppressed"]


def test_nine_answers_stay_hidden_until_the_tenth(towns: Towns, db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same month without the resident's answer: nine answers are published empty and listed as suppressed."""
    a = towns.a
    earlier_answers(db, a.tenant.id, (5,) * 9)
    publish_month(db, a.tenant.id, at(2026, 12, 5, 9, 0))
    row = published_row(db, a.tenant.id, "residency-certificate")
    assert row["satisfaction_responses"] is None and "satisfaction_responses" in row["suppressed"]
    assert row["satisfaction_score"] is None
