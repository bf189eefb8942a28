"""The explanation a parent receives (spec §1.4, issue 17 point 5): one child's allocation result as sentences.

Input is one entry of ``application.decision["allocation"]["children"]`` (the round's publication writes it; the
shape is the brief's "Shared shapes"): outcome, facility, preference rank, the points (``Points.as_dict()``) and
the explanation items (``ExplanationItem`` as dicts, each with its ``facility_name``). Output is plain text in
Japanese or English: what the portal shows and what the 保留通知書 and 利用決定通知書 print.

The two languages are written side by side here (``_TEXT``) rather than through gettext (decision 0042): the
notices are always Japanese and are built inside a workflow transaction that has no reader's locale, the functions
stay pure (no app context), and the Japanese wording is the spec's, pinned by a test to the character.

Values in an item's ``your_value``/``border_value`` are the tie-breaker components as the engine stores them, signed
so that larger wins: an ascending rule (``*_ASC``: 所得割額, 事由の順位, 抽選番号) is stored negated and is un-signed
here before it is shown.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

LOCALES = ("ja", "en")
#: What the points engine stores for an unknown 所得割額 and an unranked reason (``points.priority``): shown as unknown.
UNKNOWN_INCOME_LEVY = 10**12
UNRANKED_REASON = 100

#: Outcomes of one child (engine_types.Outcome, plus "ineligible" from the points engine).
PLACED, STAYS, WAITLISTED, INELIGIBLE = "placed", "stays", "waitlisted", "ineligible"

#: The closed vocabulary of tie-breakers (spec §1.2), in words: what the parent reads in 「」 / ''.
TIE_BREAKERS: dict[str, dict[str, str]] = {
    "NEW_BEFORE_TRANSFER": {"ja": "新規の申込みを転園より優先", "en": "new applications before transfers"},
    "BASE_TOTAL_DESC": {
        "ja": "基準指数（調整指数を除く）の高い順",
        "en": "higher base score (without adjustments) first",
    },
    "SINGLE_PARENT_FIRST": {"ja": "ひとり親世帯を優先", "en": "single-parent households first"},
    "REASON_RANK_ASC": {"ja": "保育を必要とする事由の優先順位の高い順", "en": "higher-ranked reason for care first"},
    "CHILDREN_DESC": {"ja": "世帯の児童数の多い順", "en": "more children in the household first"},
    "INCOME_LEVY_ASC": {"ja": "市区町村民税所得割額の低い順", "en": "lower municipal income levy first"},
    "LOTTERY_ASC": {"ja": "抽選", "en": "lottery"},
}

#: 保育を必要とする事由 of a guardian's 基準指数 row (the form's need_reason, and ABSENT's absent_guardian).
REASONS: dict[str, dict[str, str]] = {
    "employed": {"ja": "就労", "en": "employment"},
    "self_employed": {"ja": "就労（自営）", "en": "self-employment"},
    "pregnancy": {"ja": "妊娠・出産", "en": "pregnancy or childbirth"},
    "illness": {"ja": "疾病", "en": "illness"},
    "disability": {"ja": "障害", "en": "disability"},
    "caregiving": {"ja": "介護・看護", "en": "caring for a relative"},
    "disaster": {"ja": "災害復旧", "en": "disaster recovery"},
    "job_seeking": {"ja": "求職活動", "en": "job seeking"},
    "student": {"ja": "就学", "en": "study"},
    "abuse_dv": {"ja": "虐待・DVのおそれ", "en": "risk of abuse or domestic violence"},
    "childcare_leave": {"ja": "育児休業中の継続利用", "en": "continuity during childcare leave"},
    "absent_guardian": {"ja": "保護者不存在", "en": "no second guardian"},
    "other": {"ja": "その他", "en": "other"},
}

#: 調整指数 and tiers of the standard rule set (spec §1.2); a tenant's own code is shown as it is.
ADJUSTMENTS: dict[str, dict[str, str]] = {
    "SINGLE": {"ja": "ひとり親世帯", "en": "single-parent household"},
    "RETURN": {"ja": "育児休業からの復職", "en": "returning from childcare leave"},
    "UNLIC": {"ja": "認可外保育施設等を利用中", "en": "using unlicensed care now"},
    "SIB_APPLY": {"ja": "きょうだい同時申込み", "en": "siblings applying together"},
    "SIB_ENROLLED": {"ja": "きょうだい在園", "en": "sibling already enrolled"},
    "GRANDPARENT": {"ja": "保育可能な同居親族", "en": "a relative at home who can provide care"},
    "OUTSIDE": {"ja": "市外にお住まい（転入予定なし）", "en": "living outside the municipality"},
    "EXTENSION_OK": {"ja": "育児休業の延長を許容", "en": "childcare leave may be extended"},
    "WELFARE_FIRST": {"ja": "優先利用（生活保護世帯等）", "en": "priority household (welfare)"},
}

#: What the sibling group asked for (the form's /sibling_mode).
SIBLING_MODES: dict[str, dict[str, str]] = {
    "same_facility_required": {"ja": "同じ施設にそろって入所", "en": "all in the same facility"},
    "all_or_none": {"ja": "全員が入所できる場合のみ入所", "en": "all placed or none"},
    "partial_ok": {"ja": "一部のきょうだいのみの入所も可", "en": "some may be placed without the others"},
    "independent": {"ja": "きょうだいを別々に調整", "en": "each child on their own"},
}

_TEXT: dict[str, dict[str, str]] = {
    "ja": {
        "head": "{rank} {facility}（{age_class}）：",
        "full": "募集{seats}人、内定{placed}人。内定者の最低指数は{lowest}でした。",
        "full_no_score": "募集{seats}人、内定{placed}人。",
        "no_seats": "募集{seats}人のため、内定に至りませんでした。",
        "no_free_seat": "空いている枠がなかったため、内定に至りませんでした。",
        "score_below": "募集{seats}人、{placed_part}最低指数{lowest}。あなたの指数{yours}が下回りました。",
        "placed_part": "内定{placed}人、",
        "tiebreak": (
            "あなたの指数は{yours}で同点でしたが、同点の場合の優先順位「{rule}」（あなたの世帯 {your_value}、"
            "内定者 {border_value}）により内定に至りませんでした。"
        ),
        "tier_own": (
            "あなたの指数は{yours}でしたが、「{labels}」の申込みは他の申込みの後に調整するため、内定に至りませんでした。"
        ),
        "tier_other": (
            "あなたの指数は{yours}でしたが、内定者は優先して調整される区分の申込みであったため、"
            "内定に至りませんでした。"
        ),
        "sibling": (
            "あなたの指数は{yours}でしたが、きょうだいのご希望（{mode}）に沿う組み合わせでは入所できる枠が"
            "なかったため、内定に至りませんでした。"
        ),
        "sibling_no_mode": (
            "あなたの指数は{yours}でしたが、きょうだいのご希望に沿う組み合わせでは入所できる枠がなかったため、"
            "内定に至りませんでした。"
        ),
        "other": "あなたの指数は{yours}でしたが、内定に至りませんでした。",
        "waiting": "（待機順位 {position}番）",
        "continuing": "引き続き次回以降の利用調整の対象となります。空きが生じた場合はその都度利用調整を行います。",
        "placed": "{rank} {facility}（{age_class}）に内定しました。利用開始は{start}です。",
        "stays": "現在の{facility}（{age_class}）での利用を継続します。",
        "ineligible": "保育の必要性の認定要件を満たさないため、利用調整の対象となりませんでした。",
        "ineligible_because": "{why}、利用調整の対象となりませんでした。",
        "waitlisted": "利用調整の結果、希望施設に空きがないため保留となりました。",
        "age_class": "{age}歳児クラス",
        "rank": "第{rank}希望",
        "sep": "／",
        "guardian": "保護者{number}（{reason}）{points}点",
        "adjustment": "{label} {points}",
        "adjustment_at": "{label}（{facility}のみ）{points}",
        "tier_row": "{label}：優先区分 {tier}",
        "base_total": "基準指数の合計 {points}点",
        "score": "あなたの指数 {points}点",
        "tier": "優先区分 {tier}（0が通常）",
        "tie_values": "同点の場合に用いる値：{values}",
        "tie_single_parent": "ひとり親世帯 {value}",
        "tie_reason_rank": "事由の順位 {value}",
        "tie_children_count": "児童数 {value}",
        "tie_income_levy": "市区町村民税所得割額 {value}",
        "list_sep": "、",
        "yen": "{value:,}円",
        "people": "{value}人",
        "points": "{value}点",
        "reason_rank": "第{value}順位",
        "lottery": "抽選番号{value}",
        "new": "新規",
        "transfer": "転園",
        "unknown": "不明",
        "yes": "該当",
        "no": "該当なし",
        "month": "{era}（{year}年{month}月）",
    },
    "en": {
        "head": "{rank} {facility} ({age_class}): ",
        "full": "{seats} places, {placed} admitted, lowest admitted score {lowest}. ",
        "full_no_score": "{seats} places, {placed} admitted. ",
        "no_seats": "{seats} places were offered, so no place could be offered to you.",
        "no_free_seat": "No place was free, so no place could be offered to you.",
        "score_below": "{seats} places, {placed_part}lowest admitted score {lowest}. Your score {yours} was lower.",
        "placed_part": "{placed} admitted, ",
        "tiebreak": (
            "Your score was also {yours}; the tie was decided by '{rule}' (yours {your_value}, border {border_value}), "
            "so no place could be offered to you."
        ),
        "tier_own": (
            "Your score was {yours}, but applications marked '{labels}' are considered after the others, so no place "
            "could be offered to you."
        ),
        "tier_other": (
            "Your score was {yours}, but the admitted children were in a group considered first, so no place could be "
            "offered to you."
        ),
        "sibling": (
            "Your score was {yours}, but no combination your children asked for ({mode}) fitted the places left, so "
            "no place could be offered to you."
        ),
        "sibling_no_mode": (
            "Your score was {yours}, but no combination your children asked for fitted the places left, so no place "
            "could be offered to you."
        ),
        "other": "Your score was {yours}; no place could be offered to you.",
        "waiting": " (waiting position {position})",
        "continuing": (
            "Your application stays in consideration for the next rounds; whenever a place becomes free, places are "
            "allocated again."
        ),
        "placed": "A place was allocated at your {rank}, {facility} ({age_class}), starting {start}.",
        "stays": "Your child keeps the current place at {facility} ({age_class}).",
        "ineligible": "The conditions for a certified need for care are not met, so the child was not allocated.",
        "ineligible_because": "{why}, so the child was not allocated.",
        "waitlisted": "No place was free at the facilities you chose, so the application is on the waiting list.",
        "age_class": "age-{age} class",
        "rank": "{ordinal} choice",
        "sep": " / ",
        "guardian": "Guardian {number} ({reason}) {points} points",
        "adjustment": "{label} {points}",
        "adjustment_at": "{label} (only at {facility}) {points}",
        "tier_row": "{label}: priority group {tier}",
        "base_total": "Base score {points} points",
        "score": "Your score {points} points",
        "tier": "Priority group {tier} (0 is the usual)",
        "tie_values": "Values used to break a tie: {values}",
        "tie_single_parent": "single parent {value}",
        "tie_reason_rank": "reason for care {value}",
        "tie_children_count": "children {value}",
        "tie_income_levy": "municipal income levy {value}",
        "list_sep": ", ",
        "yen": "¥{value:,}",
        "people": "{value}",
        "points": "{value} points",
        "reason_rank": "rank {value}",
        "lottery": "lottery number {value}",
        "new": "new application",
        "transfer": "transfer",
        "unknown": "unknown",
        "yes": "yes",
        "no": "no",
        "month": "{year}-{month:02d}",
    },
}


@dataclass(frozen=True)
class ChildExplanation:
    """One child's result in words: the outcome, one sentence per class ranked above it, the points, and (when
    waitlisted) that the child stays in consideration."""

    outcome: str
    result: str
    choices: tuple[str, ...]
    points: tuple[str, ...]
    continuing: str | None

    def text(self, locale: str) -> str:
        """The choices and the continuing sentence as one paragraph, as the spec writes it (「／」 between)."""
        return _TEXT[_locale(locale)]["sep"].join([*self.choices, *([self.continuing] if self.continuing else [])])


def _locale(locale: str) -> str:
    return locale if locale in LOCALES else "ja"


def _pick(names: Mapping[str, Any] | str | None, locale: str, fallback: str = "") -> str:
    """A ``{ja, en}`` name in ``locale`` (else the Japanese one), or a plain string as it is."""
    if isinstance(names, Mapping):
        return str(names.get(locale) or names.get("ja") or fallback)
    return str(names) if names else fallback


def ordinal(number: int) -> str:
    """1st, 2nd, 3rd, 4th … 11th, 12th, 13th, 21st."""
    suffix = "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


def rank_label(rank: int, locale: str) -> str:
    """第1希望 / 1st choice."""
    return _TEXT[_locale(locale)]["rank"].format(rank=rank, ordinal=ordinal(rank))


def age_class_label(age_class: int, locale: str) -> str:
    """1歳児クラス / age-1 class."""
    return _TEXT[_locale(locale)]["age_class"].format(age=age_class)


def _signed(points: int) -> str:
    return f"+{points}" if points > 0 else str(points)


def tie_value(code: str, value: int | None, locale: str) -> str:
    """A tie-breaker component as the parent reads it: ASC codes un-signed, amounts in yen, flags in words."""
    text = _TEXT[_locale(locale)]
    if value is None:
        return "—"
    plain = -value if code.endswith("_ASC") else value
    if code == "INCOME_LEVY_ASC":
        # The points engine sorts an unknown levy (no consent, not assessed) after every real one.
        return text["unknown"] if plain >= UNKNOWN_INCOME_LEVY else text["yen"].format(value=plain)
    if code == "REASON_RANK_ASC":
        return text["unknown"] if plain >= UNRANKED_REASON else text["reason_rank"].format(value=plain)
    if code == "LOTTERY_ASC":
        return text["lottery"].format(value=plain)
    if code == "CHILDREN_DESC":
        return text["people"].format(value=plain)
    if code == "BASE_TOTAL_DESC":
        return text["points"].format(value=plain)
    if code == "NEW_BEFORE_TRANSFER":
        return text["new"] if plain else text["transfer"]
    if code == "SINGLE_PARENT_FIRST":
        return text["yes"] if plain else text["no"]
    return str(plain)


def tie_breaker_name(code: str, locale: str) -> str:
    return _pick(TIE_BREAKERS.get(code), _locale(locale), code)


def _tier_labels(points: Mapping[str, Any], locale: str) -> list[str]:
    return [
        _pick(ADJUSTMENTS.get(str(row.get("code"))), locale, str(row.get("code")))
        for row in points.get("adjustments") or []
        if (row.get("tier") or 0) < 0
    ]


def choice_sentence(
    item: Mapping[str, Any], locale: str, *, points: Mapping[str, Any] | None = None, sibling_mode: str | None = None
) -> str:
    """Why the child is not in one class it ranked above its result (one explanation item)."""
    locale = _locale(locale)
    text = _TEXT[locale]
    facility = _pick(item.get("facility_name"), locale, str(item.get("facility") or ""))
    head = text["head"].format(
        rank=rank_label(int(item["rank"]), locale),
        facility=facility,
        age_class=age_class_label(int(item["age_class"]), locale),
    )
    decided = str(item.get("decided_by") or "")
    values = {
        "seats": item.get("seats", 0),
        "placed": item.get("placed_count", 0),
        "lowest": item.get("lowest_placed_score"),
        "yours": item.get("your_score"),
    }
    waiting = item.get("waiting_position")
    tail = text["waiting"].format(position=waiting) if waiting else ""
    if not values["seats"]:
        return head + text["no_seats"].format(**values)  # no place offered: no queue to be placed in
    if decided == "score_below":
        placed_part = "" if values["placed"] == values["seats"] else text["placed_part"].format(**values)
        return head + text["score_below"].format(placed_part=placed_part, **values) + tail
    body = head + (text["full"] if values["lowest"] is not None else text["full_no_score"]).format(**values)
    if decided.startswith("tiebreak:"):
        code = decided.split(":", 1)[1]
        because = text["tiebreak"].format(
            rule=tie_breaker_name(code, locale),
            your_value=tie_value(code, item.get("your_value"), locale),
            border_value=tie_value(code, item.get("border_value"), locale),
            **values,
        )
    elif decided == "tier":
        labels = _tier_labels(points or {}, locale)
        if labels:
            because = text["tier_own"].format(
                labels="・".join(labels) if locale == "ja" else ", ".join(labels), **values
            )
        else:
            because = text["tier_other"].format(**values)
    elif decided == "no_seats":  # every seat held by children who keep theirs (a transfer's own seat)
        because = text["no_free_seat"]
    elif decided == "sibling_combination":
        mode = SIBLING_MODES.get(sibling_mode or "")
        key = "sibling" if mode else "sibling_no_mode"
        because = text[key].format(mode=_pick(mode, locale), **values)
    else:
        because = text["other"].format(**values)
    return (body + because).rstrip() + tail


def points_lines(points: Mapping[str, Any], locale: str, facility_names: Mapping[str, Any] | None = None) -> list[str]:
    """The score's breakdown: each guardian's 基準指数 row, each adjustment (facility-scoped ones named with their
    facility), the tier, the base total and the score."""
    locale = _locale(locale)
    text = _TEXT[locale]
    names = facility_names or {}
    lines = []
    for number, row in enumerate(points.get("guardians") or [], start=1):
        reason = _pick(row.get("label") or REASONS.get(str(row.get("reason"))), locale, str(row.get("reason") or ""))
        lines.append(text["guardian"].format(number=number, reason=reason, code=row.get("code"), points=row["points"]))
    lines.append(text["base_total"].format(points=points.get("base_total", 0)))
    for row in points.get("adjustments") or []:
        code = str(row.get("code"))
        label = _pick(row.get("label") or ADJUSTMENTS.get(code), locale, code)
        if row.get("tier"):
            lines.append(text["tier_row"].format(label=label, code=code, tier=_signed(int(row["tier"]))))
        elif row.get("facility"):
            facility = _pick(names.get(row["facility"]), locale, str(row["facility"]))
            lines.append(
                text["adjustment_at"].format(
                    label=label, code=code, facility=facility, points=_signed(int(row.get("points") or 0))
                )
            )
        else:
            lines.append(text["adjustment"].format(label=label, code=code, points=_signed(int(row.get("points") or 0))))
    lines.append(text["score"].format(points=points.get("score", 0)))
    if points.get("tier"):
        lines.append(text["tier"].format(tier=_signed(int(points["tier"]))))
    tie = _tie_values(points.get("tie") or {}, locale)
    if tie:
        lines.append(text["tie_values"].format(values=text["list_sep"].join(tie)))
    return lines


def _tie_values(tie: Mapping[str, Any], locale: str) -> list[str]:
    """The household's tie-break values in words (``Points.tie`` holds them plain, before any signing)."""
    text = _TEXT[locale]
    words: dict[str, Callable[[Any], str]] = {
        "single_parent": lambda value: text["yes"] if value else text["no"],
        "reason_rank": lambda value: text["reason_rank"].format(value=value),
        "children_count": lambda value: text["people"].format(value=value),
        "income_levy": lambda value: text["yen"].format(value=int(value)),
    }
    return [
        text[f"tie_{name}"].format(value=show(tie[name])) for name, show in words.items() if tie.get(name) is not None
    ]


def month_label(month: str, locale: str, wareki: str = "") -> str:
    """``2027-04`` as the reader writes it: 令和9年4月（2027年4月）in Japanese (``wareki`` given by the caller, who
    knows the eras), 2027-04 in English."""
    year, number = (int(part) for part in month.split("-"))
    return _TEXT[_locale(locale)]["month"].format(era=wareki or f"{year}年{number}月", year=year, month=number)


def explain(
    child: Mapping[str, Any], locale: str, *, sibling_mode: str | None = None, start: str | None = None
) -> ChildExplanation:
    """One child's entry of ``decision["allocation"]["children"]`` in words. ``start`` is the start month as the
    caller wants it written (default: ``child["start_month"]``)."""
    locale = _locale(locale)
    text = _TEXT[locale]
    points = child.get("points") or {}
    items: Sequence[Mapping[str, Any]] = child.get("explanation") or []
    facility_names: dict[str, Any] = {str(item.get("facility")): item.get("facility_name") for item in items}
    if child.get("facility_code"):
        facility_names[child["facility_code"]] = child.get("facility_name")
    outcome = str(child.get("outcome") or "")
    facility = _pick(child.get("facility_name"), locale, str(child.get("facility_code") or ""))
    age = child.get("age_class")
    age_label = age_class_label(int(age), locale) if age is not None else ""
    if outcome == PLACED:
        result = text["placed"].format(
            rank=rank_label(int(child.get("pref_rank") or 1), locale),
            facility=facility,
            age_class=age_label,
            start=start or str(child.get("start_month") or ""),
        )
    elif outcome == STAYS:
        result = text["stays"].format(facility=facility, age_class=age_label)
    elif outcome == INELIGIBLE:
        why = _pick(points.get("ineligible_label"), locale)
        result = text["ineligible_because"].format(why=why) if why else text["ineligible"]
    else:
        result = text["waitlisted"]
    # A waiting position means something only to a child still waiting: a placed child is not in those queues.
    if outcome != WAITLISTED:
        items = [{**item, "waiting_position": None} for item in items]
    choices = tuple(choice_sentence(item, locale, points=points, sibling_mode=sibling_mode) for item in items)
    return ChildExplanation(
        outcome=outcome,
        result=result,
        choices=choices,
        points=tuple(points_lines(points, locale, facility_names)) if points and outcome != INELIGIBLE else (),
        continuing=text["continuing"] if outcome == WAITLISTED else None,
    )
