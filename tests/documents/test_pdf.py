"""Certificate rendering: the Japanese font is embedded (as a subset), the page states what the content says,
and a missing font is a clear error naming the package."""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import date
from io import BytesIO
from pathlib import Path

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader

from madoguchi.documents import fonts, pdf
from tests.documents.certificate_fixtures import pdftotext, spaced

TAX_CONTENT = {
    "kind": "income",
    "fiscal_year": 2025,
    "fiscal_year_label": "令和7年度",
    "income_year": 2024,
    "name": "渡邊　花子",
    "name_kana": "ワタナベ　ハナコ",
    "birth_date": "1990-01-15",
    "address_on_jan1": "高知県汐見町浜1番地",
    "income": {"salary": 3_000_000, "business": 0, "pension": 0, "other": 0, "total": 3_000_000},
    "deductions": 1_000_000,
    "taxable_income": 2_000_000,
    "dependents": 0,
    "non_taxable": False,
}


def _page(kind: str, content: dict, **overrides) -> pdf.CertificatePage:
    values = {
        "kind": kind,
        "serial": "398021-20261126-0A1B2C3D",
        "issued_on": date(2026, 11, 26),
        "content": content,
        "issuer": pdf.Issuer("汐見町", "汐見町長", "住民課"),
        "verification_code": "7K3M-Q2XD-HP4N",
        "verification_url": "https://madoguchi.example.jp/verify/7K3MQ2XDHP4N",
    }
    return pdf.CertificatePage(**{**values, **overrides})


def _fonts(data: bytes) -> list[dict]:
    reader = PdfFileReader(BytesIO(data))
    page = reader.root["/Pages"]["/Kids"][0]
    return [font.get_object() for font in page["/Resources"]["/Font"].values()]


def test_every_font_on_the_page_is_an_embedded_subset() -> None:
    """One font, IPAmj Mincho, as a CID-keyed TrueType subset with its own ToUnicode map (decision 0030)."""
    data = pdf.render(_page("tax_certificate", TAX_CONTENT), pdf.find_font())
    fonts = _fonts(data)
    assert len(fonts) == 1
    for font in fonts:
        assert font["/Subtype"] == "/Type0" and font["/Encoding"] == "/Identity-H" and "/ToUnicode" in font
        cid_font = font["/DescendantFonts"][0]
        assert cid_font["/Subtype"] == "/CIDFontType2"
        assert str(font["/BaseFont"]).split("+", 1)[1] == "IPAmjMincho"  # e.g. ABCDEF+IPAmjMincho: a subset
        assert "/FontFile2" in cid_font["/FontDescriptor"]


def test_the_tax_certificate_states_the_assessment_in_japanese(tmp_path: Path) -> None:
    data = pdf.render(_page("tax_certificate", TAX_CONTENT), pdf.find_font())
    text = pdftotext(data, tmp_path)
    for expected in (
        "所得証明書",
        "令和7年度（令和6年中所得）",
        spaced("渡邊　花子"),
        "3,000,000円",
        "平成2年1月15日",
        "令和8年11月26日",
        "汐見町長",
        "398021-20261126-0A1B2C3D",
        "7K3M-Q2XD-HP4N",
    ):
        assert expected in text
    assert "市町村民税額" not in text  # an income certificate states no tax


CHILDCARE_CONTENT = {
    "child": {"name": "渡邊　陽葵", "birth_date": "2024-08-03"},
    "certification_category": "3号",
    "care_time": "standard",
    "decision": "issued",
    "desired_start_month": "2027-04",
    "facility_code": "F-001",
}


def test_the_childcare_decision_notice_renders(tmp_path: Path) -> None:
    content = CHILDCARE_CONTENT
    text = pdftotext(pdf.render(_page("childcare_decision", content), pdf.find_font()), tmp_path)
    assert "保育所等利用決定通知書" in text and spaced("渡邊　陽葵") in text and "令和6年8月3日" in text


def test_a_missing_font_names_the_package_and_the_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pdf, "FONT_DIRS", (str(tmp_path / "no-fonts-here"),))
    with pytest.raises(pdf.FontMissing, match="fonts-ipamj-mincho") as missing:
        pdf.find_font()
    assert "MADOGUCHI_CERTIFICATE_FONT" in str(missing.value)
    with pytest.raises(pdf.FontMissing, match="no font file"):
        pdf.find_font(str(tmp_path / "absent.ttf"))


def test_the_qr_code_is_a_well_formed_symbol() -> None:
    url = "https://madoguchi.example.jp/verify/7K3MQ2XDHP4N"
    modules = pdf.qr_modules(url)
    size = len(modules)
    assert size in (29, 33, 37) and all(len(row) == size for row in modules)  # versions 3-5
    finder = [[True] * 7, [True] + [False] * 5 + [True]] + [[True, False, True, True, True, False, True]] * 3
    finder += [[True] + [False] * 5 + [True], [True] * 7]
    for top, left in ((0, 0), (0, size - 7), (size - 7, 0)):
        assert [row[left : left + 7] for row in modules[top : top + 7]] == finder
    assert pdf.qr_modules(url) == modules and pdf.qr_modules(url + "X") != modules


def test_the_printed_qr_code_reads_back_as_the_verification_url(tmp_path) -> None:
    """Rasterise the page as a printer would (poppler's pdftoppm, 150 dpi) and read the code with an
    independent decoder (ZXing): what a phone scans is the certificate's /verify URL."""
    import zxingcpp
    from PIL import Image

    tool = shutil.which("pdftoppm")
    if tool is None:
        if os.environ.get("MADOGUCHI_REQUIRE_PDFTOOLS") == "1":
            pytest.fail("pdftoppm is required (MADOGUCHI_REQUIRE_PDFTOOLS=1): install poppler-utils")
        pytest.skip("pdftoppm (poppler-utils) is not installed")
    page = _page("tax_certificate", TAX_CONTENT, verification_url="https://madoguchi.example.jp/verify/QRTESTCODE42")
    (tmp_path / "page.pdf").write_bytes(pdf.render(page, pdf.find_font()))
    subprocess.run([tool, "-r", "150", "-png", "-singlefile", "page.pdf", "page"], cwd=tmp_path, check=True)
    found = zxingcpp.read_barcodes(Image.open(tmp_path / "page.png"))
    assert [(code.format.name, code.text) for code in found] == [
        ("QRCode", "https://madoguchi.example.jp/verify/QRTESTCODE42")
    ]


def test_a_configured_ipaex_font_still_renders_and_what_it_lacks_comes_from_the_fallbacks(tmp_path: Path) -> None:
    """IPAex (MADOGUCHI_CERTIFICATE_FONT) stays usable as the first font: it prints what it has; 𠮷, which it
    lacks, now comes from the fallback fonts (it was refused before them), and what no font has is refused."""
    ipaex = next(Path("/usr/share/fonts").rglob("ipaexg.ttf"), None)
    if ipaex is None:
        pytest.skip("fonts-ipaexfont-gothic is not installed")
    font = pdf.find_font(str(ipaex))
    text = pdftotext(pdf.render(_page("tax_certificate", TAX_CONTENT), font), tmp_path)
    assert spaced("渡邊　花子") in text
    text = pdftotext(pdf.render(_page("tax_certificate", {**TAX_CONTENT, "name": "𠮷田　花子"}), font), tmp_path)
    assert spaced("𠮷田　花子") in text
    with pytest.raises(fonts.GlyphMissing, match=r"U\+E000"):
        pdf.render(_page("tax_certificate", {**TAX_CONTENT, "name": "\ue000田　花子"}), font)
