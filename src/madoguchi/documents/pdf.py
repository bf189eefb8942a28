"""Certificates and notices rendered to PDF with reportlab, from what ``IssuedDocument.content`` states.

A document is laid out for any length (``_layout``): A4 pages with the title and the document number on each,
the items as label/value rows whose values wrap within their column, 「以下余白」 after the last item, and on the
last page the certifying statement, the issue date, the issuer (市町村長 and name) with the municipality's seal
and, for a notice of a decision (通知書), the 教示 that 行政不服審査法 82条 and 行政事件訴訟法 46条 require.
Every page carries its number (n/m) and the verification footer: a QR code of ``<public_url>/verify/<code>``,
the URL and the verification code. Rows of one section (one person of a household) stay on one page when they
fit; nothing is drawn over anything else: each element has its own box, and boxes are stacked, never shared.

All text is shaped with HarfBuzz and set in IPAmj Mincho (``documents.fonts``, decision 0030), embedded as a
subset whose text layer carries the exact code points; a character or variation sequence IPAmj lacks (葛󠄀 =
葛 U+E0100, an Adobe-Japan1 sequence) is drawn from the fallback fonts, Hanazono Mincho A then B, each embedded
as its own subset. A character no font of the chain can draw is never printed as a box: ``render`` raises
``fonts.GlyphMissing`` naming it, and nothing is issued.

Rendering is the first half of the per-certificate cost (``bench/certificates.py``), so what never changes is
prepared once per process: the font is parsed once, shaped strings are cached, and the QR code and the text
are drawn with plain content-stream operators (no platypus layout).
"""

from __future__ import annotations

import functools
import zlib
from dataclasses import dataclass, field
from datetime import date
from io import BytesIO
from pathlib import Path
from typing import Any

import segno
from PIL import Image
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfdoc
from reportlab.pdfgen.canvas import Canvas

from madoguchi import jp
from madoguchi.documents import fonts
from madoguchi.documents.application_copy import copy_lines
from madoguchi.documents.certification_notice import certification_lines
from madoguchi.documents.receipt import receipt_lines
from madoguchi.registry import tax_items

#: The font embedded in every certificate: IPAmj Mincho (Debian fonts-ipamj-mincho), the MJ character set of
#: 58,000+ kanji with the Moji_Joho ideographic variation sequences, made for the names in family and resident
#: registers. IPAex (fonts-ipaexfont-*) lacks 𠮷 and every variation sequence; it can still be configured.
FONT_FILES = ("ipamjm.ttf",)
#: Fonts tried, in order, for what the first font lacks: Hanazono Mincho A and B (Debian fonts-hanazono), which
#: carry the Adobe-Japan1 and Hanyo-Denshi variation sequences (葛 U+E0100, 邊 U+E0102) and CJK Ext. B+.
FALLBACK_FONT_FILES = ("HanaMinA.ttf", "HanaMinB.ttf")
#: Standard font folders (fontconfig's defaults on Linux), searched in order.
FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", "~/.local/share/fonts", "~/.fonts")

TITLES = {
    "residency_certificate": "住民票の写し",
    "childcare_decision": "保育所等利用決定通知書",
    "childcare_waitlist": "保育所等利用保留通知書",
    "childcare_certification": "教育・保育給付認定通知書",
    "application_copy": "申込内容の写し",
    "payment_receipt": "領収書",
}
#: A copy of a record removed from the register (moved out, died): 住民票の除票の写し.
REMOVED_RECORD_TITLE = "除票の写し"
TAX_TITLES = {"taxation": "課税証明書", "income": "所得証明書", "non_taxable": "非課税証明書"}
#: Kinds that notify a decision (処分) rather than certify: headed 文書番号 and carrying the 教示. A notice of
#: refusal (不交付決定通知書 and the like) is added here with its title.
NOTICES = frozenset({"childcare_decision", "childcare_waitlist", "childcare_certification"})
_SEX = {"male": "男", "female": "女"}


class _FastFlate(pdfdoc.PDFStreamFilterZCompress):
    """Flate at zlib level 1 instead of reportlab's default 6: the embedded font subset is the bulk of a
    certificate, and level 1 compresses it ~4% less tightly in a third of the time (~1.5 ms a certificate)."""

    def encode(self, text: str | bytes) -> bytes:
        return zlib.compress(text.encode("utf8") if isinstance(text, str) else text, 1)


# reportlab reads this module-level filter whenever it writes a stream (fonts, pages); certificates are the
# only PDFs this process makes with reportlab.
pdfdoc.PDFZCompress = _FastFlate()


class FontMissing(RuntimeError):
    """No font to embed: install fonts-ipamj-mincho or set MADOGUCHI_CERTIFICATE_FONT."""


def find_font(configured: str = "") -> Path:
    """The font file to embed: the configured one, else IPAmj Mincho found in the standard font folders."""
    if configured:
        path = Path(configured).expanduser()
        if not path.is_file():
            raise FontMissing(f"MADOGUCHI_CERTIFICATE_FONT: no font file at {path}")
        return path
    for name in FONT_FILES:
        found = _installed(name)
        if found is not None:
            return found
    raise FontMissing(
        "No font to embed in certificates: install the Debian package fonts-ipamj-mincho (IPAmj Mincho, the MJ "
        "character set of registry names), or set MADOGUCHI_CERTIFICATE_FONT to a TrueType (.ttf) file."
    )


def _installed(name: str) -> Path | None:
    for folder in FONT_DIRS:
        root = Path(folder).expanduser()
        found = sorted(root.rglob(name)) if root.is_dir() else []
        if found:
            return found[0]
    return None


@functools.cache
def find_fallback_fonts() -> tuple[Path, ...]:
    """The fallback fonts installed in the standard font folders, in order (looked up once per process)."""
    return tuple(path for path in map(_installed, FALLBACK_FONT_FILES) if path is not None)


@functools.lru_cache(maxsize=8)
def font_chain(font_path: Path) -> fonts.FontChain:
    """``font_path`` first, then the installed fallbacks: what certificates and labels are drawn with."""
    return fonts.chain(font_path, [path for path in find_fallback_fonts() if path != font_path])


@dataclass(frozen=True)
class Issuer:
    """Who issues: printed at the foot of the last page."""

    municipality: str  # 桜ヶ丘市
    official: str  # 桜ヶ丘市長 (the office)
    department: str = ""  # 市民課
    name: str = ""  # the 市町村長's name, printed after the office: 汐見町長　浜田誠一
    seal: bytes | None = field(default=None, repr=False)  # the 公印 as a PNG image, printed beside the name

    @property
    def line(self) -> str:
        return f"{self.official}　{self.name}" if self.name else self.official


@dataclass(frozen=True)
class CertificatePage:
    """Everything one certificate shows."""

    kind: str
    serial: str
    issued_on: date
    content: dict[str, Any]
    issuer: Issuer
    verification_code: str  # grouped for reading, e.g. 7K3M-Q2XD-HP4N
    verification_url: str
    #: PDF keywords (document metadata): carries the code, so even an altered copy can be recognised.
    keywords: str = ""


def title_of(kind: str, content: dict[str, Any]) -> str:
    if kind == "residency_certificate" and content.get("record") == "removed":
        return REMOVED_RECORD_TITLE
    if kind == "tax_certificate":
        return TAX_TITLES.get(content.get("kind", "taxation"), "課税証明書")
    return TITLES.get(kind, "証明書")


def _yen(value: Any) -> str:
    return f"{int(value or 0):,}円"


def _wareki(iso: str | None) -> str:
    return jp.to_wareki(date.fromisoformat(iso)) if iso else ""


def _individual_number(number: str) -> str:
    """12 digits in groups of four, as the 個人番号カード writes them: 1234 5678 9018."""
    return " ".join(number[i : i + 4] for i in range(0, len(number), 4)) if len(number) == 12 else number


def _name_lines(person: dict[str, Any]) -> list[tuple[str, str]]:
    lines = [("氏名", person.get("name") or ""), ("フリガナ", person.get("name_kana") or "")]
    if person.get("former_surname"):
        # 旧氏 is printed beside the name once registered (住民基本台帳法施行令30条の13).
        lines.append(("旧氏", person["former_surname"]))
        if person.get("former_surname_kana"):
            lines.append(("旧氏フリガナ", person["former_surname_kana"]))
    if person.get("alias"):
        lines.append(("通称", person["alias"]))
        if person.get("alias_kana"):
            lines.append(("通称フリガナ", person["alias_kana"]))
    return lines


def _foreign_resident_lines(items: dict[str, Any]) -> list[tuple[str, str]]:
    """The items of 住民基本台帳法30条の45 for the person's 区分 (only those the register has for it)."""
    lines = [("第30条の45に規定する区分", items.get("category") or "")]
    if items.get("residence_status"):
        lines.append(("在留資格", items["residence_status"]))
    if items.get("period_of_stay"):
        lines.append(("在留期間等", items["period_of_stay"]))
    if items.get("period_of_stay_ends_on"):
        lines.append(("在留期間等の満了の日", _wareki(items["period_of_stay_ends_on"])))
    if items.get("residence_card_number"):
        lines.append(("在留カード等の番号", items["residence_card_number"]))
    return lines


def _residency_person_lines(person: dict[str, Any]) -> list[tuple[str, str]]:
    foreign = bool(person.get("foreign_resident"))
    lines = _name_lines(person)
    lines.append(("生年月日", person.get("birth_date_wareki") or _wareki(person.get("birth_date"))))
    lines.append(("性別", _SEX.get(person.get("sex") or "", "")))
    if foreign:
        lines.append(("国籍・地域", person.get("nationality") or ""))
    if "relationship" in person:
        lines.append(("続柄", person.get("relationship") or ""))
    if "became_resident_on" in person:
        label = "外国人住民となった年月日" if foreign else "住民となった年月日"
        lines.append((label, _wareki(person.get("became_resident_on"))))
    if person.get("address"):
        lines.append(("住所", person["address"]))  # a 除票 of someone who lived elsewhere than the first person
    lines.append(("住所を定めた年月日", _wareki(person.get("address_set_on"))))
    if person.get("notified_on"):
        lines.append(("届出日", _wareki(person.get("notified_on"))))
    if "previous_address" in person:
        lines.append(("前住所", person.get("previous_address") or "（記載なし）"))
    if "domicile" in person:
        lines.append(("本籍", person.get("domicile") or ""))
        lines.append(("筆頭者", person.get("domicile_head") or ""))
    if "foreign_resident_items" in person:
        lines.extend(_foreign_resident_lines(person["foreign_resident_items"]))
    if "resident_record_code" in person:
        lines.append(("住民票コード", person.get("resident_record_code") or ""))
    if person.get("individual_number"):
        # Present only in the content handed to rendering (documents.content.for_rendering), never stored.
        lines.append(("個人番号", _individual_number(person["individual_number"])))
    removal = person.get("removal")
    if removal:
        lines.append(("消除日", _wareki(removal.get("removed_on"))))
        lines.append(("消除事由", removal.get("reason") or ""))
        if removal.get("moved_out_to"):
            lines.append(("転出先", removal["moved_out_to"]))
    return lines


def _residency_lines(content: dict[str, Any]) -> list[tuple[str, str]]:
    """住民票の写し / 除票の写し: the household's address (and 世帯主 only with 世帯主・続柄), then each person."""
    lines = [("住所", content.get("address") or "")]
    if "head_of_household" in content:
        lines.append(("世帯主", content.get("head_of_household") or ""))
    for person in content.get("persons") or []:
        lines.append(("", ""))
        lines.extend(_residency_person_lines(person))
    if content.get("basic_items_only"):
        lines.append(("", ""))
        lines.append(("備考", "基礎証明事項のみ記載（住民基本台帳法第12条の3）"))
    return lines


def _tax_lines(content: dict[str, Any]) -> list[tuple[str, str]]:
    """The items of a 課税・所得・非課税証明書 (decision 0032): the year labelled 令和7年度（令和6年中所得）, 収入 and
    所得 by kind, then (課税・非課税) the 所得控除 item by item and the dependants by kind, then (課税) 所得割 and
    均等割 of each inhabitant tax and, from 令和6年度, the 森林環境税. Content issued before the items existed
    (``incomes`` absent) prints its totals, with the same labels."""
    if "incomes" not in content:
        return _tax_lines_without_items(content)
    label = content.get("year_label") or f"{content.get('fiscal_year_label', '')}"
    lines = [
        ("年度", label),
        ("氏名", content.get("name") or ""),
        ("フリガナ", content.get("name_kana") or ""),
        ("生年月日", _wareki(content.get("birth_date"))),
        (_january_first(content.get("fiscal_year")), content.get("address_on_jan1") or ""),
    ]
    # Kinds of revenue and income the person had none of are left out (合計所得金額 says there is no other), but for
    # 給与 which every reader looks for first.
    revenues = content.get("revenues") or {}
    lines.extend(
        (title, _yen(revenues[name]))
        for name, title in tax_items.REVENUES
        if name in revenues and (revenues[name] or name == "salary_revenue")
    )
    incomes = content.get("incomes") or {}
    lines.extend(
        (title, _yen(incomes.get(name)))
        for name, title in tax_items.INCOMES
        if incomes.get(name) or name == "salary_income"
    )
    lines.append(("合計所得金額", _yen((content.get("income") or {}).get("total"))))
    if "deductions" in content:
        items = content.get("deduction_items")
        if items:
            lines.extend((title, _yen(items.get(name))) for name, title in tax_items.DEDUCTIONS if items.get(name))
        lines.append(("所得控除額合計", _yen(content.get("deductions"))))
    if "taxable_income" in content:
        lines.append(("課税標準額", _yen(content.get("taxable_income"))))
    if "dependents" in content:
        counts = content.get("dependent_counts")
        if counts:
            lines.extend((title, f"{int(counts.get(name) or 0)}人") for name, title in tax_items.DEPENDENTS)
        lines.append(("扶養親族の数", f"{int(content.get('dependents') or 0)}人"))
    tax = content.get("tax")
    if tax is not None:
        for total, title, parts in (
            ("municipal", "市町村民税額", tax_items.TAX_PARTS[:2]),
            ("prefectural", "道府県民税額", tax_items.TAX_PARTS[2:]),
        ):
            lines.extend((part_title, _yen(tax[name])) for name, part_title in parts if name in tax)
            lines.append((title, _yen(tax.get(total))))
        forest, forest_title = tax_items.FOREST_ENVIRONMENT_TAX
        if forest in tax:
            lines.append((f"{forest_title}（国税）", _yen(tax[forest])))
    if content.get("non_taxable"):
        lines.append(("課税状況", "非課税"))
    return lines


def _january_first(fiscal_year: Any) -> str:
    """The label of the address that decides who taxes: 1 January of the fiscal year (令和7年1月1日現在の住所;
    fiscal 2019's is 平成31年1月1日, before the era changed)."""
    if not fiscal_year:
        return "1月1日現在の住所"
    return f"{jp.to_wareki(date(int(fiscal_year), 1, 1))}現在の住所"


def _tax_lines_without_items(content: dict[str, Any]) -> list[tuple[str, str]]:
    income = content.get("income") or {}
    fiscal_year = content.get("fiscal_year")
    year = jp.tax_year_label_ja(int(fiscal_year)) if fiscal_year else content.get("fiscal_year_label", "")
    lines = [
        ("年度", year),
        ("氏名", content.get("name") or ""),
        ("フリガナ", content.get("name_kana") or ""),
        ("生年月日", _wareki(content.get("birth_date"))),
        (_january_first(fiscal_year), content.get("address_on_jan1") or ""),
        ("給与所得", _yen(income.get("salary"))),
        ("営業等所得", _yen(income.get("business"))),
        ("雑所得（公的年金等）", _yen(income.get("pension"))),
        ("その他の所得", _yen(income.get("other"))),
        ("合計所得金額", _yen(income.get("total"))),
        ("所得控除額合計", _yen(content.get("deductions"))),
        ("課税標準額", _yen(content.get("taxable_income"))),
        ("扶養親族の数", f"{content.get('dependents', 0)}人"),
    ]
    tax = content.get("tax")
    if tax is not None:
        lines.append(("市町村民税額", _yen(tax.get("municipal"))))
        lines.append(("道府県民税額", _yen(tax.get("prefectural"))))
    if content.get("non_taxable"):
        lines.append(("課税状況", "非課税"))
    return lines


def _childcare_lines(content: dict[str, Any]) -> list[tuple[str, str]]:
    """利用決定通知書 (decision 0042): the guardian, then each placed child: facility by name, class, start month
    in 和暦 and 西暦, 認定区分 and 保育必要量 with the certification's period, the 保育料 and how it was set, and the
    allocation's explanation. Content issued before the allocation existed (one ``child``) prints as it did."""
    if "children" not in content:
        return _childcare_lines_of_one_child(content)
    lines = _guardian_lines(content)
    for number, child in enumerate(content["children"]):
        if number:  # the first child stays with the guardian: a short first page would otherwise stand alone
            lines.append(("", ""))
        lines.extend(_child_lines(child))
        lines.append(("利用施設", child.get("facility_name") or ""))
        lines.append(("クラス", child.get("class_label") or ""))
        lines.append(("利用開始年月", child.get("start_label") or ""))
        lines.append(("認定区分", child.get("category") or ""))
        lines.append(("保育必要量", child.get("care_time") or "（教育標準時間）"))
        if child.get("valid_from") and child.get("valid_to"):
            lines.append(("認定の有効期間", f"{_wareki(child['valid_from'])}から{_wareki(child['valid_to'])}まで"))
        lines.append(("保育料（月額）", _fee_text(child)))
        explanation = child.get("explanation") or {}
        if explanation.get("result"):
            lines.append(("利用調整の結果", explanation["result"]))
        lines.extend(_explanation_lines(explanation))
    return lines


def _fee_text(child: dict[str, Any]) -> str:
    fee = child.get("fee") or {}
    basis = fee.get("basis")
    if basis == "free_by_age":
        return "0円（3歳児クラス以上：幼児教育・保育の無償化により無償）"
    levy_year = fee.get("levy_fiscal_year")
    year = jp.fiscal_year_label_ja(int(levy_year)) if levy_year else ""
    if basis == "free_non_taxable":
        return f"0円（{year}市町村民税非課税世帯：幼児教育・保育の無償化により無償）"
    if basis == "bracket":
        bracket = f"{fee['bracket']}、" if fee.get("bracket") else ""
        levy = _yen(fee.get("income_levy"))
        text = f"{_yen(fee.get('monthly'))}（{bracket}{year}市町村民税所得割額 {levy}により算定）"
        start = str(child.get("start_month") or "")
        if start[5:7] in ("04", "05", "06", "07", "08"):
            # April–August months use the previous year's assessment; September's fee follows the new one.
            text += f"。9月分以降は{jp.fiscal_year_label_ja(int(start[:4]))}の市町村民税所得割額により改めて算定します"
        return text
    if child.get("tax_lookup_consented") is False:
        return "課税状況の確認に同意がないため、課税証明書の提出後に別途通知します"
    return "課税状況を確認できないため、別途通知します"


def _guardian_lines(content: dict[str, Any]) -> list[tuple[str, str]]:
    guardian = content.get("guardian") or {}
    postal = f"〒{guardian['postal_code']}　" if guardian.get("postal_code") else ""
    lines = [("保護者氏名", guardian.get("name") or ""), ("保護者住所", f"{postal}{guardian.get('address') or ''}")]
    if content.get("submitted_on"):
        lines.append(("申込日", _wareki(content["submitted_on"])))
    if content.get("reference"):
        lines.append(("申込番号", content["reference"]))
    return lines


def _child_lines(child: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        ("児童氏名", child.get("name") or ""),
        ("フリガナ", child.get("name_kana") or ""),
        ("生年月日", child.get("birth_date_wareki") or _wareki(child.get("birth_date"))),
    ]


def _explanation_lines(explanation: dict[str, Any]) -> list[tuple[str, str]]:
    """Why not a class ranked higher: one row per class, then the points' breakdown."""
    lines = [("希望施設ごとの結果" if i == 0 else "", text) for i, text in enumerate(explanation.get("choices") or [])]
    points = explanation.get("points") or []
    if points:
        lines.append(("指数の内訳", "、".join(points)))
    return lines


def _waitlist_lines(content: dict[str, Any]) -> list[tuple[str, str]]:
    """保留通知書 (spec §1.4): guardian, 申込日, then each waitlisted child: desired month and facilities with their
    ranks, the reason, the period, the explanation and that the application stays considered."""
    lines = _guardian_lines(content)
    for number, child in enumerate(content.get("children") or []):
        if number:
            lines.append(("", ""))
        lines.extend(_child_lines(child))
        lines.append(("入所希望月", child.get("desired_month_label") or ""))
        lines.extend(
            ("希望施設" if i == 0 else "", f"第{wish['rank']}希望　{wish['name']}")
            for i, wish in enumerate(child.get("desired_facilities") or [])
        )
        lines.append(("保留の理由", child.get("reason") or ""))
        period = child.get("period") or {}
        lines.append(("保留期間", f"{_wareki(period.get('from'))}から{_wareki(period.get('to'))}まで"))
        explanation = child.get("explanation") or {}
        lines.extend(_explanation_lines(explanation))
        if explanation.get("continuing"):
            lines.append(("今後の取扱い", explanation["continuing"]))
    return lines


def _childcare_lines_of_one_child(content: dict[str, Any]) -> list[tuple[str, str]]:
    child = content.get("child") or {}
    return [
        ("児童氏名", child.get("name") or ""),
        ("生年月日", child.get("birth_date_wareki") or _wareki(child.get("birth_date"))),
        ("認定区分", str(content.get("certification_category") or "")),
        ("保育必要量", str(content.get("care_time") or "")),
        ("利用開始月", str(content.get("desired_start_month") or "")),
        ("利用施設", str(content.get("facility_code") or "")),
        ("決定", "利用決定" if content.get("decision") in ("approved", "issued") else str(content.get("decision"))),
    ]


#: Per kind: its rows (label, value) and the statement above the issuer. A row ``("", "")`` is a section break (a
#: rule): the rows between two breaks (one person of a household) are kept on one page when they fit on one.
_BODIES = {
    "residency_certificate": (_residency_lines, "この写しは、住民票の原本と相違ないことを証明する。"),
    "tax_certificate": (_tax_lines, "上記のとおり証明する。"),
    "childcare_decision": (_childcare_lines, "上記のとおり決定したので通知する。"),
    "childcare_waitlist": (_waitlist_lines, "上記のとおり保育所等の利用を保留としたので通知する。"),
    # 子ども・子育て支援法20条4項: the certification is notified to the guardian.
    "childcare_certification": (certification_lines, "上記のとおり教育・保育給付認定をしたので通知する。"),
    "application_copy": (copy_lines, "この写しは、上記の日時に受け付けた申込みの内容と相違ないことを証明する。"),
    "payment_receipt": (receipt_lines, "上記の金額を正に領収しました。"),
}


#: QR mask pattern. The encoder may use any of the eight (a reader takes it from the code's format bits);
#: scoring all eight to pick the "best" costs more than the rest of the page. Pattern 0 with error
#: correction level M reads reliably at the printed 30 mm.
QR_MASK_PATTERN = 0


def qr_modules(text: str) -> list[list[bool]]:
    """The QR code of ``text`` (error correction M, exactly M: not raised to fill the version) as rows of
    dark/light modules, without the quiet zone. segno encodes it in about half the time of reportlab's
    encoder, whose Reed-Solomon step is the slowest part of a certificate page."""
    code = segno.make_qr(text, error="m", mask=QR_MASK_PATTERN, boost_error=False)
    return [[bool(dark) for dark in row] for row in code.matrix]


def _draw_qr(canvas: Canvas, text: str, x: float, y: float, size: float) -> None:
    """Draw the code as filled horizontal runs (reportlab's QR widget draws a shape per module: ~10 ms)."""
    canvas.saveState()
    count, runs = _qr_runs(text)
    cell = size / (count + 2 * _QR_QUIET)
    canvas.transform(cell, 0, 0, -cell, x + _QR_QUIET * cell, y + size - _QR_QUIET * cell)
    canvas.addLiteral(runs)
    canvas.restoreState()


_QR_QUIET = 4  # the quiet zone the standard asks for, in modules


@functools.lru_cache(maxsize=16)
def _qr_runs(text: str) -> tuple[int, str]:
    """The code as one literal path in module units from the top-left (integer coordinates): formatting ~250
    rectangles through reportlab's path object costs more than encoding the code itself. Cached: every page of
    a document carries the same code."""
    modules = qr_modules(text)
    count = len(modules)
    runs: list[str] = []
    for row_index, row in enumerate(modules):
        col = 0
        while col < count:
            if row[col]:
                start = col
                while col < count and row[col]:
                    col += 1
                runs.append(f"{start} {row_index} {col - start} 1 re")
            else:
                col += 1
    return count, "\n".join(runs) + "\nf"


# ----------------------------------------------------------------------------------------------- notices


def is_notice(kind: str) -> bool:
    return kind in NOTICES


def appeal_instructions(issuer: Issuer) -> list[str]:
    """教示: how to contest the decision (行政不服審査法 82条 1項; 行政事件訴訟法 46条 1項).

    The municipality's head decided and has no superior agency, so the request for review goes to the head
    (行政不服審査法 4条 1号); an action for revocation names the municipality as defendant, represented by its
    head."""
    head, town = issuer.official, issuer.municipality
    return [
        f"１　この決定に不服がある場合は、この決定があったことを知った日の翌日から起算して3か月以内に、{head}に"
        "対して審査請求をすることができます（なお、この決定があったことを知った日の翌日から起算して3か月以内で"
        "あっても、この決定の日の翌日から起算して1年を経過すると審査請求をすることができなくなります。）。",
        f"２　この決定の取消しを求める訴訟は、この決定があったことを知った日の翌日から起算して6か月以内に、{town}を"
        f"被告として（訴訟において{town}を代表する者は{head}となります。）提起することができます（なお、この決定"
        "があったことを知った日の翌日から起算して6か月以内であっても、この決定の日の翌日から起算して1年を経過すると"
        "この決定の取消しを求める訴訟を提起することができなくなります。）。ただし、上記１の審査請求をした場合には、"
        "当該審査請求に対する裁決があったことを知った日の翌日から起算して6か月以内に提起することができます。",
    ]


# ------------------------------------------------------------------------------------------------ layout

PAGE_WIDTH, PAGE_HEIGHT = A4
LEFT, RIGHT = 20 * mm, PAGE_WIDTH - 20 * mm
#: The lowest point any text may reach and the highest the verification footer takes (tests hold both).
BOTTOM_MARGIN = 10 * mm
FOOTER_TOP = 46 * mm
_SERIAL_BASELINE = PAGE_HEIGHT - 16 * mm
_TITLE_BASELINE = PAGE_HEIGHT - 31 * mm
_BODY_TOP = PAGE_HEIGHT - 40 * mm
_BODY_BOTTOM = FOOTER_TOP + 4 * mm
_LABEL_WIDTH = 40 * mm
_VALUE_X = LEFT + 43 * mm
_VALUE_SIZE, _VALUE_LEAD = 11.0, 15.5
_LABEL_SIZE, _LABEL_LEAD = 9.0, 12.5
_ROW_GAP = 5.0
_SEAL_SIZE = 21 * mm
_QR_SIZE = 28 * mm
#: Characters that may not begin a line (禁則): a break before one moves the previous character down with it.
_NO_LINE_START = frozenset(
    "、。，．,.・：；:;！!？?）)］]｝}」』】〕〉》ー―ぁぃぅぇぉっゃゅょゎァィゥェォッャュョヮヵヶ々"
)


@dataclass(frozen=True)
class _Text:
    run: fonts.Run
    size: float
    x: float
    y: float  # baseline, relative to the top of its block until placed


@dataclass(frozen=True)
class _Rule:
    y: float


@dataclass(frozen=True)
class _Image:
    png: bytes
    x: float
    y: float
    size: float


_Element = _Text | _Rule | _Image


@dataclass
class _Block:
    """Something stacked in the body: its height and what it draws, positioned from its own top (y <= 0)."""

    height: float
    elements: list[_Element]
    rule: bool = False  # a section break, dropped at the top of a page


def _shape(font: fonts.FontChain, text: str) -> fonts.Run:
    return font.shape(text)


def _wrap(run: fonts.Run, size: float, width: float) -> list[fonts.Run]:
    """``run`` broken into lines no wider than ``width`` points, by glyph, keeping 禁則 characters off a line start."""
    limit = width * run.per_em / size
    lines: list[list[fonts.Glyph]] = []
    line: list[fonts.Glyph] = []
    used = 0
    for glyph in run.glyphs:
        if line and used + glyph.advance > limit:
            carried: list[fonts.Glyph] = []
            if glyph.text[:1] in _NO_LINE_START and len(line) > 1:
                carried = [line.pop()]
            lines.append(line)
            line, used = carried, sum(g.advance for g in carried)
        line.append(glyph)
        used += glyph.advance
    if line:
        lines.append(line)
    return [fonts.Run(tuple(glyphs), sum(g.advance for g in glyphs), run.per_em, run.mixed) for glyphs in lines]


def wrapped_lines(font: fonts.FontChain, text: str, size: float, width: float) -> list[fonts.Run]:
    """``text`` shaped and broken into lines no wider than ``width`` points (also the mail-out's labels)."""
    return _wrap(_shape(font, text), size, width) if text else []


_lines = wrapped_lines


def _row(font: fonts.FontChain, label: str, value: str) -> _Block:
    labels = _lines(font, label, _LABEL_SIZE, _LABEL_WIDTH)
    values = _lines(font, value, _VALUE_SIZE, RIGHT - _VALUE_X)
    first = -_VALUE_SIZE  # both columns share the first baseline
    elements: list[_Element] = [_Text(run, _LABEL_SIZE, LEFT, first - i * _LABEL_LEAD) for i, run in enumerate(labels)]
    elements += [_Text(run, _VALUE_SIZE, _VALUE_X, first - i * _VALUE_LEAD) for i, run in enumerate(values)]
    height = max(_VALUE_SIZE + (len(labels) - 1) * _LABEL_LEAD, _VALUE_SIZE + (len(values) - 1) * _VALUE_LEAD)
    return _Block(height + _ROW_GAP + 3, elements)


def _paragraph(
    font: fonts.FontChain, text: str, size: float, lead: float, x: float = LEFT, width: float = RIGHT - LEFT
) -> _Block:
    runs = _lines(font, text, size, width)
    elements: list[_Element] = [_Text(run, size, x, -size - i * lead) for i, run in enumerate(runs)]
    return _Block(size + (len(runs) - 1) * lead + size * 0.45, elements)


def _centred(font: fonts.FontChain, text: str, size: float, gap_above: float) -> _Block:
    run = _shape(font, text)
    x = (PAGE_WIDTH - run.width(size)) / 2
    return _Block(gap_above + size * 1.5, [_Text(run, size, x, -gap_above - size)])


def _sections(font: fonts.FontChain, rows: list[tuple[str, str]]) -> list[list[_Block]]:
    """Rows grouped at the section breaks (``("", "")``: the rule between two persons of a household)."""
    sections: list[list[_Block]] = [[]]
    for label, value in rows:
        if not label and not value:
            sections.append([_Block(8.0, [_Rule(-3.0)], rule=True)])
        else:
            sections[-1].append(_row(font, label, value))
    return [section for section in sections if any(not block.rule for block in section)]


def _closing(font: fonts.FontChain, page: CertificatePage, statement: str) -> list[_Block]:
    """The last page's foot: statement, date, issuer with seal, department; the 教示 for a notice."""
    issuer = page.issuer
    blocks = [
        _Block(10.0, []),
        _paragraph(font, statement, 11, 15.5),
        _paragraph(font, jp.to_wareki(page.issued_on), 11, 15.5),
    ]
    name = _shape(font, issuer.line)
    seal_x = RIGHT - _SEAL_SIZE
    name_size = 13.0
    name_x = max(LEFT, seal_x - 4 * mm - name.width(name_size))
    height = max(_SEAL_SIZE, name_size * 1.6)
    name_y = -(height / 2) - name_size * 0.35  # the name's middle on the seal's middle
    elements: list[_Element] = [_Text(name, name_size, name_x, name_y)]
    if issuer.seal:
        elements.append(_Image(issuer.seal, seal_x, -height, _SEAL_SIZE))
    blocks.append(_Block(height + 4, elements))
    if issuer.department:
        department = _shape(font, f"（担当　{issuer.department}）")
        x = seal_x - 4 * mm - department.width(9)
        blocks.append(_Block(14.0, [_Text(department, 9, max(LEFT, x), -9)]))
    if is_notice(page.kind):
        blocks.append(_Block(8.0, []))
        blocks.append(_paragraph(font, "教示", 10, 14))
        blocks += [_paragraph(font, text, 8.5, 12.5) for text in appeal_instructions(issuer)]
    return blocks


@dataclass
class _Page:
    elements: list[_Element] = field(default_factory=list)


class _Flow:
    """Blocks stacked down the body of as many pages as they need."""

    def __init__(self) -> None:
        self.pages = [_Page()]
        self.y = _BODY_TOP

    @property
    def room(self) -> float:
        return self.y - _BODY_BOTTOM

    @property
    def at_top(self) -> bool:
        return self.y == _BODY_TOP

    def new_page(self) -> None:
        self.pages.append(_Page())
        self.y = _BODY_TOP

    def place(self, block: _Block) -> None:
        if block.rule and self.at_top:
            return
        if block.height > self.room and not self.at_top:
            self.new_page()
            if block.rule:
                return
        for element in block.elements:
            if isinstance(element, _Text):
                element = _Text(element.run, element.size, element.x, self.y + element.y)
            elif isinstance(element, _Rule):
                element = _Rule(self.y + element.y)
            else:
                element = _Image(element.png, element.x, self.y + element.y, element.size)
            self.pages[-1].elements.append(element)
        self.y -= block.height

    def mark(self) -> tuple[int, int, float]:
        return len(self.pages), len(self.pages[-1].elements), self.y

    def undo(self, mark: tuple[int, int, float]) -> None:
        pages, elements, y = mark
        del self.pages[pages:]
        del self.pages[-1].elements[elements:]
        self.y = y


_PAGE_ROOM = _BODY_TOP - _BODY_BOTTOM


def _height(blocks: list[_Block]) -> float:
    return sum(block.height for block in blocks)


def _layout(font: fonts.FontChain, page: CertificatePage) -> list[_Page]:
    lines_of, statement = _BODIES.get(page.kind, (lambda c: [], "上記のとおり証明する。"))
    sections = _sections(font, lines_of(page.content))
    tail = [_centred(font, "以下余白", 10.5, 4.0), *_closing(font, page, statement)]
    flow = _Flow()
    last = flow.mark()
    for section in sections:
        last = flow.mark()
        if _height(section) > flow.room and _height(section) <= _PAGE_ROOM and not flow.at_top:
            flow.new_page()  # keep a person's rows together
            last = flow.mark()
        for block in section:
            flow.place(block)
    if _height(tail) > flow.room:
        # Keep the last section with 以下余白 and the issuer: the statement never stands on a page alone.
        moved = sections[-1] if sections else []
        if moved and last[2] != _BODY_TOP and _height(moved) + _height(tail) <= _PAGE_ROOM:
            flow.undo(last)
            flow.new_page()
            for block in moved:
                flow.place(block)
        else:
            flow.place(tail[0])
            if _height(tail[1:]) > flow.room:
                flow.new_page()
            for block in tail[1:]:
                flow.place(block)
            return flow.pages
    for block in tail:
        flow.place(block)
    return flow.pages


# ------------------------------------------------------------------------------------------------ render


class EmbeddedFontCanvas(Canvas):
    """A canvas whose pages name no font of reportlab's (its preamble would reference an unembedded Helvetica):
    all text is drawn through ``fonts.Embedding``."""

    def _make_preamble(self) -> None:
        self._preamble = "1 0 0 1 0 0 cm"


@functools.lru_cache(maxsize=32)
def _seal_streams(png: bytes) -> tuple[int, int, bytes, bytes]:
    """The seal's pixels as compressed RGB and alpha, once per process: decoding and compressing the image for
    every certificate through reportlab's ``drawImage`` costs ~8 ms."""
    image = Image.open(BytesIO(png)).convert("RGBA")
    alpha = image.getchannel("A").tobytes()
    return image.width, image.height, zlib.compress(image.convert("RGB").tobytes(), 9), zlib.compress(alpha, 9)


def _draw_seal(canvas: Canvas, png: bytes, x: float, y: float, size: float) -> None:
    width, height, rgb, alpha = _seal_streams(png)
    doc = canvas._doc
    name = "Seal"
    registered = doc.getXObjectName(name)
    if registered not in doc.idToObject:

        def image(colours: str, content: bytes, **more: Any) -> pdfdoc.PDFStream:
            entries = {
                "Type": pdfdoc.PDFName("XObject"),
                "Subtype": pdfdoc.PDFName("Image"),
                "Width": width,
                "Height": height,
                "ColorSpace": pdfdoc.PDFName(colours),
                "BitsPerComponent": 8,
                "Filter": pdfdoc.PDFName("FlateDecode"),  # already compressed: reportlab leaves it as it is
                **more,
            }
            return pdfdoc.PDFStream(pdfdoc.PDFDictionary(entries), content)

        mask = doc.Reference(image("DeviceGray", alpha))
        doc.Reference(image("DeviceRGB", rgb, SMask=mask), registered)
    canvas._formsinuse.append(name)
    canvas.addLiteral(f"q {size:.2f} 0 0 {size:.2f} {x:.2f} {y:.2f} cm /{registered} Do Q")


def _draw_text(canvas: Canvas, embedding: fonts.Embedding, text: _Text) -> None:
    canvas.addLiteral(embedding.show(text.run, text.size, text.x, text.y))


def render(page: CertificatePage, font_path: Path) -> bytes:
    """The document as A4 pages, the font subset embedded. Deterministic apart from reportlab's creation date/ID.

    Raises ``fonts.GlyphMissing`` (naming each character) when no font of the chain (``font_path``, then the
    fallbacks) can draw something the content says."""
    font = font_chain(font_path)
    pages = _layout(font, page)
    out = BytesIO()
    canvas = EmbeddedFontCanvas(out, pagesize=A4, pageCompression=1)
    embedding = fonts.Embedding(font)
    title = title_of(page.kind, page.content)
    canvas.setTitle(f"{title} {page.serial}")
    canvas.setAuthor(page.issuer.official)
    canvas.setSubject(f"{page.issuer.municipality} {title}")
    if page.keywords:
        canvas.setKeywords(page.keywords)
    notice = is_notice(page.kind)
    serial = _shape(font, f"{'文書番号' if notice else '証明書番号'}　{page.serial}")
    title_run = _shape(font, title)
    noun = "通知書" if notice else "証明書"
    footer = [
        _shape(font, f"この{noun}は電子署名されています。真正性は次のページで確認できます。"),
        _shape(font, page.verification_url),
        _shape(font, f"検証コード　{page.verification_code}"),
    ]
    canvas.setLineWidth(0.4)
    for number, laid in enumerate(pages, start=1):
        _draw_text(canvas, embedding, _Text(serial, 9, RIGHT - serial.width(9), _SERIAL_BASELINE))
        _draw_text(canvas, embedding, _Text(title_run, 18, (PAGE_WIDTH - title_run.width(18)) / 2, _TITLE_BASELINE))
        for element in laid.elements:
            if isinstance(element, _Text):
                _draw_text(canvas, embedding, element)
            elif isinstance(element, _Rule):
                canvas.line(LEFT, element.y, RIGHT, element.y)
            else:
                _draw_seal(canvas, element.png, element.x, element.y, element.size)
        canvas.line(LEFT, FOOTER_TOP, RIGHT, FOOTER_TOP)
        _draw_qr(canvas, page.verification_url, RIGHT - _QR_SIZE, FOOTER_TOP - 2 * mm - _QR_SIZE, _QR_SIZE)
        _draw_text(canvas, embedding, _Text(footer[0], 8, LEFT, FOOTER_TOP - 8 * mm))
        _draw_text(canvas, embedding, _Text(footer[1], 8, LEFT, FOOTER_TOP - 13 * mm))
        _draw_text(canvas, embedding, _Text(footer[2], 11, LEFT, FOOTER_TOP - 21 * mm))
        number_run = _shape(font, f"{number}/{len(pages)}")
        _draw_text(canvas, embedding, _Text(number_run, 9, (PAGE_WIDTH - number_run.width(9)) / 2, BOTTOM_MARGIN + 2))
        canvas.showPage()
    embedding.add_to(canvas._doc)
    canvas.save()
    return out.getvalue()
