"""Every name exactly: 𠮷 (outside the BMP), 髙, 﨑 and ideographic variation sequences are drawn with the glyph
HarfBuzz selects in the font that has them and read back from the text layer as the stored code points; a
character or a variation sequence no font of the chain has refuses the document (and, issued through the API,
leaves it to a clerk).

IPAmj Mincho carries the Moji_Joho collection of the Ideographic Variation Database: 葛 has U+E0102..E0108 and 邊
U+E0108..E0112 there (葛 U+E0103 and 邊 U+E0108 name the plain glyph). The Adobe-Japan1 sequences 葛 U+E0100 and
邊 U+E0102 are not in it: they are drawn from the fallback font Hanazono Mincho A (decision 0030), which has them.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import uharfbuzz as hb
from fontTools.ttLib import TTFont
from sqlalchemy import func, select

from madoguchi.db import Database
from madoguchi.demo.population import VARIANT_FAMILY_NAMES
from madoguchi.documents import fonts, pdf
from madoguchi.documents.models import IssuedDocument
from madoguchi.registry.models import Person
from tests.documents.certificate_fixtures import (
    World,
    download,
    issue_after_approval,
    only_document,
    pdftotext,
    spaced,
    submit,
    world,
)
from tests.documents.pdf_reading import (
    embedded_font_names,
    embedded_glyphs,
    embedded_glyphs_by_font,
    outline,
    words_by_page,
)

__all__ = ["world"]

KUZU_MJ = "葛\U000e0102"  # 葛 + VS19: MJ022335
WATANABE_MJ = "渡邊\U000e0109"  # 邊 + VS26: MJ060240 (VS25 is the plain glyph)
NAMES = ("𠮷田　一郎", "髙橋　美咲", "山﨑　花子", f"{KUZU_MJ}西　陽葵", f"{WATANABE_MJ}　蓮")
KUZU_AJ1 = "葛\U000e0100"  # 葛 + VS17: Adobe-Japan1 (and the demo's 葛󠄀西), not in IPAmj
WATANABE_AJ1 = "渡邊\U000e0102"  # 邊 + VS19: Adobe-Japan1, not in IPAmj
FALLBACK_NAMES = (f"{KUZU_AJ1}西　陽葵", f"{WATANABE_AJ1}　蓮")


def _certificate(name: str) -> bytes:
    page = pdf.CertificatePage(
        kind="tax_certificate",
        serial="398977-20261126-0A1B2C3D",
        issued_on=date(2026, 11, 26),
        content={"kind": "income", "name": name, "name_kana": "テスト", "birth_date": "1990-01-15", "income": {}},
        issuer=pdf.Issuer("汐見町", "汐見町長"),
        verification_code="7K3M-Q2XD-HP4N",
        verification_url="https://madoguchi.example.jp/verify/7K3MQ2XDHP4N",
    )
    return pdf.render(page, pdf.find_font())


def _opened(path: Path) -> tuple[hb.Font, TTFont]:
    return hb.Font(hb.Face(hb.Blob(path.read_bytes()))), TTFont(str(path), lazy=True)


@pytest.fixture(scope="module")
def original() -> tuple[hb.Font, TTFont]:
    opened = _opened(pdf.find_font())
    yield opened
    opened[1].close()


@pytest.fixture(scope="module")
def hanazono() -> tuple[hb.Font, TTFont]:
    path = next((p for p in pdf.find_fallback_fonts() if p.name == "HanaMinA.ttf"), None)
    assert path is not None, "fonts-hanazono (HanaMinA.ttf) is not installed"
    opened = _opened(path)
    yield opened
    opened[1].close()


def _shaped_outline(original: tuple[hb.Font, TTFont], text: str) -> object:
    """What HarfBuzz draws for ``text`` (a single cluster) with the font file itself."""
    shaper, font = original
    buffer = hb.Buffer()
    buffer.add_str(text)
    buffer.guess_segment_properties()
    hb.shape(shaper, buffer, {})
    gid = buffer.glyph_infos[0].codepoint
    return outline(font.getGlyphSet(), font.getGlyphName(gid))


@pytest.mark.parametrize("name", NAMES)
def test_the_text_layer_gives_back_the_stored_name(name: str, tmp_path: Path) -> None:
    words = [w for page in words_by_page(_certificate(name), tmp_path) for w in page]
    family, given = name.split("　")  # poppler ends a word at the ideographic space
    first = next(w for w in words if w.text == family)
    # Same line: the boxes overlap in height (poppler sizes a box by its first font's ascent and descent, and
    # Hanazono's differ from IPAmj's, so a word starting with a fallback cluster stands a little taller).
    line = sorted(
        (w for w in words if w.y0 < first.y1 and first.y0 < w.y1 and w.x0 >= first.x0),
        key=lambda w: w.x0,
    )
    assert [w.text for w in line] == [family, given]


@pytest.mark.parametrize(
    "cluster", ["𠮷", "髙", "﨑", KUZU_MJ, "邊\U000e0109", "田", "橋", "西"], ids=lambda c: f"U+{ord(c[0]):04X}"
)
def test_each_character_is_drawn_with_the_glyph_harfbuzz_selects(cluster: str, original) -> None:
    name = next(n for n in NAMES if cluster in n)
    embedded = embedded_glyphs(_certificate(name))
    assert embedded[cluster] == _shaped_outline(original, cluster)


def test_a_variation_sequence_draws_its_variant_not_the_base(original) -> None:
    """The check above can fail: the MJ variants of 葛 and 邊 differ from the base glyphs, so a renderer that drops
    the selector (as reportlab's own TrueType path did) draws something else."""
    for base, sequence in (("葛", KUZU_MJ), ("邊", "邊\U000e0109")):
        assert _shaped_outline(original, sequence) != _shaped_outline(original, base)
        dropped = embedded_glyphs(_certificate(f"{base}西　花子"))
        assert sequence not in dropped and dropped[base] != _shaped_outline(original, sequence)


@pytest.mark.parametrize(
    ("name", "missing"),
    [
        ("髙橋　\ue000子", "U+E000"),  # a private-use 外字 from a legacy system
        ("髙橋　一\U000e01ef", "U+4E00 U+E01EF"),  # a selector no collection registers for 一
        ("葛\U000e01ef西　陽葵", "U+845B U+E01EF"),  # nor for 葛: no font of the chain has it
        ("\U000e0100髙橋", "U+E0100"),  # a selector with nothing to select
    ],
)
def test_a_character_the_font_lacks_refuses_the_document(name: str, missing: str) -> None:
    with pytest.raises(fonts.GlyphMissing) as refused:
        _certificate(name)
    assert missing in str(refused.value)


def test_names_the_font_has_are_not_refused() -> None:
    font = fonts.load(pdf.find_font())
    for name in NAMES:
        assert font.missing(name) == []
    chain = pdf.font_chain(pdf.find_font())
    for name in NAMES + FALLBACK_NAMES:
        assert chain.missing(name) == []


# ------------------------------------------------------------------------ clusters IPAmj lacks: the fallback font


def test_ipamj_lacks_the_adobe_japan1_sequences_the_fallback_draws() -> None:
    """The premise of the fallback: without it these names would be refused."""
    assert fonts.load(pdf.find_font()).missing(FALLBACK_NAMES[0] + FALLBACK_NAMES[1]) == [KUZU_AJ1, "邊\U000e0102"]


@pytest.mark.parametrize("name", FALLBACK_NAMES)
def test_a_name_with_a_sequence_ipamj_lacks_gives_back_the_stored_name(name: str, tmp_path: Path) -> None:
    test_the_text_layer_gives_back_the_stored_name(name, tmp_path)


@pytest.mark.parametrize("cluster", [KUZU_AJ1, "邊\U000e0102"], ids=["U+845B_U+E0100", "U+908A_U+E0102"])
def test_a_sequence_ipamj_lacks_is_drawn_with_the_hanazono_glyph(cluster: str, original, hanazono) -> None:
    """The exact glyph HarfBuzz picks in Hanazono Mincho A for the sequence: not the bare base (the selector
    dropped), and not IPAmj's base glyph; the rest of the name stays in IPAmj."""
    name = next(n for n in FALLBACK_NAMES if cluster in n)
    drawn = embedded_glyphs_by_font(_certificate(name))
    assert drawn[cluster] == ("HanaMinA", _shaped_outline(hanazono, cluster))
    assert _shaped_outline(hanazono, cluster) != _shaped_outline(hanazono, cluster[0])
    assert drawn[cluster][1] != _shaped_outline(original, cluster[0])
    neighbour = name[len(cluster)] if name.startswith(cluster) else name[0]  # 西 of 葛󠄀西, 渡 of 渡邊󠄂
    assert drawn[neighbour] == ("IPAmjMincho", _shaped_outline(original, neighbour))


def test_fonts_are_embedded_only_when_used() -> None:
    assert embedded_font_names(_certificate(NAMES[0])) == ["IPAmjMincho"]
    assert embedded_font_names(_certificate(FALLBACK_NAMES[0])) == ["IPAmjMincho", "HanaMinA"]


def test_a_mixed_name_wraps_and_measures_across_fonts(tmp_path: Path) -> None:
    """A name of IPAmj text with Hanazono clusters inside, long enough to wrap: each line stays within the value
    column and is as wide as laid out, a Hanazono cluster advances a full em like its IPAmj neighbours, no
    cluster is split, and the text layer joined back is the stored name."""
    name = ("渡" + "邊\U000e0102" + "葛\U000e0100" + "西") * 12
    chain = pdf.font_chain(pdf.find_font())
    run = chain.shape(name)
    assert {g.font for g in run.glyphs} == {0, 1} and {g.advance for g in run.glyphs} == {chain.per_em}
    found = [w for w in (w for page in words_by_page(_certificate(name), tmp_path) for w in page) if w.text in name]
    found = [w for w in found if len(w.text) > 8]  # the name's lines, not a stray 西 elsewhere
    assert "".join(w.text for w in found) == name
    column = pdf.RIGHT - min(w.x0 for w in found)
    lines = pdf.wrapped_lines(chain, name, 11, column)
    assert len(found) == len(lines) > 1
    assert ["".join(g.text for g in line.glyphs) for line in lines] == [w.text for w in found]
    for word, line in zip(found, lines, strict=True):
        assert word.x1 <= pdf.RIGHT + 0.5
        assert word.x1 - word.x0 == pytest.approx(line.width(11), abs=0.5)


def test_a_resident_named_like_the_demos_kasai_is_issued_a_certificate(
    world: World, db: Database, tmp_path: Path
) -> None:
    """The demo registries' 葛󠄀西 (U+E0100, which IPAmj lacks) was refused before the fallback font: it is now
    auto-issued, and the signed certificate's text layer carries the sequence exactly."""
    kasai = next(name for name, _kana in VARIANT_FAMILY_NAMES if "\U000e0100" in name)
    with db.transaction(world.a.tenant.id) as session:
        session.get(Person, world.a.person.id).family_name = kasai
    application = submit(world.a)
    assert application["state"] == "issued"
    text = pdftotext(download(world.a, only_document(world.a, application["id"])["id"]), tmp_path)
    assert kasai in text and spaced("美咲") in text


def test_auto_issue_of_a_name_the_font_lacks_is_left_to_a_clerk_with_the_reason(world: World, db: Database) -> None:
    with db.transaction(world.a.tenant.id) as session:
        session.get(Person, world.a.person.id).given_name = "葛\U000e01ef子"
    application = submit(world.a)
    assert application["state"] == "submitted"
    history = world.a.resident.get(world.a.api(f"/applications/{application['id']}/history")).json
    assert history[-1]["action"] == "auto_issue_declined"
    assert "U+845B U+E01EF" in history[-1]["comment"]  # the resident and the clerk both read why
    with db.transaction(world.a.tenant.id) as session:
        assert session.execute(select(func.count()).select_from(IssuedDocument)).scalar_one() == 0


def test_a_clerk_issuing_a_name_the_font_lacks_is_refused_and_nothing_changes(world: World, db: Database) -> None:
    with db.transaction(world.b.tenant.id) as session:
        session.get(Person, world.b.person.id).family_name = "髙\ue000"
    application, refused = issue_after_approval(world.b)
    assert refused.status_code == 409 and refused.mimetype == "application/problem+json"
    assert refused.json["type"].endswith("certificate-refused") and "U+E000" in refused.json["detail"]
    assert world.b.clerk.get(world.b.api(f"/applications/{application['id']}")).json["state"] == "approved"
    with db.transaction(world.b.tenant.id) as session:
        assert session.execute(select(func.count()).select_from(IssuedDocument)).scalar_one() == 0
