"""Japanese identifiers, dates and text: published test vectors (JIS X 0402 codes of real municipalities, a valid
Individual Number) and the rules of madoguchi.jp."""

from __future__ import annotations

from datetime import date

import pytest

from madoguchi.jp import (
    PREFECTURES,
    age_on,
    childcare_age_class,
    clean_name,
    fiscal_year_label_ja,
    fiscal_year_of,
    income_year_for_fiscal_year,
    income_year_label_ja,
    individual_number_check_digit,
    is_katakana,
    is_valid_individual_number,
    is_valid_local_government_code,
    local_government_code_check_digit,
    mask_individual_number,
    normalize_input,
    normalize_postal_code,
    tax_year_label_ja,
    to_wareki,
    to_wareki_month,
    wareki_year,
)

LOCAL_GOVERNMENT_CODES = ["131016", "131041", "131130", "011002", "271004"]


def _single_digit_changes(code: str) -> list[str]:
    return [
        code[:position] + digit + code[position + 1 :]
        for position in range(len(code))
        for digit in "0123456789"
        if digit != code[position]
    ]


# --- Local government code -------------------------------------------------------------------


@pytest.mark.parametrize("code", LOCAL_GOVERNMENT_CODES)
def test_local_government_code_vectors_are_valid(code: str) -> None:
    assert is_valid_local_government_code(code)
    assert local_government_code_check_digit(code[:5]) == int(code[5])


def test_check_digit_wraps_remainders_zero_and_one() -> None:
    # Shinjuku: r = 0 gives 11 -> 1; Shibuya: r = 1 gives 10 -> 0.
    assert local_government_code_check_digit("13104") == 1
    assert local_government_code_check_digit("13113") == 0


@pytest.mark.parametrize("code", ["131016", "131130", "011002", "271004"])
def test_any_single_digit_change_makes_a_local_government_code_invalid(code: str) -> None:
    changed = _single_digit_changes(code)
    assert len(changed) == 54
    assert not [c for c in changed if is_valid_local_government_code(c)]


def test_the_check_digit_cannot_tell_remainder_zero_from_ten() -> None:
    # (11 - r) mod 10 is 1 for r = 0 and for r = 10, so for a code whose remainder is 0 (Shinjuku)
    # the single-digit changes that make it 10 go undetected. That is the JIS X 0402 algorithm, not
    # a bug here: every other single-digit change, the check digit's own included, is caught.
    changed = _single_digit_changes("131041")
    assert [c for c in changed if is_valid_local_government_code(c)] == ["151041", "139041", "131741", "131091"]


@pytest.mark.parametrize("code", ["13101", "1310166", "13101a", "１３１０１６", " 131016", "", "13-016"])
def test_malformed_local_government_codes_are_invalid(code: str) -> None:
    assert not is_valid_local_government_code(code)


@pytest.mark.parametrize("first_five", ["1310", "131010", "１３１０１", "abcde"])
def test_check_digit_of_malformed_input_raises(first_five: str) -> None:
    with pytest.raises(ValueError, match="must be 5 ASCII digits"):
        local_government_code_check_digit(first_five)


# --- Individual Number -----------------------------------------------------------------------


def test_individual_number_vector_is_valid() -> None:
    assert is_valid_individual_number("123456789018")
    assert individual_number_check_digit("12345678901") == 8


def test_any_single_digit_change_makes_an_individual_number_invalid() -> None:
    assert not [n for n in _single_digit_changes("123456789018") if is_valid_individual_number(n)]


def test_individual_number_check_digit_is_zero_for_remainders_zero_and_one() -> None:
    # Σ Pn·Qn mod 11 of 00000000000 is 0, and of 00000000010 (P2 = 1, Q2 = 3) is 3 -> 11 - 3 = 8;
    # 00000000005 (P1 = 5, Q1 = 2) gives 10 -> 1; 00000000006 gives 12 mod 11 = 1 -> 0.
    assert individual_number_check_digit("00000000000") == 0
    assert individual_number_check_digit("00000000010") == 8
    assert individual_number_check_digit("00000000005") == 1
    assert individual_number_check_digit("00000000006") == 0


@pytest.mark.parametrize("number", ["12345678901", "1234567890180", "１２３４５６７８９０１８", "1234-5678-9018", ""])
def test_malformed_individual_numbers_are_invalid(number: str) -> None:
    assert not is_valid_individual_number(number)


def test_check_digit_error_does_not_echo_the_number() -> None:
    with pytest.raises(ValueError) as raised:
        individual_number_check_digit("1234567890")
    assert "1234567890" not in str(raised.value)


def test_masked_individual_number_shows_only_the_last_four_digits() -> None:
    assert mask_individual_number("123456789018") == "********9018"


@pytest.mark.parametrize("malformed", ["12345678901", "1234 5678 9018", "abc"])
def test_malformed_individual_number_is_masked_completely(malformed: str) -> None:
    masked = mask_individual_number(malformed)
    assert set(masked) == {"*"}
    assert len(masked) == len(malformed)


# --- Eras and fiscal years -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2026, 11, 26), "令和8年11月26日"),
        (date(2019, 5, 1), "令和元年5月1日"),
        (date(2019, 4, 30), "平成31年4月30日"),
        (date(1989, 1, 7), "昭和64年1月7日"),
        (date(1989, 1, 8), "平成元年1月8日"),
        (date(1926, 12, 24), "大正15年12月24日"),
        (date(1926, 12, 25), "昭和元年12月25日"),
        (date(1912, 7, 29), "明治45年7月29日"),
        (date(1912, 7, 30), "大正元年7月30日"),
        (date(1868, 1, 25), "明治元年1月25日"),
    ],
)
def test_dates_are_written_in_the_japanese_calendar(day: date, expected: str) -> None:
    assert to_wareki(day) == expected


def test_wareki_year_returns_era_and_year() -> None:
    assert wareki_year(date(2026, 11, 26)) == ("令和", 8)
    assert wareki_year(date(2019, 5, 1)) == ("令和", 1)
    assert wareki_year(date(2019, 4, 30)) == ("平成", 31)


def test_a_month_is_written_in_the_japanese_calendar_with_gannen() -> None:
    assert to_wareki_month(date(2027, 4, 1)) == "令和9年4月"
    assert to_wareki_month(date(2019, 5, 1)) == "令和元年5月"
    assert to_wareki_month(date(2019, 4, 1)) == "平成31年4月"


def test_dates_before_meiji_have_no_era() -> None:
    with pytest.raises(ValueError, match="1868"):
        to_wareki(date(1868, 1, 24))


@pytest.mark.parametrize(
    ("day", "fiscal_year"),
    [(date(2026, 3, 31), 2025), (date(2026, 4, 1), 2026), (date(2026, 12, 31), 2026), (date(2027, 1, 1), 2026)],
)
def test_fiscal_year_runs_from_april_to_march(day: date, fiscal_year: int) -> None:
    assert fiscal_year_of(day) == fiscal_year


@pytest.mark.parametrize(
    ("fiscal_year", "label"),
    [(2026, "令和8年度"), (2019, "令和元年度"), (2018, "平成30年度"), (1989, "平成元年度"), (1988, "昭和63年度")],
)
def test_fiscal_year_labels(fiscal_year: int, label: str) -> None:
    assert fiscal_year_label_ja(fiscal_year) == label


@pytest.mark.parametrize(
    ("fiscal_year", "label"),
    [
        (2019, "令和元年度（平成30年中所得）"),  # FY2019 is 令和元年度; its income year ended in 平成
        (2020, "令和2年度（令和元年中所得）"),  # 2019 spans 平成31年 and 令和元年: named by the era at its end
        (2025, "令和7年度（令和6年中所得）"),
        (2026, "令和8年度（令和7年中所得）"),
        (1989, "平成元年度（昭和63年中所得）"),
        (1990, "平成2年度（平成元年中所得）"),
    ],
)
def test_tax_year_labels_name_the_fiscal_year_and_the_income_year(fiscal_year: int, label: str) -> None:
    assert tax_year_label_ja(fiscal_year) == label


def test_the_income_of_2019_is_reiwa_gannen_not_heisei_31() -> None:
    assert income_year_label_ja(2019) == "令和元年"
    assert income_year_label_ja(2018) == "平成30年"


def test_tax_of_a_fiscal_year_is_based_on_the_previous_calendar_year() -> None:
    assert income_year_for_fiscal_year(2026) == 2025


# --- Ages ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("birth", "on", "age"),
    [
        (date(1990, 6, 15), date(2026, 6, 14), 35),
        (date(1990, 6, 15), date(2026, 6, 15), 36),
        (date(2026, 1, 1), date(2026, 1, 1), 0),
        # Born on 29 February: the year is completed at the end of 28 February in common years.
        (date(2020, 2, 29), date(2021, 2, 28), 0),
        (date(2020, 2, 29), date(2021, 3, 1), 1),
        (date(2020, 2, 29), date(2024, 2, 28), 3),
        (date(2020, 2, 29), date(2024, 2, 29), 4),
    ],
)
def test_age_on_a_date(birth: date, on: date, age: int) -> None:
    assert age_on(birth, on) == age


def test_age_before_birth_raises() -> None:
    with pytest.raises(ValueError, match="before the birth date"):
        age_on(date(2026, 5, 1), date(2026, 4, 30))


@pytest.mark.parametrize(
    ("birth", "age_class"),
    [
        # A child born on April 1 has aged at the end of March 31: it joins the older class.
        (date(2024, 4, 1), 2),
        (date(2024, 4, 2), 1),
        (date(2025, 4, 1), 1),
        (date(2025, 4, 2), 0),
        (date(2021, 4, 2), 4),
        (date(2021, 4, 1), 5),
        # Born during the fiscal year: class 0.
        (date(2026, 4, 1), 0),
        (date(2026, 10, 1), 0),
        (date(2027, 3, 31), 0),
    ],
)
def test_childcare_age_class_uses_the_day_before_birthday_rule(birth: date, age_class: int) -> None:
    assert childcare_age_class(birth, 2026) == age_class


def test_childcare_age_class_of_a_child_born_after_the_fiscal_year_raises() -> None:
    with pytest.raises(ValueError, match="after the end of fiscal year 2026"):
        childcare_age_class(date(2027, 4, 1), 2026)


# --- Text ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "normalized"),
    [("１２３", "123"), ("ＡＢＣ－１", "ABC-1"), ("\u3000１２３ ", "123"), ("ｻﾄｳ", "サトウ"), ("abc", "abc")],
)
def test_normalize_input_turns_full_width_into_ascii_and_strips(typed: str, normalized: str) -> None:
    assert normalize_input(typed) == normalized


@pytest.mark.parametrize("typed", ["1000001", "100-0001", "１００－０００１", "〒100-0001", " 100‐0001 ", "100ー0001"])
def test_postal_codes_are_normalized_to_nnn_nnnn(typed: str) -> None:
    assert normalize_postal_code(typed) == "100-0001"


@pytest.mark.parametrize("typed", ["100001", "10000001", "10-00001", "100 0001", "abc-defg", ""])
def test_malformed_postal_codes_raise(typed: str) -> None:
    with pytest.raises(ValueError, match=r"not a postal code \(NNN-NNNN\)"):
        normalize_postal_code(typed)


@pytest.mark.parametrize(
    "name",
    [
        "髙橋",
        "山﨑",
        "𠮷田",
        "德永",
        "濵田",
        "葛\U000e0100西",  # ideographic variation sequence (葛 + VS17)
        "\ufa19",  # CJK compatibility ideograph 神, which NFC/NFKC would replace with U+795E
        "佐藤\u3000一郎",
    ],
)
def test_clean_name_keeps_every_code_point_of_a_name(name: str) -> None:
    assert clean_name(f"\u3000 {name} \u3000") == name


def test_normalizing_a_name_would_lose_its_variant_glyph() -> None:
    # Why names go through clean_name, never normalize_input.
    assert normalize_input("\ufa19") != "\ufa19"
    assert clean_name("\ufa19") == "\ufa19"


@pytest.mark.parametrize(
    "reading", ["サトウ", "ヴァイオリン", "ジョン・スミス", "サトウ　イチロウ", "ヤマダ タロウ", "ヶ"]
)
def test_katakana_readings_are_recognised(reading: str) -> None:
    assert is_katakana(reading)


@pytest.mark.parametrize("text", ["さとう", "ｻﾄｳ", "佐藤", "SATO", "サトウ1", "", "\u3000", "ー", "・"])
def test_other_text_is_not_a_katakana_reading(text: str) -> None:
    assert not is_katakana(text)


def test_prefectures_are_the_47_of_jis_x_0401_each_under_its_own_code() -> None:
    assert list(PREFECTURES) == [f"{number:02d}" for number in range(1, 48)]
    assert all(prefecture["code"] == code for code, prefecture in PREFECTURES.items())
    assert (PREFECTURES["01"]["ja"], PREFECTURES["13"]["ja"], PREFECTURES["47"]["en"]) == (
        "北海道",
        "東京都",
        "Okinawa",
    )
