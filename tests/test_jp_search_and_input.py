"""Searching and typing as counters do (decision 0035): 異体字 and variation sequences folded for matching only,
readings found in any width or script, and postal codes, readings and dates accepted in every common form."""

from __future__ import annotations

from datetime import date

import pytest

from madoguchi.applications import forms
from madoguchi.jp import (
    NAME_VARIANTS,
    DateOutsideEra,
    clean_name,
    kana_search_key,
    name_search_key,
    normalize_kana,
    normalize_postal_code,
    parse_date,
)

IVS_17 = "\U000e0100"  # VS17: 葛󠄀 is 葛 followed by it
IVS_19 = "\U000e0102"

#: (what the counter types, what the register holds): the pairs issue 16 names, and the variants of each.
FOLDED_PAIRS = [
    ("吉田", "𠮷田"),
    ("高橋", "髙橋"),
    ("山崎", "山﨑"),
    ("山崎", "山嵜"),
    ("斎藤", "齋藤"),
    ("斎藤", "齊藤"),
    ("斎藤", "斉藤"),
    ("浜田", "濵田"),
    ("浜田", "濱田"),
    ("葛西", f"葛{IVS_17}西"),
    ("渡辺", "渡邊"),
    ("渡辺", "渡邉"),
    ("渡辺", f"渡邊{IVS_19}"),
    ("沢田", "澤田"),
    ("桜井", "櫻井"),
    ("広田", "廣田"),
    ("国分", "國分"),
    ("徳永", "德永"),
    ("恵子", "惠子"),
    ("真一", "眞一"),
    ("竜也", "龍也"),
    ("島田", "嶋田"),
    ("島田", "嶌田"),
    ("富田", "冨田"),
    ("槙野", "槇野"),
]


@pytest.mark.parametrize(("typed", "registered"), FOLDED_PAIRS)
def test_a_common_form_and_its_variant_have_one_key_both_ways(typed: str, registered: str) -> None:
    assert name_search_key(typed) == name_search_key(registered)
    # Both ways: the variant typed finds the common form too, and any two variants of one letter meet.
    assert name_search_key(registered) == name_search_key(typed)


def test_the_variants_of_one_letter_all_meet() -> None:
    assert len({name_search_key(name) for name in ("齋藤", "齊藤", "斉藤", "斎藤")}) == 1
    assert len({name_search_key(name) for name in ("渡邊", "渡邉", f"渡邊{IVS_19}", "渡辺")}) == 1


def test_different_names_keep_different_keys() -> None:
    assert name_search_key("高橋") != name_search_key("高梨")
    assert name_search_key("吉田") != name_search_key("古田")
    assert name_search_key("山崎") != name_search_key("山埼")


def test_spaces_between_family_and_given_name_do_not_count() -> None:
    assert name_search_key("髙橋　一郎") == name_search_key("高橋一郎") == name_search_key("高橋 一郎")


def test_every_variant_folds_to_a_letter_that_folds_no_further() -> None:
    for variant, common in NAME_VARIANTS.items():
        assert variant != common
        assert common not in NAME_VARIANTS, f"{variant} -> {common} -> {NAME_VARIANTS[common]}"


def test_the_key_is_for_matching_only_the_name_keeps_its_exact_code_points() -> None:
    registered = f"葛{IVS_17}西　𠮷﨑"
    assert clean_name(f" {registered}\u3000") == registered
    assert [hex(ord(ch)) for ch in clean_name(registered)] == [
        "0x845b",
        "0xe0100",
        "0x897f",
        "0x3000",
        "0x20bb7",
        "0xfa11",
    ]
    assert name_search_key(registered) == "葛西吉崎"


@pytest.mark.parametrize("typed", ["ﾔﾏﾀﾞ", "やまだ", "ヤマダ", "ヤマダ　", " ﾔﾏ ﾀﾞ"])
def test_a_reading_is_found_in_any_width_or_script(typed: str) -> None:
    assert kana_search_key(typed) == kana_search_key("ヤマダ") == "ヤマダ"


@pytest.mark.parametrize(
    ("typed", "registered"),
    [
        ("ｻﾄｳ ｲﾁﾛｳ", "サトウ　イチロウ"),
        ("さとう いちろう", "サトウ　イチロウ"),
        ("サトー", "サトウ"),  # a long-vowel mark reads as the register writes it
        ("ユーコ", "ユウコ"),
        ("ケーコ", "ケイコ"),
        ("オオタ", "オウタ"),  # オ-row lengthened by オ or ウ: one key
        ("オータ", "オオタ"),
        ("きょうこ", "キヨウコ"),  # old registers wrote small kana large
        ("ジョン・スミス", "ジョンスミス"),
        ("ｶﾞｯｺｳ", "ガッコウ"),
    ],
)
def test_readings_that_a_counter_hears_as_one_have_one_key(typed: str, registered: str) -> None:
    assert kana_search_key(typed) == kana_search_key(registered)


def test_readings_that_differ_keep_different_keys() -> None:
    assert kana_search_key("ハマダ") != kana_search_key("ハマタ")  # voicing marks count
    assert kana_search_key("サトウ") != kana_search_key("サイトウ")
    assert kana_search_key("オノ") != kana_search_key("オオノ")


@pytest.mark.parametrize("typed", ["4982323", "498-2323", "〒498-2323", "〒4982323", "４９８－２３２３", "498ー2323"])
def test_postal_codes_in_every_common_form(typed: str) -> None:
    assert normalize_postal_code(typed) == "498-2323"


def test_half_width_kana_becomes_full_width_and_nothing_else_changes() -> None:
    assert normalize_kana(" ﾔﾏﾀﾞ ﾀﾛｳ ") == "ヤマダ タロウ"
    assert normalize_kana("タカハシ　イチロウ") == "タカハシ　イチロウ"  # the register's ideographic space stays
    assert normalize_kana("やまだ") == "やまだ"


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("令和8年12月7日", date(2026, 12, 7)),
        ("R8.12.7", date(2026, 12, 7)),
        ("r8/12/7", date(2026, 12, 7)),
        ("令和８年１２月７日", date(2026, 12, 7)),
        ("平成31年4月30日", date(2019, 4, 30)),
        ("H31.4.30", date(2019, 4, 30)),
        ("㍻31年4月30日", date(2019, 4, 30)),
        ("令和元年5月1日", date(2019, 5, 1)),
        ("令和1年5月1日", date(2019, 5, 1)),
        ("昭和64年1月7日", date(1989, 1, 7)),
        ("平成元年1月8日", date(1989, 1, 8)),
        ("S60.4.2", date(1985, 4, 2)),
        ("2026-12-07", date(2026, 12, 7)),
        ("2026/12/7", date(2026, 12, 7)),
        ("2026年12月7日", date(2026, 12, 7)),
        ("２０２６－１２－０７", date(2026, 12, 7)),
        ("20261207", date(2026, 12, 7)),
    ],
)
def test_dates_in_wareki_or_seireki(typed: str, expected: date) -> None:
    assert parse_date(typed) == expected


@pytest.mark.parametrize(
    ("typed", "era", "span"),
    [
        ("平成31年5月1日", "平成", "ran from 平成元年1月8日 to 平成31年4月30日"),
        ("令和元年4月30日", "令和", "began on 令和元年5月1日"),
        ("昭和64年1月8日", "昭和", "to 昭和64年1月7日"),
        ("平成元年1月7日", "平成", "ran from 平成元年1月8日"),
    ],
)
def test_an_era_date_the_era_never_had_is_refused_saying_when_the_era_ran(typed: str, era: str, span: str) -> None:
    with pytest.raises(DateOutsideEra) as refused:
        parse_date(typed)
    assert refused.value.era == era and span in str(refused.value) and typed in str(refused.value)


@pytest.mark.parametrize("typed", ["令和8年2月30日", "2026-13-01", "R0.1.1", "明日", "", "令和8年12月"])
def test_anything_else_that_is_not_a_real_date_is_refused(typed: str) -> None:
    with pytest.raises(ValueError):
        parse_date(typed)


FORM = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "name_kana": {"type": "string", "pattern": "^[\\u3041-\\u3096\\u309D-\\u309F\\u30A0-\\u30FF\\u3000 ]+$"},
        "postal_code": {"type": "string", "pattern": "^[0-9]{3}-[0-9]{4}$"},
        "birth_date": {"type": "string", "format": "date"},
    },
}


def test_a_form_stores_postal_codes_readings_and_dates_canonical_and_names_exactly() -> None:
    typed = {
        "name": f" 葛{IVS_17}西　ﾀﾛｳ ",
        "name_kana": "ｶｻｲ ﾀﾛｳ",
        "postal_code": "〒４９８ー２３２３",
        "birth_date": "S60.4.2",
    }
    data = forms.normalize(FORM, typed)
    assert data == {
        "name": typed["name"],  # a name is never touched, half-width kana in it included
        "name_kana": "カサイ タロウ",
        "postal_code": "498-2323",
        "birth_date": "1985-04-02",
    }
    assert forms.field_errors(FORM, data) == {}


def test_a_form_refuses_an_era_date_the_era_never_had_saying_so() -> None:
    data = forms.normalize(FORM, {"birth_date": "平成31年5月1日"})
    assert data == {"birth_date": "平成31年5月1日"}  # kept as typed, for the resident to correct
    (message,) = forms.field_errors(FORM, data)["/birth_date"]
    assert message.startswith(forms.DATE_OUTSIDE_ERA) and "平成31年4月30日" in message


def test_a_form_leaves_what_it_cannot_make_canonical_for_validation_to_refuse() -> None:
    data = forms.normalize(FORM, {"postal_code": "498-232", "name_kana": "Yamada"})
    errors = forms.field_errors(FORM, data)
    assert set(errors) == {"/postal_code", "/name_kana"}
