"""Importing registry CSVs into the database: all rows or none.

Parsing and per-row validation live in ``csv_formats``; this module adds what only the database knows
(a tax row's resident code must exist) and writes the rows. Imports upsert by natural key (resident code,
household code, (resident code, fiscal year), facility code), so re-importing a corrected file is safe.
The caller commits once, only when there is no error at all.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from madoguchi.audit import operations as audit
from madoguchi.crypto import Sealer
from madoguchi.registry.csv_formats import RowError
from madoguchi.registry.models import Facility, Household, Person, TaxAssessment

HOUSEHOLD_FIELDS = ("postal_code", "prefecture", "municipality", "town", "block", "building")
PERSON_FIELDS = (
    "family_name",
    "given_name",
    "family_name_kana",
    "given_name_kana",
    "birth_date",
    "sex",
    "became_resident_on",
    "address_set_on",
    "notified_on",
    "previous_address",
    "domicile",
    "domicile_head",
)
TAX_FIELDS = (
    "fiscal_year",
    "address_on_jan1",
    "salary_income",
    "business_income",
    "pension_income",
    "other_income",
    "total_income",
    "deductions",
    "taxable_income",
    "municipal_tax",
    "prefectural_tax",
    "dependents",
    "non_taxable",
)
FACILITY_FIELDS = ("name_ja", "name_en", "kind", "postal_code", "address", "accepts_short_hours")

Progress = Callable[[int], None]


@dataclass
class ImportReport:
    kind: str
    created: int = 0
    updated: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def _set(row: Any, values: dict[str, Any], names: tuple[str, ...]) -> bool:
    changed = False
    for name in names:
        if getattr(row, name) != values.get(name):
            setattr(row, name, values.get(name))
            changed = True
    return changed


def import_residents(
    session: Session,
    tenant_id: uuid.UUID,
    rows: list[dict[str, Any]],
    lines: list[int],
    *,
    sealer: Sealer | None,
    progress: Progress | None = None,
) -> ImportReport:
    report = ImportReport("residents")
    if sealer is None and any(r.get("individual_number") for r in rows):
        report.errors.append(RowError(1, "individual_number", "no data key configured to encrypt Individual Numbers"))
        return report
    households = {h.household_code: h for h in session.execute(select(Household)).scalars()}
    persons = {p.resident_code: p for p in session.execute(select(Person)).scalars()}
    for done, row in enumerate(rows, 1):
        household = households.get(row["household_code"])
        if household is None:
            household = Household(tenant_id=tenant_id, household_code=row["household_code"])
            _set(household, row, HOUSEHOLD_FIELDS)
            session.add(household)
            households[row["household_code"]] = household
            session.flush()
        else:
            _set(household, row, HOUSEHOLD_FIELDS)
        person = persons.get(row["resident_code"])
        created = person is None
        if person is None:
            person = Person(tenant_id=tenant_id, resident_code=row["resident_code"])
            session.add(person)
            persons[row["resident_code"]] = person
        changed = _set(person, row, PERSON_FIELDS)
        if person.relation_to_head != row["relationship"]:
            person.relation_to_head, changed = row["relationship"], True
        if person.household_id != household.id:
            person.household_id, changed = household.id, True
        if row.get("individual_number"):
            assert sealer is not None
            person.individual_number_encrypted = sealer.seal(tenant_id, row["individual_number"])
        report.created += created
        report.updated += (not created) and changed
        if progress and done % 500 == 0:
            progress(500)
    session.flush()
    if progress:
        progress(len(rows) % 500)
    return report


def import_tax(
    session: Session,
    tenant_id: uuid.UUID,
    rows: list[dict[str, Any]],
    lines: list[int],
    *,
    progress: Progress | None = None,
) -> ImportReport:
    report = ImportReport("tax")
    person_ids = dict(session.execute(select(Person.resident_code, Person.id)).all())
    existing = {(a.person_id, a.fiscal_year): a for a in session.execute(select(TaxAssessment)).scalars()}
    for done, (row, line) in enumerate(zip(rows, lines, strict=True), 1):
        person_id = person_ids.get(row["resident_code"])
        if person_id is None:
            report.errors.append(RowError(line, "resident_code", "no such person in the resident register"))
            continue
        assessment = existing.get((person_id, row["fiscal_year"]))
        created = assessment is None
        if assessment is None:
            assessment = TaxAssessment(tenant_id=tenant_id, person_id=person_id)
            session.add(assessment)
        changed = _set(assessment, row, TAX_FIELDS)
        report.created += created
        report.updated += (not created) and changed
        if progress and done % 500 == 0:
            progress(500)
    if report.errors:
        return report
    session.flush()
    if progress:
        progress(len(rows) % 500)
    return report


def import_facilities(
    session: Session,
    tenant_id: uuid.UUID,
    rows: list[dict[str, Any]],
    lines: list[int],
    *,
    progress: Progress | None = None,
) -> ImportReport:
    report = ImportReport("facilities")
    existing = {f.facility_code: f for f in session.execute(select(Facility)).scalars()}
    for row in rows:
        facility = existing.get(row["facility_code"])
        created = facility is None
        if facility is None:
            facility = Facility(tenant_id=tenant_id, facility_code=row["facility_code"])
            session.add(facility)
        changed = _set(facility, row, FACILITY_FIELDS)
        capacity = {str(age): row[f"capacity_age_{age}"] for age in range(6)}
        if facility.capacity_by_age != capacity:
            facility.capacity_by_age, changed = capacity, True
        report.created += created
        report.updated += (not created) and changed
    session.flush()
    if progress:
        progress(len(rows))
    return report


IMPORTERS = {"residents": import_residents, "tax": import_tax, "facilities": import_facilities}


def import_rows(
    session: Session,
    tenant_id: uuid.UUID,
    kind: str,
    rows: list[dict[str, Any]],
    lines: list[int],
    *,
    sealer: Sealer | None = None,
    actor: str = "cli:registry-import",
    progress: Progress | None = None,
) -> ImportReport:
    """Write validated rows of one kind. On any error the caller must roll back (nothing is partial)."""
    if kind == "residents":
        report = import_residents(session, tenant_id, rows, lines, sealer=sealer, progress=progress)
    else:
        report = IMPORTERS[kind](session, tenant_id, rows, lines, progress=progress)
    if report.ok:
        audit.record(
            session,
            tenant_id,
            actor=actor,
            action=f"registry.import.{kind}",
            object_type="registry",
            object_id=kind,
            data={"rows": len(rows), "created": report.created, "updated": report.updated},
        )
    return report
