"""Certificates rendered to PDF with reportlab, from what ``IssuedDocument.content`` states.

The page carries the serial number, the issue date in 和暦, the municipality and its issuing official, the
content from the register, a QR code of ``<public_url>/verify/<code>`` and the verification code itself.
Text is set in a TrueType font that is **embedded** as a subset (IPAex Gothic by default), so the file
renders the same everywhere and can be archived; reportlab's built-in CID fonts would not be embedded.

Rendering is the first half of the per-certificate cost (``bench/certificates.py``), so what never
changes is prepared once per process: the font is registered once, and the QR code and the text are
drawn with plain canvas calls (no platypus layout).
"""

from __future__ import annotations

import functools
import threading
import zlib
from dataclasses import dataclass
from datetime import date
from io import BytesIO
from pathlib import Path
from typing import Any

import segno
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfdoc, pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from madoguchi import jp
from madoguchi.registry import tax_items

FONT_NAME = "MadoguchiCertificateFont"
#: File names of the IPAex fonts as Debian (fonts-ipaexfont-gothic / -mincho) and upstream ship them. Gothic
#: first: it reads better on screens, where these certificates are mostly read, and its simpler outlines make
#: the embedded subset ~20% smaller (and quicker to embed) than Mincho's.
FONT_FILES = ("ipaexg.ttf", "ipaexm.ttf")
#: Standard font folders (fontconfig's defaults on Linux), searched in order.
FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", "~/.local/share/fonts", "~/.fonts")

TITLES = {
    "residency_certificate": "住民票の写し",
    "childcare_decision": "保育所等利用決定通知書",
}
#: A copy of a record removed from the register (moved out, died): 住民票の除票の写し.
REMOVED_RECORD_TITLE = "除票の写し"
TAX_TITLES = {"taxation": "課税証明書", "income": "所得証明書", "non_taxable": "非課税証明書"}
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
    """No Japanese TrueType font to embed: install fonts-ipaexfont-gothic or set MADOGUCHI_CERTIFICATE_FONT."""


def find_font(configured: str = "") -> Path:
    """The font file to embed: the configured one, else IPAex found in the standard font folders."""
    if configured:
        path = Path(configured).expanduser()
        if not path.is_file():
            raise FontMissing(f"MADOGUCHI_CERTIFICATE_FONT: no font file at {path}")
        return path
    for folder in FONT_DIRS:
        root = Path(folder).expanduser()
        if not root.is_dir():
            continue
        for name in FONT_FILES:
            found = sorted(root.rglob(name))
            if found:
                return found[0]
    raise FontMissing(
        "No Japanese font to embed in certificates: install the Debian package fonts-ipaexfont-gothic "
        "(or fonts-ipaexfont-mincho), or set MADOGUCHI_CERTIFICATE_FONT to a TrueType (.ttf) file."
    )


_font_lock = threading.Lock()
_registered_font: Path | None = None


def register_font(path: Path) -> str:
    """Register the font with reportlab once per process (parsing a 4 MB TTF takes ~100 ms)."""
    global _registered_font
    with _font_lock:
        if _registered_font != path:
            # subfontPrefix keeps the embedded subset's name stable and readable in pdffonts output.
            font = TTFont(FONT_NAME, str(path))
            # Every subset copies whole tables out of the font file (``glyf`` alone is megabytes). Tables are
            # immutable bytes, so one copy per table serves every certificate: ~1 ms less per page.
            font.face.get_table = functools.lru_cache(maxsize=None)(font.face.get_table)
            pdfmetrics.registerFont(font)
            _registered_font = path
    return FONT_NAME


@dataclass(frozen=True)
class Issuer:
    """Who issues: printed at the foot of the certificate."""

    municipality: str  # 桜ヶ丘市
    official: str  # 桜ヶ丘市長
    department: str = ""  # 市民課


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


_BODIES = {
    "residency_certificate": (_residency_lines, "この写しは、住民票の原本と相違ないことを証明する。"),
    "tax_certificate": (_tax_lines, "上記のとおり証明する。"),
    "childcare_decision": (_childcare_lines, "上記のとおり決定したので通知する。"),
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
    modules = qr_modules(text)
    quiet = 4  # the quiet zone the standard asks for, in modules
    count = len(modules)
    cell = size / (count + 2 * quiet)
    # One literal path in module units from the top-left (integer coordinates): formatting ~250 rectangles
    # through reportlab's path object costs more than encoding the code itself.
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
    canvas.saveState()
    canvas.transform(cell, 0, 0, -cell, x + quiet * cell, y + size - quiet * cell)
    canvas.addLiteral("\n".join(runs) + "\nf")
    canvas.restoreState()


def render(page: CertificatePage, font_path: Path) -> bytes:
    """One A4 page, the font subset embedded. Deterministic apart from reportlab's creation date/ID."""
    font = register_font(font_path)
    out = BytesIO()
    canvas = Canvas(out, pagesize=A4, pageCompression=1, initialFontName=font, initialFontSize=11)
    title = title_of(page.kind, page.content)
    canvas.setTitle(f"{title} {page.serial}")
    canvas.setAuthor(page.issuer.official)
    canvas.setSubject(f"{page.issuer.municipality} {title}")
    if page.keywords:
        canvas.setKeywords(page.keywords)
    width, height = A4
    left, right = 22 * mm, width - 22 * mm

    canvas.setFont(font, 20)
    canvas.drawCentredString(width / 2, height - 30 * mm, title)
    canvas.setFont(font, 9)
    canvas.drawRightString(right, height - 18 * mm, f"証明書番号 {page.serial}")

    lines_of, statement = _BODIES.get(page.kind, (lambda c: [], "上記のとおり証明する。"))
    y = height - 48 * mm
    canvas.setLineWidth(0.4)
    for label, value in lines_of(page.content):
        if not label:
            y -= 3 * mm
            canvas.line(left, y + 5.5 * mm, right, y + 5.5 * mm)
            continue
        canvas.setFont(font, 9)
        canvas.drawString(left, y, label)
        canvas.setFont(font, 11)
        canvas.drawString(left + 42 * mm, y, value)
        y -= 7.5 * mm

    y = min(y - 8 * mm, 95 * mm)
    canvas.setFont(font, 11)
    canvas.drawString(left, y, statement)
    canvas.drawString(left, y - 10 * mm, jp.to_wareki(page.issued_on))
    canvas.setFont(font, 13)
    canvas.drawString(left + 20 * mm, y - 20 * mm, page.issuer.official)
    if page.issuer.department:
        canvas.setFont(font, 9)
        canvas.drawString(left + 20 * mm, y - 26 * mm, f"（担当　{page.issuer.department}）")

    _draw_qr(canvas, page.verification_url, right - 30 * mm, 18 * mm, 30 * mm)
    canvas.setFont(font, 8)
    canvas.drawString(left, 34 * mm, "この証明書は電子署名されています。真正性は次のページで確認できます。")
    canvas.drawString(left, 29 * mm, page.verification_url)
    canvas.setFont(font, 11)
    canvas.drawString(left, 21 * mm, f"検証コード　{page.verification_code}")
    canvas.showPage()
    canvas.save()
    return out.getvalue()
