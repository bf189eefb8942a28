"""Registry CSV parsing: every rule reports the right line and column, and rows come back typed."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import date

import pytest

from madoguchi.registry.csv_formats import (
    COLUMNS,
    FACILITY_COLUMNS,
    RESIDENT_COLUMNS,
    TAX_COLUMNS,
    ParseResult,
    RowError,
    parse_registry_csv,
)

TODAY = date(2026, 11, 26)  # fiscal year 2026: tax fiscal years 2015-2027 are accepted


def resident(n: int, **overrides: str) -> dict[str, str]:
    """A valid resident who heads household ``H<n>`` on their own."""
    row = {
        "resident_code": f"{n:011d}",
        "household_code": f"H{n}",
        "family_name": "佐藤",
        "given_name": "一郎",
        "family_name_kana": "サトウ",
        "given_name_kana": "イチロウ",
        "birth_date": "1980-04-02",
        "sex": "male",
        "relationship": "世帯主",
        "postal_code": "100-0001",
        "prefecture": "東京都",
        "municipality": "千代田区",
        "town": "千代田一丁目",
        "block": "1番1号",
        "building": "",
        "became_resident_on": "2010-04-01",
        "address_set_on": "2010-04-01",
        "notified_on": "2010-04-05",
        "previous_address": "",
        "domicile": "",
        "domicile_head": "",
        "individual_number": "",
    }
    row.update(overrides)
    return row


def tax(n: int, **overrides: str) -> dict[str, str]:
    row = {
        "resident_code": f"{n:011d}",
        "fiscal_year": "2026",
        "address_on_jan1": "東京都千代田区千代田一丁目1番1号",
        "salary_income": "3000000",
        "business_income": "0",
        "pension_income": "0",
        "other_income": "0",
        "total_income": "3000000",
        "deductions": "1200500",
        "taxable_income": "1799000",
        "municipal_tax": "110900",
        "prefectural_tax": "72900",
        "dependents": "0",
        "non_taxable": "false",
    }
    row.update(overrides)
    return row


def facility(n: int, **overrides: str) -> dict[str, str]:
    row = {
        "facility_code": f"NS-{n:03d}",
        "name_ja": "さくら保育園",
        "name_en": "Sakura Nursery School",
        "kind": "nursery",
        "postal_code": "100-0001",
        "address": "東京都千代田区千代田一丁目2番3号",
        "capacity_age_0": "6",
        "capacity_age_1": "10",
        "capacity_age_2": "12",
        "capacity_age_3": "20",
        "capacity_age_4": "20",
        "capacity_age_5": "20",
        "accepts_short_hours": "true",
    }
    row.update(overrides)
    return row


def csv_text(header: Sequence[str], rows: Iterable[dict[str, str] | Sequence[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for row in rows:
        writer.writerow([row.get(column, "") for column in header] if isinstance(row, dict) else row)
    return out.getvalue()


def parse(
    kind: str, rows: Iterable[dict[str, str] | Sequence[str]], header: Sequence[str] | None = None
) -> ParseResult:
    text = csv_text(header or COLUMNS[kind], rows)
    return parse_registry_csv(kind, io.StringIO(text, newline=""), today=TODAY)


# --- Results and formats ---------------------------------------------------------------------


def test_row_error_reads_as_line_column_message() -> None:
    error = RowError(12, "birth_date", "not a date (YYYY-MM-DD): '1990-13-01'")
    assert str(error) == "line 12: birth_date: not a date (YYYY-MM-DD): '1990-13-01'"
    assert str(RowError(3, None, "expected 22 fields, found 3")) == "line 3: expected 22 fields, found 3"


def test_column_constants_are_the_canonical_orders() -> None:
    assert COLUMNS == {"residents": RESIDENT_COLUMNS, "tax": TAX_COLUMNS, "facilities": FACILITY_COLUMNS}
    assert RESIDENT_COLUMNS[:3] == ("resident_code", "household_code", "family_name")
    # The 22 columns of the first format, then those added for 旧氏, 除票 and 外国人住民 (which a file may leave out).
    assert RESIDENT_COLUMNS[21] == "individual_number"
    assert RESIDENT_COLUMNS[22:24] == ("former_surname", "former_surname_kana")
    assert RESIDENT_COLUMNS[-1] == "alias_kana"
    assert len(RESIDENT_COLUMNS) == 35
    # The original 14, then the itemised ones (optional: decision 0032).
    assert len(TAX_COLUMNS) == 44
    assert TAX_COLUMNS[13] == "non_taxable"
    assert FACILITY_COLUMNS[6:12] == tuple(f"capacity_age_{age}" for age in range(6))


def test_unknown_kind_raises() -> None:
    with pytest.raises(ValueError, match="unknown registry kind 'pets'"):
        parse_registry_csv("pets", [])


def test_csv_text_passed_as_a_string_is_refused() -> None:
    with pytest.raises(TypeError, match="not the CSV text itself"):
        parse_registry_csv("residents", "resident_code\n")


# --- Residents: valid rows -------------------------------------------------------------------


def test_valid_residents_come_back_typed_and_normalized() -> None:
    head = resident(
        1,
        family_name="\u3000髙橋 ",
        given_name="葛\U000e0100子",
        family_name_kana="ﾀｶﾊｼ",
        given_name_kana="カツコ",
        birth_date="１９８０-０４-０２",
        postal_code="１０００００１",
        town="千代田一丁目",
        block="３番１２号",
        building="メゾン千代田 101号室",
        individual_number="１２３４５６７８９０１８",
    )
    result = parse("residents", [head])

    assert result.errors == []
    assert result.ok
    (row,) = result.rows
    assert list(row) == list(RESIDENT_COLUMNS)
    assert row["family_name"] == "髙橋"  # trimmed, variant kanji kept
    assert row["given_name"] == "葛\U000e0100子"  # IVS kept
    assert row["family_name_kana"] == "タカハシ"  # readings are normalized to full-width
    assert row["birth_date"] == date(1980, 4, 2)
    assert row["postal_code"] == "100-0001"
    assert row["block"] == "3番12号"
    assert row["individual_number"] == "123456789018"
    assert row["notified_on"] == date(2010, 4, 5)
    assert row["previous_address"] is None
    assert row["domicile"] is None


def test_a_bom_and_any_column_order_are_accepted() -> None:
    header = list(reversed(RESIDENT_COLUMNS))
    text = "\ufeff" + csv_text(header, [resident(1)])
    result = parse_registry_csv("residents", io.StringIO(text, newline=""), today=TODAY)
    assert result.errors == []
    assert result.rows[0]["resident_code"] == "00000000001"


def test_a_household_of_several_members_with_one_head_is_valid() -> None:
    members = [
        resident(1, household_code="H1"),
        resident(2, household_code="H1", relationship="妻", sex="female", given_name="花子", given_name_kana="ハナコ"),
        resident(3, household_code="H1", relationship="子", birth_date="2024-04-01", became_resident_on="2024-04-01",
                 address_set_on="2024-04-01", notified_on="2024-04-10"),
    ]  # fmt: skip
    result = parse("residents", members)
    assert result.errors == []
    assert len(result.rows) == 3


# --- Header ----------------------------------------------------------------------------------


def test_unknown_and_missing_columns_are_reported_on_line_1() -> None:
    header = [c for c in RESIDENT_COLUMNS if c not in ("sex", "domicile")] + ["nickname"]
    result = parse("residents", [resident(1)], header=header)
    assert result.errors == [
        RowError(1, "nickname", "unknown column"),
        RowError(1, "sex", "missing column"),
        RowError(1, "domicile", "missing column"),
    ]
    assert result.rows == []


def test_duplicate_and_unnamed_columns_are_reported_on_line_1() -> None:
    header = [*FACILITY_COLUMNS, "name_ja", ""]
    result = parse("facilities", [], header=header)
    assert result.errors == [RowError(1, "name_ja", "duplicate column"), RowError(1, None, "column 15 has no name")]


def test_an_empty_file_needs_a_header() -> None:
    result = parse_registry_csv("tax", [], today=TODAY)
    assert result.errors == [RowError(1, None, "empty file: a header row is required")]


def test_a_header_alone_is_a_valid_empty_registry() -> None:
    result = parse("tax", [])
    assert result.errors == []
    assert result.rows == []


# --- Residents: one bad value per rule -------------------------------------------------------

RESIDENT_RULES = [
    ("resident_code", "1234567890", "not 11 digits: '1234567890'"),
    ("resident_code", "", "required"),
    ("household_code", "H" * 21, f"longer than 20 characters: '{'H' * 21}'"),
    ("family_name", "\u3000", "required"),
    ("given_name", "", "required"),
    ("family_name_kana", "さとう", "not full-width katakana (全角カタカナ): 'さとう'"),
    ("given_name_kana", "Ichiro", "not full-width katakana (全角カタカナ): 'Ichiro'"),
    ("birth_date", "1990-13-01", "not a date (YYYY-MM-DD): '1990-13-01'"),
    ("birth_date", "1990/01/01", "not a date (YYYY-MM-DD): '1990/01/01'"),
    ("birth_date", "1899-12-31", "before 1900: '1899-12-31'"),
    ("birth_date", "2026-11-27", "in the future: '2026-11-27'"),
    ("sex", "M", "not male or female: 'M'"),
    ("relationship", "嫁", "not a relationship (続柄) of the register: '嫁'"),
    ("postal_code", "100-00001", "not a postal code (NNN-NNNN): '100-00001'"),
    ("prefecture", "", "required"),
    ("municipality", "", "required"),
    ("town", "", "required"),
    ("block", "", "required"),
    ("became_resident_on", "2026-12-01", "in the future: '2026-12-01'"),
    ("became_resident_on", "1979-01-01", "before birth_date: '1979-01-01'"),
    ("address_set_on", "2027-01-01", "in the future: '2027-01-01'"),
    ("address_set_on", "", "required"),
    ("notified_on", "2010-02-30", "not a date (YYYY-MM-DD): '2010-02-30'"),
    ("individual_number", "123456789019", "invalid check digit"),
    ("individual_number", "12345678901", "not 12 digits"),
]


@pytest.mark.parametrize(("column", "value", "message"), RESIDENT_RULES)
def test_each_resident_rule_reports_its_line_and_column(column: str, value: str, message: str) -> None:
    result = parse("residents", [resident(1), resident(2), resident(3, **{column: value}), resident(4)])
    assert result.errors == [RowError(4, column, message)]
    assert [row["resident_code"] for row in result.rows] == ["00000000001", "00000000002", "00000000004"]


def test_every_error_of_a_file_is_collected() -> None:
    rows = [
        resident(1, birth_date="1990-13-01", sex="x"),
        resident(2),
        resident(3, postal_code="abc", individual_number="123456789019"),
    ]
    result = parse("residents", rows)
    assert [(e.line, e.column) for e in result.errors] == [
        (2, "birth_date"),
        (2, "sex"),
        (4, "postal_code"),
        (4, "individual_number"),
    ]


def test_individual_numbers_never_appear_in_errors() -> None:
    bad_check_digit = "987654321098"
    assert not bad_check_digit.endswith("7")
    rows = [
        resident(1, individual_number=bad_check_digit),
        resident(2, individual_number="98765432109"),
        resident(3, individual_number="123456789018"),
        resident(4, individual_number="１２３４５６７８９０１８"),  # the same number typed full-width
    ]
    result = parse("residents", rows)
    assert result.errors == [
        RowError(2, "individual_number", "invalid check digit"),
        RowError(3, "individual_number", "not 12 digits"),
        RowError(5, "individual_number", "same Individual Number as line 4"),
    ]
    report = "\n".join(str(e) for e in result.errors)
    for secret in (bad_check_digit, "98765432109", "123456789018", "9018"):
        assert secret not in report


def test_duplicate_resident_code_is_reported_on_the_later_line() -> None:
    result = parse("residents", [resident(1), resident(2), resident(1, household_code="H9")])
    assert result.errors == [RowError(4, "resident_code", "duplicate of line 2: '00000000001'")]


def test_household_without_a_head_is_reported_on_its_first_line() -> None:
    rows = [
        resident(1),
        resident(2, household_code="H7", relationship="妻"),
        resident(3, household_code="H7", relationship="子"),
    ]
    result = parse("residents", rows)
    assert result.errors == [RowError(3, "relationship", "household 'H7' has no head (世帯主)")]


def test_second_head_of_a_household_is_reported() -> None:
    rows = [resident(1), resident(2, household_code="H1"), resident(3, household_code="H1", relationship="子")]
    result = parse("residents", rows)
    assert result.errors == [RowError(3, "relationship", "second head of household 'H1' (the first is on line 2)")]


def test_member_at_another_address_than_the_head_is_reported_on_the_member_line() -> None:
    rows = [
        resident(1, household_code="H1", relationship="子", town="千代田二丁目", building="コーポ 2号室"),
        resident(2, household_code="H1"),
        # Full-width digits normalize to the head's block, so this member matches.
        resident(3, household_code="H1", relationship="妻", block="１番１号"),
    ]
    result = parse("residents", rows)
    assert result.errors == [
        RowError(2, "town", "differs from the household's address on line 3: '千代田二丁目'"),
        RowError(2, "building", "differs from the household's address on line 3: 'コーポ 2号室'"),
    ]


# --- Lines -----------------------------------------------------------------------------------


def test_line_numbers_count_physical_lines_of_quoted_multiline_fields() -> None:
    rows = [
        resident(1, building="メゾン\n千代田\n101号室"),  # lines 2-4
        resident(2, sex="x"),  # line 5
        resident(3, previous_address="大阪府大阪市\n北区", birth_date="1980-02-30"),  # lines 6-7
        resident(4, sex="y"),  # line 8
    ]
    result = parse("residents", rows)
    assert result.errors == [
        RowError(5, "sex", "not male or female: 'x'"),
        RowError(6, "birth_date", "not a date (YYYY-MM-DD): '1980-02-30'"),
        RowError(8, "sex", "not male or female: 'y'"),
    ]
    assert result.rows[0]["building"] == "メゾン\n千代田\n101号室"


def test_blank_lines_are_skipped_but_counted() -> None:
    text = csv_text(FACILITY_COLUMNS, [facility(1)]) + "\n\n" + csv_text(FACILITY_COLUMNS, [facility(2, kind="zoo")])
    # The second header, pasted in by mistake, is a row of wrong values on line 5.
    result = parse_registry_csv("facilities", io.StringIO(text, newline=""), today=TODAY)
    assert [(e.line, e.column) for e in result.errors][:2] == [(5, "facility_code"), (5, "kind")]
    assert result.errors[-1] == RowError(6, "kind", "not nursery, certified_center or small_scale: 'zoo'")


def test_wrong_number_of_fields_is_reported() -> None:
    result = parse("facilities", [facility(1), ["NS-002", "ひまわり保育園"]])
    assert result.errors == [RowError(3, None, "expected 13 fields, found 2")]
    assert len(result.rows) == 1


def test_malformed_csv_is_reported_and_parsing_goes_on() -> None:
    text = csv_text(FACILITY_COLUMNS, [facility(1)]) + '"NS-002"x,\n' + csv_text(FACILITY_COLUMNS, [facility(3)])
    result = parse_registry_csv("facilities", io.StringIO(text, newline=""), today=TODAY)
    assert result.errors[0] == RowError(3, None, "malformed CSV: ',' expected after '\"'")
    assert result.errors[1].line == 4  # the repeated header


def test_lines_may_come_from_any_iterable() -> None:
    lines = csv_text(FACILITY_COLUMNS, [facility(1), facility(2, capacity_age_0="-1")]).splitlines(keepends=True)
    result = parse_registry_csv("facilities", lines, today=TODAY)
    assert result.errors == [RowError(3, "capacity_age_0", "not a non-negative integer: '-1'")]


# --- Progress --------------------------------------------------------------------------------


@pytest.mark.parametrize(("count", "calls"), [(1200, [500, 1000, 1200]), (1000, [500, 1000]), (3, [3]), (0, [0])])
def test_progress_is_reported_every_500_rows_and_at_the_end(count: int, calls: list[int]) -> None:
    rows = [facility(1, facility_code=f"F-{n:05d}") for n in range(count)]
    seen: list[int] = []
    result = parse_registry_csv(
        "facilities", io.StringIO(csv_text(FACILITY_COLUMNS, rows), newline=""), seen.append, today=TODAY
    )
    assert result.errors == []
    assert seen == calls


# --- Tax -------------------------------------------------------------------------------------


def test_valid_tax_rows_come_back_as_integers_and_booleans() -> None:
    rows = [
        tax(1, salary_income="3,000,000", total_income="３００００００", deductions="1,200,500"),
        tax(2, salary_income="0", total_income="0", deductions="430000", taxable_income="0", municipal_tax="0",
            prefectural_tax="0", non_taxable="true", fiscal_year="2027"),
        tax(1, fiscal_year="2015"),
    ]  # fmt: skip
    result = parse("tax", rows)
    assert result.errors == []
    first, second, _ = result.rows
    assert first["salary_income"] == 3_000_000
    assert first["total_income"] == 3_000_000
    assert first["deductions"] == 1_200_500
    assert first["fiscal_year"] == 2026
    assert first["non_taxable"] is False
    assert second["non_taxable"] is True
    assert second["fiscal_year"] == 2027


TAX_RULES = [
    ({"resident_code": "ABC"}, "resident_code", "not 11 digits: 'ABC'"),
    ({"fiscal_year": "2014"}, "fiscal_year", "outside 2015-2027: '2014'"),
    ({"fiscal_year": "2028"}, "fiscal_year", "outside 2015-2027: '2028'"),
    ({"fiscal_year": "R8"}, "fiscal_year", "not a year (YYYY): 'R8'"),
    ({"address_on_jan1": ""}, "address_on_jan1", "required"),
    ({"other_income": "-5"}, "other_income", "not a non-negative amount in yen: '-5'"),
    ({"municipal_tax": "110,90"}, "municipal_tax", "not a non-negative amount in yen: '110,90'"),
    ({"prefectural_tax": "72900.0"}, "prefectural_tax", "not a non-negative amount in yen: '72900.0'"),
    ({"total_income": "3000001"}, "total_income",
     "not the sum of the incomes (3,000,000): '3000001'"),
    ({"taxable_income": "1799500"}, "taxable_income",
     "not total_income - deductions rounded down to 1,000 yen (1,799,000): '1799500'"),
    ({"deductions": "3500000", "taxable_income": "1000"}, "taxable_income",
     "not total_income - deductions rounded down to 1,000 yen (0): '1000'"),
    ({"non_taxable": "true"}, "non_taxable", "true but municipal_tax or prefectural_tax is not 0"),
    ({"non_taxable": "yes"}, "non_taxable", "not true or false: 'yes'"),
    ({"dependents": "-1"}, "dependents", "not a non-negative integer: '-1'"),
    ({"deductions": ""}, "deductions", "required"),
]  # fmt: skip


@pytest.mark.parametrize(("overrides", "column", "message"), TAX_RULES)
def test_each_tax_rule_reports_its_line_and_column(overrides: dict[str, str], column: str, message: str) -> None:
    result = parse("tax", [tax(1), tax(2, **overrides)])
    assert result.errors == [RowError(3, column, message)]
    assert len(result.rows) == 1


def test_duplicate_resident_and_fiscal_year_is_reported_but_other_years_are_fine() -> None:
    result = parse("tax", [tax(1), tax(1, fiscal_year="2025"), tax(2), tax(1)])
    assert result.errors == [RowError(5, None, "duplicate resident_code and fiscal_year (the first is on line 2)")]


# --- Facilities ------------------------------------------------------------------------------


def test_valid_facilities_of_each_kind() -> None:
    rows = [
        facility(1),
        facility(2, kind="certified_center", capacity_age_0="0"),
        facility(3, kind="small_scale", capacity_age_0="6", capacity_age_1="7", capacity_age_2="6",
                 capacity_age_3="0", capacity_age_4="0", capacity_age_5="0", accepts_short_hours="false"),
    ]  # fmt: skip
    result = parse("facilities", rows)
    assert result.errors == []
    assert result.rows[2]["capacity_age_1"] == 7
    assert result.rows[2]["accepts_short_hours"] is False


SMALL_SCALE = {"kind": "small_scale", "capacity_age_3": "0", "capacity_age_4": "0", "capacity_age_5": "0"}

FACILITY_RULES = [
    ({"facility_code": "ns-002"}, "facility_code", "not 3-20 characters of A-Z, 0-9 and '-': 'ns-002'"),
    ({"facility_code": "AB"}, "facility_code", "not 3-20 characters of A-Z, 0-9 and '-': 'AB'"),
    ({"name_ja": ""}, "name_ja", "required"),
    ({"name_en": ""}, "name_en", "required"),
    ({"kind": "kindergarten"}, "kind", "not nursery, certified_center or small_scale: 'kindergarten'"),
    ({"postal_code": "1000"}, "postal_code", "not a postal code (NNN-NNNN): '1000'"),
    ({"address": ""}, "address", "required"),
    ({"capacity_age_2": "many"}, "capacity_age_2", "not a non-negative integer: 'many'"),
    ({"accepts_short_hours": "1"}, "accepts_short_hours", "not true or false: '1'"),
    ({**SMALL_SCALE, "capacity_age_0": "3", "capacity_age_1": "3", "capacity_age_2": "3", "capacity_age_4": "2"},
     "capacity_age_4", "must be 0 for small_scale, which takes ages 0-2 only: '2'"),
    ({**SMALL_SCALE, "capacity_age_0": "6", "capacity_age_1": "7", "capacity_age_2": "7"}, None,
     "small_scale total capacity 20 exceeds 19"),
]  # fmt: skip


@pytest.mark.parametrize(("overrides", "column", "message"), FACILITY_RULES)
def test_each_facility_rule_reports_its_line_and_column(
    overrides: dict[str, str], column: str | None, message: str
) -> None:
    result = parse("facilities", [facility(1), facility(2, **overrides)])
    assert result.errors == [RowError(3, column, message)]


def test_duplicate_facility_code_is_reported() -> None:
    result = parse("facilities", [facility(1), facility(2), facility(1)])
    assert result.errors == [RowError(4, "facility_code", "duplicate of line 2: 'NS-001'")]
