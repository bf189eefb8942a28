"""The allocation engine (利用調整): unit-proposing deferred acceptance with atomic sibling combinations.

Spec §1.3–§1.5 and docs/decisions/0037-childcare-allocation-engine.md. Pure Python, no database:
:func:`compute` turns a :class:`~madoguchi.childcare.engine_types.RoundInput` into a ``RoundOutcome`` (placements,
explanations, per-class statistics, residual sibling envy); :func:`verify` checks an outcome against the input on
its own terms (capacity, eligibility, sibling constraints, individual rationality, blocking), without re-running
the algorithm; :func:`input_sha256` and :func:`result_sha256` hash the canonical JSON of both.

A *unit* is a child (no sibling group, or an ``independent`` one) or a sibling group. A unit's options are its
listed facilities (a transferring child's current facility last: it keeps its own seat with an infinite key), or,
for a group, ranked *combinations* (one facility, its current seat, or "not placed" per member). Units propose in
order of their processing key; a class holds the seats of the highest keys that asked for it. The result does not
depend on the order of the entries: everything is indexed by sorted ids first.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import heapq
import itertools
import json
import math
from bisect import bisect_right, insort
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from madoguchi.childcare.engine_types import (
    ClassKey,
    ClassStats,
    Entry,
    ExplanationItem,
    Placement,
    RoundInput,
    RoundOutcome,
    SiblingGroup,
    VerifyReport,
    Violation,
)

ALGORITHM_VERSION = "da-siblings-1"
#: A transferring child's key at its own seat: above every real key (a tier is a small integer).
INF_MARK = 1 << 62
INF_KEY: tuple[int, ...] = (INF_MARK,)
#: A member's choice that is not a listed facility: its own current seat, or no seat.
STAY = -1
UNPLACED = -2
#: A sibling group's combinations are a Cartesian product of its members' choices; beyond this many, each
#: member's worst-ranked listed facilities are dropped (a household of four listing ten each would be 14,641).
MAX_COMBINATIONS = 4096
AGE_CLASSES = range(6)

Key = tuple[int, ...]
#: One class's demand in an option: (class index, seats needed, the unit's key there).
Demand = tuple[int, int, Key]


# --------------------------------------------------------------------------------------------------------------
# The input, indexed


def _key(entry: Entry, facility: str, bonus: dict[str, int]) -> Key:
    """``(tier, score + facility bonus, *tail)``; infinite at a transferring child's own facility."""
    if entry.current_facility == facility:
        return INF_KEY
    priority = entry.priority
    return (priority.tier, priority.score + bonus.get(facility, 0), *priority.tail)


def _base_key(entry: Entry) -> Key:
    return (entry.priority.tier, entry.priority.score, *entry.priority.tail)


def _choices(entry: Entry) -> list[int]:
    """The entry's options as indexes into its preferences, most wanted first; STAY last for a transfer.

    A transferring child that lists its own facility ranks everything below it under staying, so the list stops
    there (moving down would only lose its seat).
    """
    prefs = entry.preferences
    if entry.current_facility is None:
        return list(range(len(prefs)))
    if entry.current_facility in prefs:
        return [*range(prefs.index(entry.current_facility)), STAY]
    return [*range(len(prefs)), STAY]


def _facility_of(entry: Entry, choice: int) -> str | None:
    if choice == STAY:
        return entry.current_facility
    if choice == UNPLACED:
        return None
    return entry.preferences[choice]


def _fallback(entry: Entry) -> int:
    """Where a member ends when its group gets nothing: its own seat (a transfer) or no seat."""
    return STAY if entry.current_facility is not None else UNPLACED


def _validate(round_input: RoundInput) -> None:
    ids: set[str] = set()
    for entry in round_input.entries:
        if entry.id in ids:
            raise ValueError(f"entry {entry.id!r} appears twice")
        ids.add(entry.id)
        if entry.age_class not in AGE_CLASSES:
            raise ValueError(f"entry {entry.id!r}: age class {entry.age_class} is not 0-5")
        if len(set(entry.preferences)) != len(entry.preferences):
            raise ValueError(f"entry {entry.id!r} lists a facility twice")
    classes: set[ClassKey] = set()
    for key, seats in round_input.seats:
        if key in classes:
            raise ValueError(f"class {key.facility}/{key.age_class} has seats twice")
        if seats < 0:
            raise ValueError(f"class {key.facility}/{key.age_class} has {seats} seats")
        classes.add(key)
    by_id = {entry.id: entry for entry in round_input.entries}
    members: dict[str, str] = {}
    group_ids: set[str] = set()
    for group in round_input.groups:
        if group.id in group_ids:
            raise ValueError(f"sibling group {group.id!r} appears twice")
        group_ids.add(group.id)
        if not group.members:
            raise ValueError(f"sibling group {group.id!r} has no members")
        for member in group.members:
            if member not in by_id:
                raise ValueError(f"sibling group {group.id!r} names unknown entry {member!r}")
            if member in members:
                raise ValueError(f"entry {member!r} is in sibling groups {members[member]!r} and {group.id!r}")
            if by_id[member].group not in (None, group.id):
                raise ValueError(f"entry {member!r} says group {by_id[member].group!r}, listed in {group.id!r}")
            members[member] = group.id
    for entry in round_input.entries:
        if entry.group is not None and members.get(entry.id) != entry.group:
            raise ValueError(f"entry {entry.id!r} names sibling group {entry.group!r}, which does not list it")


@dataclass
class _Index:
    """The round, sorted by id and numbered: classes, entries, their bonuses and keys."""

    entries: list[Entry]
    position: dict[str, int]
    bonus: list[dict[str, int]]
    class_of: dict[tuple[str, int], int]
    classes: list[ClassKey]
    seats: list[int]
    capacity: list[int]
    groups: list[SiblingGroup]
    reuse: bool
    #: Per entry, the class of each preference.
    listed: list[list[int]]

    def add_class(self, facility: str, age_class: int) -> int:
        """The class, created with no seats when only a preference or a transferring child's seat names it."""
        found = self.class_of.get((facility, age_class))
        if found is None:
            found = self.class_of[(facility, age_class)] = len(self.classes)
            self.classes.append(ClassKey(facility, age_class))
            self.seats.append(0)
            self.capacity.append(0)
        return found

    def key(self, i: int, facility: str) -> Key:
        return _key(self.entries[i], facility, self.bonus[i])

    def demand(self, i: int, choice: int) -> tuple[int, Key] | None:
        """The class a member's choice takes a seat in, with its key; None for no seat (or a non-reusable stay)."""
        entry = self.entries[i]
        if choice == UNPLACED or (choice == STAY and not self.reuse):
            return None
        facility = _facility_of(entry, choice)
        assert facility is not None
        return self.class_of[(facility, entry.age_class)], self.key(i, facility)


def _index(round_input: RoundInput) -> _Index:
    _validate(round_input)
    entries = sorted(round_input.entries, key=lambda entry: entry.id)
    seat_rows = sorted(round_input.seats, key=lambda row: (row[0].facility, row[0].age_class))
    index = _Index(
        entries=entries,
        position={entry.id: i for i, entry in enumerate(entries)},
        bonus=[dict(entry.priority.facility_bonus) for entry in entries],
        class_of={(key.facility, key.age_class): n for n, (key, _) in enumerate(seat_rows)},
        classes=[key for key, _ in seat_rows],
        seats=[seats for _, seats in seat_rows],
        capacity=[seats for _, seats in seat_rows],
        groups=sorted(round_input.groups, key=lambda group: group.id),
        reuse=round_input.reuse_transfer_seats,
        listed=[],
    )
    for entry in entries:
        # Every listed class exists (with no seats if none are offered): stats and explanations name it.
        age, class_of = entry.age_class, index.class_of
        index.listed.append(
            [class_of[(f, age)] if (f, age) in class_of else index.add_class(f, age) for f in entry.preferences]
        )
        if entry.current_facility is not None:
            own = index.add_class(entry.current_facility, entry.age_class)
            if index.reuse:
                # The transferring child's seat is in the class; its infinite key keeps it there unless it moves.
                index.capacity[own] += 1
    return index


# --------------------------------------------------------------------------------------------------------------
# Units and sibling combinations


@dataclass
class _Unit:
    uid: str
    #: Entry indexes, the eldest first (one for a singleton).
    members: tuple[int, ...]
    #: Each option's per-class demand, aggregated (a class once, with the seats it needs and the min key); a
    #: group's are worked out when the procedure first reaches them (None until then).
    options: list[tuple[Demand, ...] | None]
    #: Each option's choice per member (an index into its preferences, STAY or UNPLACED).
    assignments: list[tuple[int, ...]]
    #: What the members get when no option holds.
    fallback: tuple[int, ...]
    group: str | None
    processing: Key
    #: A group's members' seats per choice: choice -> (class, key), or None for no seat.
    slots: tuple[dict[int, tuple[int, Key] | None], ...] = ()


def combinations(entries: Sequence[Entry], group: SiblingGroup) -> list[tuple[int, ...]]:
    """A sibling group's allowed combinations, best first: per member (eldest first) a preference index or STAY.

    ``entries`` are the group's members in its order. "Not placed" (UNPLACED) appears only under ``partial_ok``
    and never for a transferring child (it keeps its seat: STAY). The combination where every member is at its
    fallback (no new seat anywhere) is not an option: it is what the group gets when none holds.

    Order (spec §1.3; ChilmAI's patterns, restated): ``same_facility_required`` by the sum of ranks, then the
    eldest's rank; ``all_or_none`` by most members together (members − distinct facilities), then the smallest
    product of ranks, then ranks eldest first; ``partial_ok`` by most members seated, then who is seated
    (``partial_priority``: elder or younger first), then as ``all_or_none`` over the seated members.
    """
    # Per member: (choice, rank, facility), rank 1 = first choice; a transfer's STAY ranks after its list.
    rows = [[(c, n + 1, _facility_of(entry, c)) for n, c in enumerate(_choices(entry))] for entry in entries]
    fallback = tuple(_fallback(entry) for entry in entries)
    keyed: list[tuple[tuple[Any, ...], tuple[int, ...]]] = []
    if group.mode == "same_facility_required":
        for _, _, facility in rows[0]:
            picked = []
            for row in rows:
                match = next((item for item in row if item[2] == facility), None)
                if match is None:
                    break
                picked.append(match)
            else:
                combo = tuple(c for c, _, _ in picked)
                if combo != fallback:
                    keyed.append(((sum(r for _, r, _ in picked), picked[0][1]), combo))
    else:
        partial = group.mode == "partial_ok"
        if partial:
            for row, entry in zip(rows, entries, strict=True):
                if entry.current_facility is None:
                    # Rank 1 in the product: an unseated member neither helps nor hurts the others' ranks.
                    row.append((UNPLACED, 1, None))
        while math.prod(len(row) for row in rows) > MAX_COMBINATIONS:
            longest = max(range(len(rows)), key=lambda m: (len(rows[m]), -m))
            rows[longest].remove([item for item in rows[longest] if item[0] >= 0][-1])
        younger_first = group.partial_priority == "younger"
        size = len(rows)
        prod = math.prod
        if size in (2, 3) and not younger_first:
            keyed = _pairs_and_triples(rows, fallback, partial)
            keyed.sort()
            return [combo for _, combo in keyed]
        for product in itertools.product(*rows):
            combo, ranks, facilities = zip(*product, strict=True)
            if combo == fallback:
                continue
            if partial:
                pattern = tuple(f is None for f in facilities)  # False (seated) sorts first
                seated = size - sum(pattern)
                together = seated - len(set(facilities)) + (1 if seated < size else 0)
                keyed.append(
                    ((-seated, pattern[::-1] if younger_first else pattern, -together, prod(ranks), ranks), combo)
                )
            else:
                keyed.append(((len(set(facilities)) - size, prod(ranks), ranks), combo))
    keyed.sort()
    return [combo for _, combo in keyed]


def _pairs_and_triples(
    rows: list[list[tuple[int, int, str | None]]], fallback: tuple[int, ...], partial: bool
) -> list[tuple[tuple[Any, ...], tuple[int, ...]]]:
    """The general ordering of :func:`combinations`, written out for two and three members (most households):
    the same keys, built without a tuple per member per combination (a household of three has 1,331)."""
    if len(rows) == 2:
        one, two = rows
        if not partial:
            return [
                ((f1 != f2, r1 * r2, (r1, r2)), (c1, c2))
                for c1, r1, f1 in one
                for c2, r2, f2 in two
                if (c1, c2) != fallback
            ]
        return [
            (
                (
                    -((f1 is not None) + (f2 is not None)),
                    (f1 is None, f2 is None),
                    -(f1 is not None and f1 == f2),
                    r1 * r2,
                    (r1, r2),
                ),
                (c1, c2),
            )
            for c1, r1, f1 in one
            for c2, r2, f2 in two
            if (c1, c2) != fallback
        ]
    one, two, three = rows
    if not partial:
        return [
            ((len({f1, f2, f3}), r1 * r2 * r3, (r1, r2, r3)), (c1, c2, c3))
            for c1, r1, f1 in one
            for c2, r2, f2 in two
            for c3, r3, f3 in three
            if (c1, c2, c3) != fallback
        ]
    keyed = []
    for c1, r1, f1 in one:
        for c2, r2, f2 in two:
            for c3, r3, f3 in three:
                seated = (f1 is not None) + (f2 is not None) + (f3 is not None)
                distinct = len({f1, f2, f3} - {None})
                pattern = (f1 is None, f2 is None, f3 is None)
                keyed.append(((-seated, pattern, distinct - seated, r1 * r2 * r3, (r1, r2, r3)), (c1, c2, c3)))
    return [row for row in keyed if row[1] != fallback]


def _units(index: _Index) -> list[_Unit]:
    grouped: set[int] = set()
    units: list[_Unit] = []
    for group in index.groups:
        if group.mode == "independent":
            continue
        members = tuple(index.position[member] for member in group.members)
        grouped.update(members)
        member_entries = [index.entries[i] for i in members]
        assignments = combinations(member_entries, group)
        fallback = tuple(_fallback(entry) for entry in member_entries)
        if STAY in fallback and index.reuse:
            # Nothing else fits: the transferring members keep their seats, which they must hold like any other.
            assignments.append(fallback)
        slots = tuple({c: index.demand(i, c) for c in {*_choices(index.entries[i]), UNPLACED}} for i in members)
        units.append(
            _Unit(
                uid="g:" + group.id,
                members=members,
                options=[None] * len(assignments),
                assignments=assignments,
                fallback=fallback,
                group=group.id,
                processing=min(_base_key(entry) for entry in member_entries),
                slots=slots,
            )
        )
    class_of, reuse = index.class_of, index.reuse
    for i, entry in enumerate(index.entries):
        if i in grouped:
            continue
        age, prefs, current, bonus = entry.age_class, entry.preferences, entry.current_facility, index.bonus[i]
        tier, score, tail = entry.priority.tier, entry.priority.score, entry.priority.tail
        base = (tier, score, *tail)
        choices = _choices(entry)
        options: list[tuple[Demand, ...] | None] = []
        for c in choices:
            if current is not None and c == STAY:
                options.append(((class_of[(current, age)], 1, INF_KEY),) if reuse else ())
            else:
                facility = prefs[c]
                # Most children have no facility bonus: one key tuple serves all their options.
                key = (tier, score + bonus[facility], *tail) if facility in bonus else base
                options.append(((class_of[(facility, age)], 1, key),))
        units.append(
            _Unit(
                uid="e:" + entry.id,
                members=(i,),
                options=options,
                assignments=[(c,) for c in choices],
                fallback=(_fallback(entry),),
                group=None,
                processing=base,
            )
        )
    units.sort(key=lambda unit: unit.uid)
    return units


def _option_demand(unit: _Unit, combo: tuple[int, ...]) -> tuple[Demand, ...]:
    """A group's combination as seats per class: (class, seats needed, the lowest key of the members sent there)."""
    need: dict[int, int] = {}
    keys: dict[int, Key] = {}
    for slot, choice in zip(unit.slots, combo, strict=True):
        taken = slot[choice]
        if taken is None:
            continue
        c, key = taken
        if c in need:
            need[c] += 1
            keys[c] = min(keys[c], key)
        else:
            need[c] = 1
            keys[c] = key
    return tuple((c, need[c], keys[c]) for c in sorted(need))


# --------------------------------------------------------------------------------------------------------------
# Deferred acceptance


class _Matcher:
    """The state of the procedure: who holds which seats, each unit's pointer into its options."""

    def __init__(self, index: _Index, units: list[_Unit]) -> None:
        self.index = index
        self.units = units
        self.capacity = index.capacity
        #: Per class, the seats held, ascending: (key, unit).
        self.holders: list[list[tuple[Key, int]]] = [[] for _ in index.classes]
        self.pointer = [0] * len(units)
        self.held: list[int | None] = [None] * len(units)
        self.order = [(tuple(-x for x in unit.processing), unit.uid, u) for u, unit in enumerate(units)]
        self.heap: list[tuple[Key, str, int]] = []
        self.evictions = 0
        #: Classes that lost a seat holder without a stronger one taking the seat: only there can a singleton
        #: rejected earlier have justified envy now (elsewhere a class's border only rises).
        self.weakened: set[int] = set()
        self._listing: list[list[tuple[int, int]]] | None = None

    def option(self, u: int, p: int) -> tuple[Demand, ...]:
        unit = self.units[u]
        found = unit.options[p]
        if found is None:
            found = unit.options[p] = _option_demand(unit, unit.assignments[p])
        return found

    def release(self, u: int) -> None:
        held = self.held[u]
        if held is None:
            return
        for c, need, key in self.option(u, held):
            holders = self.holders[c]
            for _ in range(need):
                holders.remove((key, u))
            self.weakened.add(c)
        self.held[u] = None

    def evict(self, u: int) -> None:
        self.release(u)
        self.evictions += 1
        self.pointer[u] += 1
        heapq.heappush(self.heap, self.order[u])

    def run(self) -> None:
        holders, capacity, heap, units, pointer = self.holders, self.capacity, self.heap, self.units, self.pointer
        held, order = self.held, self.order
        while heap:
            u = heapq.heappop(heap)[2]
            options = units[u].options
            p = pointer[u]
            n = len(options)
            while p < n:
                option = options[p]
                if option is not None and len(option) == 1 and option[0][1] == 1:
                    # One seat in one class (a child alone, mostly): the hot path.
                    c, _, key = option[0]
                    seated = holders[c]
                    if len(seated) < capacity[c]:
                        insort(seated, (key, u))
                        break
                    if seated and seated[0][0] < key:
                        v = seated[0][1]
                        if len(units[v].members) == 1:
                            # A child gives its only seat to a stronger key: no class weakens.
                            del seated[0]
                            held[v] = None
                            self.evictions += 1
                            pointer[v] += 1
                            heapq.heappush(heap, order[v])
                            insort(seated, (key, u))
                            break
                        if self._try(u, option):
                            break
                elif self._try(u, self.option(u, p)):
                    break
                p += 1
            pointer[u] = p
            if p < n:
                held[u] = p

    def _try(self, u: int, option: tuple[Demand, ...]) -> bool:
        """Take every class of an option at once, evicting the lowest keys below the unit's, or nothing."""
        evicted: set[int] = set()
        for c, need, key in option:
            others = [h for h in self.holders[c] if h[1] not in evicted]
            over = len(others) + need - self.capacity[c]
            if over <= 0:
                continue
            if over > len(others) or others[over - 1][0] >= key:
                return False
            evicted.update(h[1] for h in others[:over])
        if len(evicted) > 1:
            # A unit evicted in one class may free a seat in another, where the lowest was evicted first: keep
            # every unit the option can do without, the strongest first.
            for v in sorted(evicted, key=lambda v: max(k for k, w in self._seats_of(v)), reverse=True):
                evicted.discard(v)
                if not all(
                    sum(1 for h in self.holders[c] if h[1] not in evicted) + need <= self.capacity[c]
                    for c, need, _ in option
                ):
                    evicted.add(v)
        for v in sorted(evicted):
            self.evict(v)
        for c, need, key in option:
            for _ in range(need):
                insort(self.holders[c], (key, u))
        return True

    def _seats_of(self, u: int) -> list[tuple[Key, int]]:
        held = self.held[u]
        return [] if held is None else [(key, c) for c, _, key in self.option(u, held)]

    def result(self, u: int) -> int:
        """The rank (option index) a unit holds; len(options) when it holds none."""
        held = self.held[u]
        return len(self.units[u].options) if held is None else held

    def blocks(self, option: tuple[Demand, ...], u: int) -> bool:
        """Spec §1.3: in every class, seats held by others with a higher key + what u needs fit the capacity."""
        top = len(self.units)
        for c, need, key in option:
            seated = self.holders[c]
            first = bisect_right(seated, (key, top))  # the first seat held with a key above u's
            stronger = len(seated) - first - sum(1 for h in seated[first:] if h[1] == u)
            if stronger + need > self.capacity[c]:
                return False
        return True

    def blocking_singletons(self) -> list[tuple[int, int]]:
        """Singletons with a free seat or a lower key held in a class they ranked above their result."""
        if self._listing is None:
            # Per class, the singletons listing it: (unit, option index).
            self._listing = [[] for _ in self.holders]
            for u, unit in enumerate(self.units):
                if unit.group is None:
                    for p, option in enumerate(unit.options):
                        if option:
                            self._listing[option[0][0]].append((u, p))
        holders, capacity = self.holders, self.capacity
        best: dict[int, int] = {}
        for c in self.weakened:
            seated = holders[c]
            free = len(seated) < capacity[c]
            border = seated[0][0] if seated else None
            for u, p in self._listing[c]:
                if p >= self.result(u) or best.get(u, p + 1) <= p:
                    continue
                option = self.units[u].options[p]
                assert option is not None
                if free or (border is not None and border < option[0][2]):
                    best[u] = p
        self.weakened = set()
        return sorted(best.items())

    def stabilise(self) -> int:
        """Move singletons with justified envy (or a wasted seat) back up; sibling units never move back up."""
        passes = 0
        while True:
            blocking = self.blocking_singletons()
            if not blocking:
                return passes
            passes += 1
            for u, p in blocking:
                self.release(u)
                self.pointer[u] = p
                heapq.heappush(self.heap, self.order[u])
            self.run()

    def residual_envy(self) -> list[str]:
        envious = []
        for u, unit in enumerate(self.units):
            if unit.group is not None and any(self.blocks(self.option(u, p), u) for p in range(self.result(u))):
                envious.append(unit.group)
        return sorted(envious)


# --------------------------------------------------------------------------------------------------------------
# compute


@contextlib.contextmanager
def _without_gc() -> Iterator[None]:
    """The cyclic collector off while a round builds a few hundred thousand small tuples that hold no cycles:
    with it on, its generation scans take longer than the procedure itself."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def compute(round_input: RoundInput) -> RoundOutcome:
    """Allocate the round (spec §1.3) and explain it (§1.4). Raises ValueError on an inconsistent input."""
    with _without_gc():
        return _compute(round_input)


def _compute(round_input: RoundInput) -> RoundOutcome:
    index = _index(round_input)
    units = _units(index)
    matcher = _Matcher(index, units)
    matcher.heap = sorted(matcher.order)
    matcher.run()
    passes = matcher.stabilise()
    residual = matcher.residual_envy()

    # Each entry's final choice, and which unit it belongs to.
    choice: list[int] = [UNPLACED] * len(index.entries)
    unit_of: list[int] = [0] * len(index.entries)
    for u, unit in enumerate(units):
        held = matcher.held[u]
        assignment = unit.fallback if held is None else unit.assignments[held]
        for i, c in zip(unit.members, assignment, strict=True):
            choice[i] = c
            unit_of[i] = u
    placements, stats = _explain(index, matcher, choice, unit_of, round_input.tail_names)
    return RoundOutcome(
        placements=placements,
        stats=stats,
        residual_sibling_envy=tuple(residual),
        algorithm_version=ALGORITHM_VERSION,
        extra={
            "units": len(units),
            "sibling_units": sum(1 for unit in units if unit.group is not None),
            "evictions": matcher.evictions,
            "stabilisation_passes": passes,
            "residual_sibling_envy": len(residual),
        },
    )


def _first_difference(yours: Key, border: Key, tail_names: Sequence[str]) -> tuple[str, int | None, int | None]:
    """``decided_by`` for a key below the border: the first component that differs (tier, score, a tie-breaker)."""
    if yours[0] != border[0]:
        return "tier", yours[0], border[0]
    if yours[1] != border[1]:
        return "score_below", yours[1], border[1]
    for n, (a, b) in enumerate(zip(yours, border, strict=False)):
        if a != b:
            if n == 0:
                return "tier", a, b
            if n == 1:
                return "score_below", a, b
            position = n - 2
            code = tail_names[position] if position < len(tail_names) else f"TAIL{position + 1}"
            return f"tiebreak:{code}", a, b
    return "score_below", None, None  # unreachable: keys are strict


def _explain(
    index: _Index, matcher: _Matcher, choice: list[int], unit_of: list[int], tail_names: Sequence[str]
) -> tuple[tuple[Placement, ...], tuple[ClassStats, ...]]:
    holders, capacity = matcher.holders, index.capacity
    # Per class: the border (lowest held key) when full, and the lowest finite key held.
    border: list[Key | None] = [h[0][0] if len(h) >= capacity[c] and h else None for c, h in enumerate(holders)]
    lowest: list[Key | None] = []
    for h in holders:
        finite = [key for key, _ in h if key[0] != INF_MARK]
        lowest.append(finite[0] if finite else None)
    listed_by = [0] * len(index.classes)
    for c, count in Counter(itertools.chain.from_iterable(index.listed)).items():
        listed_by[c] = count
    # Every (child, class it ranked above its result), flat: rank, class, key, child; and per class the rows of
    # the children who still want it, to number their waiting positions.
    row_rank: list[int] = []
    row_class: list[int] = []
    row_key: list[Key] = []
    wanting: list[list[tuple[Key, int]]] = [[] for _ in index.classes]
    first_row: list[int] = []
    units = matcher.units
    for i, entry in enumerate(index.entries):
        first_row.append(len(row_rank))
        final, prefs = choice[i], entry.preferences
        if final >= 0:
            stop = final
        elif final == STAY and entry.current_facility in prefs:
            stop = prefs.index(entry.current_facility)
        else:
            stop = len(prefs)
        if not stop:
            continue
        unit = units[unit_of[i]]
        if unit.group is None:
            # A child alone: its options are its preferences in order, each with its key.
            keys = [option[0][2] if option else INF_KEY for option in unit.options[:stop]]
        else:
            keys = [index.key(i, facility) for facility in prefs[:stop]]
        for r, (c, key) in enumerate(zip(index.listed[i][:stop], keys, strict=True)):
            wanting[c].append((key, len(row_rank)))
            row_rank.append(r)
            row_class.append(c)
            row_key.append(key)
    first_row.append(len(row_rank))
    row_position = [0] * len(row_rank)
    for queue in wanting:
        queue.sort(reverse=True)
        for n, (_, row) in enumerate(queue, start=1):
            row_position[row] = n

    placements = []
    # Per class, what every explanation item about it repeats.
    low_score = [None if key is None else key[1] for key in lowest]
    full_of_stays = [key is not None and key[0] == INF_MARK for key in border]
    info = [
        (
            k.facility,
            k.age_class,
            capacity[c],
            len(holders[c]),
            low_score[c],
            border[c],
            not capacity[c] or full_of_stays[c],
        )
        for c, k in enumerate(index.classes)
    ]
    for i, entry in enumerate(index.entries):
        items = []
        grouped = units[unit_of[i]].group is not None
        for row in range(first_row[i], first_row[i + 1]):
            c, key = row_class[row], row_key[row]
            facility, age, seats, placed_count, low, cutoff, no_seats = info[c]
            yours: int | None = None
            theirs: int | None = None
            if no_seats:
                decided = "no_seats"
            elif cutoff is None or key > cutoff:
                # A free seat or a key above the border: only a sibling combination can leave a child out.
                decided = "sibling_combination" if grouped else "no_seats"
            elif key[0] != cutoff[0]:
                decided = "tier"
            elif key[1] != cutoff[1]:
                decided = "score_below"
            else:
                decided, yours, theirs = _first_difference(key, cutoff, tail_names)
            items.append(
                ExplanationItem(
                    facility,
                    age,
                    row_rank[row] + 1,
                    seats,
                    placed_count,
                    key[1],
                    low,
                    decided,
                    yours,
                    theirs,
                    row_position[row],
                )
            )
        final = choice[i]
        if final >= 0:
            placement = Placement(
                entry_id=entry.id,
                outcome="placed",
                facility=entry.preferences[final],
                age_class=entry.age_class,
                pref_rank=final + 1,
                explanation=tuple(items),
            )
        elif final == STAY:
            placement = Placement(
                entry_id=entry.id,
                outcome="stays",
                facility=entry.current_facility,
                age_class=entry.age_class,
                explanation=tuple(items),
            )
        else:
            placement = Placement(entry_id=entry.id, outcome="waitlisted", explanation=tuple(items))
        placements.append(placement)

    stats = []
    for c, klass in enumerate(index.classes):
        tiebreak = None
        cutoff = border[c]
        if cutoff is not None and cutoff[0] != INF_MARK:
            below = next((key for key, _ in wanting[c] if key < cutoff), None)
            if below is not None and below[:2] == cutoff[:2]:
                tiebreak = _first_difference(below, cutoff, tail_names)[0].removeprefix("tiebreak:")
        stats.append(
            ClassStats(
                key=klass,
                seats=capacity[c],
                listed_by=listed_by[c],
                placed=len(holders[c]),
                lowest_placed_score=low_score[c],
                lowest_placed_tiebreak=tiebreak,
                waiting_count=len(wanting[c]),
            )
        )
    stats.sort(key=lambda row: (row.key.facility, row.key.age_class))
    return tuple(placements), tuple(stats)


# --------------------------------------------------------------------------------------------------------------
# verify: an independent check of an outcome (spec §1.5, points 3–7)


def verify(round_input: RoundInput, outcome: RoundOutcome) -> VerifyReport:
    with _without_gc():
        return _verify(round_input, outcome)


def _verify(round_input: RoundInput, outcome: RoundOutcome) -> VerifyReport:
    """Check ``outcome`` against ``round_input`` from the outcome itself, without re-running the procedure.

    Capacity, eligibility (a listed facility in the child's own age class, or its current seat), sibling
    constraints (one of the group's combinations, or nothing), individual rationality of transfers, no singleton
    with justified envy or a wasted seat, and the residual sibling envy the outcome lists is exactly what is there.
    """
    _validate(round_input)
    problems: list[Violation] = []
    entries = {entry.id: entry for entry in round_input.entries}
    result: dict[str, Placement] = {}
    for placement in outcome.placements:
        if placement.entry_id not in entries:
            problems.append(Violation("placement", placement.entry_id, "no such entry in the round"))
        elif placement.entry_id in result:
            problems.append(Violation("placement", placement.entry_id, "placed twice"))
        else:
            result[placement.entry_id] = placement
    for entry_id in sorted(set(entries) - set(result)):
        problems.append(Violation("placement", entry_id, "no result"))

    reuse = round_input.reuse_transfer_seats
    capacity: dict[tuple[str, int], int] = {(k.facility, k.age_class): n for k, n in round_input.seats}
    # Each entry's choice (an index into its preferences, STAY or UNPLACED), checked for eligibility.
    choice: dict[str, int] = {}
    for entry_id, placement in sorted(result.items()):
        entry = entries[entry_id]
        choice[entry_id] = _checked_choice(entry, placement, problems)
        if reuse and entry.current_facility is not None:
            own = (entry.current_facility, entry.age_class)
            capacity[own] = capacity.get(own, 0) + 1

    group_of = {m: group for group in round_input.groups if group.mode != "independent" for m in group.members}
    # Seats held per class: (key, entry id), the key of a sibling being its group's minimum in that class.
    seated: dict[tuple[str, int], list[tuple[Key, str]]] = {}
    for entry_id, c in choice.items():
        entry = entries[entry_id]
        if c == UNPLACED or (c == STAY and not reuse):
            continue
        facility = _facility_of(entry, c)
        assert facility is not None
        bonus = dict(entry.priority.facility_bonus)
        seated.setdefault((facility, entry.age_class), []).append((_key(entry, facility, bonus), entry_id))
    for klass, rows in seated.items():
        if len(rows) > capacity.get(klass, 0):
            problems.append(
                Violation("capacity", f"{klass[0]}/{klass[1]}", f"{len(rows)} seated, {capacity.get(klass, 0)} seats")
            )
        by_group: dict[str, Key] = {}
        for key, entry_id in rows:
            if entry_id in group_of:
                gid = group_of[entry_id].id
                by_group[gid] = min(by_group.get(gid, key), key)
        rows[:] = sorted((by_group[group_of[e].id] if e in group_of else k, e) for k, e in rows)

    def stronger(klass: tuple[str, int], key: Key, own: dict[tuple[str, int], list[Key]]) -> int:
        """Seats of the class held with a key above ``key``, but for the ``own`` keys (the unit's own seats)."""
        rows = seated.get(klass)
        if not rows:
            return 0
        mine = own.get(klass)
        return len(rows) - bisect_right(rows, (key, "\U0010ffff")) - (sum(k > key for k in mine) if mine else 0)

    # Singletons: no listed class above the result has a free seat or a seat held by a lower key.
    for entry_id, entry in sorted(entries.items()):
        if entry_id in group_of or entry_id not in choice:
            continue
        options = _choices(entry)
        current = choice[entry_id]
        if current not in options and current != UNPLACED:
            continue  # already reported as ineligible
        bonus = dict(entry.priority.facility_bonus)
        no_one: dict[tuple[str, int], list[Key]] = {}
        for c in options[: options.index(current) if current != UNPLACED else len(options)]:
            facility = _facility_of(entry, c)
            assert facility is not None
            klass = (facility, entry.age_class)
            key = _key(entry, facility, bonus)
            if stronger(klass, key, no_one) + 1 <= capacity.get(klass, 0):
                problems.append(
                    Violation("blocking", entry_id, f"justified envy or a wasted seat at {facility}/{entry.age_class}")
                )
                break

    envious = _check_groups(round_input, entries, choice, capacity, seated, stronger, problems)
    listed = set(outcome.residual_sibling_envy)
    for gid in sorted(envious - listed):
        problems.append(Violation("residual_envy", gid, "envious sibling group missing from the outcome's list"))
    for gid in sorted(listed - envious):
        problems.append(Violation("residual_envy", gid, "listed as envious but has no blocking combination"))

    for row in outcome.stats:
        klass = (row.key.facility, row.key.age_class)
        if row.placed != len(seated.get(klass, [])) or row.seats != capacity.get(klass, 0):
            problems.append(Violation("stats", f"{klass[0]}/{klass[1]}", "placed or seats differ from the placements"))
    return VerifyReport(violations=tuple(problems), residual_sibling_envy=tuple(sorted(envious)))


def _checked_choice(entry: Entry, placement: Placement, problems: list[Violation]) -> int:
    """The placement as a choice of the entry, reporting what is not eligible or not individually rational."""
    if placement.outcome == "placed":
        facility = placement.facility
        if facility not in entry.preferences:
            problems.append(Violation("eligibility", entry.id, f"placed at unlisted facility {facility}"))
            return UNPLACED
        rank = entry.preferences.index(facility)
        if placement.age_class != entry.age_class:
            problems.append(Violation("eligibility", entry.id, f"placed in age class {placement.age_class}"))
        if placement.pref_rank != rank + 1:
            problems.append(Violation("eligibility", entry.id, f"pref_rank {placement.pref_rank} is not {rank + 1}"))
        if entry.current_facility is not None and rank not in _choices(entry):
            problems.append(Violation("individual_rationality", entry.id, "moved below its own facility"))
        if entry.current_facility == facility:
            return STAY
        return rank
    if placement.outcome == "stays":
        if entry.current_facility is None or placement.facility != entry.current_facility:
            problems.append(Violation("eligibility", entry.id, f"stays at {placement.facility}, not its own"))
            return UNPLACED
        if placement.age_class != entry.age_class:
            problems.append(Violation("eligibility", entry.id, f"stays in age class {placement.age_class}"))
        return STAY
    if placement.facility is not None:
        problems.append(Violation("eligibility", entry.id, "waitlisted with a facility"))
    if entry.current_facility is not None:
        problems.append(Violation("individual_rationality", entry.id, "a transferring child lost its seat"))
    return UNPLACED


def _check_groups(
    round_input: RoundInput,
    entries: dict[str, Entry],
    choice: dict[str, int],
    capacity: dict[tuple[str, int], int],
    seated_rows: dict[tuple[str, int], list[tuple[Key, str]]],
    stronger: Any,
    problems: list[Violation],
) -> set[str]:
    """Sibling constraints per group, and the groups left with justified envy."""
    envious: set[str] = set()
    for group in round_input.groups:
        if group.mode == "independent" or any(member not in choice for member in group.members):
            continue
        members = [entries[member] for member in group.members]
        got = tuple(choice[member] for member in group.members)
        fallback = tuple(_fallback(entry) for entry in members)
        seats = {_facility_of(entry, c) for entry, c in zip(members, got, strict=True) if c != UNPLACED}
        newly = [c >= 0 for entry, c in zip(members, got, strict=True) if entry.current_facility is None]
        if group.mode == "same_facility_required" and got != fallback and len(seats) != 1:
            problems.append(Violation("sibling", group.id, "same_facility_required split across facilities"))
        if group.mode == "all_or_none" and any(newly) and not all(newly):
            problems.append(Violation("sibling", group.id, "all_or_none partly placed"))
        combos = combinations(members, group)
        if got == fallback:
            rank = len(combos)
        elif got in combos:
            rank = combos.index(got)
        else:
            problems.append(Violation("sibling", group.id, f"{got} is not one of the group's combinations"))
            continue
        # The group's own seats, as the seat rows hold them (its lowest key in each class).
        own: dict[tuple[str, int], list[Key]] = {}
        for entry, c in zip(members, got, strict=True):
            if c == UNPLACED or (c == STAY and not round_input.reuse_transfer_seats):
                continue
            facility = _facility_of(entry, c)
            assert facility is not None
            klass = (facility, entry.age_class)
            if klass not in own:
                own[klass] = [k for k, e in seated_rows.get(klass, []) if e in group.members]
        # Per member, per choice: the class it takes a seat in and its key there (None: no seat).
        seat: list[dict[int, tuple[tuple[str, int], Key] | None]] = []
        for entry in members:
            bonus = dict(entry.priority.facility_bonus)
            row: dict[int, tuple[tuple[str, int], Key] | None] = {UNPLACED: None}
            for c in _choices(entry):
                facility = _facility_of(entry, c)
                assert facility is not None
                seats_taken = c != STAY or round_input.reuse_transfer_seats
                row[c] = ((facility, entry.age_class), _key(entry, facility, bonus)) if seats_taken else None
            seat.append(row)
        for combo in combos[:rank]:
            demand: dict[tuple[str, int], tuple[int, Key]] = {}
            for row, c in zip(seat, combo, strict=True):
                taken = row[c]
                if taken is None:
                    continue
                klass, key = taken
                need, low = demand.get(klass, (0, key))
                demand[klass] = (need + 1, min(low, key))
            if all(stronger(k, low, own) + need <= capacity.get(k, 0) for k, (need, low) in demand.items()):
                envious.add(group.id)
                break
    return envious


# --------------------------------------------------------------------------------------------------------------
# Hashes over canonical JSON


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def _no_floats(value: Any) -> Any:
    if isinstance(value, float):
        raise TypeError("canonical JSON holds no floats")
    if isinstance(value, dict):
        for item in value.values():
            _no_floats(item)
    elif isinstance(value, list):
        for item in value:
            _no_floats(item)
    return value


def input_document(round_input: RoundInput) -> dict[str, Any]:
    """The input as canonical JSON data: entries, groups and classes sorted, so their order does not count."""
    return _no_floats(
        {
            "seats": sorted([k.facility, k.age_class, n] for k, n in round_input.seats),
            "entries": [
                {
                    "id": e.id,
                    "age_class": e.age_class,
                    "preferences": list(e.preferences),
                    "tier": e.priority.tier,
                    "score": e.priority.score,
                    "tail": list(e.priority.tail),
                    "facility_bonus": sorted([f, p] for f, p in e.priority.facility_bonus),
                    "current_facility": e.current_facility,
                    "group": e.group,
                }
                for e in sorted(round_input.entries, key=lambda e: e.id)
            ],
            "groups": [
                {"id": g.id, "members": list(g.members), "mode": g.mode, "partial_priority": g.partial_priority}
                for g in sorted(round_input.groups, key=lambda g: g.id)
            ],
            "tail_names": list(round_input.tail_names),
            "reuse_transfer_seats": round_input.reuse_transfer_seats,
        }
    )


def result_document(outcome: RoundOutcome) -> dict[str, Any]:
    """The outcome as canonical JSON data (``extra``, the run's counters, is not part of the result)."""
    return _no_floats(
        {
            "algorithm_version": outcome.algorithm_version,
            "placements": [
                {
                    "entry_id": p.entry_id,
                    "outcome": p.outcome,
                    "facility": p.facility,
                    "age_class": p.age_class,
                    "pref_rank": p.pref_rank,
                    "explanation": [_item(item) for item in p.explanation],
                }
                for p in sorted(outcome.placements, key=lambda p: p.entry_id)
            ],
            "stats": [
                {
                    "facility": s.key.facility,
                    "age_class": s.key.age_class,
                    "seats": s.seats,
                    "listed_by": s.listed_by,
                    "placed": s.placed,
                    "lowest_placed_score": s.lowest_placed_score,
                    "lowest_placed_tiebreak": s.lowest_placed_tiebreak,
                    "waiting_count": s.waiting_count,
                }
                for s in sorted(outcome.stats, key=lambda s: s.key)
            ],
            "residual_sibling_envy": sorted(outcome.residual_sibling_envy),
        }
    )


def _item(item: ExplanationItem) -> dict[str, Any]:
    # By hand: dataclasses.asdict deep-copies every field, seconds on a round of 20,000 children.
    return {
        "facility": item.facility,
        "age_class": item.age_class,
        "rank": item.rank,
        "seats": item.seats,
        "placed_count": item.placed_count,
        "your_score": item.your_score,
        "lowest_placed_score": item.lowest_placed_score,
        "decided_by": item.decided_by,
        "your_value": item.your_value,
        "border_value": item.border_value,
        "waiting_position": item.waiting_position,
    }


def input_sha256(round_input: RoundInput) -> str:
    return hashlib.sha256(_canonical(input_document(round_input))).hexdigest()


def result_sha256(outcome: RoundOutcome) -> str:
    return hashlib.sha256(_canonical(result_document(outcome))).hexdigest()


def explanation_dict(item: ExplanationItem) -> dict[str, Any]:
    """An explanation item as JSON-safe data (what ``decision["allocation"]`` stores, before facility names)."""
    return _item(item)
