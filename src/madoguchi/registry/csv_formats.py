"""Parse and validate the registry CSV files a municipality imports (no database here).

Three kinds of file, each UTF-8 (a BOM is accepted) or Shift_JIS (CP932, what municipal back-office
systems and Excel on Japanese Windows write; :func:`decode_registry_csv`) with a header row naming its
columns in any order:

* ``residents`` — the resident register (住民基本台帳): one row per person, grouped into
  households by ``household_code``;
* ``tax`` — inhabitant tax assessments (住民税の課税情報): one row per taxpayer and fiscal year;
* ``facilities`` — childcare facilities (保育施設) with their capacity per age class.

:func:`parse_registry_csv` reports *every* problem, each with the physical line it starts on (the
header is line 1; a quoted field spanning lines pushes the following rows down, as an editor
shows them), and returns typed, normalized rows: ``date`` objects, ``int`` amounts, ``bool``
flags and ``None`` for an empty optional field. Names and address texts are kept exactly as
written (only surrounding whitespace is stripped) so 外字 and variation sequences survive; codes,
digits, dates and amounts typed full-width are NFKC-normalized.

Checks that need the database, such as a tax row naming a resident who is not registered, are
the importer's job. Individual Numbers are never echoed in an error message.

The column tuples (:data:`RESIDENT_COLUMNS`, :data:`TAX_COLUMNS`, :data:`FACILITY_COLUMNS`) are the
canonical order in which writers (exports, demo data) emit the columns.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TextIO

from madoguchi.jp import (
    clean_name,
    fiscal_year_of,
    is_katakana,
    is_valid_individual_number,
    normalize_input,
    normalize_postal_code,
)
from madoguchi.jp import today as japan_today

__all__ = [
    "COLUMNS",
    "FACILITY_COLUMNS",
    "FACILITY_KINDS",
    "HEAD_OF_HOUSEHOLD",
    "KINDS",
    "RELATIONSHIPS",
    "RESIDENT_COLUMNS",
    "SEXES",
    "SMALL_SCALE_MAX_CAPACITY",
    "TAX_COLUMNS",
    "ParseResult",
    "RowError",
    "parse_registry_csv",
]

HEAD_OF_HOUSEHOLD = "世帯主"
# 続柄 as the resident register writes them, relative to the head of household.
RELATIONSHIPS: tuple[str, ...] = (
    HEAD_OF_HOUSEHOLD,
    "妻",
    "夫",
    "子",
    "父",
    "母",
    "祖父",
    "祖母",
    "孫",
    "兄",
    "姉",
    "弟",
    "妹",
    "子の妻",
    "子の夫",
    "妻の父",
    "妻の母",
    "夫の父",
    "夫の母",
    "同居人",
    "縁故者",
)
SEXES: tuple[str, ...] = ("male", "female")
FACILITY_KINDS: Mapping[str, str] = {
    "nursery": "認可保育所",
    "certified_center": "認定こども園",
    "small_scale": "小規模保育事業",
}
# 小規模保育事業 takes children aged 0-2 only, 6 to 19 of them (Child and Child Care Support Act).
SMALL_SCALE_MAX_CAPACITY = 19
SMALL_SCALE_AGES = range(3)
MIN_BIRTH_YEAR = 1900
MIN_FISCAL_YEAR = 2015
PROGRESS_EVERY = 500
HOUSEHOLD_CODE_MAX_LENGTH = 20
# The columns that make a household's address; every member must have the same values.
ADDRESS_COLUMNS: tuple[str, ...] = ("postal_code", "prefecture", "municipality", "town", "block", "building")
INCOME_COLUMNS: tuple[str, ...] = ("salary_income", "business_income", "pension_income", "other_income")
CAPACITY_COLUMNS: tuple[str, ...] = tuple(f"capacity_age_{age}" for age in range(6))


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
class ParseResult:
    """What :func:`parse_registry_csv` found.

    ``rows`` holds the rows without any error, typed and normalized, keyed by column name in
    canonical order; ``lines[i]`` is the line where ``rows[i]`` starts, for errors only the importer can
    find (a tax row naming a resident the register doesn't have). Import only when ``errors`` is empty:
    a partial register is worse than none.
    """

    kind: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


# --- Field parsers ---------------------------------------------------------------------------


class _Invalid(Exception):
    """A field value is invalid; the message is safe to show (it never holds an Individual Number)."""


def _shown(raw: str) -> str:
    text = raw.strip()
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _as_given(raw: str) -> str:
    # Names and address texts: 外字, compatibility ideographs and IVS must reach storage unchanged.
    return clean_name(raw)


def _normalized(raw: str) -> str:
    return normalize_input(raw)


def _kana(raw: str) -> str:
    # Readings are normalized (half-width ｻﾄｳ -> サトウ) because people search by them; unlike
    # kanji names they have no variant glyphs to lose.
    value = normalize_input(raw)
    if not is_katakana(value):
        raise _Invalid(f"not katakana: {_shown(raw)}")
    return value


def _digits(count: int) -> Callable[[str], str]:
    pattern = re.compile(f"[0-9]{{{count}}}")

    def parse(raw: str) -> str:
        value = normalize_input(raw)
        if not pattern.fullmatch(value):
            raise _Invalid(f"not {count} digits: {_shown(raw)}")
        return value

    return parse


def _household_code(raw: str) -> str:
    value = normalize_input(raw)
    if len(value) > HOUSEHOLD_CODE_MAX_LENGTH:
        raise _Invalid(f"longer than {HOUSEHOLD_CODE_MAX_LENGTH} characters: {_shown(raw)}")
    return value


_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _date(raw: str) -> date:
    value = normalize_input(raw)
    try:
        if not _ISO_DATE.fullmatch(value):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise _Invalid(f"not a date (YYYY-MM-DD): {_shown(raw)}") from None


def _choice(options: Iterable[str], what: str) -> Callable[[str], str]:
    allowed = frozenset(options)

    def parse(raw: str) -> str:
        value = normalize_input(raw)
        if value not in allowed:
            raise _Invalid(f"not {what}: {_shown(raw)}")
        return value

    return parse


def _postal_code(raw: str) -> str:
    try:
        return normalize_postal_code(raw)
    except ValueError:
        raise _Invalid(f"not a postal code (NNN-NNNN): {_shown(raw)}") from None


def _individual_number(raw: str) -> str:
    value = normalize_input(raw)
    if not re.fullmatch(r"[0-9]{12}", value):
        raise _Invalid("not 12 digits")
    if not is_valid_individual_number(value):
        raise _Invalid("invalid check digit")
    return value


_AMOUNT = re.compile(r"[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+")


def _amount(raw: str) -> int:
    value = normalize_input(raw)
    if not _AMOUNT.fullmatch(value):
        raise _Invalid(f"not a non-negative amount in yen: {_shown(raw)}")
    return int(value.replace(",", ""))


def _count(raw: str) -> int:
    value = normalize_input(raw)
    if not re.fullmatch(r"[0-9]+", value):
        raise _Invalid(f"not a non-negative integer: {_shown(raw)}")
    return int(value)


def _year(raw: str) -> int:
    value = normalize_input(raw)
    if not re.fullmatch(r"[0-9]{4}", value):
        raise _Invalid(f"not a year (YYYY): {_shown(raw)}")
    return int(value)


def _boolean(raw: str) -> bool:
    value = normalize_input(raw)
    if value not in ("true", "false"):
        raise _Invalid(f"not true or false: {_shown(raw)}")
    return value == "true"


_FACILITY_CODE = re.compile(r"[A-Z0-9-]{3,20}")


def _facility_code(raw: str) -> str:
    value = normalize_input(raw)
    if not _FACILITY_CODE.fullmatch(value):
        raise _Invalid(f"not 3-20 characters of A-Z, 0-9 and '-': {_shown(raw)}")
    return value


# --- Formats ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Column:
    name: str
    parse: Callable[[str], Any]
    required: bool = True


@dataclass
class _Record:
    """One data row while it is being checked."""

    line: int
    raw: dict[str, str]
    # Fields that parsed (None for an empty optional one); a field that failed is absent.
    values: dict[str, Any]

    def has(self, *columns: str) -> bool:
        return all(column in self.values for column in columns)


_RowCheck = Callable[[_Record, date], Iterator[tuple[str | None, str]]]
_CrossCheck = Callable[[list[_Record]], Iterator[RowError]]


@dataclass(frozen=True)
class _Format:
    columns: tuple[_Column, ...]
    check_row: _RowCheck
    check_rows: _CrossCheck

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)


_RESIDENT_SPEC: tuple[_Column, ...] = (
    _Column("resident_code", _digits(11)),  # 住民票コード
    _Column("household_code", _household_code),
    _Column("family_name", _as_given),
    _Column("given_name", _as_given),
    _Column("family_name_kana", _kana),
    _Column("given_name_kana", _kana),
    _Column("birth_date", _date),
    _Column("sex", _choice(SEXES, "male or female")),
    _Column("relationship", _choice(RELATIONSHIPS, "a relationship (続柄) of the register")),
    _Column("postal_code", _postal_code),
    _Column("prefecture", _as_given),
    _Column("municipality", _as_given),
    _Column("town", _as_given),
    _Column("block", _normalized),
    _Column("building", _as_given, required=False),
    _Column("became_resident_on", _date),  # 住民となった年月日
    _Column("address_set_on", _date),  # 住所を定めた年月日
    _Column("notified_on", _date, required=False),  # 届出の年月日
    _Column("previous_address", _as_given, required=False),  # 従前の住所
    _Column("domicile", _as_given, required=False),  # 本籍
    _Column("domicile_head", _as_given, required=False),  # 筆頭者
    _Column("individual_number", _individual_number, required=False),  # 個人番号
)

_TAX_SPEC: tuple[_Column, ...] = (
    _Column("resident_code", _digits(11)),
    _Column("fiscal_year", _year),
    _Column("address_on_jan1", _as_given),  # 1月1日現在の住所
    *(_Column(name, _amount) for name in INCOME_COLUMNS),
    _Column("total_income", _amount),  # 総所得金額
    _Column("deductions", _amount),  # 所得控除額
    _Column("taxable_income", _amount),  # 課税標準額
    _Column("municipal_tax", _amount),  # 市町村民税
    _Column("prefectural_tax", _amount),  # 道府県民税
    _Column("dependents", _count),  # 扶養人数
    _Column("non_taxable", _boolean),  # 非課税
)

_FACILITY_SPEC: tuple[_Column, ...] = (
    _Column("facility_code", _facility_code),
    _Column("name_ja", _as_given),
    _Column("name_en", _normalized),
    _Column("kind", _choice(FACILITY_KINDS, "nursery, certified_center or small_scale")),
    _Column("postal_code", _postal_code),
    _Column("address", _as_given),
    *(_Column(name, _count) for name in CAPACITY_COLUMNS),
    _Column("accepts_short_hours", _boolean),  # 短時間認定の受け入れ
)

RESIDENT_COLUMNS: tuple[str, ...] = tuple(column.name for column in _RESIDENT_SPEC)
TAX_COLUMNS: tuple[str, ...] = tuple(column.name for column in _TAX_SPEC)
FACILITY_COLUMNS: tuple[str, ...] = tuple(column.name for column in _FACILITY_SPEC)


def _check_resident(record: _Record, today: date) -> Iterator[tuple[str | None, str]]:
    values, raw = record.values, record.raw
    birth = values.get("birth_date")
    if birth is not None:
        if birth.year < MIN_BIRTH_YEAR:
            yield "birth_date", f"before {MIN_BIRTH_YEAR}: {_shown(raw['birth_date'])}"
            birth = None
        elif birth > today:
            yield "birth_date", f"in the future: {_shown(raw['birth_date'])}"
            birth = None
    for column in ("became_resident_on", "address_set_on", "notified_on"):
        when = values.get(column)
        if when is None:
            continue
        if when > today:
            yield column, f"in the future: {_shown(raw[column])}"
        elif birth is not None and when < birth:
            yield column, f"before birth_date: {_shown(raw[column])}"


def _duplicates(records: list[_Record], key: Callable[[_Record], Any]) -> Iterator[tuple[_Record, int]]:
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


def _check_residents(records: list[_Record]) -> Iterator[RowError]:
    for record, first in _duplicates(records, lambda r: r.values.get("resident_code")):
        yield RowError(
            record.line, "resident_code", f"duplicate of line {first}: {_shown(record.raw['resident_code'])}"
        )
    for record, first in _duplicates(records, lambda r: r.values.get("individual_number")):
        yield RowError(record.line, "individual_number", f"same Individual Number as line {first}")

    households: dict[str, list[_Record]] = {}
    for record in records:
        if record.has("household_code"):
            households.setdefault(record.values["household_code"], []).append(record)
    for code, members in households.items():
        heads = [m for m in members if m.values.get("relationship") == HEAD_OF_HOUSEHOLD]
        for extra in heads[1:]:
            yield RowError(
                extra.line, "relationship", f"second head of household {code!r} (the first is on line {heads[0].line})"
            )
        # With an unreadable relationship the head may be that member: the field error says enough.
        if not heads and all(m.has("relationship") for m in members):
            yield RowError(members[0].line, "relationship", f"household {code!r} has no head ({HEAD_OF_HOUSEHOLD})")
        reference = heads[0] if heads else members[0]
        for member in members:
            if member is reference:
                continue
            for column in ADDRESS_COLUMNS:
                if member.has(column) and reference.has(column) and member.values[column] != reference.values[column]:
                    yield RowError(
                        member.line,
                        column,
                        f"differs from the household's address on line {reference.line}: {_shown(member.raw[column])}",
                    )


def _check_tax(record: _Record, today: date) -> Iterator[tuple[str | None, str]]:
    values, raw = record.values, record.raw
    latest = fiscal_year_of(today) + 1
    if record.has("fiscal_year") and not MIN_FISCAL_YEAR <= values["fiscal_year"] <= latest:
        yield "fiscal_year", f"outside {MIN_FISCAL_YEAR}-{latest}: {_shown(raw['fiscal_year'])}"
    if record.has(*INCOME_COLUMNS, "total_income"):
        expected = sum(values[column] for column in INCOME_COLUMNS)
        if values["total_income"] != expected:
            yield "total_income", f"not the sum of the incomes ({expected:,}): {_shown(raw['total_income'])}"
    if record.has("total_income", "deductions", "taxable_income"):
        # 課税標準額 is rounded down to the thousand yen (地方税法 20条の4の2).
        expected = max(0, values["total_income"] - values["deductions"]) // 1000 * 1000
        if values["taxable_income"] != expected:
            yield (
                "taxable_income",
                f"not total_income - deductions rounded down to 1,000 yen ({expected:,}): "
                f"{_shown(raw['taxable_income'])}",
            )
    if (
        record.has("non_taxable", "municipal_tax", "prefectural_tax")
        and values["non_taxable"]
        and (values["municipal_tax"] or values["prefectural_tax"])
    ):
        yield "non_taxable", "true but municipal_tax or prefectural_tax is not 0"


def _check_tax_rows(records: list[_Record]) -> Iterator[RowError]:
    def key(record: _Record) -> tuple[str, int] | None:
        return (
            (record.values["resident_code"], record.values["fiscal_year"])
            if record.has("resident_code", "fiscal_year")
            else None
        )

    for record, first in _duplicates(records, key):
        yield RowError(record.line, None, f"duplicate resident_code and fiscal_year (the first is on line {first})")


def _check_facility(record: _Record, today: date) -> Iterator[tuple[str | None, str]]:
    values, raw = record.values, record.raw
    if values.get("kind") != "small_scale":
        return
    for age, column in enumerate(CAPACITY_COLUMNS):
        if age not in SMALL_SCALE_AGES and values.get(column):
            yield column, f"must be 0 for small_scale, which takes ages 0-2 only: {_shown(raw[column])}"
    if record.has(*CAPACITY_COLUMNS):
        total = sum(values[column] for column in CAPACITY_COLUMNS)
        if total > SMALL_SCALE_MAX_CAPACITY:
            yield None, f"small_scale total capacity {total} exceeds {SMALL_SCALE_MAX_CAPACITY}"


def _check_facilities(records: list[_Record]) -> Iterator[RowError]:
    for record, first in _duplicates(records, lambda r: r.values.get("facility_code")):
        yield RowError(
            record.line, "facility_code", f"duplicate of line {first}: {_shown(record.raw['facility_code'])}"
        )


_FORMATS: Mapping[str, _Format] = {
    "residents": _Format(_RESIDENT_SPEC, _check_resident, _check_residents),
    "tax": _Format(_TAX_SPEC, _check_tax, _check_tax_rows),
    "facilities": _Format(_FACILITY_SPEC, _check_facility, _check_facilities),
}
KINDS: tuple[str, ...] = tuple(_FORMATS)
COLUMNS: Mapping[str, tuple[str, ...]] = {kind: fmt.names for kind, fmt in _FORMATS.items()}


# --- Parsing ---------------------------------------------------------------------------------


def _check_header(header: list[str], fmt: _Format) -> tuple[list[str], list[RowError]]:
    names = [name.strip() for name in header]
    if names:
        # A BOM survives when the caller opened the file as "utf-8" rather than "utf-8-sig".
        names[0] = names[0].removeprefix("\ufeff").strip()
    errors: list[RowError] = []
    seen: set[str] = set()
    for position, name in enumerate(names, start=1):
        if not name:
            errors.append(RowError(1, None, f"column {position} has no name"))
        elif name in seen:
            errors.append(RowError(1, name, "duplicate column"))
        elif name not in fmt.names:
            errors.append(RowError(1, name, "unknown column"))
        seen.add(name)
    errors.extend(RowError(1, name, "missing column") for name in fmt.names if name not in seen)
    return names, errors


def _parse_fields(line: int, header: list[str], fields: list[str], fmt: _Format) -> tuple[_Record, list[RowError]]:
    raw = dict(zip(header, fields, strict=True))
    values: dict[str, Any] = {}
    errors: list[RowError] = []
    for column in fmt.columns:
        text = raw[column.name]
        if not text.strip():
            if column.required:
                errors.append(RowError(line, column.name, "required"))
            else:
                values[column.name] = None
            continue
        try:
            values[column.name] = column.parse(text)
        except _Invalid as invalid:
            errors.append(RowError(line, column.name, str(invalid)))
    return _Record(line, raw, values), errors


#: A file that is valid UTF-8 is UTF-8 (Shift_JIS text with kana or kanji almost never is); otherwise CP932,
#: Microsoft's Shift_JIS with the NEC/IBM extensions (①, ㈱, 髙, 﨑) that municipal systems and Excel write.
class UnreadableEncoding(ValueError):
    """The bytes are neither UTF-8 nor Shift_JIS text; the message says where and what to do."""


#: Control characters never found in a text export. Python's CP932 decodes every byte but 0x81-0x9F and
#: 0xE0-0xFC on its own, so binary data "decodes"; its NULs and other controls give it away.
_BINARY = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def decode_registry_csv(data: bytes) -> tuple[str, str]:
    """The text of a registry CSV and the name of the encoding it was read in (UTF-8 first, then CP932)."""
    try:
        return data.decode("utf-8-sig"), "UTF-8"
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("cp932")
    except UnicodeDecodeError as error:
        line, byte = data.count(b"\n", 0, error.start) + 1, data[error.start]
    else:
        control = _BINARY.search(text)
        if control is None:
            return text, "Shift_JIS (CP932)"
        line, byte = text.count("\n", 0, control.start()) + 1, ord(control.group())
    raise UnreadableEncoding(
        f"line {line}: byte 0x{byte:02X} is neither UTF-8 nor Shift_JIS (CP932) text; "
        "save the CSV as UTF-8 or Shift_JIS"
    )


def parse_registry_csv(
    kind: str,
    stream: TextIO | Iterable[str],
    progress: Callable[[int], None] | None = None,
    *,
    today: date | None = None,
) -> ParseResult:
    """Parse and validate a registry CSV of ``kind`` (``residents``, ``tax`` or ``facilities``).

    ``stream`` is a text file (open it with ``newline=""`` so quoted line breaks survive) or any
    iterable of lines. ``progress`` is called with the number of data rows processed every
    500 rows and once at the end. ``today`` (default: the current date) bounds dates that may
    not lie in the future and the latest fiscal year.

    Every error is collected, each on the line where its row starts; the header is line 1 and
    blank lines are skipped. Raises ``ValueError`` for an unknown ``kind``.
    """
    fmt = _FORMATS.get(kind)
    if fmt is None:
        raise ValueError(f"unknown registry kind {kind!r}: expected one of {', '.join(KINDS)}")
    if isinstance(stream, str):
        raise TypeError("pass a file or an iterable of lines, not the CSV text itself")
    today = today or japan_today()
    result = ParseResult(kind)
    reader = csv.reader(stream, strict=True)
    processed = 0

    def report() -> None:
        if progress is not None:
            progress(processed)

    try:
        header = next(reader)
    except StopIteration:
        result.errors.append(RowError(1, None, "empty file: a header row is required"))
        report()
        return result
    except csv.Error as error:
        result.errors.append(RowError(1, None, f"malformed CSV: {error}"))
        report()
        return result
    names, header_errors = _check_header(header, fmt)
    if header_errors:
        # Without the right columns every row would fail the same way; the header says it all.
        result.errors.extend(header_errors)
        report()
        return result

    records: list[_Record] = []
    errors: list[RowError] = []
    last_line = reader.line_num
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            errors.append(RowError(last_line + 1, None, f"malformed CSV: {error}"))
            last_line = reader.line_num
            continue
        # line_num counts physical lines read, so a row starts just after the previous one ended.
        line, last_line = last_line + 1, reader.line_num
        if not fields:
            continue
        processed += 1
        if len(fields) != len(names):
            errors.append(RowError(line, None, f"expected {len(names)} fields, found {len(fields)}"))
        else:
            record, field_errors = _parse_fields(line, names, fields, fmt)
            errors.extend(field_errors)
            errors.extend(RowError(line, column, message) for column, message in fmt.check_row(record, today))
            records.append(record)
        if processed % PROGRESS_EVERY == 0:
            report()
    errors.extend(fmt.check_rows(records))

    # sort() is stable: within a line, field errors keep column order and precede cross-row ones.
    errors.sort(key=lambda error: error.line)
    bad_lines = {error.line for error in errors}
    result.errors = errors
    good = [record for record in records if record.line not in bad_lines]
    result.rows = [record.values for record in good]
    result.lines = [record.line for record in good]
    if processed % PROGRESS_EVERY != 0 or processed == 0:
        report()
    return result
