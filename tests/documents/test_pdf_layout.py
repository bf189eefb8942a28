"""Documents of any length, read back from the PDF by the boxes poppler finds: households of 1 to 10 people and
addresses of 100+ characters. Every page has its number (n/m) and the verification footer; 「以下余白」 follows
the last item once; the statement, the issuer and the seal are on the last page only; no two boxes overlap and
nothing leaves the margins or runs into the footer."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from PIL import ImageChops

from madoguchi import jp
from madoguchi.documents import pdf
from tests.documents.pdf_reading import Word, raster, words_by_page
from tests.documents.test_pdf import CHILDCARE_CONTENT

SEAL = (Path(__file__).parents[2] / "tenants" / "seals" / "shiomi-town.png").read_bytes()
ISSUER = pdf.Issuer("汐見町", "汐見町長", "住民福祉課", name="浜田　誠一", seal=SEAL)
CODE = "7K3M-Q2XD-HP4N"
URL = "https://madoguchi.example.jp/verify/7K3MQ2XDHP4N"
NAMES = ("𠮷田　一郎", "髙橋　花子", "山﨑　美咲", "葛\U000e0102西　陽葵", "渡邊\U000e0108　蓮")
ADDRESS = "長野県桜ヶ丘市中央一丁目1番1号"
GIVEN = ("壱朗", "花子", "美咲", "陽葵", "蓮", "結衣", "大翔", "さくら", "悠真", "凛")
#: 131 characters: a building name long enough to wrap three times in the value column.
LONG_ADDRESS = ADDRESS + "桜ヶ丘グランドハイツ（サクラガオカグランドハイツ）東棟" * 4 + "1203号室"
TOP = pdf.PAGE_HEIGHT  # poppler measures y from the top of the page
MM = 72 / 25.4


def household(size: int, address: str = ADDRESS) -> dict:
    persons = []
    for i in range(size):
        born = date(1950 + 7 * i, 1 + i, 1 + i)
        persons.append(
            {
                "name": f"{NAMES[i % 5].split('　')[0]}　{GIVEN[i]}",
                "name_kana": "ヨシダ　イチロウ",
                "birth_date": born.isoformat(),
                "birth_date_wareki": jp.to_wareki(born),
                "sex": "male",
                "relationship": "世帯主" if i == 0 else "子",
                "became_resident_on": "2015-04-01",
                "address_set_on": "2015-04-01",
                "domicile": address,
                "domicile_head": "𠮷田　一郎",
            }
        )
    return {"address": address, "head_of_household": "𠮷田　一郎", "persons": persons}


def render(kind: str, content: dict) -> bytes:
    page = pdf.CertificatePage(
        kind=kind,
        serial="398977-20261126-0A1B2C3D",
        issued_on=date(2026, 11, 26),
        content=content,
        issuer=ISSUER,
        verification_code=CODE,
        verification_url=URL,
    )
    return pdf.render(page, pdf.find_font())


def texts(words: list[Word]) -> list[str]:
    return [w.text for w in words]


def footer_words(page: list[Word]) -> list[Word]:
    return [w for w in page if w.y0 >= TOP - pdf.FOOTER_TOP]


def assert_laid_out_cleanly(pages: list[list[Word]], title: str = "住民票の写し") -> None:
    count = len(pages)
    for number, page in enumerate(pages, start=1):
        for i, word in enumerate(page):
            others = page[i + 1 :]
            assert not [o for o in others if word.overlaps(o)], f"page {number}: {word} overprints another box"
            assert word.x0 >= pdf.LEFT - 0.5 and word.x1 <= pdf.RIGHT + 0.5, f"page {number}: {word} leaves the margin"
            assert word.y1 <= TOP - pdf.BOTTOM_MARGIN, f"page {number}: {word} is below the bottom margin"
            above, below = word.y1 <= TOP - pdf.FOOTER_TOP, word.y0 >= TOP - pdf.FOOTER_TOP
            assert above or below, f"page {number}: {word} straddles the footer's top"
        footer = texts(footer_words(page))
        # The verification footer and the page number, on every page, and nothing else down there.
        assert f"{number}/{count}" in footer and CODE in footer and URL in footer and "検証コード" in footer
        assert len(footer) == 5, footer
        header = texts([w for w in page if w.y1 < 40 * MM])
        assert "398977-20261126-0A1B2C3D" in header and title in header


@pytest.mark.parametrize("size", range(1, 11))
def test_a_household_of_any_size_is_laid_out_on_as_many_pages_as_it_needs(size: int, tmp_path: Path) -> None:
    pages = words_by_page(render("residency_certificate", household(size)), tmp_path)
    assert_laid_out_cleanly(pages)
    every = [w for page in pages for w in page]
    # Each person once, by their exact name (poppler splits a name at the ideographic space).
    for person in household(size)["persons"]:
        _family, given = person["name"].split("　")
        assert len([w for w in every if w.text == given]) == 1, given
    assert texts(every).count("以下余白") == 1
    last = pages[-1]
    remainder = next(w for w in last if w.text == "以下余白")
    items = [w for w in last if w.y0 < remainder.y0 and w.y0 > 40 * MM]
    assert items, "以下余白 follows the last item on the last page"
    # The certifying statement, the date and the issuer with the mayor's name: once, on the last page, below 以下余白.
    for text in ("この写しは、住民票の原本と相違ないことを証明する。", "令和8年11月26日", "汐見町長", "浜田", "誠一"):
        assert texts(every).count(text) == 1, text
        assert next(w for w in last if w.text == text).y0 > remainder.y1
    if size == 1:
        assert len(pages) == 1
    if size == 10:
        assert len(pages) >= 3


def test_pages_grow_with_the_household(tmp_path: Path) -> None:
    counts = [len(words_by_page(render("residency_certificate", household(n)), tmp_path)) for n in (1, 3, 10)]
    assert counts[0] == 1 and counts[0] <= counts[1] < counts[2]


def test_a_person_is_not_split_across_pages(tmp_path: Path) -> None:
    pages = words_by_page(render("residency_certificate", household(10)), tmp_path)
    for page in pages:
        # Every person on the page has all of their rows there: as many 氏名 labels as 筆頭者 labels.
        labels = texts(page)
        assert labels.count("氏名") == labels.count("筆頭者")


@pytest.mark.parametrize("size", [1, 4, 10])
def test_an_address_of_over_100_characters_wraps_within_its_column(size: int, tmp_path: Path) -> None:
    assert len(LONG_ADDRESS) > 100
    pages = words_by_page(render("residency_certificate", household(size, LONG_ADDRESS)), tmp_path)
    assert_laid_out_cleanly(pages)
    first = pages[0]
    label = next(w for w in first if w.text == "住所")
    following = next(w for w in first if w.text == "世帯主")
    value = sorted(
        (w for w in first if w.x0 > label.x1 and label.y0 - 3 <= w.y0 < following.y0 - 3), key=lambda w: (w.y0, w.x0)
    )
    assert len({w.y0 for w in value}) >= 3  # wrapped onto three lines or more, not cut off or run past the margin
    assert "".join(w.text for w in value) == LONG_ADDRESS
    assert all(w.x1 <= pdf.RIGHT + 0.5 for w in value)


def test_the_seal_is_printed_on_the_last_page_only_and_beside_the_name(tmp_path: Path) -> None:
    """Rasterised at 72 dpi (a pixel is a point): vermilion pixels are the seal's. They are on the last page, right
    of the mayor's name, and inside no box of text."""
    data = render("residency_certificate", household(7))
    pages = words_by_page(data, tmp_path)
    assert len(pages) > 1

    def seal_box(number: int) -> tuple[int, int, int, int] | None:
        red, green, blue = raster(data, tmp_path, number).split()
        # Vermilion: red > 150, green and blue < 120 (black text and grey lines are not).
        low_green, low_blue = (channel.point(lambda v: 255 if v < 120 else 0) for channel in (green, blue))
        mask = ImageChops.multiply(red.point(lambda v: 255 if v > 150 else 0), ImageChops.multiply(low_green, low_blue))
        return mask.getbbox()

    assert all(seal_box(n) is None for n in range(1, len(pages)))
    box = seal_box(len(pages))
    assert box is not None
    seal = Word("seal", *box)
    assert not [w for w in pages[-1] if seal.overlaps(w)]
    name = next(w for w in pages[-1] if w.text == "誠一")
    assert seal.x0 > name.x1 and seal.y0 < name.y0 < seal.y1


def test_a_certificate_is_headed_with_its_certificate_number_and_has_no_appeal_instructions(tmp_path: Path) -> None:
    words = texts([w for page in words_by_page(render("residency_certificate", household(1)), tmp_path) for w in page])
    assert "証明書番号" in words and "文書番号" not in words
    assert "教示" not in words


def test_a_decision_notice_carries_a_document_number_and_the_appeal_instructions(tmp_path: Path) -> None:
    content = {**CHILDCARE_CONTENT, "child": {"name": "𠮷田　陽葵", "birth_date": "2024-08-03"}}
    pages = words_by_page(render("childcare_decision", content), tmp_path)
    assert_laid_out_cleanly(pages, "保育所等利用決定通知書")
    text = "".join(w.text for page in pages for w in page)
    words = texts([w for page in pages for w in page])
    assert "文書番号" in words and "証明書番号" not in words
    assert "教示" in words
    # 行政不服審査法: 審査請求 to the mayor within 3 months; 行政事件訴訟法: 取消訴訟 against the town within 6 months.
    assert "3か月以内に、汐見町長に対して審査請求をすることができます" in text
    assert "6か月以内に、汐見町を被告として" in text and "取消しを求める訴訟" in text
    assert "この通知書は電子署名されています。" in text
    last = pages[-1]
    instructions = next(w for w in last if w.text == "教示")
    assert instructions.y0 > next(w for w in last if w.text == "汐見町長").y1  # after the issuer, on the last page


def test_notices_and_certificates_are_told_apart_by_kind() -> None:
    assert pdf.is_notice("childcare_decision")
    assert not pdf.is_notice("residency_certificate") and not pdf.is_notice("tax_certificate")


def test_page_numbers_count_the_pages(tmp_path: Path) -> None:
    pages = words_by_page(render("residency_certificate", household(10)), tmp_path)
    numbers = [next(w.text for w in page if re.fullmatch(r"\d+/\d+", w.text)) for page in pages]
    assert numbers == [f"{n}/{len(pages)}" for n in range(1, len(pages) + 1)]
