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

import hashlib
import heapq
import itertools
import json
import math
from bisect import bisect_right, insort
from collections.abc import Sequence
from dataclasses import asdict, dataclass
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

    def class_index(self, facility: str, age_class: int) -> int:
        """The class, created with no seats when only a transferring child's seat names it."""
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
        return self.class_index(facility, entry.age_class), self.key(i, facility)


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
    )
    for entry in entries:
        # Every listed class exists (with no seats if none are offered): stats and explanations name it.
        for facility in entry.preferences:
            index.class_index(facility, entry.age_class)
        if entry.current_facility is not None:
            own = index.class_index(entry.current_facility, entry.age_class)
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
    #: Each option's per-class demand, aggregated (a class once, with the seats it needs and the min key).
    options: list[tuple[Demand, ...]]
    #: Each option's choice per member (an index into its preferences, STAY or UNPLACED).
    assignments: list[tuple[int, ...]]
    #: What the members get when no option holds.
    fallback: tuple[int, ...]
    group: str | None
    processing: Key


def _order_key(
    combo: tuple[int, ...], ranks: tuple[int, ...], facilities: Sequence[str | None], group: SiblingGroup
) -> tuple[Any, ...]:
    """The ranking of a group's combinations (spec §1.3; ChilmAI's patterns, restated)."""
    seated = [f for f in facilities if f is not None]
    together = len(seated) - len(set(seated))
    big = 10**6
    if group.mode == "same_facility_required":
        return (sum(ranks), ranks[0], combo)
    if group.mode == "all_or_none":
        return (-together, math.prod(ranks), ranks, combo)
    # partial_ok: most children seated, then who enters alone (elder or younger first), then as all_or_none.
    pattern = tuple(0 if f is not None else 1 for f in facilities)
    if group.partial_priority == "younger":
        pattern = pattern[::-1]
    placed_ranks = tuple(r if f is not None else big for r, f in zip(ranks, facilities, strict=True))
    seated_product = math.prod(r for r, f in zip(ranks, facilities, strict=True) if f is not None)
    return (-len(seated), pattern, -together, seated_product, placed_ranks, combo)


def combinations(entries: Sequence[Entry], group: SiblingGroup) -> list[tuple[int, ...]]:
    """A sibling group's allowed combinations, best first: per member (eldest first) a preference index or STAY.

    ``entries`` are the group's members in its order. "Not placed" (UNPLACED) appears only under ``partial_ok``
    and never for a transferring child (it keeps its seat: STAY). The combination where every member is at its
    fallback (no new seat anywhere) is not an option: it is what the group gets when none holds.
    """
    choice_lists = [_choices(entry) for entry in entries]
    fallback = tuple(_fallback(entry) for entry in entries)
    if group.mode == "same_facility_required":
        combos: list[tuple[int, ...]] = []
        first = entries[0]
        candidates = [_facility_of(first, c) for c in choice_lists[0]]
        for facility in candidates:
            combo = []
            for entry, choices in zip(entries, choice_lists, strict=True):
                match = [c for c in choices if _facility_of(entry, c) == facility]
                if not match:
                    break
                combo.append(match[0])
            else:
                if tuple(combo) != fallback:
                    combos.append(tuple(combo))
    else:
        if group.mode == "partial_ok":
            choice_lists = [
                [*choices, UNPLACED] if entry.current_facility is None else choices
                for entry, choices in zip(entries, choice_lists, strict=True)
            ]
        while math.prod(len(choices) for choices in choice_lists) > MAX_COMBINATIONS:
            longest = max(range(len(choice_lists)), key=lambda m: (len(choice_lists[m]), -m))
            listed = [c for c in choice_lists[longest] if c >= 0]
            choice_lists[longest].remove(listed[-1])
        combos = [combo for combo in itertools.product(*choice_lists) if combo != fallback]

    def order(combo: tuple[int, ...]) -> tuple[Any, ...]:
        ranks = tuple(
            (choices.index(c) + 1 if c != UNPLACED else 0)
            for c, choices in zip(combo, [_choices(entry) for entry in entries], strict=True)
        )
        facilities = [_facility_of(entry, c) for entry, c in zip(entries, combo, strict=True)]
        return _order_key(combo, ranks, facilities, group)

    return sorted(combos, key=order)


def _units(index: _Index) -> list[_Unit]:
    grouped: dict[int, SiblingGroup] = {}
    units: list[_Unit] = []
    for group in index.groups:
        if group.mode == "independent":
            continue
        members = tuple(index.position[member] for member in group.members)
        for i in members:
            grouped[i] = group
        member_entries = [index.entries[i] for i in members]
        assignments = combinations(member_entries, group)
        options = [_option_demand(index, members, combo) for combo in assignments]
        units.append(
            _Unit(
                uid="g:" + group.id,
                members=members,
                options=options,
                assignments=assignments,
                fallback=tuple(_fallback(entry) for entry in member_entries),
                group=group.id,
                processing=min(_base_key(entry) for entry in member_entries),
            )
        )
    for i, entry in enumerate(index.entries):
        if i in grouped:
            continue
        choices = _choices(entry)
        units.append(
            _Unit(
                uid="e:" + entry.id,
                members=(i,),
                options=[_option_demand(index, (i,), (c,)) for c in choices],
                assignments=[(c,) for c in choices],
                fallback=(_fallback(entry),),
                group=None,
                processing=_base_key(entry),
            )
        )
    units.sort(key=lambda unit: unit.uid)
    return units


def _option_demand(index: _Index, members: tuple[int, ...], combo: tuple[int, ...]) -> tuple[Demand, ...]:
    need: dict[int, int] = {}
    keys: dict[int, Key] = {}
    for i, choice in zip(members, combo, strict=True):
        taken = index.demand(i, choice)
        if taken is None:
            continue
        c, key = taken
        need[c] = need.get(c, 0) + 1
        keys[c] = min(keys[c], key) if c in keys else key
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

    def release(self, u: int) -> None:
        held = self.held[u]
        if held is None:
            return
        for c, need, key in self.units[u].options[held]:
            holders = self.holders[c]
            for _ in range(need):
                holders.remove((key, u))
        self.held[u] = None

    def evict(self, u: int) -> None:
        self.release(u)
        self.evictions += 1
        self.pointer[u] += 1
        heapq.heappush(self.heap, self.order[u])

    def run(self) -> None:
        holders, capacity, heap = self.holders, self.capacity, self.heap
        while heap:
            u = heapq.heappop(heap)[2]
            options = self.units[u].options
            p = self.pointer[u]
            while p < len(options):
                option = options[p]
                if len(option) == 1 and option[0][1] == 1:
                    # A child asking for one seat: the hot path.
                    c, _, key = option[0]
                    seated = holders[c]
                    if len(seated) < capacity[c]:
                        insort(seated, (key, u))
                        break
                    if seated and seated[0][0] < key:
                        self.evict(seated[0][1])
                        insort(seated, (key, u))
                        break
                elif self._try(u, option):
                    break
                p += 1
            self.pointer[u] = p
            if p < len(options):
                self.held[u] = p

    def _try(self, u: int, option: tuple[Demand, ...]) -> bool:
        """Take every class of a multi-seat option at once, evicting lower keys, or nothing."""
        evicted: set[int] = set()
        for c, need, key in option:
            others = [h for h in self.holders[c] if h[1] not in evicted]
            over = len(others) + need - self.capacity[c]
            if over <= 0:
                continue
            if over > len(others) or others[over - 1][0] >= key:
                return False
            evicted.update(h[1] for h in others[:over])
        for v in sorted(evicted):
            self.evict(v)
        for c, need, key in option:
            for _ in range(need):
                insort(self.holders[c], (key, u))
        return True

    def result(self, u: int) -> int:
        """The rank (option index) a unit holds; len(options) when it holds none."""
        held = self.held[u]
        return len(self.units[u].options) if held is None else held

    def blocks(self, option: tuple[Demand, ...], u: int) -> bool:
        """Spec §1.3: in every class, seats held by others with a higher key + what u needs fit the capacity."""
        for c, need, key in option:
            stronger = sum(1 for h in self.holders[c] if h[1] != u and h[0] > key)
            if stronger + need > self.capacity[c]:
                return False
        return True

    def blocking_singletons(self) -> list[tuple[int, int]]:
        found = []
        holders, capacity = self.holders, self.capacity
        for u, unit in enumerate(self.units):
            if unit.group is not None:
                continue
            for p in range(self.result(u)):
                option = unit.options[p]
                if not option:
                    continue
                c, _, key = option[0]
                seated = holders[c]
                if len(seated) < capacity[c] or (seated and seated[0][0] < key):
                    found.append((u, p))
                    break
        return found

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
            if unit.group is None:
                continue
            if any(self.blocks(unit.options[p], u) for p in range(self.result(u))):
                envious.append(unit.group)
        return sorted(envious)


# --------------------------------------------------------------------------------------------------------------
# compute


def compute(round_input: RoundInput) -> RoundOutcome:
    """Allocate the round (spec §1.3) and explain it (§1.4). Raises ValueError on an inconsistent input."""
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
    # Per class: the children who listed it above their result, with their key there.
    wanting: list[list[tuple[Key, int]]] = [[] for _ in index.classes]
    above: list[list[tuple[int, int, Key]]] = []  # per entry: (rank, class, key)
    for i, entry in enumerate(index.entries):
        c_final = choice[i]
        if c_final >= 0:
            stop = c_final
        elif c_final == STAY and entry.current_facility in entry.preferences:
            stop = entry.preferences.index(entry.current_facility)
        else:
            stop = len(entry.preferences)
        rows = []
        for r, facility in enumerate(entry.preferences):
            c = index.class_index(facility, entry.age_class)
            listed_by[c] += 1
            if r < stop:
                key = index.key(i, facility)
                rows.append((r, c, key))
                wanting[c].append((key, i))
        above.append(rows)
    position: dict[tuple[int, int], int] = {}
    for c, queue in enumerate(wanting):
        queue.sort(reverse=True)
        for n, (_, i) in enumerate(queue, start=1):
            position[(c, i)] = n

    placements = []
    for i, entry in enumerate(index.entries):
        items = []
        grouped = matcher.units[unit_of[i]].group is not None
        for r, c, key in above[i]:
            cutoff = border[c]
            low = lowest[c]
            yours: int | None = None
            theirs: int | None = None
            if capacity[c] == 0 or (cutoff is not None and cutoff[0] == INF_MARK):
                decided = "no_seats"
            elif cutoff is None or key > cutoff:
                # A free seat or a key above the border: only a sibling combination can leave a child out.
                decided = "sibling_combination" if grouped else "no_seats"
            else:
                decided, yours, theirs = _first_difference(key, cutoff, tail_names)
                if not decided.startswith("tiebreak:"):
                    yours = theirs = None
            items.append(
                ExplanationItem(
                    facility=index.classes[c].facility,
                    age_class=index.classes[c].age_class,
                    rank=r + 1,
                    seats=capacity[c],
                    placed_count=len(holders[c]),
                    your_score=key[1],
                    lowest_placed_score=None if low is None else low[1],
                    decided_by=decided,
                    your_value=yours,
                    border_value=theirs,
                    waiting_position=position[(c, i)],
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
        low = lowest[c]
        stats.append(
            ClassStats(
                key=klass,
                seats=capacity[c],
                listed_by=listed_by[c],
                placed=len(holders[c]),
                lowest_placed_score=None if low is None else low[1],
                lowest_placed_tiebreak=tiebreak,
                waiting_count=len(wanting[c]),
            )
        )
    stats.sort(key=lambda row: (row.key.facility, row.key.age_class))
    return tuple(placements), tuple(stats)


# --------------------------------------------------------------------------------------------------------------
# verify: an independent check of an outcome (spec §1.5, points 3–7)


def verify(round_input: RoundInput, outcome: RoundOutcome) -> VerifyReport:
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
        seated.setdefault((facility, entry.age_class), []).append((_key(entry, facility, _bonus(entry)), entry_id))
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

    def stronger(klass: tuple[str, int], key: Key, own: set[str]) -> int:
        rows = seated.get(klass, [])
        if not own:
            return len(rows) - bisect_right(rows, (key, "\U0010ffff"))
        return sum(1 for k, e in rows if k > key and e not in own)

    # Singletons: no listed class above the result has a free seat or a seat held by a lower key.
    for entry_id, entry in sorted(entries.items()):
        if entry_id in group_of or entry_id not in choice:
            continue
        options = _choices(entry)
        current = choice[entry_id]
        if current not in options and current != UNPLACED:
            continue  # already reported as ineligible
        bonus = _bonus(entry)
        for c in options[: options.index(current) if current != UNPLACED else len(options)]:
            facility = _facility_of(entry, c)
            assert facility is not None
            klass = (facility, entry.age_class)
            key = _key(entry, facility, bonus)
            if stronger(klass, key, set()) + 1 <= capacity.get(klass, 0):
                problems.append(
                    Violation("blocking", entry_id, f"justified envy or a wasted seat at {facility}/{entry.age_class}")
                )
                break

    envious = _check_groups(round_input, entries, choice, capacity, stronger, problems)
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


def _bonus(entry: Entry) -> dict[str, int]:
    return dict(entry.priority.facility_bonus)


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
        own = set(group.members)
        for combo in combos[:rank]:
            demand: dict[tuple[str, int], tuple[int, Key]] = {}
            for entry, c in zip(members, combo, strict=True):
                if c == UNPLACED or (c == STAY and not round_input.reuse_transfer_seats):
                    continue
                facility = _facility_of(entry, c)
                assert facility is not None
                klass = (facility, entry.age_class)
                key = _key(entry, facility, _bonus(entry))
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
                    # The items' own fields (flat values): asdict's deep copy cost seconds on a 20,000-child round.
                    "explanation": [dict(vars(item)) for item in p.explanation],
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


def input_sha256(round_input: RoundInput) -> str:
    return hashlib.sha256(_canonical(input_document(round_input))).hexdigest()


def result_sha256(outcome: RoundOutcome) -> str:
    return hashlib.sha256(_canonical(result_document(outcome))).hexdigest()


def explanation_dict(item: ExplanationItem) -> dict[str, Any]:
    """An explanation item as JSON-safe data (what ``decision["allocation"]`` stores, before facility names)."""
    return asdict(item)
