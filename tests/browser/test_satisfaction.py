"""The satisfaction question in a real browser at phone width, in Japanese (decision 0049): a resident submits an
application on the demo, meets the optional question on the confirmation page, first writes too much (the error
beside the box), then answers; the thank-you replaces the form. A supervisor of the town reads the comment, with
no name or reference, on the console's satisfaction page. axe on each state. Then the clock is advanced to the 5th
of the next month, the month is published, and the town's performance page counts the answer.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from madoguchi import jp
from madoguchi.opendata import publish
from madoguchi.opendata.models import KpiMonth
from madoguchi.satisfaction.models import SatisfactionResponse
from madoguchi.tenancy.models import Tenant
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

    # Next month's counts. Nine other residents answered this month too (rows as the form writes them), so the
    # month has at least ten answers and its count is published. The clock is advanced to the 5th of the next month
    # (JST), when the worker publishes the month; the town's performance page then counts the resident's answer.
    today = datetime.combine(jp.today(), datetime.min.time(), tzinfo=jp.JAPAN)
    month = today.strftime("%Y-%m")
    next_month = (today.replace(day=1) + timedelta(days=32)).replace(day=5, hour=9)
    with demo_server.db.transaction() as session:
        town = session.execute(select(Tenant).where(Tenant.slug == TOWN)).scalar_one()
    with demo_server.db.transaction(town.id) as session:
        for score in (5, 4, 4, 3, 2, 5, 5, 1, 4):
            session.add(
                SatisfactionResponse(
                    tenant_id=town.id,
                    service_key="residency-certificate",
                    journey="submitted",
                    channel="online",
                    score=score,
                    answered_at=today,
                    journey_key=uuid.uuid4().hex,
                )
            )
    with demo_server.db.transaction(town.id) as session:
        of_month = (
            SatisfactionResponse.service_key == "residency-certificate",
            SatisfactionResponse.score.is_not(None),
            SatisfactionResponse.answered_at >= today.replace(day=1),
        )
        scored = session.execute(select(func.count()).where(*of_month)).scalar_one()
        satisfied = session.execute(select(func.count()).where(*of_month, SatisfactionResponse.score >= 4)).scalar_one()
    assert scored >= 10  # the nine, the resident's "very satisfied", and any other test's answers this month
    with demo_server.db.transaction() as session:
        towns = [t for t in publish.publishing_tenants(session) if t.slug == TOWN]
        publish.publish(session, towns, month, now=next_month)
    with demo_server.db.transaction(town.id) as session:
        published = session.execute(
            select(KpiMonth.published).where(KpiMonth.dataset == "procedure-kpis", KpiMonth.period == month)
        ).scalar_one()
    row = next(r for r in published if r["procedure_key"] == "residency-certificate")
    assert row["satisfaction_responses"] == scored
    assert row["satisfaction_score"] == satisfied / scored

    page.goto(demo_server.url(f"/{TOWN}/open-data/?month={month}&lang=ja"))
    facts = page.locator('[data-procedure="residency-certificate"] dl.kpi-facts').inner_text()
    assert f"{satisfied / scored * 100:.0f}%" in facts
    axe_check(page, "performance page with the month's satisfaction ja 375")
    snap(page, "open-data-satisfaction-counted")
