"""Suppression: 9 is hidden and 10 shown; rates need a denominator of 10; and no hidden cell can be worked out.

The attack is written here independently of the code under test: every equation a reader can write from the
published cells (each row's channels add up to its total, each procedure row adds up to the ``_total`` row, the
digital take-up times the total is online + api, per-1,000 times the population is the total, the country's
figure is the sum of the municipalities'), and exact rational elimination to see whether any hidden cell is
determined by them (every linear combination of the published equations is tried at once: a cell is recoverable
exactly when its unit vector is in their span)."""

from __future__ import annotations

import random
from fractions import Fraction
from types import SimpleNamespace
from typing import Any

import pytest

from madoguchi.opendata import compute, publish
from madoguchi.opendata.columns import PROCEDURE_KPI_COLUMNS

COUNTS = [c.name for c in PROCEDURE_KPI_COLUMNS if c.suppressible_count]
CHANNELS = ("submitted_online", "submitted_api", "submitted_counter")
STAMP = "2025-12-05T00:00:00Z"


def tenant(code: str = "018996", population: int | None = 3120, slug: str = "town") -> Any:
    return SimpleNamespace(
        id=None,
        slug=slug,
        local_government_code=code,
        name_ja="𠮷野髙﨑葛󠄀村",
        name_en="Test",
        status="live",
        profile={"prefecture": {"ja": "北海道"}, "open_data": {"population": population}},
    )


def exact_row(key: str, **counts: int) -> dict[str, Any]:
    row: dict[str, Any] = {"procedure_key": key, "procedure_version": "1.0.0", "days_to_decision": {}}
    for name in COUNTS:
        row[name] = counts.get(name, 0)
    for name in ("started_online_submitted", "correction_requested", "satisfied", "fees_collected_jpy"):
        row[name] = counts.get(name, 0)
    row["submitted_total"] = sum(row[c] for c in CHANNELS)
    row["days_to_decision"] = {"3": row["decided"]} if row["decided"] else {}
    return row


def with_total(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    total = exact_row("_total")
    for name in (*COUNTS, "started_online_submitted", "correction_requested", "satisfied", "fees_collected_jpy"):
        total[name] = sum(row[name] for row in rows)
    total["days_to_decision"] = {"3": total["decided"]} if total["decided"] else {}
    return [*rows, total]


# ----------------------------------------------------------------------------------- the attacker's algebra


def echelon(rows: list[list[Fraction]]) -> list[tuple[int, list[Fraction]]]:
    """Gauss-Jordan elimination: (pivot column, row) pairs spanning the same space."""
    m = [list(r) for r in rows]
    pivots: list[tuple[int, list[Fraction]]] = []
    width = len(m[0]) if m else 0
    r = 0
    for c in range(width):
        p = next((i for i in range(r, len(m)) if m[i][c] != 0), None)
        if p is None:
            continue
        m[r], m[p] = m[p], m[r]
        m[r] = [x / m[r][c] for x in m[r]]
        for i in range(len(m)):
            if i != r and m[i][c] != 0:
                f = m[i][c]
                m[i] = [a - f * b for a, b in zip(m[i], m[r], strict=True)]
        pivots.append((c, m[r]))
        r += 1
    return pivots


def recoverable(equations: list[dict[Any, Fraction]], unknowns: list[Any]) -> set[Any]:
    """Unknowns fixed by the equations: the unit vector reduces to zero against their span, i.e. some linear
    combination of the published equations isolates that one cell."""
    index = {u: i for i, u in enumerate(unknowns)}
    matrix = [[Fraction(0)] * len(unknowns) for _ in equations]
    for row, equation in zip(matrix, equations, strict=True):
        for cell, coefficient in equation.items():
            if cell in index:
                row[index[cell]] += coefficient
    pivots = echelon([row for row in matrix if any(row)])
    found = set()
    for u, i in index.items():
        v = [Fraction(0)] * len(unknowns)
        v[i] = Fraction(1)
        for c, row in pivots:
            if v[c] != 0:
                f = v[c]
                v = [a - f * b for a, b in zip(v, row, strict=True)]
        if not any(v):
            found.add(u)
    return found


def published_equations(table: str, rows: list[dict[str, Any]]) -> tuple[list[dict[Any, Fraction]], list[Any]]:
    """What a reader of one published table can write; cells are (table, procedure_key, column)."""
    equations: list[dict[Any, Fraction]] = []
    unknowns = [(table, r["procedure_key"], n) for r in rows for n in COUNTS if r[n] is None]
    for r in rows:
        k = r["procedure_key"]
        channels = {(table, k, c): Fraction(-1) for c in CHANNELS}
        equations.append({(table, k, "submitted_total"): Fraction(1), **channels})
        if r["digital_take_up"] is not None:
            equations.append({(table, k, "submitted_online"): Fraction(1), (table, k, "submitted_api"): Fraction(1)})
        if r["per_1000_residents"] is not None:
            equations.append({(table, k, "submitted_total"): Fraction(1)})
    keys = [r["procedure_key"] for r in rows if r["procedure_key"] != "_total"]
    for n in COUNTS:
        equations.append({(table, "_total", n): Fraction(1), **{(table, k, n): Fraction(-1) for k in keys}})
    return equations, unknowns


def assert_nothing_recoverable(tables: dict[str, list[dict[str, Any]]], national: list[dict[str, Any]] | None = None):
    equations: list[dict[Any, Fraction]] = []
    unknowns: list[Any] = []
    for name, rows in tables.items():
        e, u = published_equations(name, rows)
        equations += e
        unknowns += u
    if national is not None:
        e, u = published_equations("national", national)
        equations += e
        unknowns += u
        for row in national:
            k = row["procedure_key"]
            for n in COUNTS:
                members = [t for t, rows in tables.items() if any(r["procedure_key"] == k for r in rows)]
                equations.append({("national", k, n): Fraction(1), **{(t, k, n): Fraction(-1) for t in members}})
    assert recoverable(equations, unknowns) == set()


def check_published_values(exact: list[dict[str, Any]], published: list[dict[str, Any]]) -> None:
    for e, p in zip(exact, published, strict=True):
        for n in COUNTS:
            assert p[n] in (None, e[n])
            assert (p[n] is None) == (n in p["suppressed"])
            assert not (p[n] is not None and 0 < p[n] < 10)


# ----------------------------------------------------------------------------------------------- the tests


def test_a_count_of_nine_is_hidden_and_listed_and_ten_is_shown() -> None:
    ten = with_total([exact_row("a", submitted_online=10, submitted_api=10, submitted_counter=10, started_online=10)])
    shown = compute.publish_procedure_rows(tenant(), "2025-11", ten, STAMP)[0]
    assert shown["submitted_online"] == 10 and shown["started_online"] == 10 and shown["suppressed"] == []

    rows = with_total(
        [
            exact_row("a", submitted_online=10, submitted_api=10, submitted_counter=10, started_online=10),
            exact_row("b", submitted_online=9, submitted_api=20, submitted_counter=20, started_online=12),
        ]
    )
    published = compute.publish_procedure_rows(tenant(), "2025-11", rows, STAMP)
    a, b, _ = published
    assert b["submitted_online"] is None and "submitted_online" in b["suppressed"]
    # the row's total would give it away: a second cell of the row is hidden; and the column's total: a second
    # row's online filings too (the 10 of row a, the smallest beside it)
    assert len([n for n in (*CHANNELS, "submitted_total") if b[n] is None]) >= 2
    assert a["submitted_online"] is None and "submitted_online" in a["suppressed"]
    assert b["digital_take_up"] is None
    check_published_values(rows, published)
    assert_nothing_recoverable({"t": published})


def test_rates_medians_and_percentiles_need_a_denominator_of_ten() -> None:
    nine = exact_row(
        "a", started_online=9, started_online_submitted=9, decided=9, satisfaction_responses=9, satisfied=9
    )
    ten = exact_row(
        "b", started_online=10, started_online_submitted=7, decided=10, satisfaction_responses=10, satisfied=8
    )
    a = compute.publish_procedure_rows(tenant(), "2025-11", with_total([nine]), STAMP)[0]
    b = compute.publish_procedure_rows(tenant(), "2025-11", with_total([ten]), STAMP)[0]
    for name in ("completion_rate", "median_days_to_decision", "p90_days_to_decision", "satisfaction_score"):
        assert a[name] is None and name in a["suppressed"]
    assert b["completion_rate"] == 0.7 and b["satisfaction_score"] == 0.8
    assert b["median_days_to_decision"] == 3 and b["p90_days_to_decision"] == 3
    # a total under 10 hides the take-up and the 補正 rate; zero submissions have none to hide
    assert b["digital_take_up"] is None and b["correction_requested_rate"] is None
    assert "digital_take_up" not in b["suppressed"]


def test_random_tables_leave_no_hidden_cell_recoverable() -> None:
    rnd = random.Random(7)
    for _ in range(120):
        rows = []
        for k in range(rnd.randint(1, 4)):
            counts = {n: rnd.choice((0, 0, 1, 3, 9, 10, 11, 25, 60)) for n in COUNTS if n != "submitted_total"}
            rows.append(exact_row(f"p{k}", **counts))
        exact = with_total(rows)
        published = compute.publish_procedure_rows(tenant(), "2025-11", exact, STAMP)
        check_published_values(exact, published)
        assert_nothing_recoverable({"t": published})


def test_the_country_hides_what_would_give_away_a_municipalitys_hidden_cell() -> None:
    """Two municipalities: A hides its 5 online filings; the country's sum (5 + 40) minus B's 40 would show it."""
    a_rows = with_total([exact_row("p", submitted_online=5, submitted_api=30, submitted_counter=30)])
    b_rows = with_total([exact_row("p", submitted_online=40, submitted_api=30, submitted_counter=30)])
    ta, tb = tenant("018996", slug="a"), tenant("202983", slug="b")
    months = []
    for t, rows in ((ta, a_rows), (tb, b_rows)):
        published = compute.publish_procedure_rows(t, "2025-11", rows, STAMP)
        months.append((t, SimpleNamespace(internal=rows, published=published)))
    national = publish.national_procedure_rows(months, "2025-11", STAMP)
    p = next(row for row in national if row["procedure_key"] == "p")
    assert p["submitted_total"] == 165  # the sum of the exact figures (65 + 100)
    assert p["submitted_online"] is None and "submitted_online" in p["suppressed"]
    a_hidden = set(months[0][1].published[0]["suppressed"]) & {"submitted_api", "submitted_counter"}
    assert a_hidden and all(p[name] is None for name in a_hidden)  # A's complement is hidden nationally too
    assert_nothing_recoverable({"a": months[0][1].published, "b": months[1][1].published}, national)


def test_random_countries_leave_no_municipal_cell_recoverable() -> None:
    rnd = random.Random(11)
    for _ in range(25):
        months = []
        tables = {}
        for n in range(rnd.randint(2, 3)):
            rows = []
            for k in range(rnd.randint(1, 3)):
                counts = {c: rnd.choice((0, 2, 8, 10, 14, 30)) for c in COUNTS if c != "submitted_total"}
                rows.append(exact_row(f"p{k}", **counts))
            t = tenant(f"01{n}00{n}", slug=f"t{n}")
            exact = with_total(rows)
            published = compute.publish_procedure_rows(t, "2025-11", exact, STAMP)
            months.append((t, SimpleNamespace(internal=exact, published=published)))
            tables[t.local_government_code] = published
        national = publish.national_procedure_rows(months, "2025-11", STAMP)
        # rename the attacker's tables to what publish uses as row ids (lg_code, key) is internal: use codes
        assert_nothing_recoverable(tables, national)
        exact_national = {r["procedure_key"]: r for r in national}
        for c in COUNTS:
            total = sum(r[c] for _, m in months for r in m.internal if r["procedure_key"] == "_total")
            shown = exact_national["_total"][c]
            assert shown in (None, total)


@pytest.mark.parametrize("value", [1, 5, 9])
def test_primary_suppression_covers_one_to_nine(value: int) -> None:
    rows = with_total([exact_row("a", withdrawn=value, submitted_online=50, submitted_api=50, submitted_counter=50)])
    a = compute.publish_procedure_rows(tenant(), "2025-11", rows, STAMP)[0]
    assert a["withdrawn"] is None and "withdrawn" in a["suppressed"]
