"""Reading a rendered PDF back as a person and a machine would: words with their boxes (poppler's
``pdftotext -bbox``), pages rasterised (``pdftoppm``), and the embedded font's glyphs by the text they carry."""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from fontTools.pens.recordingPen import DecomposingRecordingPen
from fontTools.ttLib import TTFont
from PIL import Image
from pyhanko.pdf_utils.reader import PdfFileReader

_WORD = re.compile(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">(.*?)</word>')


@dataclass(frozen=True)
class Word:
    text: str
    x0: float
    y0: float  # from the top of the page, as poppler gives it
    x1: float
    y1: float

    def overlaps(self, other: Word, slack: float = 0.3) -> bool:
        return (
            self.x0 < other.x1 - slack
            and other.x0 < self.x1 - slack
            and self.y0 < other.y1 - slack
            and other.y0 < self.y1 - slack
        )


def tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        if os.environ.get("MADOGUCHI_REQUIRE_PDFTOOLS") == "1":
            pytest.fail(f"{name} is required (MADOGUCHI_REQUIRE_PDFTOOLS=1): install poppler-utils")
        pytest.skip(f"{name} (poppler-utils) is not installed")
    return found


def words_by_page(data: bytes, tmp_path: Path) -> list[list[Word]]:
    path = tmp_path / "document.pdf"
    path.write_bytes(data)
    out = subprocess.run(
        [tool("pdftotext"), "-bbox", "-enc", "UTF-8", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout
    pages = []
    for page in out.split("<page ")[1:]:
        pages.append(
            [
                Word(html.unescape(text), float(x0), float(y0), float(x1), float(y1))
                for x0, y0, x1, y1, text in _WORD.findall(page)
            ]
        )
    return pages


def raster(data: bytes, tmp_path: Path, page: int, dpi: int = 72) -> Image.Image:
    """Page ``page`` (1-based) at ``dpi``; at 72 dpi a pixel is a point."""
    path = tmp_path / "raster.pdf"
    path.write_bytes(data)
    prefix = tmp_path / f"page{page}"
    subprocess.run(
        [tool("pdftoppm"), "-r", str(dpi), "-f", str(page), "-l", str(page), "-png", "-singlefile", path, prefix],
        check=True,
    )
    return Image.open(f"{prefix}.png").convert("RGB")


def _fonts(data: bytes) -> dict[str, Any]:
    """The first page's fonts by resource name (``/FMJ``; ``/FMJ1``... for fallback fonts)."""
    reader = PdfFileReader(BytesIO(data))
    page = reader.root["/Pages"]["/Kids"][0]
    return {str(name): font.get_object() for name, font in page["/Resources"]["/Font"].items()}


def _to_unicode(cmap: str) -> dict[int, str]:
    entries = {}
    for cid, utf16 in re.findall(r"<([0-9A-F]{4})> <([0-9A-F]*)>", cmap.split("endcodespacerange", 1)[-1]):
        entries[int(cid, 16)] = bytes.fromhex(utf16).decode("utf-16-be")
    return entries


def embedded_glyphs(data: bytes) -> dict[str, Any]:
    """The outline embedded for each text the PDF's ToUnicode maps name (e.g. ``"葛\\U000e0102"``), as the pen
    operations that draw it: what the PDF shows for that text, whatever glyph id it has in the subset."""
    return {text: drawn for text, (_font, drawn) in embedded_glyphs_by_font(data).items()}


def embedded_glyphs_by_font(data: bytes) -> dict[str, tuple[str, Any]]:
    """Each text the ToUnicode maps name, with the embedded font that draws it (its name without the subset
    tag: ``IPAmjMincho``, ``HanaMinA``) and the outline; a text drawn by two fonts fails."""
    found: dict[str, tuple[str, Any]] = {}
    for font in _fonts(data).values():
        cid_font = font["/DescendantFonts"][0]
        cid_to_gid = cid_font["/CIDToGIDMap"].data
        subset = TTFont(BytesIO(cid_font["/FontDescriptor"]["/FontFile2"].data))
        glyph_order = subset.getGlyphOrder()
        glyphs = subset.getGlyphSet()
        name = str(font["/BaseFont"]).lstrip("/").split("+", 1)[-1]
        for cid, text in _to_unicode(font["/ToUnicode"].data.decode("ascii")).items():
            gid = int.from_bytes(cid_to_gid[2 * cid : 2 * cid + 2], "big")
            assert text not in found, f"{text!r} drawn by both {found[text][0]} and {name}"
            found[text] = (name, outline(glyphs, glyph_order[gid]))
    return found


def embedded_font_names(data: bytes) -> list[str]:
    """The first page's embedded fonts, by name without the subset tag, in resource order."""
    return [str(font["/BaseFont"]).lstrip("/").split("+", 1)[-1] for _name, font in sorted(_fonts(data).items())]


def outline(glyphs: Any, name: str) -> Any:
    pen = DecomposingRecordingPen(glyphs)
    glyphs[name].draw(pen)
    return pen.value
