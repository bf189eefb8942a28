"""The performance pages in a real browser: a municipality's and the national comparison, in Japanese and English, at
phone (375 px) and desktop (1280 px) width, charts drawn and axe clean; a bad month answers with a message.

The demo's months are seeded here, in the published shape (what computes them is tested on its own), for months long
before the demo's own applications, so they never meet a month the demo computed.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from madoguchi.opendata.columns import PROCEDURE_KPIS
from madoguchi.opendata.models import KpiMonth, NationalKpiMonth
from madoguchi.tenancy.models import Tenant
from tests.browser.conftest import DemoServer
from tests.support.kpi_rows import add_month, add_national_month, kpi_row

CITY = "sakuragaoka-city"  # ja + en
MONTHS = [f"2024-{m:02d}" for m in range(1, 13)]
SHOWN = MONTHS[-1]


def _seed(server: DemoServer) -> None:
    """Twelve months of the city (one with the app channel suppressed), and the country for the last two."""
    with server.db.transaction() as session:
        tenants = list(session.execute(select(Tenant).order_by(Tenant.slug)).scalars())
        national = set(
            session.execute(select(NationalKpiMonth.period).where(NationalKpiMonth.dataset == PROCEDURE_KPIS)).scalars()
        )
        for period in MONTHS[-2:]:
            if period not in national:
                rows = [
                    kpi_row(
                        tenant,
                        period,
                        "residency-certificate",
                        digital_take_up=0.3 + 0.2 * i,
                        median_days_to_decision=1.5 + i,
                        submitted_api=None if i == 1 else 20,
                        submitted_counter=None if i == 1 else 30,
                    )
                    for i, tenant in enumerate(tenants)
                ]
                add_national_month(session, period, rows)
    city = next(t for t in tenants if t.slug == CITY)
    with server.db.transaction(city.id) as session:
        have = set(session.execute(select(KpiMonth.period).where(KpiMonth.dataset == PROCEDURE_KPIS)).scalars())
        for index, period in enumerate(MONTHS):
            if period in have:
                continue
            suppressed = index == 7
            add_month(
                session,
                city,
                period,
                [
                    kpi_row(
                        city,
                        period,
                        "residency-certificate",
                        digital_take_up=None if suppressed else 0.4 + index / 40,
                        submitted_api=None if suppressed else 10 + index,
                        submitted_counter=None if suppressed else 30,
                        median_days_to_decision=2.0 + index / 4,
                        satisfaction_score=0.7 + index / 100,
                    ),
                    kpi_row(city, period, "tax-certificate", digital_take_up=0.5, satisfaction_score=None),
                ],
            )


@pytest.fixture(scope="module")
def seeded(demo_server: DemoServer) -> DemoServer:
    _seed(demo_server)
    return demo_server


def _charts_drawn(page: Any) -> int:
    """How many charts the page drew, each an image with a name (its title) and a table to open."""
    charts = page.locator("main figure.chart")
    count = charts.count()
    for index in range(count):
        svg = charts.nth(index).locator("svg[role=img]")
        assert svg.is_visible()
        box = svg.bounding_box()
        assert box is not None and box["width"] > 200 and box["height"] > 60
        assert charts.nth(index).locator("details table").count() == 1
    return count


@pytest.mark.parametrize("width", [375, 1280])
def test_the_municipality_page_draws_its_charts_in_japanese_and_english(
    browser: Any, seeded: DemoServer, axe_check: Any, snap: Any, width: int
) -> None:
    context = browser.new_context(viewport={"width": width, "height": 900}, locale="ja-JP", timezone_id="Asia/Tokyo")
    page = context.new_page()
    try:
        response = page.goto(seeded.url(f"/{CITY}/open-data/?month={SHOWN}"))
        assert response.status == 200
        assert page.get_by_role("heading", level=1).inner_text() == "桜ヶ丘市の手続きの実績"
        assert _charts_drawn(page) == 8  # two procedures: trend, channels, days to decision, satisfaction
        trend = page.get_by_role("img", name="住民票の写し等の交付請求：デジタル利用率とオンライン完了率の推移")
        assert trend.is_visible()
        assert "10件未満のため非公開" in page.locator("main").inner_text()
        # The page is no wider than the screen: the charts scale down instead of scrolling sideways.
        assert page.evaluate("() => document.documentElement.scrollWidth") <= width
        axe_check(page, f"open data ja {width}")
        snap(page, f"open-data-municipality-ja-{width}")

        # The table under a chart opens and reads the gap as not published.
        page.locator("main figure.chart-line details summary").first.click()
        table = page.locator("main figure.chart-line details table").first
        assert "非公開" in table.inner_text() and "2024-08" in table.inner_text()

        page.get_by_role("link", name="English").click()
        assert page.locator("html").get_attribute("lang") == "en"
        assert page.get_by_role("heading", level=1).inner_text().startswith("Performance of procedures")
        assert _charts_drawn(page) == 8
        assert "Fewer than 10: not published" in page.locator("main").inner_text()
        axe_check(page, f"open data en {width}")
        snap(page, f"open-data-municipality-en-{width}")
    finally:
        context.close()


@pytest.mark.parametrize("width", [375, 1280])
def test_the_national_page_compares_municipalities_in_japanese_and_english(
    browser: Any, seeded: DemoServer, axe_check: Any, snap: Any, width: int
) -> None:
    context = browser.new_context(viewport={"width": width, "height": 900}, locale="ja-JP", timezone_id="Asia/Tokyo")
    page = context.new_page()
    try:
        assert page.goto(seeded.url(f"/open-data/?month={SHOWN}")).status == 200
        assert page.get_by_role("heading", level=1).inner_text() == "全国の自治体手続きの実績"
        assert _charts_drawn(page) == 4
        assert "桜ヶ丘市" in page.locator("main figure.chart").nth(1).inner_text()
        assert page.evaluate("() => document.documentElement.scrollWidth") <= width
        axe_check(page, f"national ja {width}")
        snap(page, f"open-data-national-ja-{width}")
        page.goto(seeded.url(f"/open-data/?month={SHOWN}&lang=en"))
        assert (
            page.get_by_role("heading", level=1).inner_text()
            == "Performance of municipal procedures across the country"
        )
        assert _charts_drawn(page) == 4
        axe_check(page, f"national en {width}")
        snap(page, f"open-data-national-en-{width}")
    finally:
        context.close()


def test_a_bad_month_is_answered_with_a_message_beside_the_field(
    page: Any, seeded: DemoServer, axe_check: Any, snap: Any
) -> None:
    response = page.goto(seeded.url(f"/{CITY}/open-data/?month=2024-13"))
    assert response.status == 400
    assert "YYYY-MM" in page.locator("#month-error").inner_text()
    assert page.locator("#month").get_attribute("aria-invalid") == "true"
    axe_check(page, "open data bad month")
    snap(page, "open-data-bad-month")
    # Choosing a listed month from the selector shows it.
    page.select_option("#month", SHOWN)
    page.get_by_role("button", name="この月を表示").click()
    page.wait_for_load_state("domcontentloaded")
    assert page.url.endswith(f"month={SHOWN}") and page.locator("main figure.chart").count() == 8
