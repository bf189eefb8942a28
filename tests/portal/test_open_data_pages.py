"""The public performance pages: a municipality's at /<tenant>/open-data/ and the national one at /open-data/.

Snapshots are seeded directly in the published shape. Pages are read as a visitor reads them: no sign-in, in
Japanese and English, with a good, a malformed and an unpublished month, and before anything is published.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET  # the pages' own markup, parsed to prove it well-formed
from typing import Any

import pytest

from madoguchi.db import Database
from tests.identity import conftest as identity_fixtures
from tests.identity.conftest import Towns
from tests.support.kpi_rows import add_month, add_national_month, kpi_row

RESIDENCY = "residency-certificate"
TAX = "tax-certificate"
HTTPS = "https://localhost"

#: The two seeded towns as tenants (the portal tests' own ``towns`` brings residents these pages do not need).
towns = identity_fixtures.towns


@pytest.fixture
def published(db: Database, towns: Towns) -> None:
    """Town B (ja + en): 2026-09..2026-11; in 2026-10 the app channel had fewer than 10 (suppressed with the counter,
    secondary). Town A: one month with its own, recognisable figures."""
    with db.transaction(towns.b.id) as session:
        add_month(session, towns.b, "2026-09", [kpi_row(towns.b, "2026-09", RESIDENCY, digital_take_up=0.61)])
        add_month(
            session,
            towns.b,
            "2026-10",
            [
                kpi_row(
                    towns.b,
                    "2026-10",
                    RESIDENCY,
                    submitted_api=None,
                    submitted_counter=None,
                    digital_take_up=None,
                    satisfaction_score=None,
                ),
                kpi_row(
                    towns.b,
                    "2026-10",
                    TAX,
                    submitted_total=0,
                    submitted_online=0,
                    submitted_api=0,
                    submitted_counter=0,
                    digital_take_up=None,
                ),
            ],
        )
        add_month(session, towns.b, "2026-11", [kpi_row(towns.b, "2026-11", RESIDENCY, digital_take_up=0.73)])
    with db.transaction(towns.a.id) as session:
        add_month(session, towns.a, "2026-11", [kpi_row(towns.a, "2026-11", RESIDENCY, median_days_to_decision=41.5)])


def _get(client: Any, path: str, **query: str) -> tuple[int, str]:
    response = client.get(HTTPS + path, query_string=query)
    return response.status_code, response.get_data(as_text=True)


def _figures(html: str) -> list[ET.Element]:
    """Every chart figure of the page, parsed as XML (a chart that is not well-formed fails here)."""
    return [ET.fromstring(match) for match in re.findall(r'<figure class="chart.*?</figure>', html, re.S)]  # noqa: S314


def test_the_municipality_page_shows_the_latest_month_with_charts_in_japanese(
    client: Any, towns: Towns, published: None
) -> None:
    status, html = _get(client, f"/{towns.b.slug}/open-data/")
    assert status == 200
    assert '<html lang="ja">' in html
    assert '<option value="2026-11" selected>' in html
    assert "2026-11" in html and "73%" in html
    figures = _figures(html)
    # Two procedures in the months shown (tax only in 2026-10): trend, channels, decision, satisfaction each.
    assert len(figures) == 8
    assert "2026-11に公表された数値はありません" in html.split('data-procedure="tax-certificate"', 1)[1]
    for figure in figures:
        svg = figure.find("{http://www.w3.org/2000/svg}svg")
        assert svg is not None and svg.get("role") == "img"
        assert figure.find(".//details/div/table") is not None
    # The license and the files the data is published in.
    # sakuragaoka-city's tenant file chooses CC BY 4.0 (open_data.license); the default is PDL1.0
    assert "CC BY 4.0" in html and "公共データ利用規約" not in html
    assert 'href="procedure-kpis.csv"' in html and 'href="datapackage.json"' in html
    status, village = _get(client, f"/{towns.a.slug}/open-data/")
    assert status == 200 and "公共データ利用規約" in village
    assert towns.a.name_ja not in html.split("<main", 1)[1]


def test_a_suppressed_month_is_a_gap_with_its_reason_never_a_zero(client: Any, towns: Towns, published: None) -> None:
    status, html = _get(client, f"/{towns.b.slug}/open-data/", month="2026-10")
    assert status == 200
    section = html.split('data-procedure="residency-certificate"', 1)[1].split("</section>", 1)[0]
    assert "10件未満のため非公開" in section
    trend = ET.fromstring(re.search(r'<figure class="chart chart-line".*?</figure>', section, re.S).group(0))  # noqa: S314
    rows = {
        tr.find("th").text: [td.text for td in tr.findall("td")] for tr in trend.iter("tr") if tr.find("td") is not None
    }
    assert rows["2026-10"][0] == "非公開" and rows["2026-09"][0] == "61%"
    # A procedure with truly no applications shows 0 cases, which is a published figure, not a gap.
    tax = html.split('data-procedure="tax-certificate"', 1)[1].split("</section>", 1)[0]
    assert "0件" in tax


def test_the_municipality_page_in_english(client: Any, towns: Towns, published: None) -> None:
    status, html = _get(client, f"/{towns.b.slug}/open-data/", lang="en", month="2026-10")
    assert status == 200
    assert '<html lang="en">' in html
    assert "Performance of procedures" in html and "Fewer than 10: not published" in html
    assert "Digital take-up" in html


@pytest.mark.parametrize("month", ["2026-13", "26-10", "2026-1", "abc", "2026-10-01", "2026/10", "２０２６年１０月"])
def test_a_malformed_month_is_refused_with_the_reason_beside_the_field(
    client: Any, towns: Towns, published: None, month: str
) -> None:
    status, html = _get(client, f"/{towns.b.slug}/open-data/", month=month)
    assert status == 400
    assert 'id="month-error"' in html and "YYYY-MM" in html
    assert 'aria-invalid="true"' in html
    assert "<figure" not in html


@pytest.mark.parametrize("month", ["２０２６-１０", "２０２６－１０", " 2026-10 "])
def test_a_month_typed_in_full_width_digits_is_read_as_half_width(
    client: Any, towns: Towns, published: None, month: str
) -> None:
    status, html = _get(client, f"/{towns.b.slug}/open-data/", month=month)
    assert status == 200
    assert '<option value="2026-10" selected>' in html and "<figure" in html


def test_a_month_with_nothing_published_says_so(client: Any, towns: Towns, published: None) -> None:
    status, html = _get(client, f"/{towns.b.slug}/open-data/", month="2025-01")
    assert status == 404
    assert "2025-01" in html and 'id="month-error"' in html and "<figure" not in html


def test_before_anything_is_published_the_pages_say_so(client: Any, towns: Towns) -> None:
    for path in (f"/{towns.b.slug}/open-data/", "/open-data/"):
        status, html = _get(client, path)
        assert status == 200, path
        assert 'id="no-figures"' in html and "<figure" not in html


def test_municipality_a_never_shows_the_rows_of_municipality_b(client: Any, towns: Towns, published: None) -> None:
    status, html = _get(client, f"/{towns.a.slug}/open-data/")
    assert status == 200
    assert "41.5日" in html
    assert "73%" not in html and "2026-10" not in html and "2026-09" not in html
    assert towns.b.name_ja not in html
    # B's months are not A's months: asking A for one of them is "nothing published".
    assert _get(client, f"/{towns.a.slug}/open-data/", month="2026-10")[0] == 404


def test_an_unknown_municipality_is_404(client: Any, towns: Towns) -> None:
    assert _get(client, "/no-such-town/open-data/")[0] == 404


@pytest.fixture
def national(db: Database, towns: Towns) -> None:
    with db.transaction() as session:
        add_national_month(
            session,
            "2026-10",
            [
                kpi_row(towns.a, "2026-10", RESIDENCY, digital_take_up=0.4),
                kpi_row(
                    towns.b, "2026-10", RESIDENCY, digital_take_up=None, submitted_api=None, submitted_counter=None
                ),
            ],
        )
        add_national_month(
            session,
            "2026-11",
            [
                kpi_row(towns.a, "2026-11", RESIDENCY, digital_take_up=0.45, municipality="髙﨑町"),
                kpi_row(towns.b, "2026-11", RESIDENCY, digital_take_up=0.9, municipality="葛󠄀飾𠮷野市"),
            ],
        )


def test_the_national_page_compares_municipalities_side_by_side(client: Any, towns: Towns, national: None) -> None:
    status, html = _get(client, "/open-data/")
    assert status == 200
    assert '<option value="2026-11" selected>' in html
    figures = _figures(html)
    assert len(figures) == 4  # national trend, take-up, days to decision, satisfaction by municipality
    assert "髙﨑町" in html and "葛󠄀飾𠮷野市" in html and "90%" in html and "45%" in html
    status, html = _get(client, "/open-data/", month="2026-10", lang="en")
    assert status == 200 and '<html lang="en">' in html
    assert "Fewer than 10: not published" in html


def test_the_national_page_refuses_a_malformed_month(client: Any, national: None) -> None:
    status, html = _get(client, "/open-data/", month="2026/10")
    assert status == 400 and 'id="month-error"' in html


def test_the_landing_page_links_to_the_performance_page(client: Any, towns: Towns) -> None:
    status, html = _get(client, f"/{towns.b.slug}/")
    assert status == 200 and f'href="/{towns.b.slug}/open-data/"' in html and "手続きの実績" in html
