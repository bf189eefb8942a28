"""The clerk journey in a real browser: a resident's residency-certificate application arrives, the clerk
finds it in the queue, reviews and approves it, and the resident sees the new state."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from tests.browser.clerk_steps import open_from_the_queue
from tests.browser.conftest import DESKTOP, PHONE, DemoServer, demo_email, sign_in
from tests.browser.test_resident_journey import submit_residency_certificate

VILLAGE = "midorikawa-village"  # ja only; clerks approve without a supervisor


def with_lang(url: str, locale: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "lang"] + [("lang", locale)]
    return urlunsplit(parts._replace(query=urlencode(query)))


def axe_all(page: Any, axe_check: Any, name: str, *, locales: tuple[str, ...] = ("ja",)) -> None:
    """axe on the current page (its query kept) at 375 and 1280 px in each locale; then back as it was."""
    here, size = page.url, page.viewport_size
    for locale in locales:
        if len(locales) > 1:
            page.goto(with_lang(here, locale))
        for viewport in (PHONE, DESKTOP):
            page.set_viewport_size(viewport)
            axe_check(page, f"{name} {locale} {viewport['width']}")
    if len(locales) > 1:
        page.goto(with_lang(here, locales[0]))
    page.set_viewport_size(size)


def take(page: Any, transition_title: str) -> None:
    page.locator("main form button[name=transition]", has_text=transition_title).click()
    page.wait_for_load_state("domcontentloaded")


def _resident_submits(page: Any, server: DemoServer) -> str:
    """The village's demo resident applies through the portal (in their own browser context): the reference."""
    sign_in(page, server, VILLAGE, demo_email(VILLAGE, "resident"))
    reference = submit_residency_certificate(page, server, VILLAGE)
    assert reference.startswith("RC-")
    return reference


def test_clerk_finds_the_application_in_the_queue_reviews_and_approves_it_and_the_resident_sees_it(
    page: Any, desktop_page: Any, demo_server: DemoServer, axe_check: Any, snap: Any
) -> None:
    resident = page
    reference = _resident_submits(resident, demo_server)

    clerk = desktop_page
    sign_in(clerk, demo_server, VILLAGE, demo_email(VILLAGE, "clerk"), next_path=f"/{VILLAGE}/console/")
    assert clerk.url.endswith(f"/{VILLAGE}/console/")
    assert clerk.get_by_role("heading", level=1).inner_text() == "処理する申請"
    row = open_from_the_queue(clerk, reference)
    assert "受付待ち" in row.inner_text() and "オンライン" in row.inner_text()
    snap(clerk, "console-queue")
    axe_all(clerk, axe_check, "queue")

    row.get_by_role("link", name=reference).click()
    clerk.wait_for_load_state("domcontentloaded")
    main = clerk.locator("main")
    assert reference in main.inner_text() and "住民記録から入力" in main.inner_text()
    assert clerk.locator("#current-state").inner_text() == "受付待ち"
    axe_all(clerk, axe_check, "application page")

    take(clerk, "審査を開始する")
    assert clerk.locator("#current-state").inner_text() == "審査中"
    clerk.locator("#assignee").select_option("me")
    clerk.locator("main form", has=clerk.locator("#assignee")).locator("button").click()
    clerk.wait_for_load_state("domcontentloaded")
    snap(clerk, "console-application")

    take(clerk, "交付を決定する")
    assert clerk.locator("#current-state").inner_text() == "交付決定"
    assert "処理しました" in clerk.locator(".flash-messages").inner_text()
    history = clerk.locator("main .timeline").inner_text()
    assert "審査を開始する" in history and "交付を決定する" in history

    # The resident sees the new state in "my applications".
    resident.goto(demo_server.url(f"/{VILLAGE}/applications/"))
    entry = resident.locator("main li, main tr", has_text=reference).first
    assert "交付決定" in entry.inner_text()


def test_a_reject_without_a_reason_is_stopped_beside_the_comment_field(
    page: Any, desktop_page: Any, demo_server: DemoServer, axe_check: Any
) -> None:
    reference = _resident_submits(page, demo_server)
    clerk = desktop_page
    sign_in(clerk, demo_server, VILLAGE, demo_email(VILLAGE, "clerk"), next_path=f"/{VILLAGE}/console/")
    open_from_the_queue(clerk, reference).get_by_role("link", name=reference).click()
    clerk.wait_for_load_state("domcontentloaded")
    take(clerk, "審査を開始する")
    clerk.on("dialog", lambda dialog: dialog.accept())
    take(clerk, "交付しない")
    assert clerk.locator("#comment-error").is_visible()
    assert clerk.locator(".error-summary a[href='#comment']").is_visible()
    assert clerk.locator("#current-state").inner_text() == "審査中"
    axe_all(clerk, axe_check, "application page with an error")
