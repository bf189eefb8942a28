"""The allocation engine's input and output: plain, immutable values, no database.

The engine (``allocation``) takes a :class:`RoundInput` (a frozen snapshot of one round: seats per facility × age
class, one :class:`Entry` per child, sibling groups) and returns a :class:`RoundOutcome`. Rounds (the database side)
build the input from applications and store the outcome; the points engine builds each entry's :class:`Priority`.
Facilities are named by their code (``Facility.facility_code``), entries by a stable id of the caller's choosing.

Priority keys compare as tuples, larger wins: ``(tier, score + facility bonus, *tail)``. ``tail`` holds the
tie-breakers in the rule set's order, each already signed so that larger wins (an "ascending" rule such as
INCOME_LEVY_ASC stores the negated value); its last element is the recorded lottery number (negated), so keys are
strict. A transferring child has an infinite key at its current facility (it keeps its own seat).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

SiblingMode = Literal["same_facility_required", "all_or_none", "partial_ok", "independent"]
Outcome = Literal["placed", "stays", "waitlisted"]
#: Why a child did not get a class it ranked above its result (spec §1.4). ``tiebreak:<CODE>`` names the tail
#: component that decided an equal score, CODE being the rule set's tie-breaker code.
DecidedBy = str  # "no_seats" | "score_below" | "tier" | "sibling_combination" | "tiebreak:<CODE>"


@dataclass(frozen=True, order=True)
class ClassKey:
    """A facility's class for one age (年齢区分 0–5: the age on April 1 of the fiscal year)."""

    facility: str
    age_class: int


@dataclass(frozen=True)
class Priority:
    """An entry's base priority: the key at facility f is ``(tier, score + facility_bonus.get(f, 0), *tail)``."""

    tier: int
    score: int
    tail: tuple[int, ...]
    #: Facility-scoped adjustments (兄弟在園 +3 only at the sibling's facility): facility code -> points.
    facility_bonus: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class Entry:
    """One child in the round."""

    id: str
    age_class: int
    #: Facility codes, most wanted first (the child's own age class at each).
    preferences: tuple[str, ...]
    priority: Priority
    #: 転園: the facility the child attends now (it keeps that seat unless it moves up its list).
    current_facility: str | None = None
    #: The sibling group it belongs to, if any (``SiblingGroup.id``).
    group: str | None = None


@dataclass(frozen=True)
class SiblingGroup:
    """Children of one household applying together, with how they may be placed (spec §1.3, ChilmAI's patterns)."""

    id: str
    #: Entry ids, the eldest first.
    members: tuple[str, ...]
    mode: SiblingMode
    #: partial_ok: who enters alone first when not all can.
    partial_priority: Literal["elder", "younger"] = "elder"


@dataclass(frozen=True)
class RoundInput:
    """Everything the engine needs, frozen: the same input and seed give a byte-identical outcome."""

    #: 募集人数 per class (seats offered in this round).
    seats: tuple[tuple[ClassKey, int], ...]
    entries: tuple[Entry, ...]
    groups: tuple[SiblingGroup, ...] = ()
    #: The rule set's tie-breaker codes, in the order of ``Priority.tail`` (for ``tiebreak:<CODE>``).
    tail_names: tuple[str, ...] = ()
    #: A transferring child's seat passes to others when it moves (ChilmAI's ``use_transfer``).
    reuse_transfer_seats: bool = True


@dataclass(frozen=True)
class ExplanationItem:
    """Why a child is not in one class it ranked above its result (or any listed class, if waitlisted)."""

    facility: str
    age_class: int
    #: 1 = first choice.
    rank: int
    seats: int
    placed_count: int
    your_score: int
    #: None when nobody was placed there.
    lowest_placed_score: int | None
    decided_by: DecidedBy
    #: For ``tiebreak:<CODE>``: the child's value and the border (lowest placed) child's value of that component,
    #: as stored in the tail (signed so that larger wins; the renderer un-signs ASC codes).
    your_value: int | None = None
    border_value: int | None = None
    #: Place among the children still wanting that class (1 = next), when computed.
    waiting_position: int | None = None


@dataclass(frozen=True)
class Placement:
    entry_id: str
    outcome: Outcome
    facility: str | None = None
    age_class: int | None = None
    #: 1-based rank of ``facility`` in the child's preferences; None when it stays at its current facility.
    pref_rank: int | None = None
    explanation: tuple[ExplanationItem, ...] = ()


@dataclass(frozen=True)
class ClassStats:
    """What is published per class (open numbers, issue 17 point 7)."""

    key: ClassKey
    seats: int
    #: Children who listed this class at any rank.
    listed_by: int
    placed: int
    lowest_placed_score: int | None
    #: The tie-breaker code that decided the border, if the border was a tie; else None.
    lowest_placed_tiebreak: str | None
    #: Children who listed the class and are waitlisted, or placed at a class they ranked lower.
    waiting_count: int


@dataclass(frozen=True)
class RoundOutcome:
    placements: tuple[Placement, ...]
    stats: tuple[ClassStats, ...]
    #: Sibling groups left with justified envy (a stable matching may not exist with siblings; spec §1.3).
    residual_sibling_envy: tuple[str, ...] = ()
    algorithm_version: str = "da-siblings-1"
    extra: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Violation:
    """One property of spec §1.5 (3–7) that an outcome breaks, found by ``allocation.verify``."""

    #: capacity | eligibility | placement | sibling | individual_rationality | blocking | residual_envy | stats
    kind: str
    #: The entry id, sibling group id or class (``facility/age``) concerned.
    subject: str
    detail: str


@dataclass(frozen=True)
class VerifyReport:
    """What ``allocation.verify`` found: no violations means every checked property holds."""

    violations: tuple[Violation, ...]
    #: Sibling groups with justified envy, as the checker sees them (allowed, but listed: spec §1.3).
    residual_sibling_envy: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.violations
