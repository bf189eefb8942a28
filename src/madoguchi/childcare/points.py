"""The points engine (指数): a household's facts, its score under a rule set, and the child's priority key.

Three steps, each a pure function:

- :func:`facts_from_form` reads what one child's application says (form 2.0.0) into :class:`HouseholdFacts`;
- :func:`score` applies a rule set (``rules``, spec §1.2) to the facts: each guardian's 基準指数 row, the
  adjustments (調整指数), the tier, and the tie values; the result, :class:`Points`, is what a notice prints;
- :func:`priority` turns the points into the engine's key (``engine_types.Priority``): ``(tier, score +
  facility bonus, *tail)``, the tail in the rule set's ``tie_breakers`` order, each component signed so that
  larger wins.

Nothing here reads the database: the caller supplies the income levy (所得割額, from the tax register) and
whether the household lives in the municipality. Decision 0038.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from madoguchi import jp
from madoguchi.childcare import rules as rulebook
from madoguchi.childcare.engine_types import Priority

#: 同居の祖父母等: a relative who can provide care counts against the household below this age.
GRANDPARENT_AGE_LIMIT = 65
#: The income levy used when it is unknown (no consent to read the tax register, not yet assessed): it sorts after
#: every real levy under INCOME_LEVY_ASC, as a household that shows no income figure cannot claim the low-income tie.
UNKNOWN_INCOME_LEVY = 10**12

# Why a child is not eligible (保育の必要性の認定ができない): stable codes, printed through a code table.
HOURS_BELOW_MINIMUM = "hours_below_minimum"
NO_MATCHING_ROW = "no_matching_row"
GUARDIAN_MISSING = "guardian_missing"
INELIGIBLE_LABELS: dict[str, dict[str, str]] = {
    HOURS_BELOW_MINIMUM: {
        "ja": "就労時間が保育を必要とする最低時間に満たないため",
        "en": "Working hours are below the minimum for a need for care",
    },
    NO_MATCHING_ROW: {
        "ja": "保育を必要とする事由に該当しないため",
        "en": "The reason given is not a need for care under the rules",
    },
    GUARDIAN_MISSING: {
        "ja": "保護者の一方の保育を必要とする事由が確認できないため",
        "en": "The need for care of the second guardian is not shown",
    },
}
#: The code of a guardian row when no base-points row matched.
NO_ROW = "NO_ROW"


@dataclass(frozen=True)
class GuardianFacts:
    need_reason: str
    need_detail: str | None = None
    monthly_hours: int | None = None


@dataclass(frozen=True)
class HouseholdFacts:
    """What the rule set reads about one child's household (built by :func:`facts_from_form`)."""

    #: The guardians as listed; a single parent's missing guardian is added by ``score`` as ABSENT.
    guardians: tuple[GuardianFacts, ...]
    single_parent: bool = False
    returning_from_leave: bool = False
    unlicensed_care_in_use: bool = False
    #: Children in this application (2+: きょうだい同時申込).
    children_in_application: int = 1
    #: Facility codes where a sibling is enrolled now (きょうだい在園), each once, in the order given.
    sibling_facilities: tuple[str, ...] = ()
    #: A cohabiting relative under 65 (on the first day of the start month) who can provide care.
    grandparent_can_care: bool = False
    resident: bool = True
    accept_leave_extension: bool = False
    welfare_recipient: bool = False
    disability_in_household: bool = False
    #: 市区町村民税所得割額 of the household (yen); None when unknown.
    income_levy: int | None = None
    #: Children of the household for CHILDREN_DESC: those applying plus the siblings enrolled.
    children_count: int = 1


@dataclass(frozen=True)
class GuardianRow:
    """A guardian's 基準指数: the rule-set row that matched (``code``), the reason it was for and its points."""

    code: str
    reason: str
    points: int
    label: dict[str, str]
    detail: str | None = None
    monthly_hours: int | None = None


@dataclass(frozen=True)
class AdjustmentRow:
    """One 調整指数 that applies: points (household-wide, or at ``facility`` only) or a tier step."""

    code: str
    points: int
    label: dict[str, str]
    #: None: the whole household; else the facility code where it counts.
    facility: str | None = None
    tier: int = 0


@dataclass(frozen=True)
class Points:
    """One child's points under a rule set: what the key is built from and what a notice prints."""

    eligible: bool
    ineligible_reason: str | None
    guardians: tuple[GuardianRow, ...]
    adjustments: tuple[AdjustmentRow, ...]
    #: Σ (or, under min_rank, the worst) of the guardians' points: 基準指数.
    base_total: int
    #: base_total + household-scoped adjustment points: 世帯指数.
    score: int
    tier: int
    #: Facility code -> points added at that facility only.
    facility_bonus: dict[str, int] = field(default_factory=dict)
    #: single_parent (bool), reason_rank (int | None), children_count (int), income_levy (int | None).
    tie: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe (str, int, bool, None, lists and dicts only): stored in rounds and decisions, printed."""
        return {
            "eligible": self.eligible,
            "ineligible_reason": self.ineligible_reason,
            "ineligible_label": dict(INELIGIBLE_LABELS[self.ineligible_reason]) if self.ineligible_reason else None,
            "guardians": [
                {
                    "code": row.code,
                    "reason": row.reason,
                    "detail": row.detail,
                    "monthly_hours": row.monthly_hours,
                    "points": row.points,
                    "label": dict(row.label),
                }
                for row in self.guardians
            ],
            "adjustments": [
                {
                    "code": row.code,
                    "points": row.points,
                    "facility": row.facility,
                    "tier": row.tier,
                    "label": dict(row.label),
                }
                for row in self.adjustments
            ],
            "base_total": self.base_total,
            "score": self.score,
            "tier": self.tier,
            "facility_bonus": dict(sorted(self.facility_bonus.items())),
            "tie": dict(self.tie),
        }


# --- Facts from the form ----------------------------------------------------------------------------------------------


def facts_from_form(
    data: dict[str, Any], child_index: int, *, income_levy: int | None, resident: bool = True
) -> HouseholdFacts:
    """The facts of child ``child_index``'s household, from form 2.0.0 answers (``/children``, ``/guardians``…).

    Missing optional answers read as "no". Raises ``IndexError`` for a child the application does not have.
    """
    children = data.get("children") or []
    if not 0 <= child_index < len(children):
        raise IndexError(f"the application has no child {child_index}")
    household = data.get("household") or {}
    guardians = tuple(
        GuardianFacts(
            need_reason=str(guardian.get("need_reason") or ""),
            need_detail=guardian.get("need_detail") or None,
            monthly_hours=_int_or_none(guardian.get("monthly_hours")),
        )
        for guardian in data.get("guardians") or []
    )
    siblings = household.get("siblings_enrolled") or []
    sibling_facilities = tuple(dict.fromkeys(s["facility_code"] for s in siblings if s.get("facility_code")))
    return HouseholdFacts(
        guardians=guardians,
        single_parent=bool(household.get("single_parent")),
        returning_from_leave=bool(household.get("returning_from_leave")),
        unlicensed_care_in_use=bool(household.get("unlicensed_care_in_use")),
        children_in_application=len(children),
        sibling_facilities=sibling_facilities,
        grandparent_can_care=_grandparent_can_care(household, data.get("desired_start_month")),
        resident=resident,
        accept_leave_extension=bool(data.get("accept_leave_extension")),
        welfare_recipient=bool(household.get("welfare_recipient")),
        disability_in_household=bool(household.get("disability_in_household")),
        income_levy=income_levy,
        children_count=len(children) + len(siblings),
    )


def _int_or_none(value: Any) -> int | None:
    """Monthly hours as the form stores them (an integer), or typed at a counter as text: ``１６０`` is 160."""
    if isinstance(value, bool) or value is None or value == "":
        return None
    if isinstance(value, int):
        return value
    text = jp.normalize_input(str(value)).strip()
    if not text.isdigit():
        raise ValueError(f"monthly hours must be a whole number, not {value!r}")
    return int(text)


def _grandparent_can_care(household: dict[str, Any], start_month: str | None) -> bool:
    """A cohabiting relative who can provide care and is under 65 on the first day of the desired start month."""
    if not start_month:
        return False
    year, month = (int(part) for part in start_month.split("-"))
    first = date(year, month, 1)
    for relative in household.get("cohabiting_relatives") or []:
        birth = relative.get("birth_date")
        if not relative.get("can_provide_care") or not birth:
            continue
        born = date.fromisoformat(birth)
        if born <= first and jp.age_on(born, first) < GRANDPARENT_AGE_LIMIT:
            return True
    return False


# --- Score ------------------------------------------------------------------------------------------------------------


def score(rules: dict[str, Any], facts: HouseholdFacts) -> Points:
    """Apply a (valid) rule set to a household's facts.

    Each guardian gets the first ``base_points`` row matching its reason, detail and hours; a single parent's
    missing guardian gets the ABSENT row. Work below ``min_monthly_work_hours``, a guardian no row matches, or a
    second guardian missing from a two-parent household make the child not eligible (保育の必要性なし): the
    points are still computed, so the notice can show them.
    """
    rows: list[GuardianRow] = []
    ineligible: str | None = None
    for guardian in facts.guardians:
        if (
            guardian.need_reason in rulebook.WORK_REASONS
            and (guardian.monthly_hours or 0) < rules["min_monthly_work_hours"]
        ):
            ineligible = ineligible or HOURS_BELOW_MINIMUM
        row = _matching_row(rules, guardian.need_reason, guardian.need_detail, guardian.monthly_hours)
        if row is None:
            ineligible = ineligible or NO_MATCHING_ROW
            rows.append(
                GuardianRow(NO_ROW, guardian.need_reason, 0, {"ja": "該当なし", "en": "No matching row"},
                            guardian.need_detail, guardian.monthly_hours)
            )  # fmt: skip
            continue
        rows.append(
            GuardianRow(
                row["code"], guardian.need_reason, row["points"], dict(row["label"]), guardian.need_detail,
                guardian.monthly_hours,
            )
        )  # fmt: skip
    if not facts.guardians:
        ineligible = ineligible or GUARDIAN_MISSING
    elif len(facts.guardians) < 2:
        if facts.single_parent:
            absent = _matching_row(rules, rulebook.ABSENT_REASON, None, None)
            if absent is not None:
                rows.append(
                    GuardianRow(absent["code"], rulebook.ABSENT_REASON, absent["points"], dict(absent["label"]))
                )
        else:
            ineligible = ineligible or GUARDIAN_MISSING
    points = [row.points for row in rows]
    base_total = min(points, default=0) if rules["household_rule"] == "min_rank" else sum(points)

    adjustments = tuple(_adjustments(rules, facts))
    household_points = sum(adjustment.points for adjustment in adjustments if adjustment.facility is None)
    facility_bonus: dict[str, int] = {}
    for adjustment in adjustments:
        if adjustment.facility is not None:
            facility_bonus[adjustment.facility] = facility_bonus.get(adjustment.facility, 0) + adjustment.points
    tier = max(-1, min(1, sum(adjustment.tier for adjustment in adjustments)))
    ranks = [rules["reason_rank"][g.need_reason] for g in facts.guardians if g.need_reason in rules["reason_rank"]]
    return Points(
        eligible=ineligible is None,
        ineligible_reason=ineligible,
        guardians=tuple(rows),
        adjustments=adjustments,
        base_total=base_total,
        score=base_total + household_points,
        tier=tier,
        facility_bonus=facility_bonus,
        tie={
            "single_parent": facts.single_parent,
            # The worst (largest) rank among the guardians present: the household is as urgent as its least
            # urgent need (横浜市's 類型間の優先順位); the absent guardian has no reason to rank.
            "reason_rank": max(ranks, default=None),
            "children_count": facts.children_count,
            "income_levy": facts.income_levy,
        },
    )


def _matching_row(rules: dict[str, Any], reason: str, detail: str | None, hours: int | None) -> dict[str, Any] | None:
    for row in rules["base_points"]:
        if row["reason"] != reason:
            continue
        if "detail" in row and row["detail"] != detail:
            continue
        if "min_monthly_hours" in row and (hours or 0) < row["min_monthly_hours"]:
            continue
        return dict(row)
    return None


def _adjustments(rules: dict[str, Any], facts: HouseholdFacts) -> list[AdjustmentRow]:
    """The rule set's adjustments whose fact holds, in the rule set's order; SIB_ENROLLED once per facility."""
    holds = {
        "SINGLE": facts.single_parent,
        "RETURN": facts.returning_from_leave,
        "UNLIC": facts.unlicensed_care_in_use,
        "SIB_APPLY": facts.children_in_application >= 2,
        "SIB_ENROLLED": bool(facts.sibling_facilities),
        "GRANDPARENT": facts.grandparent_can_care,
        "OUTSIDE": not facts.resident,
        "EXTENSION_OK": facts.accept_leave_extension,
        "WELFARE_FIRST": facts.welfare_recipient,
        "WELFARE": facts.welfare_recipient,
        "DISABILITY_HOUSEHOLD": facts.disability_in_household,
    }
    found: list[AdjustmentRow] = []
    for entry in rules["adjustments"]:
        code, label = entry["code"], dict(entry["label"])
        if not holds[code]:
            continue
        if "tier" in entry:
            found.append(AdjustmentRow(code, 0, label, tier=entry["tier"]))
        elif entry["scope"] == "facility":
            found.extend(AdjustmentRow(code, entry["points"], label, facility=f) for f in facts.sibling_facilities)
        else:
            found.append(AdjustmentRow(code, entry["points"], label))
    return found


# --- Priority ---------------------------------------------------------------------------------------------------------


def tail_names(rules: dict[str, Any]) -> tuple[str, ...]:
    """The tie-breaker codes in the order of ``Priority.tail`` (``RoundInput.tail_names``)."""
    return tuple(rules["tie_breakers"])


def priority(rules: dict[str, Any], points: Points, *, transfer: bool, lottery: int, children_count: int) -> Priority:
    """The engine's key for a child with these points: tier, score, then the tie-breakers, larger wins.

    ``lottery`` is the child's recorded lottery number (1 = luckiest): LOTTERY_ASC stores it negated.
    """
    reason_rank = points.tie.get("reason_rank")
    levy = points.tie.get("income_levy")
    values = {
        "NEW_BEFORE_TRANSFER": 0 if transfer else 1,
        "BASE_TOTAL_DESC": points.base_total,
        "SINGLE_PARENT_FIRST": 1 if points.tie.get("single_parent") else 0,
        # No ranked reason (only possible for an ineligible child) sorts after every rank.
        "REASON_RANK_ASC": -(reason_rank if reason_rank is not None else 100),
        "CHILDREN_DESC": children_count,
        "INCOME_LEVY_ASC": -(levy if levy is not None else UNKNOWN_INCOME_LEVY),
        "LOTTERY_ASC": -lottery,
    }
    return Priority(
        tier=points.tier,
        score=points.score,
        tail=tuple(values[name] for name in tail_names(rules)),
        facility_bonus=tuple(sorted(points.facility_bonus.items())),
    )
