"""The data-use ledger in a real browser: a clerk opens a resident's application in the console, and the resident's
「わたしのデータの利用記録」 then shows that read (who as a role and a staff code, what, which application, why), with
axe clean at 375 and 1280 px in Japanese and English."""

from __future__ import annotations

import re
from typing import Any

from tests.browser.clerk_steps import open_from_the_queue
from tests.browser.conftest import DemoServer, demo_email, sign_in
from tests.browser.test_clerk_journey import axe_all
from tests.browser.test_resident_journey import submit_residency_certificate

TOWN = "shiomi-town"  # ja + en


def test_a_clerks_read_shows_in_the_residents_ledger(
    page: Any, desktop_page: Any, demo_server: DemoServer, axe_check: Any, snap: Any
) -> None:
    resident = page
    sign_in(resident, demo_server, TOWN, demo_email(TOWN, "resident"))
    reference = submit_residency_certificate(resident, demo_server, TOWN)

    clerk = desktop_page
    sign_in(clerk, demo_server, TOWN, demo_email(TOWN, "clerk"), next_path=f"/{TOWN}/console/")
    open_from_the_queue(clerk, reference).get_by_role("link", name=reference).click()
    clerk.wait_for_load_state("domcontentloaded")
    assert reference in clerk.locator("main").inner_text()

    resident.goto(demo_server.url(f"/{TOWN}/account/data-use?lang=ja"))
    assert resident.get_by_role("heading", level=1).inner_text() == "わたしのデータの利用記録"
    newest = resident.locator("main ol.data-use > li").first.inner_text()
    assert "申請内容の閲覧" in newest and reference in newest
    assert re.search(r"職員コード S-[0-9A-F]{8}", newest)
    assert "の処理のため" in newest
    # The resident's own prefill is there too, as the system's.
    assert "住民記録からの自動入力" in resident.locator("main").inner_text()
    snap(resident, "portal-data-use")
    axe_all(resident, axe_check, "data-use ledger", locales=("ja", "en"))
    resident.goto(demo_server.url(f"/{TOWN}/account/data-use?who=staff&lang=en"))
    assert "Viewed an application" in resident.locator("main ol.data-use > li").first.inner_text()
