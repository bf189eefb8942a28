"""保育料 (decision 0042): the tenant's brackets at their boundaries, 幼保無償化 for 3歳児クラス and up and for a
住民税非課税世帯 from 2019-10, the fiscal year of the tax data switching in September, and the tenant file's fee
table checked with problems that name their line."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from madoguchi.catalog.definitions import CatalogError, load_tenants
from madoguchi.childcare import fees
from madoguchi.cli.catalog import catalog

REPO = Path(__file__).resolve().parents[2]

TABLE = {
    "brackets": [
        {"label": "D1", "below": 48_600, "standard": 19_500, "short": 19_100},
        {"label": "D2", "below": 97_000, "standard": 27_000, "short": 26_500},
        {"label": "D3", "standard": 35_000, "short": 34_400},
    ]
}
APRIL_2027 = date(2027, 4, 1)


def _levy(total: int, *, non_taxable: bool = False) -> fees.HouseholdLevy:
    return fees.HouseholdLevy(fiscal_year=2026, total=total, non_taxable=non_taxable)


@pytest.mark.parametrize(
    ("levy", "care_time", "bracket", "monthly"),
    [
        (0, "standard", "D1", 19_500),  # 均等割のみ: taxed, 所得割 0
        (48_599, "standard", "D1", 19_500),
        (48_600, "standard", "D2", 27_000),  # 48,600円以上 is the next bracket (未満 bounds)
        (48_600, "short", "D2", 26_500),
        (96_999, "short", "D2", 26_500),
        (97_000, "standard", "D3", 35_000),
        (9_999_999, "standard", "D3", 35_000),  # the open last bracket takes every higher 所得割額
    ],
)
def test_the_fee_is_the_bracket_of_the_household_levy_at_its_boundaries(
    levy: int, care_time: str, bracket: str, monthly: int
) -> None:
    fee = fees.monthly_fee(TABLE, month=APRIL_2027, age_class=1, care_time=care_time, levy=_levy(levy))
    assert (fee.basis, fee.bracket, fee.monthly, fee.income_levy) == ("bracket", bracket, monthly, levy)


def test_a_non_taxable_household_pays_nothing_for_a_child_under_three() -> None:
    fee = fees.monthly_fee(TABLE, month=APRIL_2027, age_class=0, care_time="standard", levy=_levy(0, non_taxable=True))
    assert (fee.basis, fee.monthly) == ("free_non_taxable", 0)


@pytest.mark.parametrize(("age_class", "monthly"), [(2, 35_000), (3, 0), (4, 0), (5, 0)])
def test_from_the_three_year_old_class_childcare_is_free(age_class: int, monthly: int) -> None:
    fee = fees.monthly_fee(TABLE, month=APRIL_2027, age_class=age_class, care_time="standard", levy=_levy(200_000))
    assert fee.monthly == monthly


def test_age_makes_the_fee_free_even_when_the_tax_data_cannot_be_read() -> None:
    assert fees.monthly_fee(TABLE, month=APRIL_2027, age_class=3, care_time="short", levy=None).monthly == 0
    undetermined = fees.monthly_fee(TABLE, month=APRIL_2027, age_class=2, care_time="short", levy=None)
    assert (undetermined.basis, undetermined.monthly) == ("undetermined", None)
    assert (
        fees.monthly_fee(None, month=APRIL_2027, age_class=2, care_time="short", levy=_levy(1)).basis == "undetermined"
    )


def test_free_childcare_starts_in_october_2019() -> None:
    """幼保無償化 took effect on 2019-10-01: September 2019 was still charged."""
    before = fees.monthly_fee(TABLE, month=date(2019, 9, 1), age_class=4, care_time="standard", levy=_levy(50_000))
    after = fees.monthly_fee(TABLE, month=date(2019, 10, 1), age_class=4, care_time="standard", levy=_levy(50_000))
    assert (before.monthly, after.monthly) == (27_000, 0)
    poor_before = fees.monthly_fee(
        TABLE, month=date(2019, 9, 1), age_class=1, care_time="standard", levy=_levy(0, non_taxable=True)
    )
    assert poor_before.basis == "bracket"


@pytest.mark.parametrize(
    ("month", "fiscal_year"),
    [
        (date(2027, 4, 1), 2026),  # April–August: the previous year's assessment
        (date(2027, 8, 1), 2026),
        (date(2027, 9, 1), 2027),  # September: the new assessment
        (date(2027, 12, 1), 2027),
        (date(2028, 1, 1), 2027),  # January–March belong to fiscal 2027
        (date(2028, 3, 1), 2027),
        (date(2028, 4, 1), 2027),
    ],
)
def test_the_tax_year_that_decides_the_fee_switches_in_september(month: date, fiscal_year: int) -> None:
    assert fees.levy_fiscal_year(month) == fiscal_year


# ------------------------------------------------------------------------------------------- the tenant file


@pytest.fixture
def tenants_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(REPO / "services", tmp_path / "services")
    shutil.copytree(REPO / "tenants", tmp_path / "tenants")
    monkeypatch.chdir(tmp_path)
    return tmp_path / "tenants"


def _replace_fees(path: Path, rows: list[str]) -> None:
    """Rewrite the file's brackets as written (text, not a YAML round trip: line numbers must be the file's own)."""
    text = path.read_text(encoding="utf-8")
    start = text.index("  brackets:\n") + len("  brackets:\n")
    end = text.index("services:\n", start)
    path.write_text(text[:start] + "".join(f"    - {row}\n" for row in rows) + text[end:], encoding="utf-8")


def _line_of(path: Path, needle: str) -> int:
    return next(n for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1) if needle in line)


def test_the_shipped_tenants_carry_a_fee_table() -> None:
    loaded = load_tenants(REPO / "tenants")
    assert all(tenant["childcare_fees"]["brackets"] for tenant in loaded.values())


def test_fee_table_problems_name_their_line(tenants_dir: Path) -> None:
    path = tenants_dir / "shiomi-town.yaml"
    _replace_fees(
        path,
        [
            "{label: A, below: 48600, standard: 16000, short: 15700}",
            "{label: B, below: 40000, standard: 24000, short: 23600}",  # goes down
            "{label: C, standard: 30000, short: 31000}",  # short above standard, and no bound before the last
            "{label: D, below: 200000, standard: 38000, short: 37400}",  # the last has a bound
        ],
    )
    with pytest.raises(CatalogError) as refused:
        load_tenants(tenants_dir)
    problems = [str(p) for p in refused.value.problems]
    file = "tenants/shiomi-town.yaml"
    assert problems == [
        f"{file}:{_line_of(path, 'label: B')}: childcare_fees.brackets[1].below: 40,000 must be above the bracket "
        "before it (48,600): brackets go up",
        f"{file}:{_line_of(path, 'label: C')}: childcare_fees.brackets[2]: only the last bracket may have no 'below' "
        "(it takes every higher 所得割額)",
        f"{file}:{_line_of(path, 'label: C')}: childcare_fees.brackets[2].short: the 短時間 fee 31,000 is above the "
        "標準時間 fee 30,000",
        f"{file}:{_line_of(path, 'label: D')}: childcare_fees.brackets[3].below: the last bracket must have no "
        "'below': a 所得割額 of 200,000 yen or more would have no fee",
    ]


def test_a_malformed_fee_row_is_named_by_line_and_the_catalog_check_fails(tenants_dir: Path) -> None:
    path = tenants_dir / "midorikawa-village.yaml"
    _replace_fees(path, ["{label: A, below: 77101, standard: '9,000', short: 8800}", "{standard: 27000}"])
    result = CliRunner().invoke(catalog, ["check", "--services", "services", "--tenants", "tenants"])
    assert result.exit_code == 1
    file = "tenants/midorikawa-village.yaml"
    first, second = _line_of(path, "label: A"), _line_of(path, "{standard: 27000}")
    assert f"{file}:{first}: childcare_fees.brackets[0].standard: must be a whole number of yen, 0 to 200000" in (
        result.output
    )
    assert f"{file}:{second}: childcare_fees.brackets[1].short: required key is missing" in result.output
