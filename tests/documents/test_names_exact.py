"""Every name exactly: 𠮷 (outside the BMP), 髙, 﨑 and ideographic variation sequences are drawn with the glyph
HarfBuzz selects in IPAmj Mincho and read back from the text layer as the stored code points; a character or a
variation sequence the font lacks refuses the document (and, issued through the API, leaves it to a clerk).

IPAmj Mincho carries the Moji_Joho collection of the Ideographic Variation Database: 葛 has U+E0102..E0108 and 邊
U+E0108..E0112 there (葛 U+E0103 and 邊 U+E0108 name the plain glyph). The Adobe-Japan1 sequences 葛 U+E0100 and
邊 U+E0102 are not in it, so those names are refused (decision 0030), and the variants printed here are MJ ones.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import uharfbuzz as hb
from fontTools.ttLib import TTFont
from sqlalchemy import func, select

from madoguchi.db import Database
from madoguchi.documents import fonts, pdf
from madoguchi.documents.models import IssuedDocument
from madoguchi.registry.models import Person
from tests.documents.certificate_fixtures import World, issue_after_approval, submit, world
from tests.documents.pdf_reading import embedded_glyphs, outline, words_by_page

__all__ = ["world"]

KUZU_MJ = "葛\U000e0102"  # 葛 + VS19: MJ022335
WATANABE_MJ = "渡邊\U000e0109"  # 邊 + VS26: MJ060240 (VS25 is the plain glyph)
NAMES = ("𠮷田　一郎", "髙橋　美咲", "山﨑　花子", f"{KUZU_MJ}西　陽葵", f"{WATANABE_MJ}　蓮")


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


@pytest.fixture(scope="module")
def original() -> tuple[hb.Font, TTFont]:
    path = pdf.find_font()
    font = TTFont(str(path), lazy=True)
    yield hb.Font(hb.Face(hb.Blob(path.read_bytes()))), font
    font.close()


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
    line = sorted((w for w in words if abs(w.y0 - first.y0) < 1 and w.x0 >= first.x0), key=lambda w: w.x0)
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
        ("葛\U000e0100西　陽葵", "U+845B U+E0100"),  # Adobe-Japan1's 葛 variant: not in the MJ collection
        ("渡邊\U000e0102　蓮", "U+908A U+E0102"),
        ("髙橋　\ue000子", "U+E000"),  # a private-use 外字 from a legacy system
        ("髙橋　一\U000e01ef", "U+4E00 U+E01EF"),  # a selector no collection registers for 一
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


def test_auto_issue_of_a_name_the_font_lacks_is_left_to_a_clerk_with_the_reason(world: World, db: Database) -> None:
    with db.transaction(world.a.tenant.id) as session:
        session.get(Person, world.a.person.id).given_name = "葛\U000e0100子"
    application = submit(world.a)
    assert application["state"] == "submitted"
    history = world.a.resident.get(world.a.api(f"/applications/{application['id']}/history")).json
    assert history[-1]["action"] == "auto_issue_declined"
    assert "U+845B U+E0100" in history[-1]["comment"]  # the resident and the clerk both read why
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
