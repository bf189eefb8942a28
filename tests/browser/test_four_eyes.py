"""Four eyes in a real browser: at shiomi-town (supervisor approval on), the supervisor who recommended a
residency certificate sees no approve button and the reason beside the actions, axe-clean at 375 and 1280 px in
Japanese and English."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import DemoServer, demo_email, sign_in
from tests.browser.test_clerk_journey import axe_all, take
from tests.browser.test_resident_journey import submit_residency_certificate

TOWN = "shiomi-town"


def test_the_supervisor_who_recommended_sees_why_approve_is_absent(
    page: Any, desktop_page: Any, demo_server: DemoServer, axe_check: Any
) -> None:
    sign_in(page, demo_server, TOWN, demo_email(TOWN, "resident"))
    reference = submit_residency_certificate(page, demo_server, TOWN)

    supervisor = desktop_page
    sign_in(supervisor, demo_server, TOWN, demo_email(TOWN, "supervisor"), next_path=f"/{TOWN}/console/")
    supervisor.goto(demo_server.url(f"/{TOWN}/console/?state=submitted&sort=newest&lang=ja"))
    supervisor.locator("main table tbody tr", has_text=reference).get_by_role("link", name=reference).click()
    supervisor.wait_for_load_state("domcontentloaded")
    take(supervisor, "審査を開始する")
    take(supervisor, "決裁に回す")
    assert supervisor.locator("#current-state").inner_text() == "決裁待ち"

    buttons = supervisor.locator("main form button[name=transition]").all_inner_texts()
    assert "決裁する" not in buttons and "差し戻す" in buttons
    assert supervisor.locator("#separation-note").inner_text() == "推薦した職員は決裁できません。"
    axe_all(supervisor, axe_check, "application page, four eyes", locales=("ja", "en"))
