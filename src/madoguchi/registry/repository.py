"""Queries over the resident register and the tax assessments. Every function takes (session, tenant_id, ...)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date
from typing import TypedDict, Unpack

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from madoguchi import jp
from madoguchi.registry.models import Person, TaxAssessment

#: Above every code point a key can hold: ``key >= q AND key < q + _AFTER`` is "the key begins with q".
_AFTER = "\U0010ffff"


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


class SearchCriteria(TypedDict, total=False):
    """What the register may be searched by; every criterion given must match."""

    name_kana: str
    name: str
    birth_date: date | None
    resident_code: str


def search_statement(tenant_id: uuid.UUID, *, limit: int, **criteria: Unpack[SearchCriteria]) -> Select[Person]:
    """The query of :func:`search_people` (the benchmark explains it)."""
    stmt = select(Person).where(Person.tenant_id == tenant_id)
    if name_kana := criteria.get("name_kana"):
        stmt = stmt.where(*_starts_with(Person.kana_search_key, jp.kana_search_key(name_kana)))
    if name := criteria.get("name"):
        stmt = stmt.where(*_starts_with(Person.name_search_key, jp.name_search_key(name)))
    if (birth_date := criteria.get("birth_date")) is not None:
        stmt = stmt.where(Person.birth_date == birth_date)
    if resident_code := criteria.get("resident_code"):
        stmt = stmt.where(Person.resident_code == resident_code)
    order = (Person.family_name_kana, Person.given_name_kana, Person.birth_date, Person.id)
    return stmt.order_by(*order).limit(limit)


def search_people(
    session: Session, tenant_id: uuid.UUID, *, limit: int, **criteria: Unpack[SearchCriteria]
) -> list[Person]:
    """People matching every criterion given, in kana order.

    Name and reading are matched folded (``jp.name_search_key``, ``jp.kana_search_key``: 高橋 finds 髙橋, やまだ finds
    ヤマダ) against the start of family + given name, the way a counter asks: 高橋, 高橋一郎, たかはし. The stored
    keys are indexed after ``tenant_id``, so a search reads a range of the index, never the whole register.
    """
    return list(session.execute(search_statement(tenant_id, limit=limit, **criteria)).scalars())


def _starts_with(column: InstrumentedAttribute[str], prefix: str) -> tuple[ColumnElement[bool], ...]:
    # A range rather than LIKE: the same index range on both databases, with or without a known parameter.
    return (column >= prefix, column < prefix + _AFTER)


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
