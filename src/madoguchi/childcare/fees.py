"""保育料 (the monthly childcare fee) printed on the 利用決定通知書 (issue 17 point 6, decision 0042).

The fee of a 0–2歳児クラス child is the tenant's table (``childcare_fees`` in the tenant file, copied to
``Tenant.profile`` by ``tenants sync``) read at the household's 市町村民税所得割額: the sum over the guardians of
``TaxAssessment.municipal_income_levy``, from the fiscal year that applies to the month of care — April to August
the previous fiscal year's assessment, September to March the current one's (武蔵村山市: 「4月から8月までは前年度、
9月から3月までは当該年度の課税情報で判断」; the new assessment exists from June). Two rules of national law come first:

* 幼保無償化 (子ども・子育て支援法, from 2019-10-01): a 3歳児クラス or older child pays no 保育料;
* the same reform made 0–2歳児クラス free for a 住民税非課税世帯 (every guardian not taxed).

When the municipality may not or cannot read the tax data (no consent on the form, a guardian not found in the
register, no assessment of that year), the fee is *undetermined*: the notice says it is notified separately, as
municipalities do when income is unknown, rather than guessing a bracket.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from madoguchi import jp
from madoguchi.applications.models import Application
from madoguchi.registry import repository as registry_repository
from madoguchi.registry.models import Person

#: 幼保無償化 took effect on 1 October 2019 (令和元年10月).
FREE_EDUCATION_FROM = date(2019, 10, 1)
#: From this age class (3歳児クラス) the fee is free under 幼保無償化.
FREE_FROM_AGE_CLASS = 3

#: Why a fee is what it is.
FREE_BY_AGE, FREE_NON_TAXABLE, BY_BRACKET, UNDETERMINED = "free_by_age", "free_non_taxable", "bracket", "undetermined"


@dataclass(frozen=True)
class Fee:
    """One child's monthly fee for one month of care, and what it rests on."""

    basis: str
    monthly: int | None
    #: The tenant's bracket label (e.g. D3階層), when the table names it.
    bracket: str | None = None
    #: The household's 所得割額 and the fiscal year of the assessment it came from, when read.
    income_levy: int | None = None
    levy_fiscal_year: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "basis": self.basis,
            "monthly": self.monthly,
            "bracket": self.bracket,
            "income_levy": self.income_levy,
            "levy_fiscal_year": self.levy_fiscal_year,
        }


@dataclass(frozen=True)
class HouseholdLevy:
    """The guardians' 市町村民税所得割額 summed, and whether every guardian was 非課税, for one fiscal year."""

    fiscal_year: int
    total: int
    non_taxable: bool


def levy_fiscal_year(month: date) -> int:
    """The fiscal year whose assessment decides the fee of ``month``: April–August the previous one, September–March
    the current one (2027-04 → 2026年度, 2027-09 → 2027年度, 2028-03 → 2027年度)."""
    fiscal_year = jp.fiscal_year_of(month)
    return fiscal_year - 1 if 4 <= month.month <= 8 else fiscal_year


def bracket_for(brackets: Sequence[Mapping[str, Any]], levy: int) -> Mapping[str, Any]:
    """The first bracket whose ``below`` is above ``levy`` (所得割額 …円未満), else the last (open) one."""
    for bracket in brackets:
        below = bracket.get("below")
        if below is None or levy < int(below):
            return bracket
    return brackets[-1]


def monthly_fee(
    table: Mapping[str, Any] | None,
    *,
    month: date,
    age_class: int,
    care_time: str | None,
    levy: HouseholdLevy | None,
) -> Fee:
    """The fee of one child for ``month``. ``levy`` None: the tax data could not be read (the fee is undetermined
    unless the child's age makes it free anyway)."""
    reformed = month >= FREE_EDUCATION_FROM
    if reformed and age_class >= FREE_FROM_AGE_CLASS:
        return Fee(FREE_BY_AGE, 0)
    if levy is None or not table or not table.get("brackets"):
        return Fee(UNDETERMINED, None)
    if reformed and levy.non_taxable:
        return Fee(FREE_NON_TAXABLE, 0, income_levy=levy.total, levy_fiscal_year=levy.fiscal_year)
    bracket = bracket_for(table["brackets"], levy.total)
    amount = bracket["short"] if care_time == "short" else bracket["standard"]
    return Fee(BY_BRACKET, int(amount), bracket.get("label"), levy.total, levy.fiscal_year)


def household_levy(
    session: Session, tenant_id: uuid.UUID, guardians: Sequence[Person], fiscal_year: int
) -> HouseholdLevy | None:
    """The guardians' 所得割額 of ``fiscal_year`` summed; None when a guardian has no assessment of that year or the
    assessment does not itemise the 所得割 (a register file of the original format)."""
    if not guardians:
        return None
    total, non_taxable = 0, True
    for person in guardians:
        assessment = registry_repository.find_tax_assessment(session, tenant_id, person.id, fiscal_year)
        if assessment is None:
            return None
        if assessment.non_taxable:
            continue
        non_taxable = False
        if assessment.municipal_income_levy is None:
            return None
        total += assessment.municipal_income_levy
    return HouseholdLevy(fiscal_year, total, non_taxable)


def person_by_code(session: Session, tenant_id: uuid.UUID, resident_code: str | None) -> Person | None:
    if not resident_code:
        return None
    return session.execute(
        select(Person).where(Person.tenant_id == tenant_id, Person.resident_code == resident_code)
    ).scalar_one_or_none()


def guardians_in_register(session: Session, application: Application) -> list[Person] | None:
    """The form's guardians as register entries: the applicant's own entry, and each other guardian found by name
    (variants folded: 髙橋 = 高橋) in the household of the applicant or of a child. None when one is not found: the
    household's income cannot then be read whole."""
    data = application.data
    tenant_id = application.tenant_id
    applicant = (
        registry_repository.find_person(session, tenant_id, application.applicant_person_id)
        if application.applicant_person_id
        else None
    )
    candidates: dict[uuid.UUID, Person] = {}
    households = [applicant.household] if applicant is not None else []
    for child in data.get("children") or []:
        person = person_by_code(session, tenant_id, (child or {}).get("resident_code"))
        if person is not None:
            households.append(person.household)
    for household in households:
        candidates.update((member.id, member) for member in household.residents)
    found: list[Person] = []
    for index, guardian in enumerate(data.get("guardians") or []):
        key = jp.name_search_key(str((guardian or {}).get("name") or ""))
        match = next((p for p in candidates.values() if jp.name_search_key(p.full_name) == key), None)
        if match is None and index == 0 and applicant is not None:
            match = applicant  # the first guardian is the applicant, however they wrote their name
        if match is None:
            return None
        if match not in found:
            found.append(match)
    return found


def levy_for_application(session: Session, application: Application, month: date) -> tuple[HouseholdLevy | None, bool]:
    """The household's 所得割額 for ``month`` (None when it may not or cannot be read) and whether the parent
    consented to the lookup (/tax_lookup_consent)."""
    consented = bool(application.data.get("tax_lookup_consent"))
    if not consented:
        return None, False
    guardians = guardians_in_register(session, application)
    if guardians is None:
        return None, True
    return household_levy(session, application.tenant_id, guardians, levy_fiscal_year(month)), True
