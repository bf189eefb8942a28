"""The explanation a parent receives (spec §1.4), in Japanese and English, for every ``decided_by``: the spec's own
example to the character, tie-breakers named in words with both values un-signed, and the points' breakdown."""

from __future__ import annotations

from typing import Any

import pytest

from madoguchi.childcare import explanations
from tests.childcare.allocation_results import MINATO, explanation_item

POINTS: dict[str, Any] = {
    "eligible": True,
    "ineligible_reason": None,
    "guardians": [
        {"code": "EMP160", "reason": "employed", "points": 10},
        {"code": "EMP96", "reason": "employed", "points": 7},
    ],
    "adjustments": [
        {"code": "UNLIC", "points": 2, "facility": None, "tier": 0},
        {"code": "SIB_ENROLLED", "points": 3, "facility": "F-MINATO", "tier": 0},
        {"code": "GRANDPARENT", "points": -1, "facility": None, "tier": 0},
    ],
    "base_total": 17,
    "score": 18,
    "tier": 0,
    "facility_bonus": {"F-MINATO": 3},
    "tie": {"single_parent": False, "reason_rank": 3, "children_count": 1, "income_levy": 100_000},
}


def _item(rank: int, decided_by: str, **more: Any) -> dict[str, Any]:
    return explanation_item("F-SAKURA" if rank == 1 else "F-MINATO", rank, decided_by, **more)


#: The spec's example (§1.4): a waitlisted child, tied at its first choice and below at its second.
SPEC_CHILD: dict[str, Any] = {
    "index": 0,
    "outcome": "waitlisted",
    "facility_code": None,
    "facility_name": None,
    "age_class": 1,
    "pref_rank": None,
    "start_month": "2027-04",
    "points": POINTS,
    "explanation": [
        # INCOME_LEVY_ASC is stored negated (larger wins): 100,000 yen is -100000, the border's 80,000 is -80000.
        _item(1, "tiebreak:INCOME_LEVY_ASC", your_value=-100_000, border_value=-80_000),
        _item(2, "score_below", seats=3, placed_count=3, lowest_placed_score=21),
    ],
}

SPEC_JA = (
    "第1希望 さくら保育園（1歳児クラス）：募集2人、内定2人。内定者の最低指数は20でした。あなたの指数は20で同点"
    "でしたが、同点の場合の優先順位「市区町村民税所得割額の低い順」（あなたの世帯 100,000円、内定者 80,000円）に"
    "より内定に至りませんでした。／第2希望 みなと保育園（1歳児クラス）：募集3人、最低指数21。あなたの指数20が"
    "下回りました。／引き続き次回以降の利用調整の対象となります。空きが生じた場合はその都度利用調整を行います。"
)


def test_the_spec_example_reads_exactly_as_the_spec_writes_it() -> None:
    assert explanations.explain(SPEC_CHILD, "ja").text("ja") == SPEC_JA


def test_the_spec_example_in_english_names_the_tie_breaker_and_both_values() -> None:
    explained = explanations.explain(SPEC_CHILD, "en")
    assert explained.choices[0] == (
        "1st choice Sakura (age-1 class): 2 places, 2 admitted, lowest admitted score 20. Your score was also 20; "
        "the tie was decided by 'lower municipal income levy first' (yours ¥100,000, border ¥80,000), so no place "
        "could be offered to you."
    )
    assert (
        explained.choices[1]
        == "2nd choice Minato (age-1 class): 3 places, lowest admitted score 21. Your score 20 was lower."
    )
    assert explained.continuing and explained.continuing.startswith("Your application stays in consideration")
    assert explained.result.startswith("No place was free")


@pytest.mark.parametrize(
    ("code", "yours", "border", "ja", "en"),
    [
        (
            "NEW_BEFORE_TRANSFER",
            0,
            1,
            "「新規の申込みを転園より優先」（あなたの世帯 転園、内定者 新規）",
            "(yours transfer, border new application)",
        ),
        (
            "BASE_TOTAL_DESC",
            17,
            19,
            "「基準指数（調整指数を除く）の高い順」（あなたの世帯 17点、内定者 19点）",
            "(yours 17 points, border 19 points)",
        ),
        (
            "SINGLE_PARENT_FIRST",
            0,
            1,
            "「ひとり親世帯を優先」（あなたの世帯 該当なし、内定者 該当）",
            "(yours no, border yes)",
        ),
        # ASC: the rank is stored negated; the parent reads 第3順位 against 第2順位.
        ("REASON_RANK_ASC", -3, -2, "（あなたの世帯 第3順位、内定者 第2順位）", "(yours rank 3, border rank 2)"),
        (
            "CHILDREN_DESC",
            1,
            3,
            "「世帯の児童数の多い順」（あなたの世帯 1人、内定者 3人）",
            "(yours 1, border 3)",
        ),
        (
            "LOTTERY_ASC",
            -57,
            -12,
            "「抽選」（あなたの世帯 抽選番号57、内定者 抽選番号12）",
            "(yours lottery number 57, border lottery number 12)",
        ),
    ],
)
def test_every_tie_breaker_is_named_in_words_with_both_values_unsigned(
    code: str, yours: int, border: int, ja: str, en: str
) -> None:
    item = _item(1, f"tiebreak:{code}", your_value=yours, border_value=border)
    assert ja in explanations.choice_sentence(item, "ja")
    english = explanations.choice_sentence(item, "en")
    assert en in english and explanations.TIE_BREAKERS[code]["en"] in english


def test_no_seats_says_so_without_a_score() -> None:
    item = _item(1, "no_seats", seats=0, placed_count=0, lowest_placed_score=None, waiting_position=3)
    assert (
        explanations.choice_sentence(item, "ja")
        == "第1希望 さくら保育園（1歳児クラス）：募集0人のため、内定に至りませんでした。"
    )
    assert explanations.choice_sentence(item, "en") == (
        "1st choice Sakura (age-1 class): 0 places were offered, so no place could be offered to you."
    )


def test_score_below_names_the_admitted_count_when_more_were_admitted_than_offered() -> None:
    """A transfer's seat passed on: 3 admitted on 2 places offered; the sentence does not hide it."""
    item = _item(2, "score_below", placed_count=3, lowest_placed_score=22, your_score=19)
    assert explanations.choice_sentence(item, "ja") == (
        "第2希望 みなと保育園（1歳児クラス）：募集2人、内定3人、最低指数22。あなたの指数19が下回りました。"
    )
    assert "3 admitted" in explanations.choice_sentence(item, "en")


def test_tier_names_the_childs_own_lower_tier() -> None:
    points = {
        **POINTS,
        "tier": -1,
        "adjustments": [{"code": "EXTENSION_OK", "points": 0, "facility": None, "tier": -1}],
    }
    item = _item(1, "tier", your_score=22, lowest_placed_score=18)
    ja = explanations.choice_sentence(item, "ja", points=points)
    assert ja == (
        "第1希望 さくら保育園（1歳児クラス）：募集2人、内定2人。内定者の最低指数は18でした。あなたの指数は22でしたが、"
        "「育児休業の延長を許容」の申込みは他の申込みの後に調整するため、内定に至りませんでした。"
    )
    assert "'childcare leave may be extended' are considered after the others" in explanations.choice_sentence(
        item, "en", points=points
    )
    # Without a lower tier of its own, the admitted children were in a group considered first.
    assert "優先して調整される区分" in explanations.choice_sentence(item, "ja", points=POINTS)


def test_sibling_combination_names_what_the_family_asked_for() -> None:
    item = _item(1, "sibling_combination", your_score=24, lowest_placed_score=20)
    ja = explanations.choice_sentence(item, "ja", sibling_mode="same_facility_required")
    assert "きょうだいのご希望（同じ施設にそろって入所）に沿う組み合わせ" in ja and ja.endswith(
        "内定に至りませんでした。"
    )
    en = explanations.choice_sentence(item, "en", sibling_mode="all_or_none")
    assert "(all placed or none)" in en
    assert "きょうだいのご希望に沿う" in explanations.choice_sentence(item, "ja")


def test_a_waiting_position_is_added_when_the_round_computed_one() -> None:
    item = _item(2, "score_below", waiting_position=4, placed_count=2, seats=2, lowest_placed_score=21)
    assert explanations.choice_sentence(item, "ja").endswith("あなたの指数20が下回りました。（待機順位 4番）")
    assert explanations.choice_sentence(item, "en").endswith("(waiting position 4)")


def test_the_points_breakdown_names_each_guardian_each_adjustment_and_the_facility_of_a_scoped_one() -> None:
    names = {"F-MINATO": MINATO}
    assert explanations.points_lines(POINTS, "ja", names) == [
        "保護者1（就労）10点",
        "保護者2（就労）7点",
        "基準指数の合計 17点",
        "認可外保育施設等を利用中 +2",
        "きょうだい在園（みなと保育園のみ）+3",
        "保育可能な同居親族 -1",
        "あなたの指数 18点",
        "同点の場合に用いる値：ひとり親世帯 該当なし、事由の順位 第3順位、児童数 1人、市区町村民税所得割額 100,000円",
    ]
    english = explanations.points_lines({**POINTS, "tier": -1}, "en", names)
    assert "sibling already enrolled (only at Minato) +3" in english
    assert english[-2:] == [
        "Priority group -1 (0 is the usual)",
        "Values used to break a tie: single parent no, reason for care rank 3, children 1, municipal income levy "
        "¥100,000",
    ]


def test_a_placed_child_is_told_where_and_why_not_higher() -> None:
    child = {
        **SPEC_CHILD,
        "outcome": "placed",
        "facility_code": "F-MINATO",
        "facility_name": MINATO,
        "pref_rank": 2,
        "explanation": [_item(1, "score_below", lowest_placed_score=21, your_score=20)],
    }
    ja = explanations.explain(child, "ja", start="令和9年4月（2027年4月）")
    assert ja.result == "第2希望 みなと保育園（1歳児クラス）に内定しました。利用開始は令和9年4月（2027年4月）です。"
    assert ja.continuing is None and len(ja.choices) == 1
    en = explanations.explain(child, "en")
    assert en.result == "A place was allocated at your 2nd choice, Minato (age-1 class), starting 2027-04."


def test_an_ineligible_child_gets_no_points_and_a_reason() -> None:
    explained = explanations.explain({"outcome": "ineligible", "points": POINTS, "explanation": []}, "ja")
    assert explained.points == () and "認定要件" in explained.result and explained.continuing is None


@pytest.mark.parametrize(
    ("number", "text"),
    [
        (1, "1st"),
        (2, "2nd"),
        (3, "3rd"),
        (4, "4th"),
        (11, "11th"),
        (12, "12th"),
        (13, "13th"),
        (21, "21st"),
        (22, "22nd"),
        (30, "30th"),
    ],
)
def test_ordinals(number: int, text: str) -> None:
    assert explanations.ordinal(number) == text


def test_both_languages_have_every_message() -> None:
    assert set(explanations._TEXT["ja"]) == set(explanations._TEXT["en"])
    for table in (
        explanations.TIE_BREAKERS,
        explanations.REASONS,
        explanations.ADJUSTMENTS,
        explanations.SIBLING_MODES,
    ):
        assert all(set(names) == {"ja", "en"} for names in table.values())


def test_no_seats_at_a_class_with_places_says_none_was_free() -> None:
    """Every place held by children keeping their own (transfers): the engine says no_seats with places offered."""
    item = _item(1, "no_seats", seats=2, placed_count=2, lowest_placed_score=None)
    assert explanations.choice_sentence(item, "ja") == (
        "第1希望 さくら保育園（1歳児クラス）：募集2人、内定2人。空いている枠がなかったため、内定に至りませんでした。"
    )
    assert explanations.choice_sentence(item, "en").endswith(
        "2 admitted. No place was free, so no place could be offered to you."
    )


def test_an_unknown_levy_or_reason_rank_is_shown_as_unknown_not_as_the_sorting_value() -> None:
    """The points engine stores an unknown 所得割額 as 10**12 (negated) so it sorts last: the parent reads 不明."""
    levy = _item(1, "tiebreak:INCOME_LEVY_ASC", your_value=-(10**12), border_value=-80_000)
    assert "（あなたの世帯 不明、内定者 80,000円）" in explanations.choice_sentence(levy, "ja")
    assert "(yours unknown, border ¥80,000)" in explanations.choice_sentence(levy, "en")
    rank = _item(1, "tiebreak:REASON_RANK_ASC", your_value=-100, border_value=-3)
    assert "（あなたの世帯 不明、内定者 第3順位）" in explanations.choice_sentence(rank, "ja")


def test_the_rule_sets_own_labels_name_the_guardian_rows_and_the_reason_a_child_is_ineligible() -> None:
    label = {"ja": "就労（月160時間以上）", "en": "Employed, 160 hours a month or more"}
    points = {**POINTS, "guardians": [{"code": "EMP160", "reason": "employed", "points": 10, "label": label}]}
    assert explanations.points_lines(points, "ja")[0] == "保護者1（就労（月160時間以上））10点"
    assert explanations.points_lines(points, "en")[0] == "Guardian 1 (Employed, 160 hours a month or more) 10 points"
    why = {
        "ja": "就労時間が保育を必要とする最低時間に満たないため",
        "en": "Working hours are below the minimum for a need for care",
    }
    ineligible = {"outcome": "ineligible", "points": {**POINTS, "ineligible_label": why}, "explanation": []}
    assert explanations.explain(ineligible, "ja").result == (
        "就労時間が保育を必要とする最低時間に満たないため、利用調整の対象となりませんでした。"
    )
    assert explanations.explain(ineligible, "en").result == (
        "Working hours are below the minimum for a need for care, so the child was not allocated."
    )
