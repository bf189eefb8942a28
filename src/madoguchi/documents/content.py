"""What an issued document states, assembled from the registry at the moment of issue.

The applicant's form says *which* certificate they want (whose, which year, which optional items); what
the certificate *states* comes only from the registry, so nothing an applicant typed can end up certified.
Rendering to a signed PDF arrives with the documents issue; these builders are its input.
"""

from __future__ import annotations

import secrets
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from madoguchi import jp
from madoguchi.applications.models import Application
from madoguchi.errors import Conflict
from madoguchi.registry import repository as registry_repository
from madoguchi.registry import tax_items
from madoguchi.registry.models import Person, TaxAssessment
from madoguchi.tenancy.models import Tenant


class NotIssuable(Conflict):
    """The register cannot support the document asked for (no assessment of that year, ...): the clerk is told
    why, and the application can still be rejected with that reason or withdrawn (decision 0032)."""

    slug, title = "not-issuable", "The register cannot support this certificate"


def new_serial(tenant: Tenant, today: date) -> str:
    return f"{tenant.local_government_code}-{today:%Y%m%d}-{secrets.token_hex(4).upper()}"


def _applicant_person(session: Session, application: Application) -> Person:
    if application.applicant_person_id is None:
        raise Conflict("The applicant is not linked to a person in the resident register; a clerk must issue this.")
    person = session.execute(select(Person).where(Person.id == application.applicant_person_id)).scalar_one_or_none()
    if person is None:
        raise Conflict("The applicant's resident record no longer exists.")
    return person


def _person_entry(person: Person, include: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "resident_code": person.resident_code,
        "name": person.full_name,
        "name_kana": person.full_name_kana,
        "birth_date": person.birth_date.isoformat(),
        "birth_date_wareki": jp.to_wareki(person.birth_date),
        "sex": person.sex,
        "became_resident_on": person.became_resident_on.isoformat(),
        "address_set_on": person.address_set_on.isoformat(),
    }
    if include.get("relationship"):
        entry["relationship"] = person.relation_to_head
    if include.get("domicile"):
        entry["domicile"] = person.domicile
        entry["domicile_head"] = person.domicile_head
    if include.get("resident_record_code"):
        entry["resident_record_code"] = person.resident_code
    if include.get("individual_number"):
        # The number itself is decrypted only when the certificate is rendered; never copied into JSON.
        entry["individual_number_included"] = person.individual_number_encrypted is not None
    return entry


def residency_certificate(session: Session, application: Application) -> dict[str, Any]:
    person = _applicant_person(session, application)
    data = application.data
    include = data.get("include") or {}
    scope = data.get("scope", "self")
    members = person.household.members
    if scope == "whole_household":
        persons = list(members)
    elif scope == "selected":
        wanted = set(data.get("selected_members") or [])
        persons = [m for m in members if m.resident_code in wanted]
        if not persons:
            raise Conflict("None of the selected persons belongs to the applicant's household.")
    else:
        persons = [person]
    head = person.household.head
    return {
        "address": person.address,
        "postal_code": person.postal_code,
        "head_of_household": head.full_name if head else None,
        "persons": [_person_entry(p, include) for p in persons],
        "copies": data.get("copies", 1),
        "purpose": data.get("purpose"),
    }


# --- 課税・所得証明書 ------------------------------------------------------------------------------------------------


def tax_request_errors(session: Session, application: Application, data: dict[str, Any]) -> dict[str, list[str]]:
    """What the register says of a tax certificate request (``data``, a draft's or a complete one): no
    assessment of that year (with the 1月1日 rule when the person moved here after 1 January), or a 非課税証明書
    asked for a year the person was taxed. Empty when the register supports it, or cannot tell (no linked person:
    a clerk checks)."""
    fiscal_year = data.get("fiscal_year")
    if application.applicant_person_id is None or not isinstance(fiscal_year, int):
        return {}
    person_id = application.applicant_person_id
    assessment = registry_repository.find_tax_assessment(session, application.tenant_id, person_id, fiscal_year)
    if assessment is None:
        person = registry_repository.find_person(session, application.tenant_id, person_id)
        if person is not None and tax_items.latest_year_assessed_elsewhere(person.became_resident_on) >= fiscal_year:
            message = tax_items.LIVED_ELSEWHERE.format(
                since=person.became_resident_on.isoformat(), fiscal_year=fiscal_year
            )
        else:
            message = tax_items.NO_ASSESSMENT.format(fiscal_year=fiscal_year)
        return {"/fiscal_year": [message]}
    if data.get("kind") == "non_taxable" and not assessment.non_taxable:
        return {"/kind": [tax_items.TAXED_THAT_YEAR.format(fiscal_year=fiscal_year)]}
    return {}


def _given(assessment: TaxAssessment, columns: tuple[tuple[str, str], ...]) -> dict[str, int] | None:
    """The items of one section, or None when the register did not itemise it (a file of the original format)."""
    values = {name: getattr(assessment, name) for name, _label in columns}
    if all(value is None for value in values.values()):
        return None
    return {name: value or 0 for name, value in values.items()}


def tax_certificate(session: Session, application: Application) -> dict[str, Any]:
    """課税証明書 (income, deductions, dependants, taxes), 所得証明書 (income only) or 非課税証明書 (a year the person
    was not taxed), of the fiscal year asked, from the register. The year is labelled as certificates label it:
    令和7年度（令和6年中所得）."""
    person = _applicant_person(session, application)
    data = application.data
    refused = tax_request_errors(session, application, data)
    if refused:
        raise NotIssuable(next(iter(refused.values()))[0])
    fiscal_year = data["fiscal_year"]
    assessment = registry_repository.find_tax_assessment(session, application.tenant_id, person.id, fiscal_year)
    assert assessment is not None  # tax_request_errors said so
    kind = data.get("kind", "taxation")
    income_year = jp.income_year_for_fiscal_year(fiscal_year)
    content: dict[str, Any] = {
        "kind": kind,
        "fiscal_year": fiscal_year,
        "fiscal_year_label": jp.fiscal_year_label_ja(fiscal_year),
        "income_year": income_year,
        "income_year_label": jp.income_year_label_ja(income_year),
        "year_label": jp.tax_year_label_ja(fiscal_year),
        "name": person.full_name,
        "name_kana": person.full_name_kana,
        "birth_date": person.birth_date.isoformat(),
        "address_on_jan1": assessment.address_on_jan1,
        "revenues": _given(assessment, tax_items.REVENUES) or {},
        # Every kind of income, 0 where there was none; the original four are always in the register.
        "incomes": {name: getattr(assessment, name) or 0 for name, _label in tax_items.INCOMES},
        "income": {
            "salary": assessment.salary_income,
            "business": assessment.business_income,
            "pension": assessment.pension_income,
            "other": assessment.other_income,
            "total": assessment.total_income,
        },
        "non_taxable": assessment.non_taxable,
        "copies": data.get("copies", 1),
    }
    if kind == "income":
        return content  # 所得証明書: income only
    content["deductions"] = assessment.deductions
    content["deduction_items"] = _given(assessment, tax_items.DEDUCTIONS)
    content["dependents"] = assessment.dependents
    content["dependent_counts"] = _given(assessment, tax_items.DEPENDENTS)
    if kind == "taxation":
        content["taxable_income"] = assessment.taxable_income
        parts = _given(assessment, tax_items.TAX_PARTS) or {}
        forest = assessment.forest_environment_tax
        content["tax"] = {
            "municipal": assessment.municipal_tax,
            "prefectural": assessment.prefectural_tax,
            **parts,
            # 森林環境税 exists from fiscal 2024 only: before it the line is not printed at all (nor when the
            # municipality's file did not give it).
            **(
                {tax_items.FOREST_ENVIRONMENT_TAX[0]: forest}
                if fiscal_year >= tax_items.FOREST_ENVIRONMENT_TAX_FROM and forest is not None
                else {}
            ),
        }
    return content


def childcare_decision(session: Session, application: Application) -> dict[str, Any]:
    data = application.data
    child_code = (data.get("child") or {}).get("resident_code")
    child = None
    if child_code:
        child = session.execute(select(Person).where(Person.resident_code == child_code)).scalar_one_or_none()
    return {
        "child": _person_entry(child, {}) if child else {"name": (data.get("child") or {}).get("name")},
        "certification_category": data.get("certification_category"),
        "care_time": data.get("care_time"),
        "decision": application.state,
        "desired_start_month": data.get("desired_start_month"),
        "facility_code": (application.decision or {}).get("facility_code"),
    }


BUILDERS = {
    "residency_certificate": residency_certificate,
    "tax_certificate": tax_certificate,
    "childcare_decision": childcare_decision,
}

#: Certificates that may be issued with no clerk when the tenant enables auto-issue.
AUTO_ISSUABLE = frozenset({"residency_certificate", "tax_certificate"})


def build(session: Session, application: Application, kind: str) -> dict[str, Any]:
    builder = BUILDERS.get(kind)
    if builder is None:
        raise Conflict(f"No document of kind '{kind}' can be issued.")
    return builder(session, application)
