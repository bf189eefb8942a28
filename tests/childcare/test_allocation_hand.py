"""Hand-worked rounds (spec §1.5 point 2): about ten children, three facilities, every placement and explanation
written out here by hand, and a brute-force enumeration confirming the result is the one stable matching.

Keys are ``(tier, score + facility bonus, *tail)``; the worked steps are in each test's docstring.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from madoguchi.childcare.allocation import compute, input_sha256, result_sha256, verify
from madoguchi.childcare.engine_types import (
    ClassKey,
    Entry,
    ExplanationItem,
    Placement,
    Priority,
    RoundInput,
    RoundOutcome,
    SiblingGroup,
)
from tests.childcare.oracles import STAY, Unit, singleton_units, stable_matchings

LOTTERY = ("LOTTERY_ASC",)


def child(
    id: str,
    score: int,
    lottery: int,
    prefs: str,
    *,
    age: int = 1,
    tier: int = 0,
    bonus: tuple[tuple[str, int], ...] = (),
    current: str | None = None,
    group: str | None = None,
    new_flag: bool | None = None,
) -> Entry:
    """A child whose tail is the lottery alone, or (new before transfer, lottery) when ``new_flag`` is given."""
    tail = (-lottery,) if new_flag is None else (int(new_flag), -lottery)
    return Entry(
        id=id,
        age_class=age,
        preferences=tuple(prefs),
        priority=Priority(tier=tier, score=score, tail=tail, facility_bonus=bonus),
        current_facility=current,
        group=group,
    )


def seats(**per_class: int) -> tuple[tuple[ClassKey, int], ...]:
    """``A1=2`` is two seats in facility A's age-1 class."""
    return tuple((ClassKey(name[0], int(name[1:])), n) for name, n in per_class.items())


def item(
    facility: str,
    rank: int,
    seats: int,
    placed: int,
    yours: int,
    lowest: int | None,
    decided_by: str,
    position: int,
    *,
    age: int = 1,
    values: tuple[int, int] | None = None,
) -> ExplanationItem:
    return ExplanationItem(
        facility=facility,
        age_class=age,
        rank=rank,
        seats=seats,
        placed_count=placed,
        your_score=yours,
        lowest_placed_score=lowest,
        decided_by=decided_by,
        your_value=None if values is None else values[0],
        border_value=None if values is None else values[1],
        waiting_position=position,
    )


def placed(id: str, facility: str, rank: int, *explanation: ExplanationItem, age: int = 1) -> Placement:
    return Placement(id, "placed", facility, age, rank, tuple(explanation))


def waitlisted(id: str, *explanation: ExplanationItem) -> Placement:
    return Placement(id, "waitlisted", explanation=tuple(explanation))


def as_options(round_input: RoundInput) -> dict[str, tuple[str | None, ...]]:
    """The engine's outcome in the oracle's terms: per unit, per member, facility / STAY / None."""
    outcome = compute(round_input)
    by_id = {p.entry_id: p for p in outcome.placements}
    grouped = {m for g in round_input.groups if g.mode != "independent" for m in g.members}
    result: dict[str, tuple[str | None, ...]] = {}
    for entry in round_input.entries:
        if entry.id not in grouped:
            result[entry.id] = (_option(by_id[entry.id]),)
    for group in round_input.groups:
        if group.mode != "independent":
            result[group.id] = tuple(_option(by_id[m]) for m in group.members)
    return result


def _option(placement: Placement) -> str | None:
    return STAY if placement.outcome == "stays" else placement.facility


# --------------------------------------------------------------------------------------------------------------
# Round 1: singletons, a facility bonus (兄弟在園 +3 at A), a tier −1 child.

ROUND_1 = RoundInput(
    seats=seats(A1=2, B1=2, C1=1),
    entries=(
        child("c01", 20, 1, "AB"),
        child("c02", 20, 2, "AC"),
        child("c03", 19, 3, "AB", bonus=(("A", 3),)),
        child("c04", 18, 4, "ABC"),
        child("c05", 18, 5, "BC"),
        child("c06", 17, 6, "CA"),
        child("c07", 16, 7, "ABC"),
        child("c08", 16, 8, "C"),
        child("c09", 15, 9, "B"),
        child("c10", 25, 10, "ABC", tier=-1),
    ),
    tail_names=LOTTERY,
)


def test_round_1_singletons_with_a_facility_bonus() -> None:
    """Worked by hand (child-proposing DA; keys at A: c03 22 (19 + 3), c01 20/-1, c02 20/-2, …):

    1. First choices. A: c01 c02 c03 c04 c07 c10 → holds c03 (22), c01 (20, lottery 1); B: c05 c09 → both;
       C: c06 c08 → c06 (17), c08 (C only) waitlisted.
    2. c02 → C: beats c06 (20 > 17), c06 is out. c04 → B: beats c09 (18 > 15). c07 → B (16 < 18), C (16 < 20):
       waitlisted. c10 is tier −1: below everyone everywhere, waitlisted despite 25 points.
    3. c06 → A (17 < 20): waitlisted. c09 had B only: waitlisted.

    A: c03 c01 (border c01 20/-1) · B: c04 c05 (border c05 18/-5) · C: c02 (border 20/-2). Without the bonus c03
    (19) would have lost A to c02; with it c02 loses A on the lottery (tie at 20).
    """
    outcome = compute(ROUND_1)
    assert outcome.placements == (
        placed("c01", "A", 1),
        placed("c02", "C", 2, item("A", 1, 2, 2, 20, 20, "tiebreak:LOTTERY_ASC", 1, values=(-2, -1))),
        placed("c03", "A", 1),
        placed("c04", "B", 2, item("A", 1, 2, 2, 18, 20, "score_below", 2)),
        placed("c05", "B", 1),
        waitlisted("c06", item("C", 1, 1, 1, 17, 20, "score_below", 1), item("A", 2, 2, 2, 17, 20, "score_below", 3)),
        waitlisted(
            "c07",
            item("A", 1, 2, 2, 16, 20, "score_below", 4),
            item("B", 2, 2, 2, 16, 18, "score_below", 1),
            item("C", 3, 1, 1, 16, 20, "score_below", 2),
        ),
        waitlisted("c08", item("C", 1, 1, 1, 16, 20, "score_below", 3)),
        waitlisted("c09", item("B", 1, 2, 2, 15, 18, "score_below", 2)),
        waitlisted(
            "c10",
            item("A", 1, 2, 2, 25, 20, "tier", 5),
            item("B", 2, 2, 2, 25, 18, "tier", 3),
            item("C", 3, 1, 1, 25, 20, "tier", 4),
        ),
    )
    stats = {(s.key.facility, s.key.age_class): s for s in outcome.stats}
    a, b, c = stats[("A", 1)], stats[("B", 1)], stats[("C", 1)]
    assert (a.seats, a.listed_by, a.placed, a.lowest_placed_score, a.lowest_placed_tiebreak, a.waiting_count) == (
        2, 7, 2, 20, "LOTTERY_ASC", 5,
    )  # fmt: skip
    assert (b.seats, b.listed_by, b.placed, b.lowest_placed_score, b.lowest_placed_tiebreak, b.waiting_count) == (
        2, 7, 2, 18, None, 3,
    )  # fmt: skip
    assert (c.listed_by, c.placed, c.lowest_placed_score, c.waiting_count) == (7, 1, 20, 4)
    assert outcome.residual_sibling_envy == ()
    assert verify(ROUND_1, outcome).ok

    assert stable_matchings(ROUND_1, singleton_units(ROUND_1)) == [as_options(ROUND_1)]


# --------------------------------------------------------------------------------------------------------------
# Round 2: the same age-1 children (but c09, c10) with a binding same_facility_required pair and an age-0 class.

PAIR = SiblingGroup("g1", ("s1", "s2"), "same_facility_required")
ROUND_2 = RoundInput(
    seats=seats(A1=2, B1=2, C1=1, A0=1, B0=1),
    entries=(
        *ROUND_1.entries[:8],
        child("s1", 21, 9, "AB", group="g1"),
        child("s2", 21, 10, "AB", age=0, group="g1"),
        child("z", 22, 11, "A", age=0),
    ),
    groups=(PAIR,),
    tail_names=LOTTERY,
)


def test_round_2_a_binding_same_facility_pair() -> None:
    """Worked by hand, in processing order (z 22, the pair 21 (its lower key, s2), c01 20/-1, c02 20/-2, c03 19, …):

    1. z → A0. The pair's combinations: (A, A) (rank sum 2), then (B, B). (A, A) fails: A0 is held by z (22 > s2's
       21). (B, B) fits: s1 → B1, s2 → B0.
    2. c01, c02 → A1. c03 → A1 with 22: evicts c02 (20/-2), who goes to C. c04: A full of 22 and 20 → B1 (one
       seat left). c05: B1's border is c04 (18/-4) > c05 (18/-5) → C (20) → waitlisted. c06, c07, c08 waitlisted.

    Alone, s1 (21) would have taken A1 from c01; the constraint keeps the twins together at B. The pair has no
    justified envy: (A, A) would still need z's seat.
    """
    outcome = compute(ROUND_2)
    assert outcome.placements == (
        placed("c01", "A", 1),
        placed("c02", "C", 2, item("A", 1, 2, 2, 20, 20, "tiebreak:LOTTERY_ASC", 2, values=(-2, -1))),
        placed("c03", "A", 1),
        placed("c04", "B", 2, item("A", 1, 2, 2, 18, 20, "score_below", 3)),
        waitlisted(
            "c05",
            item("B", 1, 2, 2, 18, 18, "tiebreak:LOTTERY_ASC", 1, values=(-5, -4)),
            item("C", 2, 1, 1, 18, 20, "score_below", 1),
        ),
        waitlisted("c06", item("C", 1, 1, 1, 17, 20, "score_below", 2), item("A", 2, 2, 2, 17, 20, "score_below", 4)),
        waitlisted(
            "c07",
            item("A", 1, 2, 2, 16, 20, "score_below", 5),
            item("B", 2, 2, 2, 16, 18, "score_below", 2),
            item("C", 3, 1, 1, 16, 20, "score_below", 3),
        ),
        waitlisted("c08", item("C", 1, 1, 1, 16, 20, "score_below", 4)),
        placed("s1", "B", 2, item("A", 1, 2, 2, 21, 20, "sibling_combination", 1)),
        placed("s2", "B", 2, item("A", 1, 1, 1, 21, 22, "score_below", 1, age=0), age=0),
        placed("z", "A", 1, age=0),
    )
    assert outcome.residual_sibling_envy == ()
    assert verify(ROUND_2, outcome).ok

    pair = Unit("g1", ROUND_2.entries[8:10], (("A", "A"), ("B", "B")), (None, None))
    units = [*singleton_units(ROUND_2, {"s1", "s2"}), pair]
    assert stable_matchings(ROUND_2, units) == [as_options(ROUND_2)]


def test_round_2_without_the_constraint_splits_the_pair() -> None:
    """The same children, the pair ``independent``: s1 takes A1 (21 > c01's 20), s2 loses A0 to z and goes to B."""
    loose = replace(ROUND_2, groups=(replace(PAIR, mode="independent"),))
    outcome = compute(loose)
    by_id = {p.entry_id: p for p in outcome.placements}
    assert (by_id["s1"].facility, by_id["s2"].facility) == ("A", "B")
    assert by_id["c01"].facility == "B"  # c01 loses A to s1 and takes B, c05 keeps its place in the queue
    assert verify(loose, outcome).ok
    assert stable_matchings(loose, singleton_units(loose)) == [as_options(loose)]


# --------------------------------------------------------------------------------------------------------------
# Round 3: a transfer (転園) whose seat passes on to another child.

TRANSFER_TAIL = ("NEW_BEFORE_TRANSFER", "LOTTERY_ASC")
ROUND_3 = RoundInput(
    seats=seats(A2=0, B2=1, C2=1),
    entries=(
        child("t", 21, 1, "B", age=2, current="C", new_flag=False),
        child("n1", 18, 2, "BC", age=2, new_flag=True),
        child("n2", 18, 3, "C", age=2, new_flag=True),
        child("n3", 16, 4, "CB", age=2, new_flag=True),
        child("n4", 20, 5, "ABC", age=2, new_flag=True),
        child("n5", 15, 6, "B", age=2, new_flag=True),
        child("n6", 14, 7, "AC", age=2, new_flag=True),
        child("n7", 19, 8, "C", age=2, tier=-1, new_flag=True),
    ),
    tail_names=TRANSFER_TAIL,
)


def test_round_3_a_transfer_frees_its_seat() -> None:
    """Worked by hand. C2 has 1 seat offered + t's own (t is at C and may move): capacity 2, t's key there infinite.

    1. t (21) → B2 (1 seat): takes it, so its seat at C is free for others.
    2. n4 (20) → A2 has no seats; B2 held by t (21 > 20); → C2. n1 (18/-2) → B2 no; → C2, the seat t freed.
    3. n2 (18/-3) → C2: border n1 (18/-2) wins on the lottery. n3, n5, n6 below; n7 is tier −1.
    """
    outcome = compute(ROUND_3)
    assert outcome.placements == (
        placed("n1", "C", 2, item("B", 1, 1, 1, 18, 21, "score_below", 2, age=2), age=2),
        waitlisted("n2", item("C", 1, 2, 2, 18, 18, "tiebreak:LOTTERY_ASC", 1, age=2, values=(-3, -2))),
        waitlisted(
            "n3",
            item("C", 1, 2, 2, 16, 18, "score_below", 2, age=2),
            item("B", 2, 1, 1, 16, 21, "score_below", 3, age=2),
        ),
        placed(
            "n4",
            "C",
            3,
            item("A", 1, 0, 0, 20, None, "no_seats", 1, age=2),
            item("B", 2, 1, 1, 20, 21, "score_below", 1, age=2),
            age=2,
        ),
        waitlisted("n5", item("B", 1, 1, 1, 15, 21, "score_below", 4, age=2)),
        waitlisted(
            "n6",
            item("A", 1, 0, 0, 14, None, "no_seats", 2, age=2),
            item("C", 2, 2, 2, 14, 18, "score_below", 3, age=2),
        ),
        waitlisted("n7", item("C", 1, 2, 2, 19, 18, "tier", 4, age=2)),
        placed("t", "B", 1, age=2),
    )
    assert verify(ROUND_3, outcome).ok
    assert stable_matchings(ROUND_3, singleton_units(ROUND_3)) == [as_options(ROUND_3)]


def test_round_3_without_seat_reuse_the_freed_seat_stays_empty() -> None:
    """ChilmAI's ``use_transfer`` off: C2 offers its one seat only; n4 takes it and n1 is waitlisted."""
    strict = replace(ROUND_3, reuse_transfer_seats=False)
    by_id = {p.entry_id: p for p in compute(strict).placements}
    assert (by_id["t"].facility, by_id["n4"].facility, by_id["n1"].outcome) == ("B", "C", "waitlisted")
    assert verify(strict, compute(strict)).ok


def test_a_transfer_that_cannot_move_stays() -> None:
    """t with 19 points loses B to n4 (20; A has no seats) and keeps its own seat at C, which nobody else gets.

    B wants: t (19) first of those left out, then n1 (18), n3, n5.
    """
    weaker = replace(
        ROUND_3, entries=(replace(ROUND_3.entries[0], priority=Priority(0, 19, (0, -1))), *ROUND_3.entries[1:])
    )
    outcome = compute(weaker)
    by_id = {p.entry_id: p for p in outcome.placements}
    assert by_id["t"] == Placement("t", "stays", "C", 2, None, (item("B", 1, 1, 1, 19, 20, "score_below", 1, age=2),))
    assert by_id["n4"].facility == "B"
    assert verify(weaker, outcome).ok
    assert stable_matchings(weaker, singleton_units(weaker)) == [as_options(weaker)]


# --------------------------------------------------------------------------------------------------------------
# Determinism, hashes, bad input


def test_entry_order_does_not_change_the_result_or_the_hashes() -> None:
    shuffled = replace(ROUND_2, entries=tuple(reversed(ROUND_2.entries)), seats=tuple(reversed(ROUND_2.seats)))
    assert input_sha256(shuffled) == input_sha256(ROUND_2)
    assert compute(shuffled) == compute(ROUND_2)
    assert result_sha256(compute(shuffled)) == result_sha256(compute(ROUND_2))
    changed = replace(ROUND_2, entries=(*ROUND_2.entries[:-1], child("z", 22, 11, "AB", age=0)))
    assert input_sha256(changed) != input_sha256(ROUND_2)


@pytest.mark.parametrize(
    ("round_input", "message"),
    [
        (replace(ROUND_1, entries=(*ROUND_1.entries, child("c01", 1, 99, "A"))), "entry 'c01' appears twice"),
        (replace(ROUND_1, entries=(child("x", 1, 1, "AA"),)), "lists a facility twice"),
        (replace(ROUND_1, entries=(child("x", 1, 1, "A", age=6),)), "age class 6"),
        (replace(ROUND_1, seats=seats(A1=-1)), "has -1 seats"),
        (replace(ROUND_2, groups=(SiblingGroup("g1", ("s1", "nobody"), "all_or_none"),)), "unknown entry 'nobody'"),
        (replace(ROUND_2, groups=()), "names sibling group 'g1'"),
        (replace(ROUND_2, groups=(PAIR, SiblingGroup("g2", (), "partial_ok"))), "'g2' has no members"),
        (replace(ROUND_2, groups=(PAIR, replace(PAIR, id="g2"))), "'s1' is in sibling groups 'g1' and 'g2'"),
    ],
)
def test_an_inconsistent_input_is_refused_with_a_clear_message(round_input: RoundInput, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        compute(round_input)


# --------------------------------------------------------------------------------------------------------------
# verify finds what is wrong with an outcome


def _with(outcome: RoundOutcome, *changed: Placement) -> RoundOutcome:
    ids = {p.entry_id for p in changed}
    return replace(outcome, placements=(*[p for p in outcome.placements if p.entry_id not in ids], *changed))


def _kinds(round_input: RoundInput, outcome: RoundOutcome) -> set[tuple[str, str]]:
    return {(v.kind, v.subject) for v in verify(round_input, outcome).violations}


def test_verify_reports_capacity_eligibility_and_envy() -> None:
    outcome = compute(ROUND_1)
    # c06 squeezed into C (1 seat, held by c02): over capacity.
    assert ("capacity", "C/1") in _kinds(ROUND_1, _with(outcome, placed("c06", "C", 1)))
    # c08 placed at B, which it did not list.
    assert ("eligibility", "c08") in _kinds(ROUND_1, _with(outcome, placed("c08", "B", 1)))
    # c05 waitlisted: its seat at B is wasted and c05 envies nobody but the empty seat.
    assert ("blocking", "c05") in _kinds(ROUND_1, _with(outcome, waitlisted("c05")))
    # c02 and c06 swapped at C: c02 (20) now has justified envy of c06 (17).
    swapped = _with(outcome, placed("c06", "C", 1), waitlisted("c02"))
    assert ("blocking", "c02") in _kinds(ROUND_1, swapped)
    # A result for nobody, and a child with no result.
    ghost = replace(outcome, placements=(*outcome.placements[1:], placed("ghost", "A", 1)))
    assert {("placement", "ghost"), ("placement", "c01")} <= _kinds(ROUND_1, ghost)


def test_verify_reports_split_siblings_and_lost_transfers() -> None:
    outcome = compute(ROUND_2)
    split = _with(outcome, placed("s1", "A", 1), placed("c01", "B", 2))
    assert ("sibling", "g1") in _kinds(ROUND_2, split)
    outcome = compute(ROUND_3)
    assert ("individual_rationality", "t") in _kinds(ROUND_3, _with(outcome, waitlisted("t")))
    # t staying at C while n1 keeps the seat t would have freed: C2 is over capacity.
    stays = Placement("t", "stays", "C", 2)
    assert ("capacity", "C/2") in _kinds(ROUND_3, _with(outcome, stays, placed("n4", "C", 3, age=2)))


def test_verify_checks_the_listed_residual_envy() -> None:
    outcome = compute(ROUND_2)
    assert ("residual_envy", "g1") in _kinds(ROUND_2, replace(outcome, residual_sibling_envy=("g1",)))


def test_a_group_evicts_no_one_it_can_do_without() -> None:
    """x (10; twins, A and B) and z (9; A) hold A1's two seats and B1's one. The twins g (5, but +10 at A and B, where
    their sibling is enrolled) come last and ask for A and B with 15: at A the lowest is z, at B it is x; evicting x
    frees A as well, so z keeps its seat. One eviction, nothing left for the stabilisation pass."""
    bonus = (("A", 10), ("B", 10))
    round_input = RoundInput(
        seats=seats(A1=2, B1=1),
        entries=(
            child("z", 9, 3, "A"),
            child("x1", 10, 1, "A", group="x"),
            child("x2", 10, 2, "B", group="x"),
            child("g1", 5, 4, "A", bonus=bonus, group="g"),
            child("g2", 5, 5, "B", bonus=bonus, group="g"),
        ),
        groups=(SiblingGroup("x", ("x1", "x2"), "all_or_none"), SiblingGroup("g", ("g1", "g2"), "all_or_none")),
        tail_names=LOTTERY,
    )
    outcome = compute(round_input)
    by_id = {p.entry_id: (p.outcome, p.facility) for p in outcome.placements}
    assert by_id == {
        "z": ("placed", "A"),
        "g1": ("placed", "A"),
        "g2": ("placed", "B"),
        "x1": ("waitlisted", None),
        "x2": ("waitlisted", None),
    }
    assert (outcome.extra["evictions"], outcome.extra["stabilisation_passes"]) == (1, 0)
    assert verify(round_input, outcome).ok
    entries = {e.id: e for e in round_input.entries}
    units = [
        *singleton_units(round_input, {"x1", "x2", "g1", "g2"}),
        Unit("x", (entries["x1"], entries["x2"]), (("A", "B"),), (None, None)),
        Unit("g", (entries["g1"], entries["g2"]), (("A", "B"),), (None, None)),
    ]
    assert stable_matchings(round_input, units) == [as_options(round_input)]
