"""The fiscal years a tax certificate form offers a person: only those the register has an assessment of, labelled
as certificates label them, with the 1月1日 rule explained to someone who moved here (decision 0032)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

from sqlalchemy.orm import Session

from madoguchi.registry import repository as registry_repository
from madoguchi.web import schema_form


def asks_fiscal_year(form: dict[str, Any]) -> bool:
    return any(p.get("x-widget") == "fiscal-year" for p in (form.get("properties") or {}).values())


def with_tax_years(
    choices: schema_form.Choices,
    form: dict[str, Any],
    session: Session,
    tenant_id: uuid.UUID,
    person_id: uuid.UUID | None,
) -> schema_form.Choices:
    """``choices`` with the person's fiscal years; unchanged when the form asks none or no person is linked (then
    every year is offered and the answer is checked against the register when it is saved)."""
    if person_id is None or not asks_fiscal_year(form):
        return choices
    person = registry_repository.find_person(session, tenant_id, person_id)
    if person is None:
        return choices
    years = registry_repository.tax_years(session, tenant_id, person_id)
    note = schema_form.tax_year_note(years, person.became_resident_on)
    return replace(choices, fiscal_years=years, fiscal_year_note=note)
