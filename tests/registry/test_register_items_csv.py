"""The register's 旧氏, 除票 and 外国人住民 columns: parsed and checked with a line-numbered error, imported exactly
(names with variation sequences included), and absent from an older file without changing what the register holds."""

from __future__ import annotations

import io
from datetime import date

import pytest
from sqlalchemy import select

from madoguchi.crypto import Sealer
from madoguchi.db import Database
from madoguchi.registry import operations
from madoguchi.registry.csv_formats import RESIDENT_COLUMNS, parse_registry_csv
from madoguchi.registry.models import Person
from tests.factories import tenants
from tests.registry.test_csv_formats import TODAY, csv_text, parse, resident

#: 葛󠄀 = 葛 + VS17 (U+E0100): the registered glyph, which must survive parsing, import and printing.
KATSURA = "葛\U000e0100"
#: The first format's columns: files written before 旧氏, 除票 and 外国人住民 existed.
FIRST_FORMAT = RESIDENT_COLUMNS[:22]


def foreigner(n: int, **overrides: str) -> dict[str, str]:
    """A 中長期在留者 living alone."""
    values = {
        "family_name": "NGUYEN",
        "given_name": "VAN AN",
        "family_name_kana": "グエン",
        "given_name_kana": "ヴァンアン",
        "foreign_resident_category": "中長期在留者",
        "nationality": "ベトナム",
        "residence_status": "技術・人文知識・国際業務",
        "period_of_stay": "5年",
        "period_of_stay_ends_on": "2029-03-31",
        "residence_card_number": "AB12345678CD",
    }
    return resident(n, **{**values, **overrides})


def errors_of(rows: list[dict[str, str]]) -> list[tuple[int, str | None, str]]:
    return [(e.line, e.column, e.message) for e in parse("residents", rows).errors]


def test_the_new_columns_parse_to_typed_values() -> None:
    rows = [
        resident(1, former_surname="佐々木", former_surname_kana="ササキ"),
        resident(2, removed_on="2024-03-31", removal_reason="転出", moved_out_to="大阪府大阪市北区梅田一丁目1番1号"),
        foreigner(3, period_of_stay="１年６月", residence_card_number="ａｂ１２３４５６７８ｃｄ"),
        resident(
            4,
            family_name="金",
            given_name="英洙",
            family_name_kana="キム",
            given_name_kana="ヨンス",
            foreign_resident_category="特別永住者",
            nationality="韓国",
            residence_card_number="XY87654321ZW",
            alias="金田　英夫",
            alias_kana="カネダ　ヒデオ",
        ),
    ]
    result = parse("residents", rows)
    assert result.ok, [str(e) for e in result.errors]
    married, moved, worker, special = result.rows
    assert (married["former_surname"], married["former_surname_kana"]) == ("佐々木", "ササキ")
    assert moved["removed_on"] == date(2024, 3, 31) and moved["removal_reason"] == "転出"
    assert worker["period_of_stay"] == "1年6月" and worker["residence_card_number"] == "AB12345678CD"
    assert worker["period_of_stay_ends_on"] == date(2029, 3, 31) and worker["domicile"] is None
    assert special["alias"] == "金田　英夫" and special["residence_status"] is None


@pytest.mark.parametrize(
    ("overrides", "column", "message"),
    [
        ({"residence_status": "観光"}, "residence_status", "not a 在留資格 of a 中長期在留者"),
        ({"residence_status": "短期滞在"}, "residence_status", "not a 在留資格"),  # no resident record at all
        ({"residence_status": ""}, "residence_status", "required for a 中長期在留者"),
        ({"period_of_stay_ends_on": ""}, "period_of_stay_ends_on", "required for a 中長期在留者 other than 永住者"),
        ({"residence_status": "永住者", "period_of_stay": "無期限"}, "period_of_stay_ends_on", "has no end date"),
        ({"residence_card_number": "AB1234567CD"}, "residence_card_number", "not a card number"),
        ({"residence_card_number": ""}, "residence_card_number", "required for a 中長期在留者"),
        ({"period_of_stay": "五年"}, "period_of_stay", "not a period of stay"),
        ({"nationality": ""}, "nationality", "required for a foreign resident"),
        ({"domicile": "東京都千代田区千代田1番"}, "domicile", "has no 本籍"),
        ({"foreign_resident_category": "観光客"}, "foreign_resident_category", "not a category"),
        (
            {
                "foreign_resident_category": "特別永住者",
                "residence_status": "留学",
                "period_of_stay": "",
                "period_of_stay_ends_on": "",
            },
            "residence_status",
            "only a 中長期在留者 has a 在留資格",
        ),
        (
            {
                "foreign_resident_category": "出生による経過滞在者",
                "residence_status": "",
                "residence_card_number": "",
                "period_of_stay_ends_on": "",
            },
            "period_of_stay",
            "has no period of stay",
        ),
    ],
)
def test_a_wrong_foreign_resident_item_is_reported_on_its_line(
    overrides: dict[str, str], column: str, message: str
) -> None:
    errors = errors_of([foreigner(1), foreigner(2, **overrides), foreigner(3)])
    assert [(line, col) for line, col, _ in errors] == [(3, column)], errors
    assert message in errors[0][2]


def test_a_japanese_resident_has_no_foreign_resident_items() -> None:
    errors = errors_of([resident(1, nationality="日本", alias="通称太郎")])
    assert [(line, column) for line, column, _ in errors] == [(2, "nationality"), (2, "alias")]


@pytest.mark.parametrize(
    ("overrides", "column", "message"),
    [
        ({"removed_on": "2009-12-31", "removal_reason": "死亡"}, "removed_on", "before became_resident_on"),
        ({"removed_on": "2027-01-05", "removal_reason": "死亡"}, "removed_on", "in the future"),
        ({"removed_on": "2020-01-05"}, "removal_reason", "required with removed_on"),
        ({"removed_on": "2020-01-05", "removal_reason": "転居"}, "removal_reason", "not 転出, 死亡 or 職権消除"),
        ({"removed_on": "2020-01-05", "removal_reason": "転出"}, "moved_out_to", "required for 転出"),
        (
            {"removed_on": "2020-01-05", "removal_reason": "死亡", "moved_out_to": "大阪府"},
            "moved_out_to",
            "only for 転出",
        ),
        ({"removal_reason": "死亡"}, "removal_reason", "given without removed_on"),
        ({"former_surname_kana": "ササキ"}, "former_surname_kana", "given without former_surname"),
    ],
)
def test_a_wrong_removal_or_former_surname_is_reported_on_its_line(
    overrides: dict[str, str], column: str, message: str
) -> None:
    errors = errors_of([resident(1), resident(2, **overrides)])
    assert [(line, col) for line, col, _ in errors] == [(3, column)], errors
    assert message in errors[0][2]


def test_a_removed_head_of_household_beside_the_current_one_is_no_second_head() -> None:
    died = resident(1, household_code="H1", removed_on="2023-05-01", removal_reason="死亡")
    widow = resident(2, household_code="H1", given_name="花子", sex="female")
    assert errors_of([died, widow]) == []
    # Two current heads are still refused, and a household of removed records alone needs no head.
    assert [c for _, c, _ in errors_of([resident(3, household_code="H3"), resident(4, household_code="H3")])] == [
        "relationship"
    ]
    assert errors_of([resident(5, relationship="子", removed_on="2020-01-01", removal_reason="死亡")]) == []


def test_a_removed_member_may_have_left_from_another_address_but_a_current_one_may_not() -> None:
    left = resident(1, household_code="H1", relationship="子", removed_on="2020-01-01", removal_reason="死亡")
    rows = [
        resident(2, household_code="H1"),
        {**left, "block": "9番9号"},
        resident(3, household_code="H1", relationship="妻", block="9番9号"),
    ]
    assert [(line, column) for line, column, _ in errors_of(rows)] == [(4, "block")]


def test_a_file_in_the_first_format_still_parses_without_the_new_columns() -> None:
    text = csv_text(FIRST_FORMAT, [resident(1), resident(2, household_code="H1", relationship="妻")])
    result = parse_registry_csv("residents", io.StringIO(text, newline=""), today=TODAY)
    assert result.ok, [str(e) for e in result.errors]
    assert "removed_on" not in result.rows[0] and "foreign_resident_category" not in result.rows[0]


def test_names_with_a_variation_sequence_are_kept_exactly() -> None:
    result = parse("residents", [resident(1, family_name=f"{KATSURA}西", former_surname=f"{KATSURA}城")])
    assert result.ok
    assert result.rows[0]["family_name"] == "葛\U000e0100西" and len(result.rows[0]["family_name"]) == 3
    assert result.rows[0]["former_surname"] == "葛\U000e0100城"


def _import(db: Database, tenant, rows: list[dict[str, str]], columns=RESIDENT_COLUMNS) -> None:
    text = csv_text(columns, rows)
    parsed = parse_registry_csv("residents", io.StringIO(text, newline=""), today=TODAY)
    assert parsed.ok, [str(e) for e in parsed.errors]
    with db.transaction(tenant.id) as session:
        report = operations.import_rows(
            session, tenant.id, "residents", parsed.rows, parsed.lines, sealer=Sealer(Sealer.generate_key())
        )
        assert report.ok, report.errors


def test_import_stores_the_items_exactly_and_an_older_file_leaves_them(db: Database, seeded: None) -> None:
    tenant = tenants(db)[0]
    rows = [
        # The father died at the flat the household lived in before its move within the municipality.
        resident(
            902, household_code="HX", relationship="父", removed_on="2023-05-01", removal_reason="死亡", block="9番9号"
        ),
        resident(
            901, household_code="HX", family_name=f"{KATSURA}西", former_surname="佐々木", former_surname_kana="ササキ"
        ),
        foreigner(903),
    ]
    _import(db, tenant, rows)
    with db.transaction(tenant.id) as session:
        people = {p.resident_code: p for p in session.execute(select(Person)).scalars()}
        head, father, worker = (people[f"{n:011d}"] for n in (901, 902, 903))
        assert head.family_name == "葛\U000e0100西" and head.former_surname == "佐々木"
        assert father.removed_on == date(2023, 5, 1) and father.removal_reason == "死亡" and father.is_removed
        assert head.household.head is head and head.household.residents == [head]
        assert head.address == "東京都千代田区千代田一丁目1番1号"
        assert father.address == "東京都千代田区千代田一丁目9番9号" and father.household is head.household
        assert worker.is_foreign_resident and worker.residence_card_number == "AB12345678CD"
        assert worker.period_of_stay_ends_on == date(2029, 3, 31)
    # The same people in a file of the first format: what it does not mention stays as it was.
    _import(db, tenant, [resident(901, household_code="HX", family_name=f"{KATSURA}西")], FIRST_FORMAT)
    with db.transaction(tenant.id) as session:
        head = session.execute(select(Person).where(Person.resident_code == f"{901:011d}")).scalar_one()
        assert head.former_surname == "佐々木" and head.former_surname_kana == "ササキ"
