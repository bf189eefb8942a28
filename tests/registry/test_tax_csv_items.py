"""The tax CSV with the items a certificate states (decision 0032): files of the original format still import, the
itemised columns add up to their totals, and each bad value is reported at its line and column."""

from __future__ import annotations

import importlib
import io

import pytest

from madoguchi.registry import tax_items
from madoguchi.registry.csv_formats import TAX_COLUMNS, parse_registry_csv
from madoguchi.registry.models import TaxAssessment
from tests.registry.test_csv_formats import TODAY, csv_text, tax

ORIGINAL_COLUMNS = TAX_COLUMNS[:14]


def itemised(n: int, **overrides: str) -> dict[str, str]:
    """A taxpayer of fiscal 2026 with every item: salary 4,500,000, a wife, a student and a small child."""
    row = tax(
        n,
        salary_income="3060000",
        total_income="3160000",
        deductions="1929000",
        taxable_income="1231000",
        municipal_tax="76800",
        prefectural_tax="50200",
        dependents="2",
        salary_revenue="4500000",
        pension_revenue="0",
        miscellaneous_income="100000",
        social_insurance_deduction="675000",
        life_insurance_deduction="44000",
        earthquake_insurance_deduction="0",
        medical_expense_deduction="",
        spouse_deduction="330000",
        dependent_deduction="450000",
        basic_deduction="430000",
        qualifying_spouse="1",
        specific_dependents="1",
        young_dependents="1",
        elderly_dependents="0",
        cohabiting_elderly_parents="0",
        municipal_income_levy="73800",
        municipal_per_capita_levy="3000",
        prefectural_income_levy="49200",
        prefectural_per_capita_levy="1000",
        forest_environment_tax="1000",
    )
    row.update(overrides)
    return row


def parse(rows: list[dict[str, str]], header: tuple[str, ...] = TAX_COLUMNS):
    return parse_registry_csv("tax", io.StringIO(csv_text(header, rows), newline=""), today=TODAY)


def test_the_migration_adds_exactly_the_itemised_columns_of_the_model() -> None:
    migration = importlib.import_module("madoguchi.migrations.versions.0025_itemised_tax_assessments")
    assert migration.COLUMNS == tax_items.ITEMISED_COLUMNS
    assert set(tax_items.ITEMISED_COLUMNS) <= set(TaxAssessment.__table__.columns.keys())
    assert set(tax_items.ITEMISED_COLUMNS) <= set(TAX_COLUMNS)


def test_a_file_of_the_original_format_still_imports_with_no_items() -> None:
    result = parse([tax(1), tax(2, fiscal_year="2025")], header=ORIGINAL_COLUMNS)
    assert result.ok, result.errors
    assert result.rows[0]["total_income"] == 3_000_000
    assert all(result.rows[0].get(name) is None for name in tax_items.ITEMISED_COLUMNS)


def test_a_header_may_name_some_of_the_new_columns_only() -> None:
    header = (*ORIGINAL_COLUMNS, "salary_revenue", "forest_environment_tax")
    result = parse([tax(1, salary_revenue="4,200,000", forest_environment_tax="1000")], header=header)
    assert result.ok, result.errors
    assert result.rows[0]["salary_revenue"] == 4_200_000
    assert result.rows[0].get("basic_deduction") is None


def test_the_original_columns_are_still_required_in_the_header() -> None:
    result = parse([tax(1)], header=tuple(c for c in ORIGINAL_COLUMNS if c != "deductions"))
    assert [str(e) for e in result.errors] == ["line 1: deductions: missing column"]


def test_an_itemised_row_comes_back_with_every_item() -> None:
    result = parse([itemised(1)])
    assert result.ok, result.errors
    row = result.rows[0]
    assert row["salary_revenue"] == 4_500_000
    assert row["miscellaneous_income"] == 100_000
    assert row["medical_expense_deduction"] is None  # empty: not itemised, counted as 0
    assert (row["qualifying_spouse"], row["specific_dependents"], row["young_dependents"]) == (1, 1, 1)
    assert row["forest_environment_tax"] == 1000


ITEM_RULES = [
    ({"basic_deduction": "330000"}, "deductions", "not the sum of the itemised deductions (1,829,000): '1929000'"),
    ({"young_dependents": "2"}, "dependents", "not general + specific + elderly + young dependents (3): '2'"),
    ({"qualifying_spouse": "2"}, "qualifying_spouse", "not 0 or 1: '2'"),
    (
        {"cohabiting_elderly_parents": "1"},
        "cohabiting_elderly_parents",
        "more than elderly_dependents, of which they are a part: '1'",
    ),
    (
        {"municipal_per_capita_levy": "3500"},
        "municipal_tax",
        "not municipal_income_levy + municipal_per_capita_levy (77,300): '76800'",
    ),
    (
        {"prefectural_income_levy": "0"},
        "prefectural_tax",
        "not prefectural_income_levy + prefectural_per_capita_levy (1,000): '50200'",
    ),
    ({"salary_revenue": "3000000"}, "salary_income", "more than salary_revenue (3,000,000): '3060000'"),
    ({"real_estate_income": "10000"}, "total_income", "not the sum of the incomes (3,170,000): '3160000'"),
    (
        {"forest_environment_tax": "500"},
        "forest_environment_tax",
        "must be 1000 with the per-capita levy, or 0 for someone who pays no per-capita levy: '500'",
    ),
    (
        {"fiscal_year": "2023"},
        "forest_environment_tax",
        "must be 0: the forest environment tax is levied from 令和6年度: '1000'",
    ),
    ({"life_insurance_deduction": "-1"}, "life_insurance_deduction", "not a non-negative amount in yen: '-1'"),
]


@pytest.mark.parametrize(("overrides", "column", "message"), ITEM_RULES)
def test_each_item_rule_reports_its_line_and_column(overrides: dict[str, str], column: str, message: str) -> None:
    result = parse([itemised(1), itemised(2, **overrides)])
    assert [(e.line, e.column, e.message) for e in result.errors] == [(3, column, message)]
    assert len(result.rows) == 1  # the good row only: the caller imports nothing while there is an error


def test_the_forest_environment_tax_is_not_levied_on_someone_not_taxed() -> None:
    row = itemised(
        1,
        **{name: "0" for name, _label in tax_items.TAX_PARTS},
        municipal_tax="0",
        prefectural_tax="0",
        non_taxable="true",
    )
    result = parse([row])
    assert [(e.column, e.message.split(":")[0]) for e in result.errors] == [
        (
            "forest_environment_tax",
            "must be 1000 with the per-capita levy, or 0 for someone who pays no per-capita levy",
        )
    ]
    assert parse([{**row, "forest_environment_tax": "0"}]).ok


def test_the_reconstruction_surcharge_years_take_the_higher_per_capita_levy_and_no_forest_tax() -> None:
    # 令和5年度: 均等割 3,500 + 1,500 (each with the 500 yen 復興特別 surcharge), no 森林環境税 yet.
    row = itemised(
        1,
        fiscal_year="2023",
        municipal_per_capita_levy="3500",
        prefectural_per_capita_levy="1500",
        municipal_tax="77300",
        prefectural_tax="50700",
        forest_environment_tax="0",
    )
    assert parse([row]).ok
