"""Japanese identifiers, dates and text, as municipal systems handle them.

Pure functions with no I/O (but for one clock, :func:`now`), shared by the registry importer, the forms,
the certificates, the queue and the CLI. Each rule names its source (a standard, a law or cabinet order)
where it is defined below:

* identifiers: the local government code (全国地方公共団体コード, JIS X 0402) and the Individual
  Number (個人番号), both with a check digit, and the 47 prefectures (都道府県, JIS X 0401) whose codes are
  the first two digits of a local government code;
* dates: Japan's date today (:func:`today`: a due date is past, or a fiscal year begins, by the calendar
  in Japan, not by the server's zone), Japanese eras (和暦), fiscal years (年度, April to March), ages under the Act on
  Calculation of Age (年齢計算ニ関スル法律) and childcare age classes (年齢区分);
* text: NFKC normalization for what people type full-width (digits, Latin letters, postal codes),
  and the opposite rule for names, which are stored exactly as given because registry names
  contain 外字 and ideographic variation sequences that normalization would destroy.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from zoneinfo import ZoneInfo

__all__ = [
    "JAPAN",
    "PREFECTURES",
    "age_on",
    "childcare_age_class",
    "clean_name",
    "date_in_japan",
    "fiscal_year_label_ja",
    "fiscal_year_of",
    "income_year_for_fiscal_year",
    "income_year_label_ja",
    "individual_number_check_digit",
    "is_katakana",
    "is_valid_individual_number",
    "is_valid_local_government_code",
    "local_government_code_check_digit",
    "mask_individual_number",
    "normalize_input",
    "normalize_postal_code",
    "now",
    "tax_year_label_ja",
    "to_wareki",
    "today",
    "wareki_year",
]

# ``\d`` would also match Arabic-Indic or full-width digits, which the check digit maths cannot use.
_ASCII_DIGITS = {n: re.compile(f"[0-9]{{{n}}}") for n in (5, 6, 11, 12)}


def _require_digits(value: str, count: int, what: str) -> None:
    if not isinstance(value, str) or not _ASCII_DIGITS[count].fullmatch(value):
        # Never echo the value: callers pass Individual Numbers through here.
        raise ValueError(f"{what} must be {count} ASCII digits")


# --- Identifiers -----------------------------------------------------------------------------


#: The 47 prefectures (都道府県) by JIS X 0401 code: ``{"code", "ja", "en"}`` each. The only list in the codebase.
PREFECTURES: dict[str, dict[str, str]] = {
    code: {"code": code, "ja": ja, "en": en}
    for code, ja, en in (
        ("01", "北海道", "Hokkaido"),
        ("02", "青森県", "Aomori"),
        ("03", "岩手県", "Iwate"),
        ("04", "宮城県", "Miyagi"),
        ("05", "秋田県", "Akita"),
        ("06", "山形県", "Yamagata"),
        ("07", "福島県", "Fukushima"),
        ("08", "茨城県", "Ibaraki"),
        ("09", "栃木県", "Tochigi"),
        ("10", "群馬県", "Gunma"),
        ("11", "埼玉県", "Saitama"),
        ("12", "千葉県", "Chiba"),
        ("13", "東京都", "Tokyo"),
        ("14", "神奈川県", "Kanagawa"),
        ("15", "新潟県", "Niigata"),
        ("16", "富山県", "Toyama"),
        ("17", "石川県", "Ishikawa"),
        ("18", "福井県", "Fukui"),
        ("19", "山梨県", "Yamanashi"),
        ("20", "長野県", "Nagano"),
        ("21", "岐阜県", "Gifu"),
        ("22", "静岡県", "Shizuoka"),
        ("23", "愛知県", "Aichi"),
        ("24", "三重県", "Mie"),
        ("25", "滋賀県", "Shiga"),
        ("26", "京都府", "Kyoto"),
        ("27", "大阪府", "Osaka"),
        ("28", "兵庫県", "Hyogo"),
        ("29", "奈良県", "Nara"),
        ("30", "和歌山県", "Wakayama"),
        ("31", "鳥取県", "Tottori"),
        ("32", "島根県", "Shimane"),
        ("33", "岡山県", "Okayama"),
        ("34", "広島県", "Hiroshima"),
        ("35", "山口県", "Yamaguchi"),
        ("36", "徳島県", "Tokushima"),
        ("37", "香川県", "Kagawa"),
        ("38", "愛媛県", "Ehime"),
        ("39", "高知県", "Kochi"),
        ("40", "福岡県", "Fukuoka"),
        ("41", "佐賀県", "Saga"),
        ("42", "長崎県", "Nagasaki"),
        ("43", "熊本県", "Kumamoto"),
        ("44", "大分県", "Oita"),
        ("45", "宮崎県", "Miyazaki"),
        ("46", "鹿児島県", "Kagoshima"),
        ("47", "沖縄県", "Okinawa"),
    )
}


def local_government_code_check_digit(first_five: str) -> int:
    """Return the check digit of a local government code (全国地方公共団体コード) from its first five digits.

    S = 6·d1 + 5·d2 + 4·d3 + 3·d4 + 2·d5, r = S mod 11, check = (11 − r) mod 10 (JIS X 0402's check digit).
    Raises ``ValueError`` unless ``first_five`` is exactly five ASCII digits.
    """
    _require_digits(first_five, 5, "the first part of a local government code")
    total = sum(weight * int(digit) for weight, digit in zip((6, 5, 4, 3, 2), first_five, strict=True))
    return (11 - total % 11) % 10


def is_valid_local_government_code(code: str) -> bool:
    """Tell whether ``code`` is a six-digit local government code with a correct check digit."""
    if not isinstance(code, str) or not _ASCII_DIGITS[6].fullmatch(code):
        return False
    return local_government_code_check_digit(code[:5]) == int(code[5])


def individual_number_check_digit(first_eleven: str) -> int:
    """Return the check digit of an Individual Number (個人番号) from its first eleven digits.

    Digits are numbered from the right (P1 is the one just left of the check digit) with weights
    Qn = n + 1 for n ≤ 6 and n − 5 for n ≥ 7; r = Σ Pn·Qn mod 11; check = 0 if r ≤ 1 else 11 − r
    (the formula of 平成26年総務省令第85号, 第5条).
    Raises ``ValueError`` (without echoing the input) unless it is exactly eleven ASCII digits.
    """
    _require_digits(first_eleven, 11, "the first part of an Individual Number")
    total = 0
    for n, digit in enumerate(reversed(first_eleven), start=1):
        weight = n + 1 if n <= 6 else n - 5
        total += int(digit) * weight
    remainder = total % 11
    return 0 if remainder <= 1 else 11 - remainder


def is_valid_individual_number(s: str) -> bool:
    """Tell whether ``s`` is twelve ASCII digits whose last digit is the correct check digit.

    No normalization happens here: full-width input is normalized once at the edge
    (:func:`normalize_input`), so a value that reaches storage is already canonical.
    """
    if not isinstance(s, str) or not _ASCII_DIGITS[12].fullmatch(s):
        return False
    return individual_number_check_digit(s[:11]) == int(s[11])


def mask_individual_number(s: str) -> str:
    """Mask an Individual Number for display, keeping the last four digits: ``********9018``.

    Anything that is not twelve ASCII digits is masked completely, so a malformed value (which
    might still be most of a real number) is never shown either.
    """
    if isinstance(s, str) and _ASCII_DIGITS[12].fullmatch(s):
        return "*" * 8 + s[8:]
    return "*" * len(s) if isinstance(s, str) else ""


# --- Dates -----------------------------------------------------------------------------------

#: Japan Standard Time (UTC+9, no daylight saving time).
JAPAN = ZoneInfo("Asia/Tokyo")


def now() -> datetime:
    """The current moment on a wall clock in Japan: the one clock behind every "today" (tests stop it here)."""
    return datetime.now(JAPAN)


def today() -> date:
    """Japan's date now, whatever the server's zone: between 00:00 and 09:00 in Japan a UTC host still reads
    yesterday, and a due date, an age or a fiscal year must not depend on where the server runs."""
    return now().date()


def date_in_japan(moment: datetime) -> date:
    """The calendar date in Japan of an aware ``moment`` (a certificate issued at 00:30 JST is dated that day)."""
    return moment.astimezone(JAPAN).date()


# (first day, era name), newest first. Meiji counts from 慶応4年1月1日 (1868-01-25 in the Gregorian calendar), to
# which the change of era of 明治元年9月8日 was applied retroactively; the solar calendar came only in 1873.
_ERAS: tuple[tuple[date, str], ...] = (
    (date(2019, 5, 1), "令和"),
    (date(1989, 1, 8), "平成"),
    (date(1926, 12, 25), "昭和"),
    (date(1912, 7, 30), "大正"),
    (date(1868, 1, 25), "明治"),
)


def wareki_year(d: date) -> tuple[str, int]:
    """Return the era name and the year within the era of ``d``: ``(令和, 8)`` for 2026-11-26.

    Raises ``ValueError`` for dates before 明治 (1868-01-25).
    """
    for start, name in _ERAS:
        if d >= start:
            return name, d.year - start.year + 1
    raise ValueError(f"no Japanese era before 1868-01-25: {d.isoformat()}")


def _era_year_text(name: str, year: int) -> str:
    # The first year of an era is written 元年, never 1年.
    return f"{name}{'元' if year == 1 else year}年"


def to_wareki(d: date) -> str:
    """Format ``d`` in the Japanese calendar: ``令和8年11月26日``, ``令和元年5月1日``."""
    name, year = wareki_year(d)
    return f"{_era_year_text(name, year)}{d.month}月{d.day}日"


def fiscal_year_of(d: date) -> int:
    """Return the fiscal year (年度, April to March) containing ``d``, named by its starting year."""
    return d.year if d.month >= 4 else d.year - 1


def fiscal_year_label_ja(fy: int) -> str:
    """Return the Japanese label of a fiscal year: ``令和8年度`` for 2026.

    A fiscal year is labelled with the era year of the calendar year it starts in, taking the
    era in force at the end of that calendar year: that is how 2019 became ``令和元年度`` (not
    ``平成31年度``) and 1988 stays ``昭和63年度``.
    """
    name, year = wareki_year(date(fy, 12, 31))
    return f"{_era_year_text(name, year)}度"


def income_year_for_fiscal_year(fy: int) -> int:
    """Return the calendar year whose income an inhabitant tax of fiscal year ``fy`` is based on.

    令和8年度 (2026) inhabitant tax is assessed on the income of 2025.
    """
    return fy - 1


def income_year_label_ja(year: int) -> str:
    """Return the Japanese label of a calendar year of income: ``令和6年`` for 2024.

    Like a fiscal year, a year that changed era is named by the era in force at its end: the income of 2019
    (平成31年1月-4月 and 令和元年5月-12月) is ``令和元年`` 中所得, as the 令和元年分 tax returns were named.
    """
    name, year_in_era = wareki_year(date(year, 12, 31))
    return _era_year_text(name, year_in_era)


def tax_year_label_ja(fy: int) -> str:
    """Return the label of an inhabitant tax year as certificates print it: ``令和7年度（令和6年中所得）``."""
    return f"{fiscal_year_label_ja(fy)}（{income_year_label_ja(income_year_for_fiscal_year(fy))}中所得）"


def age_on(birth: date, on: date) -> int:
    """Return the age in full years of someone born on ``birth``, on the day ``on``.

    Under the Act on Calculation of Age and Civil Code art. 143, a year of age is completed at the
    end of the day before the birthday, so during the birthday itself the new age already holds.
    Someone born on 29 February completes a year at the end of 28 February in common years, so
    is a year older from 1 March. Comparing (month, day) tuples gives exactly that rule.
    Raises ``ValueError`` if ``on`` is before ``birth``.
    """
    if on < birth:
        raise ValueError(f"{on.isoformat()} is before the birth date {birth.isoformat()}")
    had_birthday = (on.month, on.day) >= (birth.month, birth.day)
    return on.year - birth.year - (0 if had_birthday else 1)


def childcare_age_class(birth: date, fiscal_year: int) -> int:
    """Return the childcare age class (年齢区分: 0 for 0歳児クラス …) of a child in ``fiscal_year``.

    The class is the age on April 1 of the fiscal year. Because a year of age is completed at the
    end of the day before the birthday, a child born on April 1 has already aged at the end of
    March 31 and joins the older class, while a child born on April 2 joins the younger one: each
    class is the cohort born from April 2 to the following April 1, as in schools. Children born
    during the fiscal year are in class 0. Raises ``ValueError`` for a child born after the end
    of the fiscal year.
    """
    april_first = date(fiscal_year, 4, 1)
    if birth > date(fiscal_year + 1, 3, 31):
        raise ValueError(f"born {birth.isoformat()}, after the end of fiscal year {fiscal_year}")
    if birth >= april_first:
        return 0
    # age_on counts the birthday itself as reached (the year completed at the end of the day
    # before), so a child born on April 1 is already a year older on April 1.
    return age_on(birth, april_first)


# --- Text ------------------------------------------------------------------------------------


def normalize_input(s: str) -> str:
    """Normalize typed input that is not a name: NFKC, then strip surrounding whitespace.

    Full-width digits, Latin letters and punctuation become ASCII (``１２３`` → ``123``),
    half-width katakana becomes full-width, and U+3000 (ideographic space) becomes a space before
    stripping. Do not use this on names: see :func:`clean_name`.
    """
    return unicodedata.normalize("NFKC", s).strip()


# Dash-like characters people type in postal codes; NFKC maps only the full-width hyphen-minus.
_DASHES = str.maketrans(dict.fromkeys("‐‑‒–—―−ーｰ", "-"))
_POSTAL_CODE = re.compile(r"([0-9]{3})-?([0-9]{4})")


def normalize_postal_code(s: str) -> str:
    """Return a postal code as ``NNN-NNNN``, from ``1000001``, ``100-0001``, ``〒１００－０００１`` …

    Raises ``ValueError`` for anything else.
    """
    text = normalize_input(s).translate(_DASHES).removeprefix("〒").strip()
    match = _POSTAL_CODE.fullmatch(text)
    if match is None:
        raise ValueError(f"not a postal code (NNN-NNNN): {s!r}")
    return f"{match.group(1)}-{match.group(2)}"


def clean_name(s: str) -> str:
    """Strip whitespace (including U+3000) around a name and change nothing else.

    Names keep their code points exactly: 外字 such as 髙, 﨑 or 𠮷, CJK compatibility ideographs
    (which even NFC would replace) and ideographic variation sequences (a kanji followed by a
    variation selector such as U+E0100) all survive. Whitespace inside a name (``佐藤　一郎``)
    is kept too.
    """
    return s.strip()


def _is_katakana_char(ch: str) -> bool:
    # ァ (U+30A1) .. ヺ (U+30FA) are the full-width katakana letters, including ヴ ヵ ヶ ヷ-ヺ;
    # ・ (U+30FB) middle dot, ー (U+30FC) long vowel mark, ヽ ヾ (U+30FD, U+30FE) iteration marks.
    return "\u30a1" <= ch <= "\u30fe"


def is_katakana(s: str) -> bool:
    """Tell whether ``s`` is a katakana reading: full-width katakana, ``ー``, ``・`` and spaces.

    Spaces may be ASCII or U+3000. At least one katakana letter is required, so an empty or
    blank string is not a reading. Half-width katakana is rejected: normalize it first.
    """
    has_letter = False
    for ch in s:
        if ch in " \u3000":
            continue
        if not _is_katakana_char(ch):
            return False
        has_letter = has_letter or ch not in "・ー"
    return has_letter
