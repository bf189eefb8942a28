"""Parse and validate the registry CSV files a municipality imports (no database here).

Three kinds of file, each UTF-8 (a BOM is accepted) or Shift_JIS (CP932, what municipal back-office
systems and Excel on Japanese Windows write; :func:`decode_registry_csv`; 外字 beyond CP932 only in UTF-8) with
a header row naming its columns in any order:

* ``residents`` — the resident register (住民基本台帳): one row per person, grouped into
  households by ``household_code``; a removed person (除票: moved out, died, struck off) keeps a row with
  ``removed_on`` and ``removal_reason``, and a foreign resident's row carries the items of 住民基本台帳法30条の45
  (``foreign_resident_category`` and what that 区分 states) instead of 本籍・筆頭者;
* ``tax`` — inhabitant tax assessments (住民税の課税情報): one row per taxpayer and fiscal year, with the totals
  and, optionally, the items a certificate states (収入, 所得 by kind, each 所得控除, dependants by kind, 所得割 and
  均等割, 森林環境税: ``registry.tax_items``); a file without those columns imports as before;
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

This module is the formats' public face and the parsing; ``csv_fields`` parses single fields and ``csv_checks``
checks rows, alone and together.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TextIO

from madoguchi.jp import today as japan_today
from madoguchi.registry import tax_items
from madoguchi.registry.csv_checks import (
    CsvRecord,
    RowCheck,
    RowError,
    check_facilities,
    check_facility,
    check_resident,
    check_residents,
    check_tax,
    check_tax_rows,
)
from madoguchi.registry.csv_fields import (
    CAPACITY_COLUMNS,
    FACILITY_KINDS,
    FOREIGN_RESIDENT_CATEGORIES,
    HEAD_OF_HOUSEHOLD,
    INCOME_COLUMNS,
    PROGRESS_EVERY,
    RELATIONSHIPS,
    REMOVAL_REASONS,
    RESIDENCE_STATUSES,
    SEXES,
    SMALL_SCALE_MAX_CAPACITY,
    InvalidField,
    amount,
    as_given,
    boolean,
    choice,
    count,
    digits,
    facility_code,
    household_code,
    individual_number,
    iso_date,
    kana,
    normalized,
    period_of_stay,
    postal_code,
    residence_card_number,
    year,
)

__all__ = [
    "COLUMNS",
    "FACILITY_COLUMNS",
    "FACILITY_KINDS",
    "HEAD_OF_HOUSEHOLD",
    "KINDS",
    "PROGRESS_EVERY",
    "RELATIONSHIPS",
    "RESIDENT_COLUMNS",
    "SEXES",
    "SMALL_SCALE_MAX_CAPACITY",
    "TAX_COLUMNS",
    "ParseResult",
    "RowError",
    "UnreadableEncoding",
    "decode_registry_csv",
    "parse_registry_csv",
]


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


# --- Formats ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Column:
    name: str
    parse: Callable[[str], Any]
    required: bool = True
    #: A column added after files were already being written (旧氏, 除票, 外国人住民): a file without it still
    #: imports, and an import without it leaves what the register holds for it unchanged.
    may_be_absent: bool = False


_CrossCheck = Callable[[list[CsvRecord]], Iterator[RowError]]


@dataclass(frozen=True)
class _Format:
    columns: tuple[_Column, ...]
    check_row: RowCheck
    check_rows: _CrossCheck

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)


_RESIDENT_SPEC: tuple[_Column, ...] = (
    _Column("resident_code", digits(11)),  # 住民票コード
    _Column("household_code", household_code),
    _Column("family_name", as_given),
    _Column("given_name", as_given),
    _Column("family_name_kana", kana),
    _Column("given_name_kana", kana),
    _Column("birth_date", iso_date),
    _Column("sex", choice(SEXES, "male or female")),
    _Column("relationship", choice(RELATIONSHIPS, "a relationship (続柄) of the register")),
    _Column("postal_code", postal_code),
    _Column("prefecture", as_given),
    _Column("municipality", as_given),
    _Column("town", as_given),
    _Column("block", normalized),
    _Column("building", as_given, required=False),
    _Column("became_resident_on", iso_date),  # 住民となった年月日
    _Column("address_set_on", iso_date),  # 住所を定めた年月日
    _Column("notified_on", iso_date, required=False),  # 届出の年月日
    _Column("previous_address", as_given, required=False),  # 従前の住所
    _Column("domicile", as_given, required=False),  # 本籍
    _Column("domicile_head", as_given, required=False),  # 筆頭者
    _Column("individual_number", individual_number, required=False),  # 個人番号
    _Column("former_surname", as_given, required=False, may_be_absent=True),  # 旧氏
    _Column("former_surname_kana", kana, required=False, may_be_absent=True),  # 旧氏の振り仮名
    _Column("removed_on", iso_date, required=False, may_be_absent=True),  # 消除の年月日 (除票)
    _Column(
        "removal_reason", choice(REMOVAL_REASONS, "転出, 死亡 or 職権消除"), required=False, may_be_absent=True
    ),  # 消除の事由
    _Column("moved_out_to", as_given, required=False, may_be_absent=True),  # 転出先
    _Column(  # 外国人住民の区分 (住民基本台帳法30条の45)
        "foreign_resident_category",
        choice(FOREIGN_RESIDENT_CATEGORIES, "a category of 住民基本台帳法30条の45 (e.g. 中長期在留者, 特別永住者)"),
        required=False,
        may_be_absent=True,
    ),
    _Column("nationality", as_given, required=False, may_be_absent=True),  # 国籍・地域
    _Column(  # 在留資格
        "residence_status",
        choice(RESIDENCE_STATUSES, "a 在留資格 of a 中長期在留者 (e.g. 留学, 永住者)"),
        required=False,
        may_be_absent=True,
    ),
    _Column("period_of_stay", period_of_stay, required=False, may_be_absent=True),  # 在留期間 (上陸期間, 仮滞在期間)
    _Column("period_of_stay_ends_on", iso_date, required=False, may_be_absent=True),  # 在留期間の満了の日
    _Column("residence_card_number", residence_card_number, required=False, may_be_absent=True),  # 在留カード等の番号
    _Column("alias", as_given, required=False, may_be_absent=True),  # 通称
    _Column("alias_kana", kana, required=False, may_be_absent=True),  # 通称の振り仮名
)

_TAX_SPEC: tuple[_Column, ...] = (
    _Column("resident_code", digits(11)),
    _Column("fiscal_year", year),
    _Column("address_on_jan1", as_given),  # 1月1日現在の住所
    *(_Column(name, amount) for name in INCOME_COLUMNS),
    _Column("total_income", amount),  # 合計所得金額
    _Column("deductions", amount),  # 所得控除額合計
    _Column("taxable_income", amount),  # 課税標準額
    _Column("municipal_tax", amount),  # 市町村民税
    _Column("prefectural_tax", amount),  # 道府県民税
    _Column("dependents", count),  # 扶養人数
    _Column("non_taxable", boolean),  # 非課税
    # The itemised format (decision 0032): optional columns, each may be absent or empty (not itemised).
    *(_Column(name, amount, required=False, may_be_absent=True) for name, _label in tax_items.REVENUES),
    *(_Column(name, amount, required=False, may_be_absent=True) for name in tax_items.ADDED_INCOMES),
    *(_Column(name, amount, required=False, may_be_absent=True) for name, _label in tax_items.DEDUCTIONS),
    *(_Column(name, count, required=False, may_be_absent=True) for name, _label in tax_items.DEPENDENTS),
    *(_Column(name, amount, required=False, may_be_absent=True) for name, _label in tax_items.TAX_PARTS),
    _Column(tax_items.FOREST_ENVIRONMENT_TAX[0], amount, required=False, may_be_absent=True),
)

_FACILITY_SPEC: tuple[_Column, ...] = (
    _Column("facility_code", facility_code),
    _Column("name_ja", as_given),
    _Column("name_en", normalized),
    _Column("kind", choice(FACILITY_KINDS, "nursery, certified_center or small_scale")),
    _Column("postal_code", postal_code),
    _Column("address", as_given),
    *(_Column(name, count) for name in CAPACITY_COLUMNS),
    _Column("accepts_short_hours", boolean),  # 短時間認定の受け入れ
)

RESIDENT_COLUMNS: tuple[str, ...] = tuple(column.name for column in _RESIDENT_SPEC)
TAX_COLUMNS: tuple[str, ...] = tuple(column.name for column in _TAX_SPEC)
FACILITY_COLUMNS: tuple[str, ...] = tuple(column.name for column in _FACILITY_SPEC)


_FORMATS: Mapping[str, _Format] = {
    "residents": _Format(_RESIDENT_SPEC, check_resident, check_residents),
    "tax": _Format(_TAX_SPEC, check_tax, check_tax_rows),
    "facilities": _Format(_FACILITY_SPEC, check_facility, check_facilities),
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
    errors.extend(
        RowError(1, column.name, "missing column")
        for column in fmt.columns
        if column.name not in seen and not column.may_be_absent
    )
    return names, errors


def _parse_fields(line: int, header: list[str], fields: list[str], fmt: _Format) -> tuple[CsvRecord, list[RowError]]:
    raw = dict(zip(header, fields, strict=True))
    values: dict[str, Any] = {}
    errors: list[RowError] = []
    for column in fmt.columns:
        if column.name not in raw:
            continue  # a column that may be absent, and is
        text = raw[column.name]
        if not text.strip():
            if column.required:
                errors.append(RowError(line, column.name, "required"))
            else:
                values[column.name] = None
            continue
        try:
            values[column.name] = column.parse(text)
        except InvalidField as invalid:
            errors.append(RowError(line, column.name, str(invalid)))
    return CsvRecord(line, raw, values), errors


class UnreadableEncoding(ValueError):
    """The bytes are neither UTF-8 nor Shift_JIS text; the message says on which line, and what to do."""

    def __init__(self, line: int, message: str, *, gaiji: bool = False) -> None:
        super().__init__(f"line {line}: {message}")
        #: The line of the offending byte; ``gaiji``: it is a user-defined 外字 of a Shift_JIS file.
        self.line, self.gaiji = line, gaiji


#: Control characters never found in a text export. Python's CP932 decodes every byte but 0x81-0x9F and
#: 0xE0-0xFC on its own, so binary data "decodes"; its NULs and other controls give it away.
_BINARY = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
#: What CP932 decodes bytes to that no Shift_JIS text means: the user-defined area 0xF040-0xF9FC (each system's
#: own 外字, whose pictures only that system knows) to U+E000-E757, and the unassigned single bytes 0x80, 0xA0 and
#: 0xFD-0xFF to U+0080, U+F8F0-F8F3.
_NOT_SHIFT_JIS_TEXT = re.compile("[\ue000-\ue757\u0080\uf8f0-\uf8f3]")
_SAVE_AS = "save the CSV as UTF-8 or Shift_JIS"
_GAIJI_ONLY_IN_UTF8 = (
    "a user-defined character (外字) of the exporting system, which Shift_JIS cannot carry: "
    "names with 外字 (𠮷, variation sequences such as 葛󠄀) can only be imported from a UTF-8 file"
)


def decode_registry_csv(data: bytes) -> tuple[str, str]:
    """The text of a registry CSV and the name of the encoding it was read in.

    UTF-8 (with or without a BOM) first: Shift_JIS text with kana or kanji is almost never valid UTF-8, so a file
    that decodes is UTF-8. Otherwise CP932, Microsoft's Shift_JIS with the NEC/IBM extensions (①, ㈱, 髙, 﨑) that
    municipal systems and Excel on Japanese Windows write. Raises :class:`UnreadableEncoding` naming the line of
    the first byte that is neither, or of a user-defined 外字: only UTF-8 carries characters beyond CP932.
    """
    try:
        return data.decode("utf-8-sig"), "UTF-8"
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("cp932")
    except UnicodeDecodeError as error:
        line, byte = data.count(b"\n", 0, error.start) + 1, data[error.start]
        raise UnreadableEncoding(
            line, f"byte 0x{byte:02X} is neither UTF-8 nor Shift_JIS (CP932) text; {_SAVE_AS}"
        ) from None
    control = _BINARY.search(text)
    if control is not None:
        line = text.count("\n", 0, control.start()) + 1
        raise UnreadableEncoding(
            line, f"byte 0x{ord(control.group()):02X} is neither UTF-8 nor Shift_JIS (CP932) text; {_SAVE_AS}"
        )
    foreign = _NOT_SHIFT_JIS_TEXT.search(text)
    if foreign is not None:
        line = text.count("\n", 0, foreign.start()) + 1
        raw = foreign.group().encode("cp932", errors="replace").hex().upper()
        raise UnreadableEncoding(line, f"bytes 0x{raw} are {_GAIJI_ONLY_IN_UTF8}", gaiji=True)
    return text, "Shift_JIS (CP932)"


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

    records: list[CsvRecord] = []
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
