"""Every published number of a seeded municipality against an oracle written here, in plain Python over the
seeded facts (not by calling the code under test), including the JST month boundaries."""

from __future__ import annotations

import math
import statistics
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from madoguchi import jp
from madoguchi.db import Database
from madoguchi.opendata import compute, publish
from madoguchi.opendata.columns import PROCEDURE_KPI_COLUMNS
from madoguchi.opendata.models import KpiMonth
from tests.opendata.conftest import KEYS, PERIOD, Answer, Fact, Towns, boundary_facts, jst, random_facts, seed

START, END = jst(2025, 11, 1), jst(2025, 12, 1)
GENERATED = "2025-12-05T00:00:00Z"


def _in(moment: datetime | None) -> bool:
    return moment is not None and START <= moment < END


def oracle(facts: list[Fact], answers: list[Answer], key: str | None) -> dict[str, Any]:
    """The month's figures of procedure ``key`` (None: every procedure), straight from the definitions."""
    mine = [f for f in facts if key is None or f.key == key]
    started = [f for f in mine if f.channel == "online" and _in(f.created)]
    submitted = [f for f in mine if _in(f.submitted)]
    decided = [f for f in mine if _in(f.decided)]
    days = sorted(max((jp.date_in_japan(f.decided) - jp.date_in_japan(f.submitted)).days, 0) for f in decided)
    scored = [a for a in answers if (key is None or a.key == key) and _in(a.at) and a.score is not None]
    online = sum(f.channel == "online" for f in submitted)
    api = sum(f.channel == "api" for f in submitted)
    counter = sum(f.channel == "counter" for f in submitted)
    fees = sum(f.fee[0] for f in mine if f.fee and _in(f.fee[1])) - sum(
        f.refund[0] for f in mine if f.refund and _in(f.refund[1])
    )
    return {
        "started_online": len(started),
        "completed": sum(1 for f in started if f.submitted is not None and f.submitted < END),
        "submitted_online": online,
        "submitted_api": api,
        "submitted_counter": counter,
        "submitted_total": len(submitted),
        "decided": len(decided),
        "decided_within_sla": sum(1 for f in decided if f.due_on and jp.date_in_japan(f.decided) <= f.due_on),
        "median": statistics.median(days) if days else None,
        "p90": days[math.ceil(0.9 * len(days)) - 1] if days else None,
        "corrected": sum(1 for f in submitted if f.corrected is not None and f.corrected < END),
        "withdrawn": sum(1 for f in mine if _in(f.withdrawn)),
        "responses": len(scored),
        "satisfied": sum(1 for a in scored if a.score >= 4),
        "fees": fees,
    }


def _expected_published(o: dict[str, Any], population: int | None) -> dict[str, Any]:
    total = o["submitted_total"]
    return {
        "started_online": o["started_online"],
        "submitted_online": o["submitted_online"],
        "submitted_api": o["submitted_api"],
        "submitted_counter": o["submitted_counter"],
        "submitted_total": total,
        "completion_rate": round(o["completed"] / o["started_online"], 4) if o["started_online"] >= 10 else None,
        "digital_take_up": round((o["submitted_online"] + o["submitted_api"]) / total, 4) if total >= 10 else None,
        "decided": o["decided"],
        "decided_within_sla": o["decided_within_sla"],
        "median_days_to_decision": o["median"] if o["decided"] >= 10 else None,
        "p90_days_to_decision": o["p90"] if o["decided"] >= 10 else None,
        "correction_requested_rate": round(o["corrected"] / total, 4) if total >= 10 else None,
        "withdrawn": o["withdrawn"],
        "satisfaction_responses": o["responses"],
        "satisfaction_score": round(o["satisfied"] / o["responses"], 4) if o["responses"] >= 10 else None,
        "fees_collected_jpy": o["fees"],
        "per_1000_residents": round(total / population * 1000, 2) if population else None,
    }


@pytest.fixture
def facts(db: Database, towns: Towns) -> tuple[list[Fact], list[Answer]]:
    facts, answers = random_facts(20, 400)
    facts += boundary_facts()
    answers += [Answer("tax-certificate", 5, jst(2025, 11, 30, 23, 59)), Answer("tax-certificate", 4, END)]
    with db.transaction(towns.a.id) as session:
        seed(session, towns.a, facts, answers)
    # Noise in another municipality: none of it may count for A.
    noise, noise_answers = random_facts(21, 60)
    with db.transaction(towns.b.id) as session:
        seed(session, towns.b, noise, noise_answers)
    return facts, answers


def test_every_published_number_equals_the_oracle(db: Database, towns: Towns, facts: Any) -> None:
    seeded_facts, answers = facts
    with db.transaction(towns.a.id) as session:
        internal = compute.internal_procedure_rows(session, towns.a.id, PERIOD)
    published = compute.publish_procedure_rows(towns.a, PERIOD, internal, GENERATED)
    population = towns.a.profile["open_data"]["population"]
    by_key = {row["procedure_key"]: row for row in published}
    assert set(by_key) >= {*KEYS, "_total"}
    for key in (*KEYS, None):
        o = oracle(seeded_facts, answers, key)
        row = by_key[key or "_total"]
        expected = _expected_published(o, population)
        assert row["lg_code"] == "018996" and row["period"] == PERIOD and row["municipality"] == "緑川村"
        for name, value in expected.items():
            if name in row["suppressed"]:
                assert row[name] is None
            else:
                assert row[name] == (pytest.approx(value) if isinstance(value, float) else value), (key, name)
        # the seeded month is big enough that the main figures are shown
        assert row["submitted_total"] == o["submitted_total"] >= 10
    assert {row["procedure_key"] for row in published} == {*KEYS, "_total", "childcare-admission"}
    assert [row["procedure_key"] for row in published][-1] == "_total"


def test_small_counts_are_empty_and_listed_never_shown(db: Database, towns: Towns, facts: Any) -> None:
    with db.transaction(towns.a.id) as session:
        internal = compute.internal_procedure_rows(session, towns.a.id, PERIOD)
    published = compute.publish_procedure_rows(towns.a, PERIOD, internal, GENERATED)
    counts = [c.name for c in PROCEDURE_KPI_COLUMNS if c.suppressible_count]
    assert published and any(row["suppressed"] for row in published)
    for row in published:
        for name in counts:
            assert row[name] is None or not 0 < row[name] < 10, (row["procedure_key"], name)
            assert (row[name] is None) == (name in row["suppressed"])
        assert row["suppressed"] == [c.name for c in PROCEDURE_KPI_COLUMNS if c.name in row["suppressed"]]


def test_the_month_is_the_jst_month(db: Database, towns: Towns) -> None:
    with db.transaction(towns.c.id) as session:
        seed(session, towns.c, boundary_facts())
        rows = {r["procedure_key"]: r for r in compute.internal_procedure_rows(session, towns.c.id, PERIOD)}
    november = rows["residency-certificate"]
    assert (november["submitted_online"], november["submitted_counter"], november["submitted_api"]) == (1, 1, 1)
    assert november["started_online"] == 1


def test_median_and_p90_come_from_the_histogram() -> None:
    assert compute.median_and_p90({"0": 1, "2": 1}) == (1.0, 2.0)
    assert compute.median_and_p90({"1": 9, "30": 1}) == (1.0, 1.0)
    assert compute.median_and_p90({"1": 8, "30": 2}) == (1.0, 30.0)
    assert compute.median_and_p90({}) == (None, None)


def test_a_month_not_over_is_refused(db: Database) -> None:
    with pytest.raises(compute.MonthNotClosed, match="not closed yet"):
        compute.check_closed("2025-11", jst(2025, 11, 30, 23, 59, 59))
    compute.check_closed("2025-11", jst(2025, 12, 1))
    assert compute.last_closed_month(jst(2026, 1, 1, 0, 0)) == "2025-12"
    assert compute.last_closed_month(jst(2026, 3, 31, 23, 59)) == "2026-02"


def test_live_figures_are_exact_and_stored_nowhere(db: Database, towns: Towns, facts: Any) -> None:
    seeded_facts, answers = facts
    with db.transaction(towns.a.id) as session:
        rows = {r["procedure_key"]: r for r in publish.live_procedure_kpis(session, towns.a, PERIOD)}
        assert session.execute(select(func.count()).select_from(KpiMonth)).scalar_one() == 0
    for key in (*KEYS, None):
        o = oracle(seeded_facts, answers, key)
        row = rows[key or "_total"]
        assert row["submitted_online"] == o["submitted_online"] and row["withdrawn"] == o["withdrawn"]
        take_up = (o["submitted_online"] + o["submitted_api"]) / o["submitted_total"]
        assert row["digital_take_up"] == pytest.approx(take_up, abs=1e-4)
