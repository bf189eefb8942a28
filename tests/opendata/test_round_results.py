"""``childcare-round-results``: the open numbers of the rounds published to families in a month, suppressed like the
other datasets, the lowest placed score only with the municipality's opt-in and three or more placed, the files
byte-identical on a re-run, and one municipality's rounds never under another's URLs."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from madoguchi import jp
from madoguchi.db import Database
from madoguchi.opendata import compute, publish, rounds
from madoguchi.opendata.models import KpiMonth
from madoguchi.tenancy.models import Tenant
from tests.opendata.conftest import PERIOD, Towns, jst, opt_in_lowest_score, seed_round

NOW = jst(2025, 12, 5, 0, 30)


def _publish(db: Database, towns: Towns, now: datetime = NOW) -> None:
    with db.transaction() as session:
        tenants = [session.get(Tenant, t.id) for t in (towns.a, towns.b, towns.c)]
        publish.publish(session, tenants, PERIOD, now=now)


@pytest.fixture
def rounds_seeded(db: Database, towns: Towns) -> dict[str, uuid.UUID]:
    """A: a round published at the month's last second (in), one at the next month's first (out), one approved but
    not published (out); B: one round published in the month."""
    ids = {}
    with db.transaction(towns.a.id) as session:
        ids["a"] = seed_round(session, towns.a, jst(2025, 11, 30, 23, 59, 59))
        ids["a_next_month"] = seed_round(session, towns.a, jst(2025, 12, 1, 0, 0))
        ids["a_unpublished"] = seed_round(session, towns.a, None)
    with db.transaction(towns.b.id) as session:
        ids["b"] = seed_round(session, towns.b, jst(2025, 11, 15, 10), {("S001", 2): (20, 40, 20, 15, 20, 30)})
    return ids


def _csv(client: Any, url: str) -> list[dict[str, str]]:
    response = client.get(url)
    assert response.status_code == 200, url
    return list(csv.DictReader(io.StringIO(response.data.decode("utf-8"), newline="")))


def _row(facility: str, age: int | None, values: dict[str, Any], suppressed: list[str]) -> dict[str, Any]:
    return {"facility_code": facility, "age_class": age, **values, "suppressed": suppressed}


def test_the_published_rows_of_a_seeded_round(db: Database, towns: Towns, rounds_seeded: dict[str, uuid.UUID]) -> None:
    """The oracle, worked by hand. Primary: F001/1's 9, 5, 5, 4 and F002/1's 2 placed. ``placed``: the total 34 =
    12 + ▢ + 15 + ▢ has two unknowns, so nothing more is hidden. ``placed_first_choice``: 27 = 10 + ▢ + 12 + 0
    would give F001/1's 5, so the smallest non-zero cell beside it, F001/0's 10, is hidden too. F002/1 placed 2,
    so its lowest score is withheld even with the opt-in."""
    opt_in_lowest_score(db, towns.a)
    _publish(db, towns)
    with db.transaction(towns.a.id) as session:
        month = publish._months_of(session, [session.get(Tenant, towns.a.id)], "childcare-round-results", PERIOD)
    rows = month[0][1].published
    keys = ("facility_code", "age_class", "seats", "applicants_listing", "placed", "placed_first_choice")
    keys += ("waitlisted", "lowest_placed_score", "applicants", "not_placed", "suppressed")
    got = [{k: row[k] for k in keys} for row in rows]
    na: dict[str, Any] = {"applicants": None, "not_placed": None}
    assert got == [
        _row(
            "F001",
            0,
            {"seats": 12, "applicants_listing": 25, "placed": 12, "placed_first_choice": None, "waitlisted": 13}
            | {"lowest_placed_score": 40, **na},
            ["placed_first_choice"],
        ),
        _row(
            "F001",
            1,
            {"seats": 6, "applicants_listing": None, "placed": None, "placed_first_choice": None, "waitlisted": None}
            | {"lowest_placed_score": 35, **na},
            ["applicants_listing", "placed", "placed_first_choice", "waitlisted"],
        ),
        _row(
            "F002",
            0,
            {"seats": 15, "applicants_listing": 30, "placed": 15, "placed_first_choice": 12, "waitlisted": 15}
            | {"lowest_placed_score": 38, **na},
            [],
        ),
        _row(
            "F002",
            1,
            {"seats": 3, "applicants_listing": 12, "placed": None, "placed_first_choice": 0, "waitlisted": 10}
            | {"lowest_placed_score": None, **na},
            ["placed", "lowest_placed_score"],
        ),
        _row(
            "_total",
            None,
            {"seats": 36, "applicants_listing": None, "placed": 34, "placed_first_choice": 27, "waitlisted": None}
            | {"lowest_placed_score": None, "applicants": 55, "not_placed": 20},
            [],
        ),
    ]
    assert {row["round_id"] for row in rows} == {str(rounds_seeded["a"])}
    assert {row["period"] for row in rows} == {PERIOD} and rows[0]["round_label"] == "令和8年4月一次 𠮷野髙﨑"


def test_nine_is_hidden_and_ten_is_shown(db: Database, towns: Towns) -> None:
    classes = {("F001", 0): (20, 9, 10, 10, 9, 30), ("F002", 0): (20, 10, 10, 10, 10, 30)}
    with db.transaction(towns.a.id) as session:
        seed_round(session, towns.a, jst(2025, 11, 3), classes)
        internal = rounds.internal_round_rows(session, towns.a.id, PERIOD)
    hidden = rounds.hidden_cells(internal)
    assert (0, "applicants_listing") in hidden and (0, "waitlisted") in hidden
    assert (1, "applicants_listing") not in hidden and (1, "waitlisted") not in hidden
    assert not {name for i, name in hidden if i == 1 and name in ("placed", "placed_first_choice")}


def test_no_hidden_cell_follows_from_the_totals(db: Database, towns: Towns) -> None:
    """Attack every published round with exact elimination over its sums, written here again: for each summed
    column, a single hidden cell among a round's classes and its total would be its value."""
    with db.transaction(towns.a.id) as session:
        seed_round(session, towns.a, jst(2025, 11, 3))
        seed_round(
            session, towns.a, jst(2025, 11, 4), {("F001", 0): (12, 25, 12, 3, 13, 40), ("F009", 3): (9, 9, 9, 9, 0, 1)}
        )
        internal = rounds.internal_round_rows(session, towns.a.id, PERIOD)
        tenant = session.get(Tenant, towns.a.id)
        assert tenant is not None
        published = rounds.publish_round_rows(tenant, PERIOD, internal, "2025-12-05T00:00:00Z")
    by_round: dict[str, list[dict[str, Any]]] = {}
    for row in published:
        by_round.setdefault(row["round_id"], []).append(row)
    assert len(by_round) == 2
    for rows in by_round.values():
        for name in ("placed", "placed_first_choice"):
            cells = [row[name] for row in rows]
            assert cells.count(None) != 1, (name, cells)
        total = rows[-1]
        assert [total["applicants"], total["placed"], total["not_placed"]].count(None) != 1
        for row in rows:
            assert all(row[name] is None for name in row["suppressed"])
            for name in rounds.COUNTS:
                assert row[name] is None or row[name] == 0 or row[name] >= 10


def test_lowest_placed_score_needs_theopt_in_lowest_score(
    db: Database, towns: Towns, rounds_seeded: dict[str, uuid.UUID]
) -> None:
    _publish(db, towns)
    with db.transaction(towns.a.id) as session:
        month = publish._months_of(session, [session.get(Tenant, towns.a.id)], "childcare-round-results", PERIOD)
    rows = month[0][1].published
    assert [row["lowest_placed_score"] for row in rows] == [None] * 5
    assert not any("lowest_placed_score" in row["suppressed"] for row in rows)


def test_files_rerun_and_tenancy(db: Database, client: Any, towns: Towns, rounds_seeded: dict[str, uuid.UUID]) -> None:
    opt_in_lowest_score(db, towns.a)
    _publish(db, towns)
    urls = (
        "/midorikawa-village/open-data/childcare-round-results.csv",
        "/midorikawa-village/open-data/childcare-round-results.json",
        f"/midorikawa-village/open-data/{PERIOD}/childcare-round-results.csv",
        "/open-data/childcare-round-results.csv",
        "/api/v1/t/midorikawa-village/open-data/childcare-round-results",
        f"/api/v1/open-data/childcare-round-results/{PERIOD}",
        "/midorikawa-village/open-data/datapackage.json",
    )
    before = {url: client.get(url).data for url in urls}
    a_rows = _csv(client, urls[0])
    assert {row["round_id"] for row in a_rows} == {str(rounds_seeded["a"])}
    assert a_rows[0]["lowest_placed_score"] == "40" and json.loads(a_rows[3]["suppressed"]) == [
        "placed",
        "lowest_placed_score",
    ]
    document = json.loads(before[urls[1]])
    assert document["dataset"] == "childcare-round-results" and len(document["rows"]) == 5
    # B's files hold B's round only; B did not opt in, so no score
    b_rows = _csv(client, "/sakuragaoka-city/open-data/childcare-round-results.csv")
    assert {row["round_id"] for row in b_rows} == {str(rounds_seeded["b"])}
    assert all(row["lowest_placed_score"] == "" for row in b_rows)
    assert str(rounds_seeded["a"]) not in client.get("/sakuragaoka-city/open-data/childcare-round-results.json").text
    assert (
        str(rounds_seeded["a"]) not in client.get("/api/v1/t/sakuragaoka-city/open-data/childcare-round-results").text
    )
    # the country's file concatenates the municipalities' rows
    national = _csv(client, "/open-data/childcare-round-results.csv")
    assert [row["round_id"] for row in national] == [row["round_id"] for row in a_rows + b_rows]
    package = json.loads(before["/midorikawa-village/open-data/datapackage.json"])
    assert "childcare-round-results" in [r["name"] for r in package["resources"]]
    # a re-run (and a round published later) changes no byte of the closed month
    with db.transaction(towns.a.id) as session:
        seed_round(session, towns.a, jst(2025, 11, 20))
    _publish(db, towns, jst(2026, 1, 7))
    assert {url: client.get(url).data for url in urls} == before


def test_a_round_run_through_the_childcare_operations(db: Database, seeded: None) -> None:
    """A real round (frozen, computed by the engine, approved by a second person, published to the families): its
    month's class rows are the round's open numbers, first choices counted from the results, and its five
    children's small counts all published empty."""
    from madoguchi.childcare import rounds as childcare_rounds
    from tests.childcare.test_rounds import _office, _round, _run, _twins_and_others
    from tests.factories import tenants

    found = tenants(db)
    office = _office(db, found[0], found[2])
    _twins_and_others(db, office)
    round_id = _round(db, office)
    for verb, actor in (("freeze", None), ("compute", None), ("approve", office.supervisor), ("publish", None)):
        _run(db, office, verb, round_id, actor)
    with db.transaction(office.tenant.id) as session:
        round_ = childcare_rounds.get_round(session, office.tenant.id, round_id)
        assert round_.published_at is not None
        period = compute.period_of(jp.date_in_japan(round_.published_at))
        numbers = childcare_rounds.open_numbers(session, round_)
        results = childcare_rounds.results_of(session, round_)
        tenant = session.get(Tenant, office.tenant.id)
        assert tenant is not None
        _, end = compute.month_bounds(period)
        publish.publish_month(session, tenant, period, now=end + timedelta(days=5))
        month = session.execute(
            select(KpiMonth).where(KpiMonth.tenant_id == tenant.id, KpiMonth.dataset == "childcare-round-results")
        ).scalar_one()
    classes, total = month.internal[:-1], month.internal[-1]
    assert [
        (r["facility_code"], r["age_class"], r["seats"], r["applicants_listing"], r["placed"]) for r in classes
    ] == [(n["facility_code"], n["age_class"], n["seats"], n["listed_by"], n["placed"]) for n in numbers]
    assert [r["waitlisted"] for r in classes] == [n["waiting_count"] for n in numbers]
    first = [(r.facility_code, r.age_class) for r in results if r.outcome == "placed" and r.pref_rank == 1]
    assert [r["placed_first_choice"] for r in classes] == [
        first.count((n["facility_code"], n["age_class"])) for n in numbers
    ]
    assert total["applicants"] == len(results) == round_.stats["entries"]
    assert total["not_placed"] == round_.stats["waitlisted"] and total["placed"] == sum(n["placed"] for n in numbers)
    assert total["placed"] > 0
    for row in month.published:
        for name in rounds.COUNTS:
            if row[name]:
                raise AssertionError(f"{name}={row[name]} of a five-child round was published")
        assert row["lowest_placed_score"] is None  # midorikawa-village did not opt in
    assert any(row["suppressed"] for row in month.published)
