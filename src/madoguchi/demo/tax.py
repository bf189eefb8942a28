"""Inhabitant tax (住民税) assessments of the demo registries: simple but consistent incomes, deductions and tax."""

from __future__ import annotations

import random
from datetime import date

from madoguchi.demo.population import DemoHousehold, DemoPerson
from madoguchi.jp import age_on, fiscal_year_of

# --- Tax -------------------------------------------------------------------------------------

BASIC_DEDUCTION = 430_000  # 基礎控除 (inhabitant tax)
DEPENDENT_DEDUCTION = 330_000  # 扶養控除 / 配偶者控除 (inhabitant tax), for dependents aged 16 or over
DEPENDENT_INCOME_LIMIT = 480_000  # a dependent's total income may not exceed this
MUNICIPAL_RATE_PERCENT = 6
PREFECTURAL_RATE_PERCENT = 4
MUNICIPAL_PER_CAPITA = 3_000  # 均等割
PREFECTURAL_PER_CAPITA = 1_000
ADULT_AGE = 18
TAX_YEARS = 3


def assess(rng: random.Random, today: date, household: DemoHousehold) -> None:
    """Fill ``household.tax_rows`` for the last three fiscal years up to ``today``."""
    current_fy = fiscal_year_of(today)
    for fy in range(current_fy - TAX_YEARS + 1, current_fy + 1):
        jan1 = date(fy, 1, 1)
        income_year_end = date(fy - 1, 12, 31)
        incomes: dict[str, tuple[int, int, int, int, int]] = {}  # code -> incomes and social insurance
        for person in household.members:
            if person.birth <= jan1 and person.became_resident_on <= jan1 and age_on(person.birth, jan1) >= ADULT_AGE:
                incomes[person.resident_code] = person_incomes(rng, today, person, fy - 1)
        if not incomes:
            continue
        totals = {code: sum(values[:4]) for code, values in incomes.items()}
        claimant = max(totals, key=lambda code: (totals[code], code))
        dependents = [
            p
            for p in household.members
            if p.resident_code != claimant
            and p.relationship != "同居人"
            and p.birth <= income_year_end
            and totals.get(p.resident_code, 0) <= DEPENDENT_INCOME_LIMIT
        ]
        address_on_jan1 = household.address if household.address_set <= jan1 else household.previous_local_address
        for person in household.members:
            if person.resident_code not in incomes:
                continue
            salary, business, pension, other, social_insurance = incomes[person.resident_code]
            total = salary + business + pension + other
            claimed = dependents if person.resident_code == claimant else []
            # Children under 16 count as dependents but earn no deduction (年少扶養).
            deductible = sum(1 for p in claimed if age_on(p.birth, income_year_end) >= 16)
            deductions = BASIC_DEDUCTION + social_insurance + DEPENDENT_DEDUCTION * deductible
            taxable = max(0, total - deductions) // 1000 * 1000
            # 均等割 non-taxable limit (1級地): 450,000 alone, 350,000 × persons + 310,000 with dependents.
            limit = 450_000 if not claimed else 350_000 * (1 + len(claimed)) + 310_000
            non_taxable = total <= limit
            municipal = (
                0 if non_taxable else taxable * MUNICIPAL_RATE_PERCENT // 100 // 100 * 100 + MUNICIPAL_PER_CAPITA
            )
            prefectural = (
                0 if non_taxable else taxable * PREFECTURAL_RATE_PERCENT // 100 // 100 * 100 + PREFECTURAL_PER_CAPITA
            )
            household.tax_rows.append(
                [
                    person.resident_code,
                    str(fy),
                    address_on_jan1 or household.address,
                    *(str(v) for v in (salary, business, pension, other, total, deductions, taxable)),
                    str(municipal),
                    str(prefectural),
                    str(len(claimed)),
                    "true" if non_taxable else "false",
                ]
            )


def person_incomes(rng: random.Random, today: date, person: DemoPerson, year: int) -> tuple[int, int, int, int, int]:
    """Return salary, business, pension and other income of ``year``, and social insurance paid."""
    growth = 100 + 2 * (year - (today.year - 1))  # wages rose about 2% a year
    base = person.base_income * growth // 100
    salary = business = pension = social_insurance = 0
    if person.occupation in ("salaried", "part_time"):
        revenue = max(0, base + rng.randrange(-50, 51) * 1000)
        salary = _salary_income(revenue)
        social_insurance = revenue * 15 // 100 if person.occupation == "salaried" else 0
    elif person.occupation == "business":
        business = person.base_income * rng.randint(90, 110) // 100 // 1000 * 1000
        social_insurance = business * 12 // 100
    elif person.occupation == "pension":
        revenue = person.base_income
        pension = _pension_income(revenue)
        social_insurance = revenue * 5 // 100
    other = rng.randrange(20, 300) * 1000 if rng.random() < 0.08 else 0
    return salary, business, pension, other, social_insurance


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
