"""The mail-out's printouts: a sheet of address labels (A4, 2 x 6) and the day's certificates as one PDF to print.

Labels are drawn with reportlab in the certificates' font, registered through ``pdf.register_font`` (one
registration per process, the font the certificates use). A name or address with a character that font cannot
draw is never printed with a box in its place: that field is left blank on the label for the clerk to write by
hand, and the worklist says so (``needs_handwriting``). Variation sequences (葛󠄀, 渡邊󠄂) count as not drawable:
reportlab draws code points one by one and would print the selector as a box. A character beyond the BMP that the
font has (𠮷 in IPAmj Mincho) is drawn, and its exact code point goes into the text layer as /ActualText.

The batch is the signed certificates' pages one after another (pyHanko's reader and writer): paper to print and
put in the envelopes in the labels' order. It is not itself a signed document, nor needs to be: each PDF stays
the record, and the printed paper carries each certificate's verification code.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import PdfFileWriter
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfgen.canvas import Canvas

from madoguchi.documents import pdf

#: The sheet: 2 columns x 6 rows of 90 x 45 mm labels, 12 mm side and 13.5 mm top margins (common 12-up stock).
COLUMNS, ROWS = 2, 6
LABEL_WIDTH, LABEL_HEIGHT = 90 * mm, 45 * mm
MARGIN_LEFT, MARGIN_TOP, GUTTER = 12 * mm, 13.5 * mm, 6 * mm
PADDING = 6 * mm
#: Type sizes (pt): the address shrinks to this minimum before it wraps onto more lines than the label holds.
POSTAL_SIZE, ADDRESS_SIZE, ADDRESS_MIN_SIZE, NAME_SIZE, NAME_MIN_SIZE, NOTE_SIZE = 11, 11, 7, 15, 9, 6.5
ADDRESS_LINES = 3
HONORIFIC = "様"

_VARIATION_SELECTORS = (range(0xFE00, 0xFE10), range(0xE0100, 0xE01F0))


@dataclass(frozen=True)
class Label:
    """What one label carries."""

    postal_code: str  # 〒498-2323
    address: str
    name: str
    #: Printed small at the foot so the envelope can be matched to the certificate (the application's reference).
    note: str = ""


def _is_selector(ch: str) -> bool:
    return any(ord(ch) in selectors for selectors in _VARIATION_SELECTORS)


def drawable(text: str, font_path: Path) -> bool:
    """Whether every character of ``text`` has a glyph in the font, drawn as it is (no variation selector)."""
    glyphs = pdfmetrics.getFont(pdf.register_font(font_path)).face.charToGlyph
    return all(ch.isspace() or (not _is_selector(ch) and ord(ch) in glyphs) for ch in text)


def needs_handwriting(label: Label, font_path: Path) -> list[str]:
    """The fields of ``label`` the font cannot print exactly (left blank on the label): "name", "address"."""
    return [
        field for field, text in (("name", label.name), ("address", label.address)) if not drawable(text, font_path)
    ]


def _draw_exact(canvas: Canvas, x: float, y: float, text: str) -> None:
    """Draw ``text`` with its exact code points in the text layer. reportlab's subset maps a glyph outside the
    BMP (𠮷, U+20BB7) to a truncated code point in its ToUnicode table, so a name beyond the BMP carries an
    /ActualText span (UTF-16 with surrogate pairs) that text extraction and screen readers use instead."""
    if all(ord(ch) <= 0xFFFF for ch in text):
        canvas.drawString(x, y, text)
        return
    canvas.addLiteral(f"/Span <</ActualText <FEFF{text.encode('utf-16-be').hex().upper()}>>> BDC")
    canvas.drawString(x, y, text)
    canvas.addLiteral("EMC")


def _wrap(text: str, font: str, size: float, width: float) -> list[str]:
    """Lines of ``text`` no wider than ``width``, broken between characters (Japanese has no spaces to break at)."""
    lines: list[str] = []
    line = ""
    for ch in text:
        candidate = line + ch
        if line and pdfmetrics.stringWidth(candidate, font, size) > width:
            lines.append(line)
            line = ch
        else:
            line = candidate
    if line:
        lines.append(line)
    return lines


def _fit_address(text: str, font: str, width: float) -> tuple[float, list[str]]:
    """The largest size (down to the minimum) at which the address fits the label's lines, and its lines."""
    size = float(ADDRESS_SIZE)
    while True:
        lines = _wrap(text, font, size, width)
        if len(lines) <= ADDRESS_LINES or size <= ADDRESS_MIN_SIZE:
            return size, lines
        size -= 0.5


def _draw_label(canvas: Canvas, font: str, font_path: Path, label: Label, x: float, y: float) -> None:
    """One label with its bottom-left corner at (x, y)."""
    inner = LABEL_WIDTH - 2 * PADDING
    top = y + LABEL_HEIGHT - PADDING
    canvas.setFont(font, POSTAL_SIZE)
    canvas.drawString(x + PADDING, top - POSTAL_SIZE, label.postal_code)
    cursor = top - POSTAL_SIZE - 2 * mm
    if drawable(label.address, font_path):
        size, lines = _fit_address(label.address, font, inner)
        canvas.setFont(font, size)
        for line in lines:
            cursor -= size * 1.25
            _draw_exact(canvas, x + PADDING, cursor, line)
    name_y = y + PADDING + NOTE_SIZE + 2.5 * mm
    honorific_width = pdfmetrics.stringWidth(f" {HONORIFIC}", font, NAME_SIZE)
    if drawable(label.name, font_path):
        size = float(NAME_SIZE)
        while size > NAME_MIN_SIZE and pdfmetrics.stringWidth(label.name, font, size) > inner - honorific_width:
            size -= 0.5
        canvas.setFont(font, size)
        _draw_exact(canvas, x + PADDING + 4 * mm, name_y, label.name)
    canvas.setFont(font, NAME_SIZE)
    canvas.drawRightString(x + LABEL_WIDTH - PADDING, name_y, HONORIFIC)
    if label.note:
        canvas.setFont(font, NOTE_SIZE)
        canvas.drawRightString(x + LABEL_WIDTH - PADDING, y + PADDING - 2 * mm, label.note)


def labels_pdf(labels: Sequence[Label], font_path: Path, *, title: str = "宛名ラベル") -> bytes:
    """A4 sheets of address labels, 12 to a page, filled row by row from the top left."""
    font = pdf.register_font(font_path)
    out = BytesIO()
    canvas = Canvas(out, pagesize=A4, pageCompression=1, initialFontName=font, initialFontSize=10)
    canvas.setTitle(title)
    _, height = A4
    per_page = COLUMNS * ROWS
    for index, label in enumerate(labels):
        if index and index % per_page == 0:
            canvas.showPage()
        slot = index % per_page
        row, column = divmod(slot, COLUMNS)
        x = MARGIN_LEFT + column * (LABEL_WIDTH + GUTTER)
        y = height - MARGIN_TOP - (row + 1) * LABEL_HEIGHT
        _draw_label(canvas, font, font_path, label, x, y)
    if not labels:
        canvas.setFont(font, 10)
        canvas.drawString(MARGIN_LEFT, height - MARGIN_TOP, "発送するものはありません。")
    canvas.showPage()
    canvas.save()
    return out.getvalue()


def page_count(data: bytes) -> int:
    return int(PdfFileReader(BytesIO(data)).root["/Pages"]["/Count"])


def _flattened_pages(reader: PdfFileReader) -> list[generic.IndirectObject]:
    """The reader's pages in order, each made self-contained (inherited resources and boxes copied onto it, its
    /Parent and annotations dropped: a printout needs no signature widget) so that it can join another file."""
    pages = []
    for index in range(page_count_of(reader)):
        reference, resources = reader.find_page_for_modification(index)
        page = reference.get_object()
        for inherited in ("/MediaBox", "/CropBox", "/Rotate"):
            if inherited not in page:
                value = _inherited(page, inherited)
                if value is not None:
                    page[generic.NameObject(inherited)] = value
        if "/Resources" not in page:
            page[generic.NameObject("/Resources")] = resources
        for key in ("/Parent", "/Annots"):
            page.pop(key, None)
        pages.append(reference)
    return pages


def page_count_of(reader: PdfFileReader) -> int:
    return int(reader.root["/Pages"]["/Count"])


def _inherited(page: generic.DictionaryObject, key: str) -> generic.PdfObject | None:
    node = page.get("/Parent")
    while node is not None:
        node = node.get_object()
        if key in node:
            return node.raw_get(key)
        node = node.get("/Parent")
    return None


def concatenate(documents: Iterable[bytes], *, title: str = "") -> bytes:
    """One PDF with every page of ``documents`` in order."""
    writer = PdfFileWriter()
    if title:
        writer.set_info(generic.DictionaryObject({generic.NameObject("/Title"): generic.TextStringObject(title)}))
    for data in documents:
        reader = PdfFileReader(BytesIO(data), strict=False)
        pages = _flattened_pages(reader)
        # One import per file: objects its pages share (the embedded font) are copied once.
        batch = generic.ArrayObject(pages)
        batch.container_ref = generic.TrailerReference(reader)  # where its references resolve: this reader
        imported = writer.import_object(batch)
        assert isinstance(imported, generic.ArrayObject)
        for page in imported:
            # Fresh copy of the imported page dictionary: insert_page registers it as the page object.
            writer.insert_page(generic.DictionaryObject(page.get_object()))
    out = BytesIO()
    writer.write(out)
    return out.getvalue()
