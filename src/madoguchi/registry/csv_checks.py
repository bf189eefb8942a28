"""The checks of registry CSV rows: each row on its own, then across rows (duplicates, households that
disagree), every problem a RowError at the line where its row starts."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from madoguchi.jp import (
    fiscal_year_of,
)
from madoguchi.registry import tax_items
from madoguchi.registry.csv_fields import (
    ADDRESS_COLUMNS,
    CAPACITY_COLUMNS,
    CARD_HOLDERS,
    FOREIGN_RESIDENT_ITEMS,
    HEAD_OF_HOUSEHOLD,
    MID_TO_LONG_TERM,
    MIN_BIRTH_YEAR,
    MIN_FISCAL_YEAR,
    MOVED_OUT,
    PERMANENT_RESIDENT,
    SMALL_SCALE_AGES,
    SMALL_SCALE_MAX_CAPACITY,
    WITH_PERIOD,
    shown,
)

# --- Results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RowError:
    """One problem in a CSV file, at the physical line where the offending row starts."""

    line: int
    column: str | None
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}: "
        return f"{where}{self.column}: {self.message}" if self.column else f"{where}{self.message}"


@dataclass
class CsvRecord:
    """One data row while it is being checked."""

    line: int
    raw: dict[str, str]
    # Fields that parsed (None for an empty optional one); a field that failed is absent.
    values: dict[str, Any]

    def has(self, *columns: str) -> bool:
        return all(column in self.values for column in columns)


RowCheck = Callable[[CsvRecord, date], Iterator[tuple[str | None, str]]]


def check_resident(record: CsvRecord, today: date) -> Iterator[tuple[str | None, str]]:
    values, raw = record.values, record.raw
    birth = values.get("birth_date")
    if birth is not None:
        if birth.year < MIN_BIRTH_YEAR:
            yield "birth_date", f"before {MIN_BIRTH_YEAR}: {shown(raw['birth_date'])}"
            birth = None
        elif birth > today:
            yield "birth_date", f"in the future: {shown(raw['birth_date'])}"
            birth = None
    for column in ("became_resident_on", "address_set_on", "notified_on"):
        when = values.get(column)
        if when is None:
            continue
        if when > today:
            yield column, f"in the future: {shown(raw[column])}"
        elif birth is not None and when < birth:
            yield column, f"before birth_date: {shown(raw[column])}"
    yield from _check_removal(values, raw, today)
    yield from _check_foreign_resident(values, raw)
    if values.get("former_surname_kana") and not values.get("former_surname"):
        yield "former_surname_kana", "given without former_surname (旧氏)"


def _check_removal(values: dict[str, Any], raw: dict[str, str], today: date) -> Iterator[tuple[str | None, str]]:
    """A 除票 has the day and the reason of its removal, and a 転出 says where to; a current record has none."""
    removed, reason = values.get("removed_on"), values.get("removal_reason")
    if removed is None:
        if raw.get("removed_on", "").strip():
            return  # unreadable: the field error says so
        if reason:
            yield "removal_reason", "given without removed_on"
        if values.get("moved_out_to"):
            yield "moved_out_to", "given without removed_on"
        return
    if removed > today:
        yield "removed_on", f"in the future: {shown(raw['removed_on'])}"
    for column in ("became_resident_on", "address_set_on"):
        since = values.get(column)
        if since is not None and removed < since:
            yield "removed_on", f"before {column} ({since.isoformat()}): {shown(raw['removed_on'])}"
            break
    if not reason and not raw.get("removal_reason", "").strip():
        yield "removal_reason", "required with removed_on (転出, 死亡 or 職権消除)"
    if reason == MOVED_OUT and not values.get("moved_out_to"):
        yield "moved_out_to", "required for 転出 (the address moved out to)"
    if reason and reason != MOVED_OUT and values.get("moved_out_to"):
        yield "moved_out_to", f"only for 転出, not {reason}"


def _check_foreign_resident(values: dict[str, Any], raw: dict[str, str]) -> Iterator[tuple[str | None, str]]:
    """Each 区分 has its own items; a Japanese resident has none of them, a foreign resident no 本籍."""

    def given(column: str) -> bool:
        # Written in the file, readable or not: an unreadable value has its own error, not "required" as well.
        return bool(raw.get(column, "").strip())

    category = values.get("foreign_resident_category")
    if category is None:
        if given("foreign_resident_category"):
            return  # unreadable: the field error says so, and the items cannot be judged without it
        for column in FOREIGN_RESIDENT_ITEMS:
            if given(column):
                yield column, "only for a foreign resident (set foreign_resident_category)"
        return
    if not given("nationality"):
        yield "nationality", f"required for a foreign resident ({category})"
    for column in ("domicile", "domicile_head"):
        if given(column):
            yield column, "a foreign resident has no 本籍 (住民基本台帳法30条の45)"
    status = values.get("residence_status")
    if category == MID_TO_LONG_TERM:
        for column in ("residence_status", "period_of_stay"):
            if not given(column):
                yield column, f"required for a {MID_TO_LONG_TERM}"
        if status == PERMANENT_RESIDENT and given("period_of_stay_ends_on"):
            yield "period_of_stay_ends_on", f"a {PERMANENT_RESIDENT}'s stay has no end date"
        elif status is not None and status != PERMANENT_RESIDENT and not given("period_of_stay_ends_on"):
            yield "period_of_stay_ends_on", f"required for a {MID_TO_LONG_TERM} other than {PERMANENT_RESIDENT}"
    elif given("residence_status"):
        yield "residence_status", f"only a {MID_TO_LONG_TERM} has a 在留資格, not a {category}"
    if category not in WITH_PERIOD:
        for column in ("period_of_stay", "period_of_stay_ends_on"):
            if given(column):
                yield column, f"a {category} has no period of stay"
    elif category != MID_TO_LONG_TERM and not given("period_of_stay"):
        yield "period_of_stay", f"required for a {category} (the period on the permit)"
    if category in CARD_HOLDERS:
        if not given("residence_card_number"):
            yield "residence_card_number", f"required for a {category}"
    elif given("residence_card_number"):
        yield "residence_card_number", f"a {category} has no 在留カード or 特別永住者証明書"


def _duplicates(records: list[CsvRecord], key: Callable[[CsvRecord], Any]) -> Iterator[tuple[CsvRecord, int]]:
    """Yield every record whose key was already seen, with the line it was first seen on."""
    first_line: dict[Any, int] = {}
    for record in records:
        value = key(record)
        if value is None:
            continue
        if value in first_line:
            yield record, first_line[value]
        else:
            first_line[value] = record.line


def _removed(record: CsvRecord) -> bool:
    return record.values.get("removed_on") is not None or bool(record.raw.get("removed_on", "").strip())


def check_residents(records: list[CsvRecord]) -> Iterator[RowError]:
    for record, first in _duplicates(records, lambda r: r.values.get("resident_code")):
        yield RowError(record.line, "resident_code", f"duplicate of line {first}: {shown(record.raw['resident_code'])}")
    for record, first in _duplicates(records, lambda r: r.values.get("individual_number")):
        yield RowError(record.line, "individual_number", f"same Individual Number as line {first}")

    households: dict[str, list[CsvRecord]] = {}
    for record in records:
        if record.has("household_code"):
            households.setdefault(record.values["household_code"], []).append(record)
    for code, members in households.items():
        # A removed member (除票) keeps the 続柄 they had: only current members make the household's one head.
        current = [m for m in members if not _removed(m)]
        heads = [m for m in current if m.values.get("relationship") == HEAD_OF_HOUSEHOLD]
        for extra in heads[1:]:
            yield RowError(
                extra.line, "relationship", f"second head of household {code!r} (the first is on line {heads[0].line})"
            )
        # With an unreadable relationship the head may be that member: the field error says enough.
        if current and not heads and all(m.has("relationship") for m in current):
            yield RowError(current[0].line, "relationship", f"household {code!r} has no head ({HEAD_OF_HOUSEHOLD})")
        if not current:
            continue
        # The household's address is its current members' (a removed member's row has the address they left from).
        reference = heads[0] if heads else current[0]
        for member in current:
            if member is reference:
                continue
            for column in ADDRESS_COLUMNS:
                if member.has(column) and reference.has(column) and member.values[column] != reference.values[column]:
                    yield RowError(
                        member.line,
                        column,
                        f"differs from the household's address on line {reference.line}: {shown(member.raw[column])}",
                    )


def _sum_of(values: dict[str, Any], columns: Iterable[str]) -> int:
    return sum(values.get(column) or 0 for column in columns)


def _itemised(values: dict[str, Any], columns: Iterable[str]) -> bool:
    """Whether the row gives any of ``columns`` (an empty or absent one is 'not itemised')."""
    return any(values.get(column) is not None for column in columns)


def check_tax(record: CsvRecord, today: date) -> Iterator[tuple[str | None, str]]:
    values, raw = record.values, record.raw
    latest = fiscal_year_of(today) + 1
    if record.has("fiscal_year") and not MIN_FISCAL_YEAR <= values["fiscal_year"] <= latest:
        yield "fiscal_year", f"outside {MIN_FISCAL_YEAR}-{latest}: {shown(raw['fiscal_year'])}"
    incomes = [name for name, _label in tax_items.INCOMES]
    if record.has(*incomes, "total_income"):
        expected = _sum_of(values, incomes)
        if values["total_income"] != expected:
            yield "total_income", f"not the sum of the incomes ({expected:,}): {shown(raw['total_income'])}"
    yield from _check_tax_items(record)
    if record.has("total_income", "deductions", "taxable_income"):
        # 課税標準額 is rounded down to the thousand yen (地方税法 20条の4の2).
        expected = max(0, values["total_income"] - values["deductions"]) // 1000 * 1000
        if values["taxable_income"] != expected:
            yield (
                "taxable_income",
                f"not total_income - deductions rounded down to 1,000 yen ({expected:,}): "
                f"{shown(raw['taxable_income'])}",
            )
    if (
        record.has("non_taxable", "municipal_tax", "prefectural_tax")
        and values["non_taxable"]
        and (values["municipal_tax"] or values["prefectural_tax"])
    ):
        yield "non_taxable", "true but municipal_tax or prefectural_tax is not 0"


def _check_tax_items(record: CsvRecord) -> Iterator[tuple[str | None, str]]:
    """The itemised columns (decision 0032): each group adds up to its total, when the row gives it."""
    values, raw = record.values, record.raw
    for revenue, income in (("salary_revenue", "salary_income"), ("pension_revenue", "pension_income")):
        if record.has(revenue, income) and values[revenue] is not None and values[income] > values[revenue]:
            yield income, f"more than {revenue} ({values[revenue]:,}): {shown(raw[income])}"
    deductions = [name for name, _label in tax_items.DEDUCTIONS]
    if record.has("deductions", *deductions) and _itemised(values, deductions):
        expected = _sum_of(values, deductions)
        if values["deductions"] != expected:
            yield "deductions", f"not the sum of the itemised deductions ({expected:,}): {shown(raw['deductions'])}"
    counted = tax_items.DEPENDENT_KINDS_COUNTED
    if record.has("dependents", *counted) and _itemised(values, counted):
        expected = _sum_of(values, counted)
        if values["dependents"] != expected:
            yield (
                "dependents",
                f"not general + specific + elderly + young dependents ({expected}): {shown(raw['dependents'])}",
            )
    if (values.get("qualifying_spouse") or 0) > 1:
        yield "qualifying_spouse", f"not 0 or 1: {shown(raw['qualifying_spouse'])}"
    if (values.get("cohabiting_elderly_parents") or 0) > (values.get("elderly_dependents") or 0):
        yield (
            "cohabiting_elderly_parents",
            f"more than elderly_dependents, of which they are a part: {shown(raw['cohabiting_elderly_parents'])}",
        )
    for total, parts in tax_items.TAX_TOTALS.items():
        if record.has(total, *parts) and _itemised(values, parts):
            expected = _sum_of(values, parts)
            if values[total] != expected:
                yield total, f"not {parts[0]} + {parts[1]} ({expected:,}): {shown(raw[total])}"
    forest = tax_items.FOREST_ENVIRONMENT_TAX[0]
    if record.has(forest, "fiscal_year") and values[forest] is not None:
        fiscal_year = values["fiscal_year"]
        levied = fiscal_year >= tax_items.FOREST_ENVIRONMENT_TAX_FROM
        allowed = (0, tax_items.FOREST_ENVIRONMENT_TAX_YEN) if levied else (0,)
        if values[forest] not in allowed or (values[forest] and values.get("non_taxable")):
            yield forest, f"must be {tax_items.forest_environment_tax_rule(fiscal_year)}: {shown(raw[forest])}"


def check_tax_rows(records: list[CsvRecord]) -> Iterator[RowError]:
    def key(record: CsvRecord) -> tuple[str, int] | None:
        return (
            (record.values["resident_code"], record.values["fiscal_year"])
            if record.has("resident_code", "fiscal_year")
            else None
        )

    for record, first in _duplicates(records, key):
        yield RowError(record.line, None, f"duplicate resident_code and fiscal_year (the first is on line {first})")


def check_facility(record: CsvRecord, today: date) -> Iterator[tuple[str | None, str]]:
    values, raw = record.values, record.raw
    if values.get("kind") != "small_scale":
        return
    for age, column in enumerate(CAPACITY_COLUMNS):
        if age not in SMALL_SCALE_AGES and values.get(column):
            yield column, f"must be 0 for small_scale, which takes ages 0-2 only: {shown(raw[column])}"
    if record.has(*CAPACITY_COLUMNS):
        total = sum(values[column] for column in CAPACITY_COLUMNS)
        if total > SMALL_SCALE_MAX_CAPACITY:
            yield None, f"small_scale total capacity {total} exceeds {SMALL_SCALE_MAX_CAPACITY}"


def check_facilities(records: list[CsvRecord]) -> Iterator[RowError]:
    for record, first in _duplicates(records, lambda r: r.values.get("facility_code")):
        yield RowError(record.line, "facility_code", f"duplicate of line {first}: {shown(record.raw['facility_code'])}")
