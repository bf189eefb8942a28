"""Independent oracles for the allocation engine's tests: written from the spec's definitions, sharing no code with it.

* :func:`stable_matchings` enumerates every feasible matching of a small round and keeps the stable ones (no unit
  with a blocking option: spec §1.3's "Blocking", siblings-aware, transfers keeping their own seat).
* :func:`serial_dictatorship` is 「指数の高い世帯から順に第1希望から内定」: units in key order, each takes its first
  option that still fits.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from madoguchi.childcare.engine_types import Entry, RoundInput

INF = (1 << 62,)
STAY = "<stay>"

#: A unit's option: per member (eldest first) a facility code, STAY (its own seat) or None (no seat).
Option = tuple[str | None, ...]


def key(entry: Entry, facility: str) -> tuple[int, ...]:
    if entry.current_facility == facility:
        return INF
    bonus = dict(entry.priority.facility_bonus).get(facility, 0)
    return (entry.priority.tier, entry.priority.score + bonus, *entry.priority.tail)


@dataclass(frozen=True)
class Unit:
    name: str
    members: tuple[Entry, ...]
    #: Ranked, best first; the last outcome is the fallback (not an option it can block with).
    options: tuple[Option, ...]
    fallback: Option


def singleton_units(round_input: RoundInput, grouped: frozenset[str] | set[str] = frozenset()) -> list[Unit]:
    units = []
    for entry in round_input.entries:
        if entry.id in grouped:
            continue
        options: list[Option] = []
        for facility in entry.preferences:
            if facility == entry.current_facility:
                break
            options.append((facility,))
        if entry.current_facility is not None:
            options.append((STAY,))
            fallback: Option = (STAY,)
        else:
            fallback = (None,)
        units.append(Unit(entry.id, (entry,), tuple(options), fallback))
    return units


def _classes(unit: Unit, option: Option, reuse: bool) -> dict[tuple[str, int], tuple[int, tuple[int, ...]]]:
    """Class -> (seats needed, the unit's key there: the minimum of its members sent there)."""
    out: dict[tuple[str, int], tuple[int, tuple[int, ...]]] = {}
    for entry, facility in zip(unit.members, option, strict=True):
        if facility is None or (facility == STAY and not reuse):
            continue
        real = entry.current_facility if facility == STAY else facility
        assert real is not None
        klass = (real, entry.age_class)
        need, low = out.get(klass, (0, key(entry, real)))
        out[klass] = (need + 1, min(low, key(entry, real)))
    return out


def _capacity(round_input: RoundInput) -> dict[tuple[str, int], int]:
    capacity = {(k.facility, k.age_class): n for k, n in round_input.seats}
    if round_input.reuse_transfer_seats:
        for entry in round_input.entries:
            if entry.current_facility is not None:
                own = (entry.current_facility, entry.age_class)
                capacity[own] = capacity.get(own, 0) + 1
    return capacity


def stable_matchings(round_input: RoundInput, units: Sequence[Unit]) -> list[dict[str, Option]]:
    """Every stable matching, by enumeration (units × outcomes, pruned by capacity): for tiny rounds only."""
    capacity = _capacity(round_input)
    reuse = round_input.reuse_transfer_seats
    outcomes = [
        [*unit.options, unit.fallback] if unit.fallback not in unit.options else list(unit.options) for unit in units
    ]
    demands = [[_classes(unit, o, reuse) for o in outs] for unit, outs in zip(units, outcomes, strict=True)]

    def feasible(n: int, used: dict[tuple[str, int], int]) -> Iterator[list[int]]:
        if n == len(units):
            yield []
            return
        for o, demand in enumerate(demands[n]):
            if all(used.get(k, 0) + need <= capacity.get(k, 0) for k, (need, _) in demand.items()):
                for k, (need, _) in demand.items():
                    used[k] = used.get(k, 0) + need
                for rest in feasible(n + 1, used):
                    yield [o, *rest]
                for k, (need, _) in demand.items():
                    used[k] -= need

    stable = []
    for choice in feasible(0, {}):
        held: dict[tuple[str, int], list[tuple[tuple[int, ...], int]]] = {}
        for n, o in enumerate(choice):
            for k, (need, low) in demands[n][o].items():
                held.setdefault(k, []).extend([(low, n)] * need)
        blocked = False
        for n, o in enumerate(choice):
            for better in range(min(o, len(units[n].options))):
                if all(
                    sum(1 for low, holder in held.get(k, []) if holder != n and low > mine) + need <= capacity.get(k, 0)
                    for k, (need, mine) in demands[n][better].items()
                ):
                    blocked = True
                    break
            if blocked:
                break
        if not blocked:
            stable.append({units[n].name: outcomes[n][o] for n, o in enumerate(choice)})
    return stable


def serial_dictatorship(round_input: RoundInput, units: Sequence[Unit]) -> dict[str, Option]:
    """Units by their key (the minimum of the members' keys; no bonuses, no transfers), each its first fit."""
    capacity = _capacity(round_input)
    used: dict[tuple[str, int], int] = {}
    result: dict[str, Option] = {}

    def rank(unit: Unit) -> tuple[int, ...]:
        return min((m.priority.tier, m.priority.score, *m.priority.tail) for m in unit.members)

    for unit in sorted(units, key=rank, reverse=True):
        result[unit.name] = unit.fallback
        for option in unit.options:
            demand = _classes(unit, option, round_input.reuse_transfer_seats)
            if all(used.get(k, 0) + need <= capacity.get(k, 0) for k, (need, _) in demand.items()):
                for k, (need, _) in demand.items():
                    used[k] = used.get(k, 0) + need
                result[unit.name] = option
                break
    return result
