"""Text for signed documents: shaped with HarfBuzz, embedded as a CID-keyed TrueType subset, read back exactly.

Names in the register carry characters beyond JIS levels 1-2 (𠮷 U+20BB7 outside the BMP, 髙, 﨑) and ideographic
variation sequences (a base kanji + a selector U+E0100..E01EF that picks one of its registered shapes). Three
things must hold on a certificate, and reportlab's own TrueType support gives none of them for such text:

* **the right glyph**: HarfBuzz shapes each string with the font, so a variation sequence selects its variant
  glyph through the font's cmap format 14 (reportlab maps one code point to one glyph and draws the bare base);
* **the exact text layer**: each glyph is drawn under a CID of its own whose ToUnicode entry is the exact code
  point sequence of its cluster (base + selector, or a surrogate pair for non-BMP), so ``pdftotext`` gives back
  the stored name (reportlab's CMap writes ``<%04X>`` and its shaper maps variant glyphs to private-use code
  points);
* **nothing missing**: ``missing`` names every character, and every variation sequence, the font has no glyph
  for; the caller refuses to issue (``GlyphMissing``) instead of printing a box or silently dropping a selector.

A ``FontChain`` puts fallback fonts behind the first (IPAmj Mincho, then Hanazono Mincho A and B): each cluster
(a character with its selectors) is drawn by the first font of the chain that has it, a text is shaped as runs of
consecutive clusters per font, and each font a document uses is embedded as its own subset (``Embedding``); only
a cluster no font has is missing. A text the first font draws entirely never touches a fallback.

The font (IPAmj Mincho, 46 MB) is mapped into memory once per process (shared by all processes through the page
cache); HarfBuzz reads it in place and only ``loca``, ``hmtx`` and the format-14 cmap are parsed here, so the first
certificate of a process costs ~0.3 s more, not seconds.
Each document embeds only its glyphs (``Embedding``), renumbered, with composite glyphs' components.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import mmap
import struct
import threading
from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import uharfbuzz as hb
from fontTools.ttLib import TTFont as FontToolsFont
from reportlab.pdfbase import pdfdoc

#: Variation selectors: VS1-16 (standardized) and VS17-256 (ideographic variation sequences).
_SELECTORS = (range(0xFE00, 0xFE10), range(0xE0100, 0xE01F0))
#: Characters laid out as a space: a value from the register may carry a tab or line break.
_AS_SPACE = {"\t": " ", "\r": " ", "\n": " "}
# Composite glyph flags (OpenType glyf): which fields follow a component's glyph index.
_ARGS_ARE_WORDS, _HAS_SCALE, _MORE, _HAS_XY_SCALE, _HAS_2X2 = 0x1, 0x8, 0x20, 0x40, 0x80


def is_selector(code: int) -> bool:
    return any(code in block for block in _SELECTORS)


def describe(sequence: str) -> str:
    """``葛󠄀`` -> ``U+845B U+E0100 (葛󠄀)``: how a refusal names what cannot be printed."""
    return " ".join(f"U+{ord(c):04X}" for c in sequence) + f" ({sequence})"


class GlyphMissing(ValueError):
    """The font has no glyph for a character or a variation sequence of the text: nothing may be issued."""

    def __init__(self, missing: list[str]) -> None:
        self.missing = missing
        super().__init__("The certificate font has no glyph for " + ", ".join(describe(m) for m in missing))


@dataclass(frozen=True)
class Glyph:
    gid: int
    text: str  # the code points this glyph stands for in the text layer (a whole cluster)
    advance: int  # units of the run's em (its first font's), as shaped
    nominal: int  # units of its own font's em: the glyph's advance (hmtx), what a PDF viewer moves by unless told
    font: int = 0  # which font of the chain draws it (0: the first)


@dataclass(frozen=True)
class Run:
    """One shaped line of text, possibly in several fonts of a chain (each glyph says which)."""

    glyphs: tuple[Glyph, ...]
    units: int  # total advance in units of ``per_em`` (the first font's em)
    per_em: int
    mixed: bool = False  # some glyphs come from a fallback font (drawing then switches fonts)

    def width(self, size: float) -> float:
        return self.units * size / self.per_em


def _tables(data: mmap.mmap) -> dict[str, tuple[int, int]]:
    count = struct.unpack_from(">H", data, 4)[0]
    found = {}
    for i in range(count):
        tag, _checksum, offset, length = struct.unpack_from(">4sLLL", data, 12 + 16 * i)
        found[tag.decode("latin-1")] = (offset, length)
    return found


def _big_endian(typecode: str, raw: bytes) -> array[int]:
    values = array(typecode, raw)
    if struct.pack("=H", 1) != struct.pack(">H", 1):
        values.byteswap()
    return values


class ShapingFont:
    """A TrueType (glyf) font, parsed once per process, that shapes text and knows which glyphs it lacks."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # Mapped, not read: the 46 MB stay in the page cache, shared by every worker process, and only the pages
        # of the glyphs used are touched (HarfBuzz maps the file too). Reading it cost each process ~90 MB.
        with path.open("rb") as file:
            data = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
        self.data = data
        tables = _tables(data)
        if "glyf" not in tables or "loca" not in tables:
            raise ValueError(f"{path.name} has no TrueType outlines (glyf): certificates need a .ttf font")
        self.tables = tables
        head = self.table("head")
        self.per_em = struct.unpack_from(">H", head, 18)[0]
        self.bbox = struct.unpack_from(">4h", head, 36)
        long_loca = struct.unpack_from(">h", head, 50)[0] == 1
        self.glyph_count = struct.unpack_from(">H", self.table("maxp"), 4)[0]
        loca = _big_endian("I" if long_loca else "H", self.table("loca"))
        self.loca = loca if long_loca else array("I", (offset * 2 for offset in loca))
        self.glyf_at = tables["glyf"][0]
        hhea = self.table("hhea")
        self.ascent, self.descent = struct.unpack_from(">hh", hhea, 4)
        self.long_metrics = struct.unpack_from(">H", hhea, 34)[0]
        self.hmtx = _big_endian("h", self.table("hmtx"))
        os2 = self.table("OS/2") if "OS/2" in tables else b""
        self.cap_height = struct.unpack_from(">h", os2, 88)[0] if len(os2) >= 90 else self.ascent
        with FontToolsFont(str(path), lazy=True) as parsed:
            self.postscript_name = (parsed["name"].getDebugName(6) or path.stem).replace(" ", "-")
            # Variation sequences the font maps (format 14), default ones (glyph None: the nominal glyph) included.
            self.sequences: frozenset[tuple[int, int]] = frozenset(
                (base, selector)
                for table in parsed["cmap"].tables
                if table.format == 14
                for selector, pairs in table.uvsDict.items()
                for base, _glyph in pairs
            )
        self.face = hb.Face(hb.Blob.from_file_path(str(path)))
        self.font = hb.Font(self.face)
        self._shape = functools.lru_cache(maxsize=8192)(self._shape_uncached)

    def table(self, tag: str) -> bytes:
        offset, length = self.tables[tag]
        return self.data[offset : offset + length]

    def glyph_data(self, gid: int) -> bytes:
        start, end = self.loca[gid], self.loca[gid + 1]
        return self.data[self.glyf_at + start : self.glyf_at + end]

    def metrics(self, gid: int) -> tuple[int, int]:
        """(advance, left side bearing) from hmtx."""
        if gid < self.long_metrics:
            return self.hmtx[2 * gid] & 0xFFFF, self.hmtx[2 * gid + 1]
        return self.hmtx[2 * (self.long_metrics - 1)] & 0xFFFF, self.hmtx[
            2 * self.long_metrics + gid - self.long_metrics
        ]

    def missing(self, text: str) -> list[str]:
        """Every character, or base + variation selector, of ``text`` this font cannot draw (in order, once each).

        A selector the font does not map for its base counts as missing: the variant shape was asked for, and
        drawing the plain base instead would certify a different character form."""
        found: list[str] = []
        previous = ""
        for char in text:
            code = ord(char)
            if is_selector(code):
                if not previous or (ord(previous), code) not in self.sequences:
                    found.append(previous + char)
            elif char not in _AS_SPACE and self.font.get_nominal_glyph(code) is None:
                found.append(char)
            previous = char
        return list(dict.fromkeys(found))

    def shape(self, text: str) -> Run:
        """``text`` as glyphs; raises ``GlyphMissing`` naming what the font lacks."""
        return self._shape(text)

    def _shape_uncached(self, text: str) -> Run:
        missing = self.missing(text)
        if missing:
            raise GlyphMissing(missing)
        return self.glyphs(text)

    def glyphs(self, text: str, index: int = 0, per_em: int = 0) -> Run:
        """``text`` shaped, unchecked (the caller has checked ``missing``); glyphs tagged as font ``index`` of a
        chain, advances in units of ``per_em`` (the chain's first font's em; default this font's)."""
        per_em = per_em or self.per_em
        text = "".join(_AS_SPACE.get(c, c) for c in text)
        buffer = hb.Buffer()
        buffer.add_str(text)
        buffer.guess_segment_properties()
        hb.shape(self.font, buffer, {})
        infos, positions = buffer.glyph_infos, buffer.glyph_positions
        starts = [*sorted({info.cluster for info in infos}), len(text)]
        end_of = dict(itertools.pairwise(starts))
        glyphs: list[Glyph] = []
        seen_clusters: set[int] = set()
        for info, position in zip(infos, positions, strict=True):
            cluster = info.cluster
            if cluster in seen_clusters:
                # HarfBuzz leaves a selector it has applied as a blank, zero-width glyph in the base's cluster:
                # the cluster's first glyph already stands for the whole sequence.
                if not position.x_advance and not self.glyph_data(info.codepoint):
                    continue
                glyphs.append(Glyph(info.codepoint, "", position.x_advance, self.metrics(info.codepoint)[0]))
                continue
            seen_clusters.add(cluster)
            nominal = self.metrics(info.codepoint)[0]
            glyphs.append(Glyph(info.codepoint, text[cluster : end_of[cluster]], position.x_advance, nominal))
        if index or per_em != self.per_em:
            glyphs = [Glyph(g.gid, g.text, round(g.advance * per_em / self.per_em), g.nominal, index) for g in glyphs]
        return Run(tuple(glyphs), sum(g.advance for g in glyphs), per_em)

    def subset(self, gids: Iterable[int]) -> tuple[bytes, dict[int, int]]:
        """A TrueType font with just ``gids`` (and their components), renumbered; and old -> new glyph ids."""
        order = [0]
        new_id = {0: 0}
        for gid in sorted(set(gids) - {0}):
            new_id[gid] = len(order)
            order.append(gid)
        glyphs: list[bytes] = []
        index = 0
        while index < len(order):
            data = self.glyph_data(order[index])
            if len(data) > 10 and struct.unpack_from(">h", data, 0)[0] < 0:
                data = self._renumber_components(data, order, new_id)
            glyphs.append(data + b"\0" * (-len(data) % 4))
            index += 1
        offsets = [0]
        for data in glyphs:
            offsets.append(offsets[-1] + len(data))
        hmtx = b"".join(struct.pack(">Hh", *self.metrics(gid)) for gid in order)
        count = len(order)
        head = bytearray(self.table("head"))
        struct.pack_into(">L", head, 8, 0)  # checkSumAdjustment, set below
        struct.pack_into(">h", head, 50, 1)  # long loca
        hhea = bytearray(self.table("hhea"))
        struct.pack_into(">H", hhea, 34, count)
        maxp = bytearray(self.table("maxp"))
        struct.pack_into(">H", maxp, 4, count)
        post = b"\x00\x03\x00\x00" + self.table("post")[4:16] + b"\0" * 16  # version 3: no glyph names
        tables = {
            "head": bytes(head),
            "hhea": bytes(hhea),
            "maxp": bytes(maxp),
            "hmtx": hmtx,
            "loca": struct.pack(f">{len(offsets)}L", *offsets),
            "glyf": b"".join(glyphs),
            "post": post,
        }
        for tag in ("cvt ", "fpgm", "prep", "OS/2", "name"):  # hinting programs the outlines call; metrics
            if tag in self.tables:
                tables[tag] = self.table(tag)
        return _font_file(tables), new_id

    def _renumber_components(self, data: bytes, order: list[int], new_id: dict[int, int]) -> bytes:
        glyph = bytearray(data)
        at = 10
        flags = _MORE
        while flags & _MORE:
            flags, component = struct.unpack_from(">HH", glyph, at)
            if component not in new_id:
                new_id[component] = len(order)
                order.append(component)
            struct.pack_into(">H", glyph, at + 2, new_id[component])
            at += 4 + (4 if flags & _ARGS_ARE_WORDS else 2)
            at += 2 if flags & _HAS_SCALE else 4 if flags & _HAS_XY_SCALE else 8 if flags & _HAS_2X2 else 0
        return bytes(glyph)


def _checksum(data: bytes) -> int:
    padded = data + b"\0" * (-len(data) % 4)
    return sum(_big_endian("I", padded)) & 0xFFFFFFFF


def _font_file(tables: dict[str, bytes]) -> bytes:
    tags = sorted(tables)
    count = len(tags)
    power = 1 << (count.bit_length() - 1)
    header = struct.pack(">LHHHH", 0x00010000, count, power * 16, power.bit_length() - 1, count * 16 - power * 16)
    offset = 12 + 16 * count
    directory, body = [], []
    total = 0
    for tag in tags:
        data = tables[tag]
        padded = data + b"\0" * (-len(data) % 4)
        checksum = _checksum(padded)
        total += checksum
        directory.append(struct.pack(">4sLLL", tag.encode("latin-1"), checksum, offset, len(data)))
        body.append(padded)
        offset += len(padded)
    heading = header + b"".join(directory)
    # The whole file's checksum is the sum of its 4-byte-aligned parts': each table is summed once.
    total += _checksum(heading)
    font = bytearray(heading + b"".join(body))
    head_at = len(heading) + sum(len(b) for b in body[: tags.index("head")])
    struct.pack_into(">L", font, head_at + 8, (0xB1B0AFBA - total) & 0xFFFFFFFF)
    return bytes(font)


_lock = threading.Lock()
_loaded: dict[Path, ShapingFont] = {}


def load(path: Path) -> ShapingFont:
    """The font at ``path``, parsed once per process."""
    with _lock:
        if path not in _loaded:
            _loaded[path] = ShapingFont(path)
        return _loaded[path]


def clusters(text: str) -> list[str]:
    """``text`` cut into what must be drawn by one font: a character with the variation selectors after it."""
    found: list[str] = []
    for char in text:
        if found and is_selector(ord(char)) and not is_selector(ord(found[-1][-1])):
            found[-1] += char
        else:
            found.append(char)
    return found


class FontChain:
    """Fonts tried in order for each cluster (a character, or a base with its variation selector): the first
    font draws everything it has; a cluster it lacks is drawn by the first fallback that has it, and only a
    cluster no font of the chain has is missing. Fallbacks are parsed the first time a text needs one, so text
    entirely in the first font costs what it did with that font alone."""

    def __init__(self, first: ShapingFont, fallbacks: Iterable[Path] = ()) -> None:
        self.first = first
        self.per_em = first.per_em
        self.paths = (first.path, *fallbacks)
        self._fonts: dict[int, ShapingFont] = {0: first}
        self._shape = functools.lru_cache(maxsize=8192)(self._shape_uncached)

    def font(self, index: int) -> ShapingFont:
        if index not in self._fonts:
            self._fonts[index] = load(self.paths[index])
        return self._fonts[index]

    def _font_for(self, cluster: str) -> int | None:
        for index in range(len(self.paths)):
            if not self.font(index).missing(cluster):
                return index
        return None

    def _segments(self, text: str) -> tuple[list[tuple[int, str]], list[str]]:
        """``text`` as (font index, text) runs of consecutive clusters one font draws; and the clusters no font has."""
        segments: list[tuple[int, str]] = []
        missing: list[str] = []
        for cluster in clusters(text):
            index = self._font_for(cluster)
            if index is None:
                missing.append(cluster)
            elif segments and segments[-1][0] == index:
                segments[-1] = (index, segments[-1][1] + cluster)
            else:
                segments.append((index, cluster))
        return segments, list(dict.fromkeys(missing))

    def missing(self, text: str) -> list[str]:
        """Every cluster of ``text`` no font of the chain can draw (in order, once each)."""
        if not self.first.missing(text):
            return []
        return self._segments(text)[1]

    def shape(self, text: str) -> Run:
        """``text`` as glyphs, each from the first font that has its cluster; raises ``GlyphMissing`` naming
        what no font has."""
        return self._shape(text)

    def _shape_uncached(self, text: str) -> Run:
        if not self.first.missing(text):
            return self.first.glyphs(text)
        segments, missing = self._segments(text)
        if missing:
            raise GlyphMissing(missing)
        glyphs: list[Glyph] = []
        for index, part in segments:
            glyphs += self.font(index).glyphs(part, index, self.per_em).glyphs
        return Run(tuple(glyphs), sum(g.advance for g in glyphs), self.per_em, len(segments) > 1 or segments[0][0] > 0)


_chains: dict[tuple[Path, ...], FontChain] = {}


def chain(first: Path, fallbacks: Iterable[Path] = ()) -> FontChain:
    """The chain ``first`` then ``fallbacks``, made once per process (fonts parsed when first needed)."""
    key = (first, *fallbacks)
    with _lock:
        found = _chains.get(key)
    if found is None:
        made = FontChain(load(first), key[1:])
        with _lock:
            found = _chains.setdefault(key, made)
    return found


class Embedding:
    """The fonts of a chain as one PDF document uses them: each font that draws something is embedded as its
    own subset under its own resource name (``FMJ`` for the first, ``FMJ1``, ``FMJ2`` for fallbacks)."""

    def __init__(self, fonts: FontChain, resource: str = "FMJ") -> None:
        self.chain = fonts
        self.resource = resource
        self.subsets: dict[int, Subset] = {}

    def subset(self, index: int) -> Subset:
        found = self.subsets.get(index)
        if found is None:
            name = self.resource if index == 0 else f"{self.resource}{index}"
            found = self.subsets[index] = Subset(self.chain.font(index), name)
        return found

    def show(self, run: Run, size: float, x: float, y: float) -> str:
        """The content-stream operators that draw ``run`` at (x, y) in points: one text array per font run, the
        font switched between them (the text position carries on)."""
        if not run.mixed:  # the common case, one font: no grouping
            subset = self.subset(0)
            return (
                f"BT /{subset.resource} {size:g} Tf {x:.2f} {y:.2f} Td [{subset.array(run.glyphs, run.per_em)}] TJ ET"
            )
        parts: list[str] = []
        glyphs = run.glyphs
        start = 0
        while start < len(glyphs):
            index = glyphs[start].font
            end = start + 1
            while end < len(glyphs) and glyphs[end].font == index:
                end += 1
            subset = self.subset(index)
            place = f" {x:.2f} {y:.2f} Td" if not parts else ""
            parts.append(f"/{subset.resource} {size:g} Tf{place} [{subset.array(glyphs[start:end], run.per_em)}] TJ")
            start = end
        return f"BT {' '.join(parts)} ET"

    def add_to(self, doc: pdfdoc.PDFDocument) -> None:
        """Write each used font's subset into ``doc``'s fonts."""
        if not self.subsets:
            self.subset(0)
        for subset in self.subsets.values():
            subset.add_to(doc)


class Subset:
    """One font as one PDF document uses it: CIDs handed out as text is drawn, objects written at the end."""

    def __init__(self, font: ShapingFont, resource: str) -> None:
        self.font = font
        self.resource = resource
        self.cids: dict[tuple[int, str], int] = {}
        self.widths: list[int] = []  # font units, by CID - 1

    def array(self, glyphs: Iterable[Glyph], per_em: int) -> str:
        """The TJ array's content for ``glyphs`` (advances in units of ``per_em``)."""
        parts: list[str] = []
        hexes: list[str] = []
        scale = 1000 / self.font.per_em
        ratio = self.font.per_em / per_em  # run units to this font's: 1 for the first font, 1/2 for Hanazono
        scaled = ratio != 1
        cids = self.cids
        for glyph in glyphs:
            key = (glyph.gid, glyph.text)
            cid = cids.get(key)
            if cid is None:
                cid = cids[key] = len(cids) + 1
                self.widths.append(glyph.nominal)
            hexes.append(f"{cid:04X}")
            advance = glyph.advance * ratio if scaled else glyph.advance
            if advance != glyph.nominal:  # kerning or a zero-width glyph: move by what HarfBuzz says
                parts.append(f"<{''.join(hexes)}>{(glyph.nominal - advance) * scale:.1f}")
                hexes = []
        if hexes:
            parts.append(f"<{''.join(hexes)}>")
        return "".join(parts)

    def add_to(self, doc: pdfdoc.PDFDocument) -> None:
        """Write the Type0 font (CIDFontType2 subset, widths, CID->GID map, ToUnicode) into ``doc``'s fonts."""
        font = self.font
        by_cid = sorted(self.cids.items(), key=lambda item: item[1])
        subset, new_id = font.subset(gid for (gid, _text), _cid in by_cid)
        tag = "".join(chr(65 + b % 26) for b in hashlib.sha256(subset).digest()[:6])
        name = pdfdoc.PDFName(f"{tag}+{font.postscript_name}")
        scale = 1000 / font.per_em

        def stream(content: bytes, **entries: object) -> pdfdoc.PDFObjectReference:
            made = pdfdoc.PDFStream(content=content, filters=[pdfdoc.PDFZCompress])
            for key, value in entries.items():
                made.dictionary[key] = value
            return doc.Reference(made)

        font_file = stream(subset, Length1=len(subset))
        gid_map = stream(b"\0\0" + b"".join(struct.pack(">H", new_id[gid]) for (gid, _t), _c in by_cid))
        descriptor = doc.Reference(
            pdfdoc.PDFDictionary(
                {
                    "Type": pdfdoc.PDFName("FontDescriptor"),
                    "FontName": name,
                    "Flags": 4,  # symbolic: glyphs outside the standard Latin set
                    "FontBBox": pdfdoc.PDFArray([round(v * scale) for v in font.bbox]),
                    "ItalicAngle": 0,
                    "Ascent": round(font.ascent * scale),
                    "Descent": round(font.descent * scale),
                    "CapHeight": round(font.cap_height * scale),
                    "StemV": 80,
                    "FontFile2": font_file,
                }
            )
        )
        widths = [round(width * scale) for width in self.widths]
        cid_font = doc.Reference(
            pdfdoc.PDFDictionary(
                {
                    "Type": pdfdoc.PDFName("Font"),
                    "Subtype": pdfdoc.PDFName("CIDFontType2"),
                    "BaseFont": name,
                    "CIDSystemInfo": pdfdoc.PDFDictionary(
                        {
                            "Registry": pdfdoc.PDFString("Adobe"),
                            "Ordering": pdfdoc.PDFString("Identity"),
                            "Supplement": 0,
                        }
                    ),
                    "FontDescriptor": descriptor,
                    "DW": 1000,
                    "W": pdfdoc.PDFArray([1, pdfdoc.PDFArray(widths)]) if widths else pdfdoc.PDFArray([]),
                    "CIDToGIDMap": gid_map,
                }
            )
        )
        to_unicode = stream(_to_unicode([(cid, text) for (_gid, text), cid in by_cid]).encode("ascii"))
        font_dict = pdfdoc.PDFDictionary(
            {
                "Type": pdfdoc.PDFName("Font"),
                "Subtype": pdfdoc.PDFName("Type0"),
                "BaseFont": name,
                "Encoding": pdfdoc.PDFName("Identity-H"),
                "DescendantFonts": pdfdoc.PDFArray([cid_font]),
                "ToUnicode": to_unicode,
            }
        )
        doc.idToObject[pdfdoc.BasicFonts].dict[self.resource] = doc.Reference(font_dict)


def _to_unicode(entries: list[tuple[int, str]]) -> str:
    """A ToUnicode CMap: each CID to the exact UTF-16BE of its text (surrogate pairs for non-BMP, selectors kept)."""
    lines = [
        "/CIDInit /ProcSet findresource begin",
        "12 dict begin",
        "begincmap",
        "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def",
        "/CMapName /Adobe-Identity-UCS def",
        "/CMapType 2 def",
        "1 begincodespacerange",
        "<0000> <FFFF>",
        "endcodespacerange",
    ]
    for start in range(0, len(entries), 100):  # at most 100 entries per block (PDF reference, 5.9.2)
        block = entries[start : start + 100]
        lines.append(f"{len(block)} beginbfchar")
        lines.extend(f"<{cid:04X}> <{text.encode('utf-16-be').hex().upper()}>" for cid, text in block)
        lines.append("endbfchar")
    lines += ["endcmap", "CMapName currentdict /CMap defineresource pop", "end", "end"]
    return "\n".join(lines)
