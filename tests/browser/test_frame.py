"""The shared page frame in a real browser: languages, the language switch, skip link, security headers."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import DemoServer

CITY = "sakuragaoka-city"


def test_landing_page_in_japanese_and_english_with_a_switch_that_keeps_the_page(
    page: Any, demo_server: DemoServer, axe_check: Any, snap: Any
) -> None:
    response = page.goto(demo_server.url(f"/{CITY}/"))
    assert response.status == 200
    assert response.headers["content-security-policy"].endswith("frame-ancestors 'none'")
    assert page.locator("html").get_attribute("lang") == "ja"
    assert page.get_by_role("heading", level=1).inner_text() == "オンラインでできる手続き"
    axe_check(page, "landing ja 375")
    snap(page, "landing-ja-phone")

    page.get_by_role("link", name="English").click()
    assert page.url.endswith(f"/{CITY}/?lang=en")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("heading", level=1).inner_text() == "Procedures you can complete online"
    axe_check(page, "landing en 375")

    # The choice is remembered on the next page without ?lang.
    page.goto(demo_server.url(f"/{CITY}/"))
    assert page.locator("html").get_attribute("lang") == "en"


def test_the_skip_link_is_the_first_stop_and_moves_to_the_main_content(page: Any, demo_server: DemoServer) -> None:
    page.goto(demo_server.url("/"))
    page.keyboard.press("Tab")
    focused = page.evaluate("() => document.activeElement.getAttribute('href')")
    assert focused == "#main"
    page.keyboard.press("Enter")
    assert page.evaluate("() => location.hash") == "#main"


@pytest.mark.parametrize("width", [375, 1280])
def test_a_missing_page_is_a_page_not_a_json_document(
    page: Any, demo_server: DemoServer, axe_check: Any, width: int
) -> None:
    page.set_viewport_size({"width": width, "height": 800})
    response = page.goto(demo_server.url(f"/{CITY}/no-such-page"))
    assert response.status == 404
    assert "text/html" in response.headers["content-type"]
    assert page.get_by_role("heading", level=1).inner_text() == "ページが見つかりません"
    axe_check(page, f"404 {width}")
