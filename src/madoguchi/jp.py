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
  contain 外字 and ideographic variation sequences that normalization would destroy;
* search keys: names and readings folded the way a counter searches (異体字 such as 髙/高 and 𠮷/吉 one
  letter, variation selectors dropped, ひらがな/カタカナ and half-width alike), used for matching only and
  never shown or stored in place of a name (:func:`name_search_key`, :func:`kana_search_key`, decision 0035);
* dates typed in 和暦 or 西暦 (:func:`parse_date`: ``令和8年12月7日``, ``R8.12.7``, ``2026/12/7``).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from zoneinfo import ZoneInfo

__all__ = [
    "JAPAN",
    "PREFECTURES",
    "DateOutsideEra",
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
    "kana_search_key",
    "local_government_code_check_digit",
    "mask_individual_number",
    "name_search_key",
    "normalize_input",
    "normalize_kana",
    "normalize_postal_code",
    "now",
    "parse_date",
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


def to_wareki_month(d: date) -> str:
    """The month of ``d`` in the Japanese calendar: ``令和9年4月``, ``令和元年5月`` (a start month, a 入所希望月)."""
    name, year = wareki_year(d)
    return f"{_era_year_text(name, year)}{d.month}月"


class DateOutsideEra(ValueError):
    """A 和暦 date the era never reached (平成31年5月1日: 令和 had begun) or had not yet begun (令和元年4月30日)."""

    def __init__(self, text: str, era: str, first: date, last: date | None) -> None:
        span = f"ran from {to_wareki(first)} to {to_wareki(last)}" if last else f"began on {to_wareki(first)}"
        super().__init__(f"{text} is not a date of {era}: {era} {span}")
        self.era, self.first, self.last = era, first, last


# 和暦 as people write it: the era's name, its initial (M T S H R, either case) or a square era sign (㍻, which
# NFKC has already opened into 平成), the year (元 for 1), then month and day with 年月日 or . / - between.
_ERA_INITIALS = {"M": "明治", "T": "大正", "S": "昭和", "H": "平成", "R": "令和"}
_ERA_DATE = re.compile(
    r"(明治|大正|昭和|平成|令和|[MTSHR])([0-9]{1,2}|元)[年./-]([0-9]{1,2})[月./-]([0-9]{1,2})日?", re.IGNORECASE
)
_WESTERN_DATE = re.compile(r"([0-9]{4})[年./-]([0-9]{1,2})[月./-]([0-9]{1,2})日?|([0-9]{4})([0-9]{2})([0-9]{2})")


def parse_date(text: str) -> date:
    """A date typed in 西暦 or 和暦: ``2026-12-07``, ``2026/12/7``, ``2026年12月7日``, ``20261207``,
    ``令和8年12月7日``, ``R8.12.7``, ``令和元年5月1日``, ``H31.4.30``, full-width or half-width alike.

    Raises :class:`DateOutsideEra` for an era date the era never had (``平成31年5月1日``: 令和 began on
    2019-05-01) and ``ValueError`` for anything else that is not a real date.
    """
    value = normalize_input(text).replace(" ", "")
    western = _WESTERN_DATE.fullmatch(value)
    if western:
        year, month, day = (int(part) for part in (western.groups()[:3] if western.group(1) else western.groups()[3:]))
        return date(year, month, day)
    era_date = _ERA_DATE.fullmatch(value)
    if era_date is None:
        raise ValueError(f"not a date: {text!r}")
    name = _ERA_INITIALS.get(era_date.group(1).upper(), era_date.group(1))
    era_year = 1 if era_date.group(2) == "元" else int(era_date.group(2))
    starts = [start for start, era in _ERAS if era == name]
    first = starts[0]
    following = [start for start, _era in _ERAS if start > first]
    last = date.fromordinal(min(following).toordinal() - 1) if following else None
    if era_year < 1:
        raise ValueError(f"not a date: {text!r}")
    result = date(first.year + era_year - 1, int(era_date.group(3)), int(era_date.group(4)))
    if result < first or (last is not None and result > last):
        raise DateOutsideEra(text.strip(), name, first, last)
    return result


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


_HALF_WIDTH_KANA = re.compile("[\uff61-\uff9f]+")


def normalize_kana(s: str) -> str:
    """A reading typed half-width (``ﾔﾏﾀﾞ ﾀﾛｳ``) as full-width katakana (``ヤマダ タロウ``); nothing else changes.

    Only the half-width katakana block goes through NFKC (which joins a kana and its separate voicing mark:
    ﾀﾞ → ダ); hiragana and the ideographic space of a registered reading (タカハシ　イチロウ) stay as they are.
    """
    return _HALF_WIDTH_KANA.sub(lambda run: unicodedata.normalize("NFKC", run.group()), s).strip()


# --- Search keys (decision 0035) -------------------------------------------------------------------------------------

#: 異体字 of names, each folded to the form a counter types (高, 吉, 崎 …). Sources: the pairs of the MJ 縮退マップ
#: (文字情報技術促進協議会, the degeneration of the MJ character set to JIS X 0213 that 住基 systems use) and of
#: Unihan's kZVariant/kSemanticVariant for the letters of family names that registers hold most (法務省 戸籍統一
#: 文字 lists them as variants of one another). Kept small on purpose: a search that folds too much finds strangers.
#: CJK compatibility ideographs with a canonical decomposition (神 U+FA19 …) are folded by NFKC before this; the
#: twelve without one (﨑 U+FA11 among them) are listed here.
NAME_VARIANTS: dict[str, str] = {
    variant: common
    for common, variants in (
        ("高", "髙"),
        ("吉", "𠮷"),
        ("崎", "﨑嵜碕"),
        ("斎", "齋齊斉"),
        ("浜", "濵濱"),
        ("辺", "邊邉"),
        ("沢", "澤"),
        ("桜", "櫻"),
        ("広", "廣"),
        ("国", "國圀"),
        ("徳", "德"),
        ("恵", "惠"),
        ("真", "眞"),
        ("竜", "龍"),
        ("島", "嶋嶌"),
        ("富", "冨"),
        ("槙", "槇"),
        ("柳", "栁"),
        ("桑", "桒"),
        ("曽", "曾"),
        ("戸", "戶"),
        ("淵", "渕渊"),
        ("蔵", "藏"),
        ("栄", "榮"),
        ("寿", "壽"),
        ("万", "萬"),
        ("実", "實"),
        ("条", "條"),
        ("瀬", "瀨"),
        ("黒", "黑"),
        ("芦", "蘆"),
        ("峰", "峯"),
        ("鉄", "鐵"),
        ("豊", "豐"),
        ("関", "關"),
        ("円", "圓"),
        ("沖", "冲"),
        ("来", "來"),
    )
    for variant in variants
}
_FOLD_VARIANTS = str.maketrans(NAME_VARIANTS)
# Variation selectors: VS1-16 (U+FE00-FE0F, standardized variants) and VS17-256 (U+E0100-E01EF, the ideographic
# variation sequences of the IVD that 住基 names use: 葛󠄀 is 葛 U+E0100).
_VARIATION_SELECTOR = re.compile("[\ufe00-\ufe0f\U000e0100-\U000e01ef]")
# Spaces between family and given name, and the ・ between the parts of a foreign name, are not part of the name.
_NOT_IN_KEY = str.maketrans("", "", " \u3000\t・")


def name_search_key(s: str) -> str:
    """The key a name is matched by: NFKC, variation selectors dropped, 異体字 folded, spaces removed.

    ``name_search_key("髙橋　一郎") == name_search_key("高橋一郎")``; 葛󠄀西 (IVS) and 葛西 have one key. For matching
    only: a name is stored and printed exactly as registered (:func:`clean_name`).
    """
    text = _VARIATION_SELECTOR.sub("", unicodedata.normalize("NFKC", s))
    return text.translate(_FOLD_VARIANTS).translate(_NOT_IN_KEY)


_SMALL_KANA = str.maketrans("ァィゥェォッャュョヮヵヶヰヱ", "アイウエオツヤユヨワカケイエ")
# The vowel of each katakana, to read a long-vowel mark (ー) the way a register writes the reading.
_VOWEL_ROWS = {
    "ア": "アカガサザタダナハバパマヤラワ",
    "イ": "イキギシジチヂニヒビピミリ",
    "ウ": "ウクグスズツヅヌフブプムユルヴ",
    "エ": "エケゲセゼテデネヘベペメレ",
    "オ": "オコゴソゾトドノホボポモヨロヲ",
}
_VOWEL_OF = {kana: vowel for vowel, row in _VOWEL_ROWS.items() for kana in row}
# A long vowel as registers write readings: オ-row lengthened with ウ (サトウ, not サトオ), エ-row with イ (ケイコ).
_LONG_VOWEL = {"ア": "ア", "イ": "イ", "ウ": "ウ", "エ": "イ", "オ": "ウ"}
_LONG_VOWEL_MARKS = "ー-"


def kana_search_key(s: str) -> str:
    """The key a reading is matched by: ﾔﾏﾀﾞ, やまだ and ヤマダ alike.

    NFKC (half-width to full-width, ﾀﾞ → ダ), hiragana to katakana, spaces and ・ removed, small kana as large
    ones (old registers wrote キヨウコ for キョウコ), and a long vowel spelt as registers spell it: ー after a
    kana becomes its vowel, with オ-row and エ-row lengthened by ウ and イ, and オ after an オ-row kana read as
    ウ, so サトー, サトウ and サトオ, or オータ, オオタ and オウタ, have one key. Decision 0035.
    """
    text = "".join(
        chr(ord(ch) + 0x60) if "\u3041" <= ch <= "\u3096" or ch in "ゝゞ" else ch
        for ch in unicodedata.normalize("NFKC", s)
    )
    text = text.translate(_NOT_IN_KEY).translate(_SMALL_KANA)
    key: list[str] = []
    for ch in text:
        vowel = _VOWEL_OF.get(key[-1]) if key else None
        if ch in _LONG_VOWEL_MARKS and vowel:
            ch = _LONG_VOWEL[vowel]
        elif ch == "オ" and vowel == "オ":
            ch = "ウ"
        key.append(ch)
    return "".join(key)
