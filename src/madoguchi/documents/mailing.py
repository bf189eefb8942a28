"""The mail-out's printouts: a sheet of address labels (A4, 2 x 6) and the day's certificates as one PDF to print.

Labels are drawn like certificates (``documents.fonts``): text shaped with HarfBuzz in the certificates' fonts
(IPAmj Mincho, then the fallbacks for what it lacks), so
a variation sequence (葛󠄀, 渡邊󠄂) prints its variant glyph and 𠮷 prints as itself, and the text layer carries the
exact code points. A name or address with a character the font cannot draw is never printed with a box in its
place: that field is left blank on the label for the clerk to write by hand, and the worklist says so
(``needs_handwriting``).

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

from madoguchi.documents import fonts, pdf

#: The sheet: 2 columns x 6 rows of 90 x 45 mm labels, 12 mm side and 13.5 mm top margins (common 12-up stock).
COLUMNS, ROWS = 2, 6
LABEL_WIDTH, LABEL_HEIGHT = 90 * mm, 45 * mm
MARGIN_LEFT, MARGIN_TOP, GUTTER = 12 * mm, 13.5 * mm, 6 * mm
PADDING = 6 * mm
#: Type sizes (pt): the address shrinks to this minimum before it wraps onto more lines than the label holds.
POSTAL_SIZE, ADDRESS_SIZE, ADDRESS_MIN_SIZE, NAME_SIZE, NAME_MIN_SIZE, NOTE_SIZE = 11, 11, 7, 15, 9, 6.5
ADDRESS_LINES = 3
HONORIFIC = "様"


@dataclass(frozen=True)
class Label:
    """What one label carries."""

    postal_code: str  # 〒498-2323
    address: str
    name: str
    #: Printed small at the foot so the envelope can be matched to the certificate (the application's reference).
    note: str = ""


def drawable(text: str, font_path: Path) -> bool:
    """Whether the font draws every character (and variation sequence) of ``text`` exactly."""
    return not pdf.font_chain(font_path).missing(text)


def needs_handwriting(label: Label, font_path: Path) -> list[str]:
    """The fields of ``label`` the font cannot print exactly (left blank on the label): "name", "address"."""
    return [
        field for field, text in (("name", label.name), ("address", label.address)) if not drawable(text, font_path)
    ]


def _fit_address(font: fonts.FontChain, text: str, width: float) -> tuple[float, list[fonts.Run]]:
    """The largest size (down to the minimum) at which the address fits the label's lines, and its lines."""
    size = float(ADDRESS_SIZE)
    while True:
        lines = pdf.wrapped_lines(font, text, size, width)
        if len(lines) <= ADDRESS_LINES or size <= ADDRESS_MIN_SIZE:
            return size, lines
        size -= 0.5


class _Sheet:
    """A canvas and the embedded font subset its labels use."""

    def __init__(self, canvas: pdf.EmbeddedFontCanvas, font: fonts.FontChain) -> None:
        self.canvas, self.font, self.embedding = canvas, font, fonts.Embedding(font)

    def text(self, run: fonts.Run, size: float, x: float, y: float) -> None:
        self.canvas.addLiteral(self.embedding.show(run, size, x, y))

    def right(self, text: str, size: float, x: float, y: float) -> None:
        run = self.font.shape(text)
        self.text(run, size, x - run.width(size), y)

    def label(self, label: Label, x: float, y: float) -> None:
        """One label with its bottom-left corner at (x, y)."""
        font = self.font
        inner = LABEL_WIDTH - 2 * PADDING
        top = y + LABEL_HEIGHT - PADDING
        self.text(font.shape(label.postal_code), POSTAL_SIZE, x + PADDING, top - POSTAL_SIZE)
        cursor = top - POSTAL_SIZE - 2 * mm
        if not font.missing(label.address):
            size, lines = _fit_address(font, label.address, inner)
            for line in lines:
                cursor -= size * 1.25
                self.text(line, size, x + PADDING, cursor)
        name_y = y + PADDING + NOTE_SIZE + 2.5 * mm
        honorific_width = font.shape(f" {HONORIFIC}").width(NAME_SIZE)
        if label.name and not font.missing(label.name):
            name = font.shape(label.name)
            size = float(NAME_SIZE)
            while size > NAME_MIN_SIZE and name.width(size) > inner - honorific_width:
                size -= 0.5
            self.text(name, size, x + PADDING + 4 * mm, name_y)
        self.right(HONORIFIC, NAME_SIZE, x + LABEL_WIDTH - PADDING, name_y)
        if label.note and not font.missing(label.note):
            self.right(label.note, NOTE_SIZE, x + LABEL_WIDTH - PADDING, y + PADDING - 2 * mm)


def labels_pdf(labels: Sequence[Label], font_path: Path, *, title: str = "宛名ラベル") -> bytes:
    """A4 sheets of address labels, 12 to a page, filled row by row from the top left."""
    out = BytesIO()
    canvas = pdf.EmbeddedFontCanvas(out, pagesize=A4, pageCompression=1)
    canvas.setTitle(title)
    sheet = _Sheet(canvas, pdf.font_chain(font_path))
    _, height = A4
    per_page = COLUMNS * ROWS
    for index, label in enumerate(labels):
        if index and index % per_page == 0:
            canvas.showPage()
        row, column = divmod(index % per_page, COLUMNS)
        x = MARGIN_LEFT + column * (LABEL_WIDTH + GUTTER)
        y = height - MARGIN_TOP - (row + 1) * LABEL_HEIGHT
        sheet.label(label, x, y)
    if not labels:
        sheet.text(sheet.font.shape("発送するものはありません。"), 10, MARGIN_LEFT, height - MARGIN_TOP)
    canvas.showPage()
    sheet.embedding.add_to(canvas._doc)
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
