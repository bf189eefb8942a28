"""What an issued document states, assembled from the registry at the moment of issue.

The applicant's form says *which* certificate they want (whose, which year, which optional items); what
the certificate *states* comes only from the registry, so nothing an applicant typed can end up certified.
Rendering to a signed PDF arrives with the documents issue; these builders are its input.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from madoguchi import jp
from madoguchi.applications.models import Application
from madoguchi.childcare import notices as childcare_notices
from madoguchi.crypto import DataKeyMissing, Sealer
from madoguchi.documents.application_copy import application_copy
from madoguchi.documents.certification_notice import childcare_certification
from madoguchi.documents.receipt import receipt_content
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
    """The person concerned (本人: ``subject_person_id``), whom the certificate is about: the applicant's own entry only
    when they filed for themselves or their household; never the applicant by default (decision 0036)."""
    if application.subject_person_id is None:
        raise Conflict("The person concerned is not linked to the resident register; a clerk must link them first.")
    person = session.execute(select(Person).where(Person.id == application.subject_person_id)).scalar_one_or_none()
    if person is None:
        raise Conflict("The resident record of the person concerned no longer exists.")
    return person


# --- 住民票の写し and 除票の写し ----------------------------------------------------------------------------

#: Who may ask for a 個人番号入り copy (住民基本台帳法12条, 番号利用法): the person and their household.
#: Besides these, an agent whose copy the rules send by post to the person's registered address (decision 0036);
#: a third party never gets it.
INDIVIDUAL_NUMBER_REQUESTERS = frozenset({"self", "household_member", "legal_representative"})
#: ``/record`` of the form: a current record (住民票) or one removed from the register (除票).
CURRENT_RECORD, REMOVED_RECORD = "resident", "removed"


def requester_relationship(application: Application) -> str:
    """Who asks, as the form says (``/requester/relationship``): self, household_member, agent or third_party."""
    return str((application.data.get("requester") or {}).get("relationship") or "self")


def may_include_individual_number(application: Application) -> bool:
    """Whether this request may have the 個人番号 printed: asked by the person, their household or their legal
    representative, or by an agent (whose copy then goes by post to the person's registered address, never to the
    agent: ``Application.forced_delivery``). Never for a third party."""
    relationship = requester_relationship(application)
    if relationship == "agent":
        return application.forced_delivery == "mail"
    return relationship in INDIVIDUAL_NUMBER_REQUESTERS


def _basic_entry(person: Person) -> dict[str, Any]:
    """基礎証明事項 (住民基本台帳法12条の3第7項): name (with 旧氏; 通称 and 国籍・地域 for a foreign resident),
    birth date, sex, address and the date it was set. All a third party is ever given; every copy starts from it."""
    entry: dict[str, Any] = {
        "resident_code": person.resident_code,  # finds the record again at rendering; printed only if chosen
        "name": person.full_name,
        "name_kana": person.full_name_kana,
        "birth_date": person.birth_date.isoformat(),
        "birth_date_wareki": jp.to_wareki(person.birth_date),
        "sex": person.sex,
        "address_set_on": person.address_set_on.isoformat(),
    }
    # 旧氏 and 通称, once registered, go with the name on every copy: they cannot be left off one of them.
    if person.former_surname:
        entry["former_surname"] = person.former_surname
        if person.former_surname_kana:
            entry["former_surname_kana"] = person.former_surname_kana
    if person.is_foreign_resident:
        entry["foreign_resident"] = True
        entry["nationality"] = person.nationality
        if person.alias:
            entry["alias"] = person.alias
            if person.alias_kana:
                entry["alias_kana"] = person.alias_kana
    return entry


def _optional(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _full_entry(person: Person, include: dict[str, Any], *, individual_number: bool) -> dict[str, Any]:
    """What the person or their household (or an agent for them) gets: the register's items, the optional ones
    only when chosen (住民基本台帳法12条5項)."""
    entry = _basic_entry(person)
    # 住民となった年月日; for a foreign resident the 外国人住民となった年月日 (30条の45), printed under that label.
    entry["became_resident_on"] = person.became_resident_on.isoformat()
    if person.notified_on:
        entry["notified_on"] = person.notified_on.isoformat()  # 届出の年月日: always, where the register has it
    if include.get("previous_address"):
        entry["previous_address"] = person.previous_address
    if include.get("relationship"):
        entry["relationship"] = person.relation_to_head
    if include.get("domicile") and not person.is_foreign_resident:  # a foreign resident has no 本籍
        entry["domicile"] = person.domicile
        entry["domicile_head"] = person.domicile_head
    if include.get("foreign_resident_items") and person.is_foreign_resident:
        entry["foreign_resident_items"] = {
            "category": person.foreign_resident_category,
            "residence_status": person.residence_status,
            "period_of_stay": person.period_of_stay,
            "period_of_stay_ends_on": _optional(person.period_of_stay_ends_on),
            "residence_card_number": person.residence_card_number,
        }
    if include.get("resident_record_code"):
        entry["resident_record_code"] = person.resident_code
    if individual_number:
        if person.individual_number_encrypted is None:
            raise Conflict(f"The register holds no Individual Number for {person.full_name}; a clerk must check it.")
        # A flag only: the number is decrypted when the PDF is drawn (``for_rendering``), never stored here.
        entry["individual_number_included"] = True
    return entry


def _removal(person: Person) -> dict[str, Any]:
    return {
        "removed_on": _optional(person.removed_on),
        "reason": person.removal_reason,
        "moved_out_to": person.moved_out_to,
    }


def _persons_of_the_request(person: Person, data: dict[str, Any], record: str) -> list[Person]:
    """The persons the copy is of: the applicant, the household or those picked from it; current persons for a
    住民票, removed ones for a 除票 (a copy never mixes the two)."""
    removed = record == REMOVED_RECORD
    household = person.household.members
    scope = data.get("scope", "self")
    if scope == "whole_household":
        persons = [m for m in household if m.is_removed == removed]
    elif scope == "selected":
        wanted = set(data.get("selected_members") or [])
        persons = [m for m in household if m.resident_code in wanted]
        if not persons:
            raise Conflict("None of the selected persons belongs to the applicant's household.")
    else:
        persons = [person]
    if any(m.is_removed != removed for m in persons) or not persons:
        if removed:
            raise Conflict("A copy of the 除票 is only for persons removed from the register (moved out, died).")
        raise Conflict("A selected person is no longer in the register: request a copy of the 除票 for them.")
    return persons


def residency_certificate(session: Session, application: Application) -> dict[str, Any]:
    """住民票の写し (or 除票の写し), as the register states it and with exactly the items the request may have."""
    person = _applicant_person(session, application)
    data = application.data
    include = data.get("include") or {}
    record = data.get("record") or CURRENT_RECORD
    persons = _persons_of_the_request(person, data, record)
    # 第三者 (12条の3): 基礎証明事項 only, whatever was ticked.
    third_party = requester_relationship(application) == "third_party"
    individual_number = bool(include.get("individual_number")) and may_include_individual_number(application)
    # A 除票 states where its person lived when removed; a household's copy, the household's address.
    address = persons[0].address if record == REMOVED_RECORD else person.address
    entries = []
    for member in persons:
        entry = (
            _basic_entry(member) if third_party else _full_entry(member, include, individual_number=individual_number)
        )
        if record == REMOVED_RECORD:
            entry["removal"] = _removal(member)
            if member.address != address:
                entry["address"] = member.address
        entries.append(entry)
    content: dict[str, Any] = {
        "record": record,
        "address": address,
        "postal_code": person.postal_code,
        "persons": entries,
        "copies": data.get("copies", 1),
        "purpose": data.get("purpose"),
    }
    if third_party:
        content["basic_items_only"] = True
    elif include.get("relationship"):
        # 世帯主の氏名 goes with 続柄 (7条4号): printed only when that item was chosen.
        head = person.household.head
        content["head_of_household"] = head.full_name if head else None
    return content


def states_individual_number(content: dict[str, Any]) -> bool:
    """Whether the certificate made from ``content`` prints a 個人番号 (特定個人情報 under 番号利用法)."""
    return any(person.get("individual_number_included") for person in content.get("persons") or [])


def for_rendering(
    session: Session, tenant_id: uuid.UUID, kind: str, content: dict[str, Any], data_key: str
) -> dict[str, Any]:
    """``content`` with what is drawn on the PDF but never stored: the 個人番号 of each person whose entry asks
    for it, decrypted from the register now. The stored content keeps the flag only, so the number is in no JSON,
    API answer, email or log; the signed PDF is the one place it is written."""
    persons = content.get("persons") or []
    if kind != "residency_certificate" or not states_individual_number(content):
        return content
    try:
        sealer = Sealer(data_key)
    except DataKeyMissing:
        raise Conflict("The Individual Number cannot be printed: no data key is configured.") from None
    codes = [p["resident_code"] for p in persons if p.get("individual_number_included")]
    sealed = dict(
        session.execute(
            select(Person.resident_code, Person.individual_number_encrypted).where(
                Person.tenant_id == tenant_id, Person.resident_code.in_(codes)
            )
        ).all()
    )
    rendered = []
    for entry in persons:
        if entry.get("individual_number_included"):
            token = sealed.get(entry["resident_code"])
            if token is None:
                raise Conflict("The register no longer holds the Individual Number to print; a clerk must check it.")
            try:
                number = sealer.open(tenant_id, token)
            except ValueError:
                raise Conflict("The Individual Number on record cannot be decrypted; a clerk must check it.") from None
            entry = {**entry, "individual_number": number}
        rendered.append(entry)
    return {**content, "persons": rendered}


# --- 課税・所得証明書 ------------------------------------------------------------------------------------------------


def tax_request_errors(session: Session, application: Application, data: dict[str, Any]) -> dict[str, list[str]]:
    """What the register says of a tax certificate request (``data``, a draft's or a complete one): no
    assessment of that year (with the 1月1日 rule when the person moved here after 1 January), or a 非課税証明書
    asked for a year the person was taxed. Empty when the register supports it, or cannot tell (the person
    concerned not linked yet, e.g. an agent's request: a clerk checks)."""
    fiscal_year = data.get("fiscal_year")
    person_id = application.subject_person_id
    if person_id is None or not isinstance(fiscal_year, int):
        return {}
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


BUILDERS = {
    "residency_certificate": residency_certificate,
    "tax_certificate": tax_certificate,
    # 利用決定通知書 and 保留通知書 (decision 0042): from the published allocation and the certification.
    "childcare_decision": childcare_notices.decision_content,
    "childcare_waitlist": childcare_notices.waitlist_content,
    "childcare_certification": childcare_certification,
    "application_copy": application_copy,
    # 領収書 of the fees paid (decision 0046).
    "payment_receipt": receipt_content,
}

#: Certificates that may be issued with no clerk when the tenant enables auto-issue.
AUTO_ISSUABLE = frozenset({"residency_certificate", "tax_certificate"})
#: Documents that are only ever downloaded, never posted or handed over (no delivery, whatever the form chose).
ELECTRONIC_ONLY = frozenset({"application_copy", "payment_receipt"})


def build(session: Session, application: Application, kind: str) -> dict[str, Any]:
    builder = BUILDERS.get(kind)
    if builder is None:
        raise Conflict(f"No document of kind '{kind}' can be issued.")
    return builder(session, application)
