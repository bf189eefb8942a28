"""The satisfaction question in a real browser at phone width, in Japanese (decision 0049): a resident submits an
application on the demo, meets the optional question on the confirmation page, first writes too much (the error
beside the box), then answers; the thank-you replaces the form. A supervisor of the town reads the comment, with
no name or reference, on the console's satisfaction page. axe on each state.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from tests.browser.conftest import DemoServer, demo_email, sign_in
from tests.browser.test_resident_journey import TOWN, submit_residency_certificate

COMMENT = "𠮷野家の近くの窓口より早かったです。髙橋・山﨑・葛󠄀城 ｶﾀｶﾅもOK <b>太字</b>"


def test_a_resident_answers_the_question_after_submitting(
    page: Any, desktop_page: Any, demo_server: DemoServer, axe_check: Any, snap: Any
) -> None:
    sign_in(page, demo_server, TOWN, demo_email(TOWN, "resident"))
    reference = submit_residency_certificate(page, demo_server, TOWN)
    question = page.locator("#satisfaction")
    assert question.locator("legend").inner_text().endswith("（任意）")
    assert question.get_by_label("とても満足").is_visible()
    axe_check(page, "satisfaction question ja 375")

    # Too long: the message beside the box, what was typed kept, nothing stored.
    marker = uuid.uuid4().hex[:8]
    question.get_by_label("とても満足").check()
    page.fill("#satisfaction-comment", "あ" * 1001)
    question.get_by_role("button", name="回答を送信").click()
    page.wait_for_load_state("domcontentloaded")
    assert "1000文字以内" in page.locator("#satisfaction-comment-error").inner_text()
    assert page.locator("#satisfaction-comment").input_value() == "あ" * 1001
    assert page.locator("#satisfaction-score").is_checked()
    axe_check(page, "satisfaction error ja 375")

    page.fill("#satisfaction-comment", f"{COMMENT} {marker}")
    page.locator("#satisfaction").get_by_role("button", name="回答を送信").click()
    page.wait_for_url(re.compile(r".*/submitted$"))
    assert "ご回答ありがとうございます" in page.locator("main").inner_text()
    assert page.locator("#satisfaction-thanks").is_visible()
    assert page.locator("#satisfaction form").count() == 0
    axe_check(page, "satisfaction thanks ja 375")
    snap(page, "satisfaction thanks ja 375")

    supervisor = desktop_page
    sign_in(supervisor, demo_server, TOWN, demo_email(TOWN, "supervisor"), next_path=f"/{TOWN}/console/")
    supervisor.get_by_role("link", name="満足度").click()
    supervisor.wait_for_load_state("domcontentloaded")
    entry = supervisor.locator(".satisfaction-comments li", has_text=marker)
    assert entry.locator(".comment").inner_text() == f"{COMMENT} {marker}"  # shown as text, not markup
    assert "とても満足" in entry.inner_text() and "申請直後" in entry.inner_text()
    assert reference not in supervisor.locator("main").inner_text()
    axe_check(supervisor, "satisfaction staff page ja 1280")
    supervisor.set_viewport_size({"width": 375, "height": 812})
    axe_check(supervisor, "satisfaction staff page ja 375")
