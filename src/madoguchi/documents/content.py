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
from madoguchi.registry.models import Person, TaxAssessment
from madoguchi.tenancy.models import Tenant


def new_serial(tenant: Tenant, today: date) -> str:
    return f"{tenant.local_government_code}-{today:%Y%m%d}-{secrets.token_hex(4).upper()}"


def _applicant_person(session: Session, application: Application) -> Person:
    """The person concerned (本人: ``subject_person_id``), whom the certificate is about: the applicant's own entry only
    when they filed for themselves or their household; never the applicant by default (decision 0036)."""
    if application.subject_person_id is None:
        raise Conflict("The person concerned is not linked to the resident register; a clerk must link them first.")
    person = session.execute(select(Person).where(Person.id == application.subject_person_id)).scalar_one_or_none()
    if person is None:
        raise Conflict("The resident record of the person concerned no longer exists.")
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


def tax_certificate(session: Session, application: Application) -> dict[str, Any]:
    person = _applicant_person(session, application)
    data = application.data
    fiscal_year = data.get("fiscal_year")
    assessment = session.execute(
        select(TaxAssessment).where(TaxAssessment.person_id == person.id, TaxAssessment.fiscal_year == fiscal_year)
    ).scalar_one_or_none()
    if assessment is None:
        raise Conflict(f"There is no tax assessment of fiscal year {fiscal_year} for the applicant.")
    kind = data.get("kind", "taxation")
    if kind == "non_taxable" and not assessment.non_taxable:
        raise Conflict("The applicant was taxed in that fiscal year: a non-taxable certificate cannot be issued.")
    content: dict[str, Any] = {
        "kind": kind,
        "fiscal_year": fiscal_year,
        "fiscal_year_label": jp.fiscal_year_label_ja(assessment.fiscal_year),
        "income_year": jp.income_year_for_fiscal_year(assessment.fiscal_year),
        "name": person.full_name,
        "name_kana": person.full_name_kana,
        "birth_date": person.birth_date.isoformat(),
        "address_on_jan1": assessment.address_on_jan1,
        "income": {
            "salary": assessment.salary_income,
            "business": assessment.business_income,
            "pension": assessment.pension_income,
            "other": assessment.other_income,
            "total": assessment.total_income,
        },
        "deductions": assessment.deductions,
        "taxable_income": assessment.taxable_income,
        "dependents": assessment.dependents,
        "non_taxable": assessment.non_taxable,
        "copies": data.get("copies", 1),
    }
    if kind in ("taxation", "non_taxable"):
        content["tax"] = {"municipal": assessment.municipal_tax, "prefectural": assessment.prefectural_tax}
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
