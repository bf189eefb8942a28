"""Inhabitant tax (住民税) assessments of the demo registries: simple but consistent revenues and incomes by kind,
itemised deductions, dependants by kind, 所得割 and 均等割, and the 森林環境税 from fiscal 2024."""

from __future__ import annotations

import random
from datetime import date
from typing import Any

from madoguchi.demo.population import DemoHousehold, DemoPerson
from madoguchi.jp import age_on, fiscal_year_of
from madoguchi.registry import tax_items
from madoguchi.registry.csv_formats import TAX_COLUMNS

# --- Tax -------------------------------------------------------------------------------------

BASIC_DEDUCTION = 430_000  # 基礎控除 (inhabitant tax)
# 扶養控除 / 配偶者控除 of the inhabitant tax, by kind of dependant (地方税法 314条の2).
GENERAL_DEDUCTION = 330_000  # 一般扶養 (16-18, 23-69), 配偶者控除
SPECIFIC_DEDUCTION = 450_000  # 特定扶養 (19-22)
ELDERLY_DEDUCTION = 380_000  # 老人扶養 (70+), 老人控除対象配偶者
COHABITING_PARENT_DEDUCTION = 450_000  # 同居老親等
DEPENDENT_INCOME_LIMIT = 480_000  # a dependent's total income may not exceed this
MUNICIPAL_RATE_PERCENT = 6
PREFECTURAL_RATE_PERCENT = 4
# 均等割: 3,000 and 1,000 yen, each 500 more (復興特別) until 令和5年度; from 令和6年度 the 森林環境税 (1,000) instead.
MUNICIPAL_PER_CAPITA = 3_000
PREFECTURAL_PER_CAPITA = 1_000
RECONSTRUCTION_SURCHARGE = 500
RECONSTRUCTION_UNTIL = 2023
ADULT_AGE = 18
TAX_YEARS = 3
#: 続柄 of the head's lineal ascendants: living with the claimant, they are 同居老親等 from 70.
_PARENTS = frozenset({"父", "母", "祖父", "祖母", "妻の父", "妻の母", "夫の父", "夫の母"})
_SPOUSES = frozenset({"妻", "夫"})


def _is_spouse(person: DemoPerson, claimant: DemoPerson) -> bool:
    """Whether ``person`` is the spouse of ``claimant`` (the head and their 妻/夫)."""
    pair = {person.relationship, claimant.relationship}
    return "世帯主" in pair and bool(pair & _SPOUSES)


def _dependants(claimant: DemoPerson, others: list[DemoPerson], year_end: date) -> dict[str, int]:
    """The claimant's spouse and dependants by kind (age on 31 December of the income year), with the deduction."""
    kinds = [name for name, _label in tax_items.DEPENDENTS]
    found = dict.fromkeys([*kinds, "spouse_deduction", "dependent_deduction"], 0)
    for person in others:
        age = age_on(person.birth, year_end)
        if _is_spouse(person, claimant):
            found["qualifying_spouse"] = 1
            found["spouse_deduction"] = ELDERLY_DEDUCTION if age >= 70 else GENERAL_DEDUCTION
        elif age < 16:
            found["young_dependents"] += 1  # 年少扶養: counted, no deduction
        elif 19 <= age <= 22:
            found["specific_dependents"] += 1
            found["dependent_deduction"] += SPECIFIC_DEDUCTION
        elif age >= 70:
            found["elderly_dependents"] += 1
            if person.relationship in _PARENTS and claimant.relationship == "世帯主":
                found["cohabiting_elderly_parents"] += 1
                found["dependent_deduction"] += COHABITING_PARENT_DEDUCTION
            else:
                found["dependent_deduction"] += ELDERLY_DEDUCTION
        else:
            found["general_dependents"] += 1
            found["dependent_deduction"] += GENERAL_DEDUCTION
    return found


def assess(rng: random.Random, today: date, household: DemoHousehold) -> None:
    """Fill ``household.tax_rows`` (in ``TAX_COLUMNS`` order, every item) for the last three fiscal years."""
    current_fy = fiscal_year_of(today)
    for fy in range(current_fy - TAX_YEARS + 1, current_fy + 1):
        jan1 = date(fy, 1, 1)
        income_year_end = date(fy - 1, 12, 31)
        incomes: dict[str, dict[str, int]] = {}  # code -> incomes and social insurance
        for person in household.members:
            if person.birth <= jan1 and person.became_resident_on <= jan1 and age_on(person.birth, jan1) >= ADULT_AGE:
                incomes[person.resident_code] = person_incomes(rng, today, person, fy - 1)
        if not incomes:
            continue
        totals = {code: _total(values) for code, values in incomes.items()}
        claimant_code = max(totals, key=lambda code: (totals[code], code))
        others = [
            p
            for p in household.members
            if p.resident_code != claimant_code
            and p.relationship != "同居人"
            and p.birth <= income_year_end
            and totals.get(p.resident_code, 0) <= DEPENDENT_INCOME_LIMIT
        ]
        address_on_jan1 = household.address if household.address_set <= jan1 else household.previous_local_address
        for person in household.members:
            if person.resident_code not in incomes:
                continue
            row = _assessment(rng, fy, incomes[person.resident_code])
            claimed = _dependants(person, others, income_year_end) if person.resident_code == claimant_code else {}
            _add_dependants(row, claimed, fy)
            row.update(
                resident_code=person.resident_code, fiscal_year=fy, address_on_jan1=address_on_jan1 or household.address
            )
            household.tax_rows.append([_text(row.get(column)) for column in TAX_COLUMNS])


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _total(values: dict[str, int]) -> int:
    return sum(values.get(name, 0) for name, _label in tax_items.INCOMES)


def _assessment(rng: random.Random, fy: int, values: dict[str, int]) -> dict[str, Any]:
    """The person's incomes and the deductions they claim themselves (no dependants yet)."""
    row: dict[str, Any] = dict.fromkeys(tax_items.ITEMISED_COLUMNS, 0)
    row.update({name: values.get(name, 0) for name in (*tax_items.ORIGINAL_INCOMES, *tax_items.ADDED_INCOMES)})
    row.update(salary_revenue=values["salary_revenue"], pension_revenue=values["pension_revenue"])
    row["total_income"] = _total(values)
    row["social_insurance_deduction"] = values["social_insurance"]
    row["basic_deduction"] = BASIC_DEDUCTION
    if rng.random() < 0.4:
        row["life_insurance_deduction"] = rng.randrange(10, 71) * 1000  # the inhabitant tax's cap is 70,000
    if rng.random() < 0.2:
        row["earthquake_insurance_deduction"] = rng.randrange(5, 26) * 1000  # cap 25,000
    if rng.random() < 0.05:
        row["medical_expense_deduction"] = rng.randrange(10, 300) * 1000
    return row


def _add_dependants(row: dict[str, Any], claimed: dict[str, int], fy: int) -> None:
    """Add the spouse and dependants, then the deductions' total, the taxable income and the taxes."""
    for name in ("qualifying_spouse", *tax_items.DEPENDENT_KINDS_COUNTED, "cohabiting_elderly_parents"):
        row[name] = claimed.get(name, 0)
    row["spouse_deduction"] = claimed.get("spouse_deduction", 0)
    row["dependent_deduction"] = claimed.get("dependent_deduction", 0)
    deductions = sum(int(row[name] or 0) for name, _label in tax_items.DEDUCTIONS)
    total = int(row["total_income"])
    row["deductions"] = deductions
    row["dependents"] = sum(claimed.get(name, 0) for name in tax_items.DEPENDENT_KINDS_COUNTED)
    row["taxable_income"] = taxable = max(0, total - deductions) // 1000 * 1000
    # 均等割 non-taxable limit (1級地): 450,000 alone, 350,000 × persons + 310,000 with a spouse or dependants.
    supported = claimed.get("qualifying_spouse", 0) + int(row["dependents"])
    limit = 450_000 if not supported else 350_000 * (1 + supported) + 310_000
    non_taxable = total <= limit
    surcharge = RECONSTRUCTION_SURCHARGE if fy <= RECONSTRUCTION_UNTIL else 0
    parts = {
        "municipal_income_levy": taxable * MUNICIPAL_RATE_PERCENT // 100 // 100 * 100,
        "municipal_per_capita_levy": MUNICIPAL_PER_CAPITA + surcharge,
        "prefectural_income_levy": taxable * PREFECTURAL_RATE_PERCENT // 100 // 100 * 100,
        "prefectural_per_capita_levy": PREFECTURAL_PER_CAPITA + surcharge,
    }
    if non_taxable:
        parts = dict.fromkeys(parts, 0)
    row.update(parts)
    row["municipal_tax"] = parts["municipal_income_levy"] + parts["municipal_per_capita_levy"]
    row["prefectural_tax"] = parts["prefectural_income_levy"] + parts["prefectural_per_capita_levy"]
    levied = fy >= tax_items.FOREST_ENVIRONMENT_TAX_FROM and not non_taxable
    row["forest_environment_tax"] = tax_items.FOREST_ENVIRONMENT_TAX_YEN if levied else 0
    row["non_taxable"] = non_taxable


def person_incomes(rng: random.Random, today: date, person: DemoPerson, year: int) -> dict[str, int]:
    """Revenues and incomes of ``year`` by kind (``tax_items`` names), and the social insurance paid."""
    growth = 100 + 2 * (year - (today.year - 1))  # wages rose about 2% a year
    base = person.base_income * growth // 100
    found = dict.fromkeys(("salary_revenue", "pension_revenue", "social_insurance"), 0)
    if person.occupation in ("salaried", "part_time"):
        revenue = max(0, base + rng.randrange(-50, 51) * 1000)
        found.update(salary_revenue=revenue, salary_income=_salary_income(revenue))
        found["social_insurance"] = revenue * 15 // 100 if person.occupation == "salaried" else 0
    elif person.occupation == "business":
        business = person.base_income * rng.randint(90, 110) // 100 // 1000 * 1000
        found.update(business_income=business, social_insurance=business * 12 // 100)
    elif person.occupation == "pension":
        revenue = person.base_income
        found.update(pension_revenue=revenue, pension_income=_pension_income(revenue))
        found["social_insurance"] = revenue * 5 // 100
    if rng.random() < 0.08:
        found["other_income"] = rng.randrange(20, 300) * 1000
    if rng.random() < 0.05:
        found["real_estate_income"] = rng.randrange(100, 1200) * 1000
    if rng.random() < 0.05:
        found["dividend_income"] = rng.randrange(5, 200) * 1000
    if rng.random() < 0.05:
        found["miscellaneous_income"] = rng.randrange(10, 400) * 1000
    return found


def _salary_income(revenue: int) -> int:
    """給与所得: salary revenue minus the employment income deduction (給与所得控除, 2020 onwards)."""
    if 1_625_000 < revenue < 6_600_000:
        # The statutory table works on revenue rounded down to 4,000 yen in this range.
        revenue = revenue // 4_000 * 4_000
    if revenue <= 1_625_000:
        deduction = 550_000
    elif revenue <= 1_800_000:
        deduction = revenue * 40 // 100 - 100_000
    elif revenue <= 3_600_000:
        deduction = revenue * 30 // 100 + 80_000
    elif revenue <= 6_600_000:
        deduction = revenue * 20 // 100 + 440_000
    elif revenue <= 8_500_000:
        deduction = revenue * 10 // 100 + 1_100_000
    else:
        deduction = 1_950_000
    return max(0, revenue - deduction)


def _pension_income(revenue: int) -> int:
    """雑所得 (公的年金等) of someone aged 65 or over, with the public pension deduction simplified."""
    deduction = 1_100_000 if revenue <= 3_300_000 else revenue * 25 // 100 + 275_000
    return max(0, revenue - deduction)
