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
from madoguchi.db import new_id
from madoguchi.registry import tax_items
from madoguchi.registry.csv_fields import FOREIGN_RESIDENT_ITEMS
from madoguchi.registry.csv_formats import PROGRESS_EVERY, RowError
from madoguchi.registry.models import Facility, Household, Person, TaxAssessment, format_address

HOUSEHOLD_FIELDS = ("postal_code", "prefecture", "municipality", "town", "block", "building")
ADDRESS_PARTS = ("prefecture", "municipality", "town", "block", "building")
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
    "former_surname",
    "former_surname_kana",
    "removed_on",
    "removal_reason",
    "moved_out_to",
    "foreign_resident_category",
    *FOREIGN_RESIDENT_ITEMS,
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
    *tax_items.ITEMISED_COLUMNS,
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
        if name not in values:
            continue  # a column the file did not have (csv_formats: may_be_absent): left as the register has it
        if getattr(row, name) != values.get(name):
            setattr(row, name, values.get(name))
            changed = True
    return changed


class _RowRefused(Exception):
    def __init__(self, column: str, message: str) -> None:
        super().__init__(message)
        self.column, self.message = column, message


#: (created, changed) for one imported row.
Outcome = tuple[bool, bool]


def _run(
    report: ImportReport,
    rows: list[dict[str, Any]],
    lines: list[int],
    import_row: Callable[[dict[str, Any]], Outcome],
    progress: Progress | None,
) -> ImportReport:
    """The loop every importer shares: count outcomes, collect refusals with their lines, report progress."""
    for done, (row, line) in enumerate(zip(rows, lines, strict=True), 1):
        try:
            created, changed = import_row(row)
        except _RowRefused as refused:
            report.errors.append(RowError(line, refused.column, refused.message))
            continue
        report.created += created
        report.updated += (not created) and changed
        if progress and done % PROGRESS_EVERY == 0:
            progress(PROGRESS_EVERY)
    if progress:
        progress(len(rows) % PROGRESS_EVERY)
    return report


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

    def import_row(row: dict[str, Any]) -> Outcome:
        household = households.get(row["household_code"])
        removed = row.get("removed_on") is not None
        if household is None:
            # The id is set here, not at flush, so the person below can refer to it without a flush per row.
            household = households[row["household_code"]] = Household(
                id=new_id(), tenant_id=tenant_id, household_code=row["household_code"]
            )
            session.add(household)
            _set(household, row, HOUSEHOLD_FIELDS)
        elif not removed:
            # A removed member's row has the address they left from, not necessarily the household's today.
            _set(household, row, HOUSEHOLD_FIELDS)
        person = persons.get(row["resident_code"])
        created = person is None
        if person is None:
            person = persons[row["resident_code"]] = Person(tenant_id=tenant_id, resident_code=row["resident_code"])
            session.add(person)
        changed = _set(person, row, PERSON_FIELDS)
        at_removal = format_address(*(row[c] for c in ADDRESS_PARTS)) if removed else None
        if "removed_on" in row and person.address_at_removal != at_removal:
            person.address_at_removal, changed = at_removal, True
        if person.relation_to_head != row["relationship"]:
            person.relation_to_head, changed = row["relationship"], True
        if person.household_id != household.id:
            person.household_id, changed = household.id, True
        if row.get("individual_number"):
            assert sealer is not None
            person.individual_number_encrypted = sealer.seal(tenant_id, row["individual_number"])
        return created, changed

    return _run(report, rows, lines, import_row, progress)


def import_tax(
    session: Session,
    tenant_id: uuid.UUID,
    rows: list[dict[str, Any]],
    lines: list[int],
    *,
    progress: Progress | None = None,
) -> ImportReport:
    person_ids = dict(session.execute(select(Person.resident_code, Person.id)).all())
    existing = {(a.person_id, a.fiscal_year): a for a in session.execute(select(TaxAssessment)).scalars()}

    def import_row(row: dict[str, Any]) -> Outcome:
        person_id = person_ids.get(row["resident_code"])
        if person_id is None:
            raise _RowRefused("resident_code", "no such person in the resident register")
        assessment = existing.get((person_id, row["fiscal_year"]))
        created = assessment is None
        if assessment is None:
            assessment = TaxAssessment(tenant_id=tenant_id, person_id=person_id)
            session.add(assessment)
        # A file without the itemised columns (an older format) states only totals: items held from an earlier
        # file would no longer add up to them, so they are cleared rather than left as they were.
        return created, _set(assessment, {**dict.fromkeys(tax_items.ITEMISED_COLUMNS), **row}, TAX_FIELDS)

    return _run(ImportReport("tax"), rows, lines, import_row, progress)


def import_facilities(
    session: Session,
    tenant_id: uuid.UUID,
    rows: list[dict[str, Any]],
    lines: list[int],
    *,
    progress: Progress | None = None,
) -> ImportReport:
    existing = {f.facility_code: f for f in session.execute(select(Facility)).scalars()}

    def import_row(row: dict[str, Any]) -> Outcome:
        facility = existing.get(row["facility_code"])
        created = facility is None
        if facility is None:
            facility = Facility(tenant_id=tenant_id, facility_code=row["facility_code"])
            session.add(facility)
        changed = _set(facility, row, FACILITY_FIELDS)
        capacity = {str(age): row[f"capacity_age_{age}"] for age in range(6)}
        if facility.capacity_by_age != capacity:
            facility.capacity_by_age, changed = capacity, True
        return created, changed

    return _run(ImportReport("facilities"), rows, lines, import_row, progress)


IMPORTERS: dict[str, Callable[..., ImportReport]] = {
    "residents": import_residents,
    "tax": import_tax,
    "facilities": import_facilities,
}


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
    session.flush()
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
