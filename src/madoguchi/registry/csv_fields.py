"""The fields of registry CSV files: their vocabularies (続柄, sexes, facility kinds, limits) and one parser
per kind of field, each normalising what people type full-width and keeping names exactly as written."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import date

from madoguchi.jp import (
    clean_name,
    is_katakana,
    is_valid_individual_number,
    normalize_input,
    normalize_postal_code,
)

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
#: Why a record was removed from the register (消除), making it a 除票.
MOVED_OUT = "転出"
REMOVAL_REASONS: tuple[str, ...] = (MOVED_OUT, "死亡", "職権消除")
#: The 区分 of 住民基本台帳法30条の45: who is a foreign resident, and which items their record has.
MID_TO_LONG_TERM = "中長期在留者"
SPECIAL_PERMANENT = "特別永住者"
TEMPORARY_REFUGE = "一時庇護許可者"
PROVISIONAL_STAY = "仮滞在許可者"
FOREIGN_RESIDENT_CATEGORIES: tuple[str, ...] = (
    MID_TO_LONG_TERM,
    SPECIAL_PERMANENT,
    TEMPORARY_REFUGE,
    PROVISIONAL_STAY,
    "出生による経過滞在者",
    "国籍喪失による経過滞在者",
)
#: 区分 whose record states a card number (在留カード, 特別永住者証明書) and those that state a period of stay
#: (在留期間, 上陸期間, 仮滞在期間).
CARD_HOLDERS: tuple[str, ...] = (MID_TO_LONG_TERM, SPECIAL_PERMANENT)
WITH_PERIOD: tuple[str, ...] = (MID_TO_LONG_TERM, TEMPORARY_REFUGE, PROVISIONAL_STAY)
#: Columns only a foreign resident's record has (住民基本台帳法30条の45, and 通称: 施行令30条の26).
FOREIGN_RESIDENT_ITEMS: tuple[str, ...] = (
    "nationality",
    "residence_status",
    "period_of_stay",
    "period_of_stay_ends_on",
    "residence_card_number",
    "alias",
    "alias_kana",
)
#: 在留資格 a 中長期在留者 can hold, as the 在留カード writes them (入管法 別表第一・第二). 外交, 公用 and 短期滞在
#: are not among them: their holders are not 中長期在留者 and have no resident record.
PERMANENT_RESIDENT = "永住者"
RESIDENCE_STATUSES: tuple[str, ...] = (
    "教授",
    "芸術",
    "宗教",
    "報道",
    "高度専門職1号イ",
    "高度専門職1号ロ",
    "高度専門職1号ハ",
    "高度専門職2号",
    "経営・管理",
    "法律・会計業務",
    "医療",
    "研究",
    "教育",
    "技術・人文知識・国際業務",
    "企業内転勤",
    "介護",
    "興行",
    "技能",
    "特定技能1号",
    "特定技能2号",
    "技能実習1号イ",
    "技能実習1号ロ",
    "技能実習2号イ",
    "技能実習2号ロ",
    "技能実習3号イ",
    "技能実習3号ロ",
    "文化活動",
    "留学",
    "研修",
    "家族滞在",
    "特定活動",
    PERMANENT_RESIDENT,
    "日本人の配偶者等",
    "永住者の配偶者等",
    "定住者",
)
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


# --- Field parsers ---------------------------------------------------------------------------


class InvalidField(Exception):
    """A field value is invalid; the message is safe to show (it never holds an Individual Number)."""


def shown(raw: str) -> str:
    text = raw.strip()
    return repr(text if len(text) <= 60 else text[:57] + "...")


def as_given(raw: str) -> str:
    # Names and address texts: 外字, compatibility ideographs and IVS must reach storage unchanged.
    return clean_name(raw)


def normalized(raw: str) -> str:
    return normalize_input(raw)


def kana(raw: str) -> str:
    # Readings are normalized (half-width ｻﾄｳ -> サトウ) because people search by them; unlike
    # kanji names they have no variant glyphs to lose. What is still refused is not katakana at all.
    value = normalize_input(raw)
    if not is_katakana(value):
        raise InvalidField(f"not full-width katakana (全角カタカナ): {shown(raw)}")
    return value


def digits(count: int) -> Callable[[str], str]:
    pattern = re.compile(f"[0-9]{{{count}}}")

    def parse(raw: str) -> str:
        value = normalize_input(raw)
        if not pattern.fullmatch(value):
            raise InvalidField(f"not {count} digits: {shown(raw)}")
        return value

    return parse


def household_code(raw: str) -> str:
    value = normalize_input(raw)
    if len(value) > HOUSEHOLD_CODE_MAX_LENGTH:
        raise InvalidField(f"longer than {HOUSEHOLD_CODE_MAX_LENGTH} characters: {shown(raw)}")
    return value


_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def iso_date(raw: str) -> date:
    value = normalize_input(raw)
    try:
        if not _ISO_DATE.fullmatch(value):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidField(f"not a date (YYYY-MM-DD): {shown(raw)}") from None


def choice(options: Iterable[str], what: str) -> Callable[[str], str]:
    allowed = frozenset(options)

    def parse(raw: str) -> str:
        value = normalize_input(raw)
        if value not in allowed:
            raise InvalidField(f"not {what}: {shown(raw)}")
        return value

    return parse


def postal_code(raw: str) -> str:
    try:
        return normalize_postal_code(raw)
    except ValueError:
        raise InvalidField(f"not a postal code (NNN-NNNN): {shown(raw)}") from None


def individual_number(raw: str) -> str:
    value = normalize_input(raw)
    if not re.fullmatch(r"[0-9]{12}", value):
        raise InvalidField("not 12 digits")
    if not is_valid_individual_number(value):
        raise InvalidField("invalid check digit")
    return value


def shaped(pattern: str, what: str) -> Callable[[str], str]:
    """A code written in a fixed shape (full-width and lower case accepted): ``what`` says which shape."""
    compiled = re.compile(pattern)

    def parse(raw: str) -> str:
        value = normalize_input(raw).upper()
        if not compiled.fullmatch(value):
            raise InvalidField(f"not {what}: {shown(raw)}")
        return value

    return parse


#: 在留カード or 特別永住者証明書 number: two letters, eight digits, two letters.
residence_card_number = shaped(r"[A-Z]{2}[0-9]{8}[A-Z]{2}", "a card number (two letters, eight digits, two letters)")
#: 在留期間 as the card writes it (5年, 1年6月, 6月, 90日, 無期限).
period_of_stay = shaped(
    r"無期限|[0-9]{1,2}年(?:[0-9]{1,2}月)?|[0-9]{1,2}月|[0-9]{1,3}日",
    "a period of stay (e.g. 3年, 1年6月, 6月, 90日, 無期限)",
)


_AMOUNT = re.compile(r"[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+")


def amount(raw: str) -> int:
    value = normalize_input(raw)
    if not _AMOUNT.fullmatch(value):
        raise InvalidField(f"not a non-negative amount in yen: {shown(raw)}")
    return int(value.replace(",", ""))


def count(raw: str) -> int:
    value = normalize_input(raw)
    if not re.fullmatch(r"[0-9]+", value):
        raise InvalidField(f"not a non-negative integer: {shown(raw)}")
    return int(value)


def year(raw: str) -> int:
    value = normalize_input(raw)
    if not re.fullmatch(r"[0-9]{4}", value):
        raise InvalidField(f"not a year (YYYY): {shown(raw)}")
    return int(value)


def boolean(raw: str) -> bool:
    value = normalize_input(raw)
    if value not in ("true", "false"):
        raise InvalidField(f"not true or false: {shown(raw)}")
    return value == "true"


_FACILITY_CODE = re.compile(r"[A-Z0-9-]{3,20}")


def facility_code(raw: str) -> str:
    value = normalize_input(raw)
    if not _FACILITY_CODE.fullmatch(value):
        raise InvalidField(f"not 3-20 characters of A-Z, 0-9 and '-': {shown(raw)}")
    return value
