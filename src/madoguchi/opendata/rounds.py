"""The ``childcare-round-results`` dataset: the open numbers of every allocation round published to families in a
month (JST), one row per round × facility × age class and one ``_total`` row per round.

Only rounds in the ``published`` state appear (their results have been sent to the families); the month of a round
is the JST month of its ``published_at``. The class rows are the round's stored ``RoundClassStat`` rows (what the
engine computed and a supervisor approved), with ``placed_first_choice`` counted from the results. The ``_total``
row sums the classes' seats, placed and placed-at-first-choice and adds the round's children (``applicants``) and
those left 保留 (``not_placed``, outcome ``waitlisted``).

Suppression is the other datasets': counts of 1..9 are published empty, and secondary suppression
(``suppression.secondary``, exact elimination) hides more cells while a hidden one follows from the equations a
reader can write (each total of ``placed`` and ``placed_first_choice`` is the sum of its classes; the round's
``applicants`` is ``placed`` + ``not_placed`` + the unpublished rest, which is counted as known). ``seats`` are
published as they are: they are the municipality's offer, not anyone's outcome. ``lowest_placed_score`` is one
family's score, so it is published only when the tenant file opts in (``open_data: {publish_lowest_placed_score:
true}``) and three or more children were placed in the class.
"""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from madoguchi.childcare.round_models import PUBLISHED, AllocationRound, RoundClassStat, RoundResult
from madoguchi.opendata import suppression
from madoguchi.opendata.columns import CHILDCARE_ROUND_COLUMNS, DEFINITION_VERSION, ROUND_TOTAL_KEY
from madoguchi.opendata.compute import identity_columns, month_bounds, open_data_settings
from madoguchi.tenancy.models import Tenant

#: The counts small-count suppression applies to, in column order.
COUNTS = tuple(c.name for c in CHILDCARE_ROUND_COLUMNS if c.suppressible_count)
#: Counts whose ``_total`` row is the sum of the class rows.
SUMMED = ("placed", "placed_first_choice")
#: ``lowest_placed_score`` is published only with at least this many placed in the class.
LOWEST_SCORE_MIN_PLACED = 3
#: The round's children that are neither placed nor 保留 (stays at the current facility, ineligible): exact only.
OTHER = "other_outcomes"


def internal_round_rows(session: Session, tenant_id: uuid.UUID, period: str) -> list[dict[str, Any]]:
    """The exact rows of every round published to families in the month, oldest publication first: the classes
    by facility code and age class, then the round's ``_total`` row."""
    start, end = month_bounds(period)
    rounds = session.execute(
        select(AllocationRound)
        .where(
            AllocationRound.tenant_id == tenant_id,
            AllocationRound.status == PUBLISHED,
            AllocationRound.published_at >= start,
            AllocationRound.published_at < end,
        )
        .order_by(AllocationRound.published_at, AllocationRound.id)
    ).scalars()
    rows: list[dict[str, Any]] = []
    for round_ in rounds:
        identity = {
            "round_id": str(round_.id),
            "round_label": round_.label_ja,
            "intake_month": round_.intake_month,
            "round_kind": round_.kind,
        }
        first_choice: Counter[tuple[str, int]] = Counter()
        outcomes: Counter[str] = Counter()
        results = session.execute(
            select(RoundResult.outcome, RoundResult.facility_code, RoundResult.age_class, RoundResult.pref_rank).where(
                RoundResult.tenant_id == tenant_id, RoundResult.round_id == round_.id
            )
        )
        for outcome, facility, age_class, rank in results:
            outcomes[outcome] += 1
            if outcome == "placed" and rank == 1 and facility is not None and age_class is not None:
                first_choice[(facility, age_class)] += 1
        stats = session.execute(
            select(RoundClassStat)
            .where(RoundClassStat.tenant_id == tenant_id, RoundClassStat.round_id == round_.id)
            .order_by(RoundClassStat.facility_code, RoundClassStat.age_class)
        ).scalars()
        classes: list[dict[str, Any]] = [
            {
                **identity,
                "facility_code": s.facility_code,
                "age_class": s.age_class,
                "seats": s.seats,
                "applicants_listing": s.listed_by,
                "placed": s.placed,
                "placed_first_choice": first_choice[(s.facility_code, s.age_class)],
                "waitlisted": s.waiting_count,
                "lowest_placed_score": s.lowest_placed_score,
                "applicants": None,
                "not_placed": None,
            }
            for s in stats
        ]
        applicants = sum(outcomes.values())
        placed = sum(row["placed"] for row in classes)
        not_placed = outcomes["waitlisted"]
        total = {
            **identity,
            "facility_code": ROUND_TOTAL_KEY,
            "age_class": None,
            "seats": sum(row["seats"] for row in classes),
            "applicants_listing": None,
            "placed": placed,
            "placed_first_choice": sum(row["placed_first_choice"] for row in classes),
            "waitlisted": None,
            "lowest_placed_score": None,
            "applicants": applicants,
            "not_placed": not_placed,
            OTHER: applicants - placed - not_placed,
        }
        rows += [*classes, total]
    return rows


def _equations(rows: list[dict[str, Any]]) -> list[dict[Any, int]]:
    """What a reader can write: per round, each summed count of the ``_total`` row is the sum of its classes', and
    ``applicants = placed + not_placed + rest`` with the rest taken as known (so the check errs on the safe side)."""
    by_round: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        by_round.setdefault(row["round_id"], []).append(i)
    equations: list[dict[Any, int]] = []
    for indexes in by_round.values():
        total = next(i for i in indexes if rows[i]["facility_code"] == ROUND_TOTAL_KEY)
        classes = [i for i in indexes if i != total]
        for name in SUMMED:
            equation = {(total, name): 1}
            equation.update({(i, name): -1 for i in classes})
            equations.append(equation)
        equations.append({(total, "applicants"): 1, (total, "placed"): -1, (total, "not_placed"): -1})
    return equations


def hidden_cells(rows: list[dict[str, Any]]) -> set[tuple[int, str]]:
    """The count cells (row index, column) to publish empty: primary, then secondary by exact elimination."""
    values = {(i, name): row[name] for i, row in enumerate(rows) for name in COUNTS if row[name] is not None}
    primary = {cell for cell, count in values.items() if suppression.is_small(count)}
    equations = _equations(rows)
    return suppression.secondary(values, primary, lambda hidden: equations, set(values))


def publish_round_rows(
    tenant: Tenant, period: str, internal: list[dict[str, Any]], generated_at: str
) -> list[dict[str, Any]]:
    """The published rows, in column order: hidden cells None and listed in ``suppressed``."""
    opted_in = bool(open_data_settings(tenant).get("publish_lowest_placed_score"))
    identity = identity_columns(tenant, period)
    hidden = hidden_cells(internal)
    published = []
    for i, exact in enumerate(internal):
        row = {**identity, **{k: v for k, v in exact.items() if k != OTHER}}
        gone = {name for name in COUNTS if (i, name) in hidden}
        for name in gone:
            row[name] = None
        if exact["facility_code"] == ROUND_TOTAL_KEY or not opted_in:
            row["lowest_placed_score"] = None
        elif exact["placed"] < LOWEST_SCORE_MIN_PLACED and exact["lowest_placed_score"] is not None:
            row["lowest_placed_score"] = None
            gone.add("lowest_placed_score")
        row["suppressed"] = [c.name for c in CHILDCARE_ROUND_COLUMNS if c.name in gone]
        row["definition_version"] = DEFINITION_VERSION
        row["generated_at"] = generated_at
        published.append({c.name: row[c.name] for c in CHILDCARE_ROUND_COLUMNS})
    return published
