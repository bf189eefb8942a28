"""Counter filing (書かない窓口) in a real browser: the clerk finds a resident in the register, starts a
residency certificate prefilled from it, asks the remaining questions, and the resident confirms on the
confirmation screen. Every console page is scanned with axe in Japanese and English at both widths."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from madoguchi.registry.models import Person
from madoguchi.tenancy.models import Tenant
from tests.browser.conftest import DemoServer, demo_email, sign_in
from tests.browser.test_clerk_journey import axe_all

TOWN = "shiomi-town"  # ja + en
BOTH = ("ja", "en")


def _a_resident(server: DemoServer) -> Person:
    with server.db.transaction() as session:
        tenant = session.execute(select(Tenant).where(Tenant.slug == TOWN)).scalar_one()
    with server.db.transaction(tenant.id) as session:
        stmt = select(Person).order_by(Person.family_name_kana, Person.given_name_kana, Person.id).limit(1)
        person = session.execute(stmt).scalar_one()
        session.expunge(person)
        return person


def test_clerk_files_a_residency_certificate_at_the_counter_and_the_resident_confirms_it(
    desktop_page: Any, demo_server: DemoServer, axe_check: Any, snap: Any
) -> None:
    page = desktop_page
    person = _a_resident(demo_server)
    sign_in(page, demo_server, TOWN, demo_email(TOWN, "clerk"), next_path=f"/{TOWN}/console/counter/?lang=ja")
    assert page.get_by_role("heading", level=1).inner_text() == "窓口受付"
    axe_all(page, axe_check, "counter search", locales=BOTH)

    # Searching with nothing entered says so beside the first field.
    page.locator("main form[role=search] button[type=submit]").click()
    page.wait_for_load_state("domcontentloaded")
    assert page.locator("#name_kana-error").is_visible()

    page.fill("#name_kana", person.family_name_kana)
    page.fill("#birth_date", person.birth_date.isoformat())
    page.locator("main form[role=search] button[type=submit]").click()
    page.wait_for_load_state("domcontentloaded")
    axe_all(page, axe_check, "counter search results", locales=BOTH)
    page.get_by_role("link", name=person.full_name).first.click()
    page.wait_for_load_state("domcontentloaded")
    assert person.resident_code in page.locator("main").inner_text()
    assert page.locator("main table").count() == 1  # the household
    axe_all(page, axe_check, "counter person", locales=BOTH)

    page.locator("main input[name=procedure][value=residency-certificate]").check()
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(re.compile(r".*/counter/[0-9a-f-]+/form$"))
    assert person.full_name in page.locator("main .prefilled").inner_text()
    assert page.locator("[name='/applicant/name']").count() == 0  # from the register: not asked again
    axe_all(page, axe_check, "counter form", locales=BOTH)

    page.fill("#field-applicant-phone", "0120-123-456")
    page.check("#field-requester-relationship")  # 本人
    page.check("#field-scope")  # 本人のみ
    page.select_option("#field-purpose", "employment")
    page.fill("#field-copies", "1")
    page.check("#field-delivery-3")  # 窓口で受け取る
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(re.compile(r".*/confirm$"))

    confirm = page.locator("main .confirm-screen")
    assert page.get_by_role("heading", level=1).inner_text() == "申請内容をご確認ください"
    assert person.full_name in confirm.inner_text() and "窓口で受け取る" in confirm.inner_text()
    assert "住民記録から入力" in confirm.inner_text()
    snap(page, "console-counter-confirmation")
    axe_all(page, axe_check, "counter confirm", locales=BOTH)

    # The box must be ticked: the error appears beside it and nothing is submitted.
    page.get_by_role("button", name="確定して申請する").click()
    page.wait_for_load_state("domcontentloaded")
    assert page.locator("#checked-error").is_visible()
    assert page.locator(".error-summary a[href='#checked']").is_visible()
    axe_all(page, axe_check, "counter confirm with an error")

    page.get_by_label("内容を確認しました。誤りはありません").check()
    page.get_by_role("button", name="確定して申請する").click()
    page.wait_for_url(re.compile(r".*/done$"))
    reference = page.locator("#reference").inner_text()
    assert re.fullmatch(r"RC-[0-9A-Z]{4}-[0-9A-Z]{4}", reference)
    assert "受付待ち" in page.locator("main").inner_text()
    axe_all(page, axe_check, "counter done", locales=BOTH)

    # The application is in the queue as a counter filing, and its page opens (English scans of both).
    page.goto(demo_server.url(f"/{TOWN}/console/?sort=newest&lang=en"))
    row = page.locator("main table tbody tr", has_text=reference)
    assert "Counter" in row.inner_text()
    axe_all(page, axe_check, "queue", locales=("en",))
    row.get_by_role("link", name=reference).click()
    page.wait_for_load_state("domcontentloaded")
    assert page.locator("#current-state").inner_text() == "Submitted"
    assert "From the resident register" in page.locator("main").inner_text()
    axe_all(page, axe_check, "application page", locales=("en",))
