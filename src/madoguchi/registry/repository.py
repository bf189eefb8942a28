"""Queries over the resident register and the tax assessments. Every function takes (session, tenant_id, ...)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from madoguchi.registry.models import Person, TaxAssessment


def find_person(session: Session, tenant_id: uuid.UUID, person_id: uuid.UUID) -> Person | None:
    stmt = select(Person).where(Person.tenant_id == tenant_id, Person.id == person_id)
    return session.execute(stmt).scalar_one_or_none()


def full_names(session: Session, tenant_id: uuid.UUID, person_ids: Iterable[uuid.UUID | None]) -> dict[uuid.UUID, str]:
    """Person id -> full name, for the given ids that are people of this municipality."""
    wanted = {person_id for person_id in person_ids if person_id is not None}
    if not wanted:
        return {}
    stmt = select(Person).where(Person.tenant_id == tenant_id, Person.id.in_(wanted))
    return {person.id: person.full_name for person in session.execute(stmt).scalars()}


def search_people(
    session: Session,
    tenant_id: uuid.UUID,
    *,
    name_kana: str = "",
    name: str = "",
    birth_date: date | None = None,
    resident_code: str = "",
    limit: int,
) -> list[Person]:
    """People matching every criterion given (kana and name as substrings of family + given), in kana order."""
    stmt = select(Person).where(Person.tenant_id == tenant_id)
    if name_kana:
        stmt = stmt.where((Person.family_name_kana + Person.given_name_kana).contains(name_kana, autoescape=True))
    if name:
        stmt = stmt.where((Person.family_name + Person.given_name).contains(name, autoescape=True))
    if birth_date is not None:
        stmt = stmt.where(Person.birth_date == birth_date)
    if resident_code:
        stmt = stmt.where(Person.resident_code == resident_code)
    order = (Person.family_name_kana, Person.given_name_kana, Person.birth_date, Person.id)
    return list(session.execute(stmt.order_by(*order).limit(limit)).scalars())


def tax_years(session: Session, tenant_id: uuid.UUID, person_id: uuid.UUID) -> list[int]:
    """The fiscal years the register has a tax assessment of the person for, newest first."""
    stmt = select(TaxAssessment.fiscal_year).where(
        TaxAssessment.tenant_id == tenant_id, TaxAssessment.person_id == person_id
    )
    return sorted(session.execute(stmt).scalars(), reverse=True)


def find_tax_assessment(
    session: Session, tenant_id: uuid.UUID, person_id: uuid.UUID, fiscal_year: int
) -> TaxAssessment | None:
    stmt = select(TaxAssessment).where(
        TaxAssessment.tenant_id == tenant_id,
        TaxAssessment.person_id == person_id,
        TaxAssessment.fiscal_year == fiscal_year,
    )
    return session.execute(stmt).scalar_one_or_none()
