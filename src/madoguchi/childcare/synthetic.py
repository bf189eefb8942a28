"""Generated allocation rounds for tests and benchmarks: realistic in shape, reproducible from a seed.

What "realistic" means here (spec §1.1, §1.5 point 14): popularity is skewed (Zipf-like: a few facilities are on
everyone's list), most applicants are 0–2 years old while seats are spread more evenly over the six age classes
(so the 1歳児 classes bind, as CyberAgent reports), a fifth of the facilities are small ones (小規模保育, 0–2 only),
10–15% of the children come with siblings (same_facility_required, all_or_none, partial_ok or independent),
some households have a sibling already enrolled (+3 at that facility only), about 5% are transfers (転園) holding a
seat elsewhere, a few households are tier −1 (育休延長許容) or +1. Points follow the default rule set's scale.

The lottery is drawn per household: siblings get consecutive numbers, eldest first. Besides being how many
municipalities draw, it keeps a sibling group's keys next to each other in every order, so with common priorities
(no facility bonuses, no transfers) the result is serial dictatorship over households (the property tests' oracle).
"""

from __future__ import annotations

import random
from bisect import bisect_left
from itertools import accumulate

from madoguchi.childcare.engine_types import ClassKey, Entry, Priority, RoundInput, SiblingGroup, SiblingMode

TAIL_NAMES = (
    "NEW_BEFORE_TRANSFER",
    "BASE_TOTAL_DESC",
    "SINGLE_PARENT_FIRST",
    "REASON_RANK_ASC",
    "CHILDREN_DESC",
    "INCOME_LEVY_ASC",
    "LOTTERY_ASC",
)
#: Share of applicants per age class (0歳児 … 5歳児) and share of the round's seats per age class.
APPLICANT_AGES = (0.22, 0.34, 0.20, 0.12, 0.07, 0.05)
SEAT_AGES = (0.14, 0.24, 0.20, 0.16, 0.13, 0.13)
#: Seats offered per applicant over the whole round.
SEATS_PER_CHILD = 0.8
#: 基準指数 per guardian with how often it occurs (employed by hours, pregnancy, illness, job seeking), and its
#: reason rank (1 = first in the tie-breaker).
GUARDIAN_POINTS = ((10, 3, 0.42), (9, 3, 0.14), (8, 3, 0.12), (7, 3, 0.10), (6, 3, 0.08), (8, 5, 0.05),
                   (10, 2, 0.03), (3, 7, 0.06))  # fmt: skip
MODES: tuple[tuple[SiblingMode, float], ...] = (
    ("same_facility_required", 0.35),
    ("all_or_none", 0.2),
    ("partial_ok", 0.3),
    ("independent", 0.15),
)


def _pick(rng: random.Random, table: tuple[float, ...]) -> int:
    return rng.choices(range(len(table)), weights=table)[0]


class _Popularity:
    """Weighted sampling without replacement over the facilities that have seats in one age class."""

    def __init__(self, codes: list[str], weights: list[float]) -> None:
        self.codes = codes
        self.cumulative = list(accumulate(weights))

    def sample(self, rng: random.Random, n: int, exclude: frozenset[str] = frozenset()) -> list[str]:
        n = min(n, len(self.codes) - len(exclude & set(self.codes)))
        chosen: list[str] = []
        seen = set(exclude)
        total = self.cumulative[-1] if self.cumulative else 0.0
        while len(chosen) < n:
            code = self.codes[min(bisect_left(self.cumulative, rng.random() * total), len(self.codes) - 1)]
            if code not in seen:
                seen.add(code)
                chosen.append(code)
        return chosen


def generate_round(
    children: int,
    facilities: int,
    *,
    seed: int,
    sibling_share: float = 0.12,
    transfer_share: float = 0.05,
    preferences: int = 10,
    bonus_share: float = 0.08,
) -> RoundInput:
    """A round of ``children`` children and ``facilities`` facilities (six age classes), the same for the same seed.

    ``sibling_share``: share of children applying with siblings; ``transfer_share``: share of transfers;
    ``preferences``: the longest list (most children list that many, some fewer); ``bonus_share``: share of
    households with a sibling already enrolled (a facility-scoped +3). Zero for both of the last two gives a round
    with common priorities.
    """
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not a secret
    codes = [f"F{n:04d}" for n in range(facilities)]
    popularity = [1 / (rank + 1) ** 0.9 for rank in range(facilities)]
    rng.shuffle(popularity)
    small = {code for code in codes if rng.random() < 0.2}
    seats: dict[ClassKey, int] = {}
    for age, share in enumerate(SEAT_AGES):
        per_facility = children * SEATS_PER_CHILD * share / facilities
        for code in codes:
            if code in small and age >= 3:
                continue
            size = per_facility * (0.6 if code in small else 1.1) * rng.uniform(0.5, 1.5)
            seats[ClassKey(code, age)] = max(0, round(size))
    by_age = []
    for age in range(6):
        offered = [(c, w) for c, w in zip(codes, popularity, strict=True) if seats.get(ClassKey(c, age))]
        by_age.append(_Popularity([code for code, _ in offered], [weight for _, weight in offered]))

    # Households: sizes first (siblings until their share is reached), then a lottery order over households.
    sizes: list[int] = []
    remaining = children
    sibling_target = round(children * sibling_share)
    while remaining > 0:
        if sibling_target >= 2 and remaining >= 2:
            size = min(3 if rng.random() < 0.2 else 2, remaining, sibling_target)
            sibling_target -= size
        else:
            size = 1
        sizes.append(size)
        remaining -= size
    order = list(range(len(sizes)))
    rng.shuffle(order)
    first_lottery = [0] * len(sizes)
    drawn = 1
    for household in order:
        first_lottery[household] = drawn
        drawn += sizes[household]

    entries: list[Entry] = []
    groups: list[SiblingGroup] = []
    number = 0
    for household, size in enumerate(sizes):
        guardians = [GUARDIAN_POINTS[_pick(rng, tuple(w for _, _, w in GUARDIAN_POINTS))] for _ in range(2)]
        single = rng.random() < 0.08
        if single:
            guardians[1] = (10, 3, 0.0)  # ABSENT
        base_total = sum(points for points, _, _ in guardians)
        score = base_total + (3 if single else 0) + (1 if size > 1 else 0)
        score += (2 if rng.random() < 0.1 else 0) + (1 if rng.random() < 0.3 else 0) - (1 if rng.random() < 0.05 else 0)
        tier = -1 if rng.random() < 0.04 else (1 if rng.random() < 0.01 else 0)
        reason_rank = max(rank for _, rank, _ in guardians)
        levy = rng.randrange(0, 400_000, 100)
        children_count = size + (1 if rng.random() < 0.3 else 0)  # an older child at school, sometimes
        ages = sorted((_pick(rng, APPLICANT_AGES) for _ in range(size)), reverse=True)  # eldest first
        enrolled = codes[_pick(rng, tuple(popularity))] if rng.random() < bonus_share else None
        group_id = f"G{household:05d}" if size > 1 else None
        members = []
        elder_list: list[str] = []
        for n, age in enumerate(ages):
            entry_id = f"C{number:05d}"
            number += 1
            transfer = (size == 1 and age >= 1 and rng.random() < transfer_share * 1.1 and bool(by_age[age].codes)) or (
                size > 1 and age >= 1 and rng.random() < transfer_share * 0.3 and bool(by_age[age].codes)
            )
            current = rng.choice(by_age[age].codes) if transfer else None
            exclude = frozenset({current}) if current else frozenset()
            count = preferences if rng.random() < 0.7 else rng.randint(1, preferences)
            if n and elder_list and rng.random() < 0.8:
                # A younger sibling mostly lists the elder's facilities (those with its class), then its own.
                allowed = set(by_age[age].codes) - exclude
                prefs = [code for code in elder_list if code in allowed][:count]
                prefs += by_age[age].sample(rng, count - len(prefs), exclude | set(prefs))
            else:
                prefs = by_age[age].sample(rng, count, exclude)
            bonus: tuple[tuple[str, int], ...] = ()
            if enrolled is not None and current is None:
                bonus = ((enrolled, 3),)
                if enrolled in by_age[age].codes and rng.random() < 0.7:
                    prefs = [enrolled, *[code for code in prefs if code != enrolled]][: max(count, 1)]
            if n == 0:
                elder_list = prefs
            tail = (
                0 if current else 1,
                base_total,
                int(single),
                -reason_rank,
                children_count,
                -levy,
                -(first_lottery[household] + n),
            )
            priority = Priority(tier=tier, score=score, tail=tail, facility_bonus=bonus)
            entries.append(Entry(entry_id, age, tuple(prefs), priority, current_facility=current, group=group_id))
            members.append(entry_id)
        if group_id is not None:
            mode = rng.choices([m for m, _ in MODES], weights=[w for _, w in MODES])[0]
            elder_first = rng.random() < 0.8
            groups.append(SiblingGroup(group_id, tuple(members), mode, "elder" if elder_first else "younger"))
    return RoundInput(
        seats=tuple(sorted(seats.items())),
        entries=tuple(entries),
        groups=tuple(groups),
        tail_names=TAIL_NAMES,
        reuse_transfer_seats=True,
    )
