"""Childcare admission end to end in a real browser (issue 17): the demo parent of sakuragaoka-city applies for
their twins, who want the same facility, with a ranked list, on the portal's form pages (the household picker fills
each child from the register); a clerk starts the review and certifies each child (支給認定); the clerk creates the
intake month's allocation round, freezes and computes it; a supervisor approves it (four eyes) and it is published;
the parent sees 内定 or 保留 with the explanation, downloads the notice and it verifies at /verify. axe runs on every
new page at 375 and 1280 px.

Sakuragaoka-city is the town: it has childcare admission with the optional 上長決裁 step, which replaces a clerk's
``allocate`` by the system's, so the round's publication (as the system) is the only way to a place there — the
join of the round's four eyes and the per-application approval is exercised, not bypassed.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from madoguchi.applications.models import Application
from madoguchi.documents.models import IssuedDocument
from madoguchi.registry.models import Facility, Person
from madoguchi.tenancy.models import Tenant
from tests.browser.conftest import DESKTOP, DemoServer, _new_page, demo_email, sign_in
from tests.browser.test_clerk_journey import axe_all, take

CITY = "sakuragaoka-city"
#: A one-page PDF: the employment certificate the parent attaches.
TINY_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj "
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)
KEY = "childcare-admission"


def _intake_month() -> str:
    """The next April (a first round's intake): always in the future, as the form requires."""
    today = datetime.now(ZoneInfo("Asia/Tokyo")).date()
    return f"{today.year + (1 if today.month >= 4 else 0)}-04"


def _tenant(server: DemoServer) -> Tenant:
    with server.db.transaction() as session:
        return session.execute(select(Tenant).where(Tenant.slug == CITY)).scalar_one()


def _twins(server: DemoServer, tenant: Tenant) -> list[Person]:
    """The demo family's twins (two children born on one day, boy first), as the parent knows them."""
    with server.db.transaction(tenant.id) as session:
        head = session.execute(select(Person).where(Person.resident_code.like("%000001"))).scalar_one()
        family = session.execute(select(Person).where(Person.household_id == head.household_id)).scalars().all()
    children = [p for p in family if p.relation_to_head == "子"]
    births = [c.birth_date for c in children]
    twins = sorted((c for c in children if births.count(c.birth_date) == 2), key=lambda c: c.sex != "male")
    assert len(twins) == 2, "the demo family has twins"
    return twins


def _ranked_facilities(server: DemoServer, tenant: Tenant, age_class: int) -> dict[str, str]:
    """The city's nurseries and centres with room for two in the twins' age class, most seats first: the parent's
    ranking (code -> name)."""
    with server.db.transaction(tenant.id) as session:
        found = session.execute(select(Facility).where(Facility.kind != "small_scale")).scalars().all()
    open_ = [f for f in found if int(f.capacity_by_age.get(str(age_class), 0)) >= 2]
    ranked = sorted(open_, key=lambda f: (-int(f.capacity_by_age[str(age_class)]), f.facility_code))[:3]
    return {f.facility_code: f.name_ja for f in ranked}


def _answer(page: Any, name: str, value: str) -> None:
    """Answer the field named ``name`` (a JSON pointer) with ``value``, whatever input it is on the page."""
    field = page.locator(f"main [name='{name}']")
    kind = field.first.evaluate("e => e.tagName.toLowerCase() + ':' + (e.type || '')")
    if kind.startswith("select"):
        field.first.select_option(value)
    elif kind == "input:checkbox":
        field.first.check()
    elif kind == "input:radio":
        page.locator(f"main [name='{name}'][value='{value}']").check()
    else:
        field.first.fill(value)


def _button(page: Any, value: str) -> None:
    page.locator(f"main button[value={value}]").click()
    page.wait_for_load_state("domcontentloaded")


def _age_class(birth: date, intake_month: str) -> int:
    """The 年齢区分: the age on 1 April of the intake month's fiscal year."""
    year = int(intake_month[:4]) - (1 if int(intake_month[5:]) < 4 else 0)
    april = date(year, 4, 1)
    return april.year - birth.year - ((april.month, april.day) < (birth.month, birth.day))


def _parent_applies(
    page: Any, server: DemoServer, axe_check: Any, snap: Any, twins: list[Person], ranked: list[str], intake: str
) -> str:
    """The demo parent fills in the five pages for the twins and submits: the reference."""
    sign_in(page, server, CITY, demo_email(CITY, "resident"))
    page.goto(server.url(f"/{CITY}/procedures/{KEY}?lang=ja"))
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(re.compile(r".*/form/1$"))
    # axe on each page as it comes (a change of language reloads it: what was typed and not saved would go).
    axe_all(page, axe_check, "childcare form 1 applicant", locales=("ja", "en"))
    if page.locator("main [name='/applicant/phone']").count():
        _answer(page, "/applicant/phone", "045-123-4567")
    _button(page, "continue")

    # The children: each picked from the household, filled from the register, then the wishes.
    page.wait_for_url(re.compile(r".*/form/2$"))
    axe_all(page, axe_check, "childcare form 2 children", locales=("ja", "en"))
    _answer(page, "/desired_start_month", intake)
    for index, twin in enumerate(twins):
        _answer(page, f"/children/{index}/resident_code", twin.resident_code)
    _button(page, "fill")
    page.wait_for_url(re.compile(r".*/form/2$"))
    for index, twin in enumerate(twins):
        assert page.locator(f"main [name='/children/{index}/name']").input_value().startswith(twin.family_name)
        assert page.locator(f"main [name='/children/{index}/birth_date']").input_value() == twin.birth_date.isoformat()
        _answer(page, f"/children/{index}/desired_category", "2")
        _answer(page, f"/children/{index}/care_time", "standard")
        choices = page.locator(f"main select[name='/children/{index}/desired_facilities']")
        for rank, code in enumerate(ranked):
            choices.nth(rank).select_option(code)
    snap(page, "childcare-form-children")
    _button(page, "continue")

    page.wait_for_url(re.compile(r".*/form/3$"))
    axe_all(page, axe_check, "childcare form 3 guardians", locales=("ja", "en"))
    for index, (relationship, hours) in enumerate((("father", "170"), ("mother", "160"))):
        _answer(page, f"/guardians/{index}/name", f"保護者{index + 1}")
        _answer(page, f"/guardians/{index}/relationship", relationship)
        _answer(page, f"/guardians/{index}/need_reason", "employed")
        _answer(page, f"/guardians/{index}/monthly_hours", hours)
    _button(page, "continue")

    page.wait_for_url(re.compile(r".*/form/4$"))
    axe_all(page, axe_check, "childcare form 4 household", locales=("ja", "en"))
    _button(page, "continue")

    page.wait_for_url(re.compile(r".*/form/5$"))
    axe_all(page, axe_check, "childcare form 5 consent", locales=("ja", "en"))
    _answer(page, "/sibling_mode", "same_facility_required")
    _answer(page, "/tax_lookup_consent", "true")
    _button(page, "continue")
    for _ in range(3):  # the town's own questions, if any, come last
        if not re.search(r"/form/\d+$", page.url):
            break
        if page.locator("main [name='/commute_minutes']").count():
            _answer(page, "/commute_minutes", "20")
        _button(page, "continue")

    # The evidence of the need for care (就労証明書): the review page sends the parent to the documents page.
    page.wait_for_url(re.compile(r".*/review$"))
    page.locator("main a", has_text="書類をアップロード").first.click()
    page.wait_for_url(re.compile(r".*/documents$"))
    axe_all(page, axe_check, "childcare documents", locales=("ja", "en"))
    page.set_input_files(
        "#file-need_evidence", files=[{"name": "shuro-shomei.pdf", "mimeType": "application/pdf", "buffer": TINY_PDF}]
    )
    page.locator("main form[enctype] button[type=submit]").first.click()
    page.wait_for_load_state("domcontentloaded")
    assert "shuro-shomei.pdf" in page.locator("main").inner_text()
    page.locator("main a.button", has_text="確認").click()
    page.wait_for_url(re.compile(r".*/review$"))
    snap(page, "childcare-review")
    axe_all(page, axe_check, "childcare review", locales=("ja", "en"))
    page.locator("main form button[type=submit]").last.click()
    page.wait_for_url(re.compile(r".*/submitted$"))
    return page.locator(".reference-large").inner_text().strip()


def _open_application(clerk: Any, server: DemoServer, reference: str) -> None:
    clerk.goto(server.url(f"/{CITY}/console/?sort=newest&lang=ja"))
    clerk.locator("main table tbody tr", has_text=reference).get_by_role("link", name=reference).click()
    clerk.wait_for_load_state("domcontentloaded")


def _clerk_certifies(
    clerk: Any, server: DemoServer, axe_check: Any, snap: Any, reference: str, intake: str, twins: list[Person]
) -> None:
    """Start the review, then the 支給認定 form: 2号, 保育標準時間, valid from the intake month, for each twin."""
    sign_in(clerk, server, CITY, demo_email(CITY, "clerk"), next_path=f"/{CITY}/console/")
    _open_application(clerk, server, reference)
    take(clerk, "審査を開始する")
    assert clerk.locator("#current-state").inner_text() == "審査中"
    axe_all(clerk, axe_check, "childcare application in review", locales=("ja", "en"))
    clerk.locator("main a", has_text="教育・保育給付認定をする").click()
    clerk.wait_for_url(re.compile(r".*/certification$"))
    axe_all(clerk, axe_check, "certification form", locales=("ja", "en"))
    main = clerk.locator("main").inner_text()
    assert all(twin.given_name in main for twin in twins)
    year = int(intake[:4])
    for index in range(2):
        clerk.select_option(f"#child-{index}-category", "2")
        clerk.select_option(f"#child-{index}-care_time", "standard")
        clerk.fill(f"#child-{index}-valid_from", f"{intake}-01")
        clerk.fill(f"#child-{index}-valid_to", f"{year + 1}-03-31")
    snap(clerk, "childcare-certification")
    clerk.locator("main form button[type=submit]").last.click()
    clerk.wait_for_load_state("domcontentloaded")
    assert clerk.locator("#current-state").inner_text() == "認定済み（利用調整待ち）"


def _round_step(page: Any, step: str) -> None:
    page.locator(f"main form[action$='/{step}'] button.button-primary").click()
    page.wait_for_load_state("domcontentloaded")


def _clerk_runs_the_round(
    clerk: Any, server: DemoServer, axe_check: Any, snap: Any, intake: str, first_choice: str, age_class: int
) -> str:
    """Create the intake month's first round, offer one seat only at the twins' first choice (they must stay
    together: both go to the second), freeze it, compute it: the round page's address."""
    clerk.goto(server.url(f"/{CITY}/console/rounds?lang=ja"))
    axe_all(clerk, axe_check, "rounds list", locales=("ja", "en"))
    clerk.fill("#label_ja", f"{intake}入所一次利用調整（ブラウザ試験）")
    clerk.fill("#label_en", f"{intake} intake, first round (browser test)")
    clerk.fill("#intake_month", intake)
    clerk.select_option("#kind", "first")
    clerk.locator("main form button[type=submit]").last.click()
    clerk.wait_for_url(re.compile(r".*/console/rounds/[0-9a-f-]{36}$"))
    round_url = clerk.url
    axe_all(clerk, axe_check, "round draft", locales=("ja", "en"))
    clerk.fill(f"[id='seats.{first_choice}.{age_class}']", "1")
    clerk.locator("main form[action$='/seats'] button[type=submit]").click()
    clerk.wait_for_load_state("domcontentloaded")
    assert clerk.locator(f"[id='seats.{first_choice}.{age_class}']").input_value() == "1"
    _round_step(clerk, "freeze")
    axe_all(clerk, axe_check, "round frozen")
    _round_step(clerk, "compute")
    snap(clerk, "childcare-round-computed")
    axe_all(clerk, axe_check, "round computed", locales=("ja", "en"))
    # A supervisor other than whoever computed approves (four eyes): the clerk has no approve button.
    assert clerk.locator("main form[action$='/approve'] button.button-primary").count() == 0
    return str(round_url)


def _supervisor_approves(supervisor: Any, server: DemoServer, axe_check: Any, round_url: str) -> None:
    sign_in(supervisor, server, CITY, demo_email(CITY, "supervisor"), next_path=f"/{CITY}/console/")
    supervisor.goto(round_url + "?lang=ja")
    axe_all(supervisor, axe_check, "round to approve", locales=("ja", "en"))
    _round_step(supervisor, "approve")
    assert "/approve" not in supervisor.url
    axe_all(supervisor, axe_check, "round approved")


def _clerk_publishes(clerk: Any, server: DemoServer, axe_check: Any, round_url: str, reference: str) -> str:
    """The clerk publishes the approved round; the application moved as the system: 利用内定 or 保留."""
    clerk.goto(round_url + "?lang=ja")
    _round_step(clerk, "publish")
    axe_all(clerk, axe_check, "round published", locales=("ja", "en"))
    _open_application(clerk, server, reference)
    state = clerk.locator("#current-state").inner_text()
    assert state in ("利用内定", "保留（入所待ち）"), state
    if state == "利用内定":  # the decision (利用決定通知書) follows the 内定
        take(clerk, "決定通知を送る")
        assert clerk.locator("#current-state").inner_text() == "決定通知済み"
    return "placed" if state == "利用内定" else "waitlisted"


def _parent_sees_the_result(
    parent: Any,
    server: DemoServer,
    axe_check: Any,
    snap: Any,
    reference: str,
    outcome: str,
    twins: list[Person],
    tmp_path: Path,
) -> Path:
    """The parent's application page: the result per twin with its explanation; the notice downloaded."""
    parent.goto(server.url(f"/{CITY}/applications/?lang=ja"))
    parent.locator("main a", has_text="保育所等の利用申込").first.click()
    parent.wait_for_load_state("domcontentloaded")
    assert reference in parent.locator("main").inner_text()
    result = parent.locator("#allocation").inner_text()
    for twin in twins:
        assert twin.given_name in result
    assert ("内定" if outcome == "placed" else "保留") in result, result
    assert parent.locator("#allocation p, #allocation li").count() >= 2  # the explanation's sentences
    snap(parent, "childcare-result-phone")
    axe_all(parent, axe_check, "childcare result", locales=("ja", "en"))
    title = "利用決定通知書" if outcome == "placed" else "保留通知書"
    with parent.expect_download() as download:
        parent.locator("main a[download]", has_text=title).first.click()
    notice = tmp_path / "notice.pdf"
    download.value.save_as(notice)
    assert notice.read_bytes().startswith(b"%PDF-")
    return notice


def _verifies(
    page: Any, server: DemoServer, axe_check: Any, notice: Path, reference: str, tenant: Tenant, outcome: str
) -> None:
    """The downloaded notice reads valid at /verify, by upload and by the code printed on it."""
    page.goto(server.url("/verify/"))
    page.set_input_files("#file", str(notice))
    page.locator("main form[enctype] button[type=submit]").click()
    page.wait_for_load_state("domcontentloaded")
    assert "verify-valid" in (page.locator("main .verify-status").get_attribute("class") or "")
    axe_all(page, axe_check, "verify the notice")
    with server.db.transaction(tenant.id) as session:
        application = session.execute(select(Application).where(Application.reference == reference)).scalar_one()
        kind = "childcare_decision" if outcome == "placed" else "childcare_waitlist"
        code = session.execute(
            select(IssuedDocument.verification_code).where(
                IssuedDocument.application_id == application.id, IssuedDocument.kind == kind
            )
        ).scalar_one()
    assert code
    page.goto(server.url("/verify/"))
    page.fill("#code", code)
    page.locator("main form[method=get] button[type=submit]").click()
    page.wait_for_url(re.compile(r".*/verify/[0-9A-Z]+$"))
    assert "verify-valid" in (page.locator("main .verify-status").get_attribute("class") or "")
    axe_all(page, axe_check, "verify the notice by its code")


def test_twins_apply_are_certified_allocated_and_the_notice_verifies(
    page: Any, desktop_page: Any, browser: Any, demo_server: DemoServer, axe_check: Any, snap: Any, tmp_path: Path
) -> None:
    tenant = _tenant(demo_server)
    intake = _intake_month()
    twins = _twins(demo_server, tenant)
    age_class = _age_class(twins[0].birth_date, intake)
    assert 3 <= age_class <= 5
    ranked = _ranked_facilities(demo_server, tenant, age_class)
    assert len(ranked) >= 2
    codes, names = list(ranked), list(ranked.values())
    parent, clerk = page, desktop_page

    reference = _parent_applies(parent, demo_server, axe_check, snap, twins, codes, intake)
    _clerk_certifies(clerk, demo_server, axe_check, snap, reference, intake, twins)
    round_url = _clerk_runs_the_round(clerk, demo_server, axe_check, snap, intake, codes[0], age_class)
    supervisor_desk = _new_page(browser, DESKTOP)  # another browser: the supervisor's, JavaScript errors checked too
    _supervisor_approves(next(supervisor_desk), demo_server, axe_check, round_url)
    next(supervisor_desk, None)  # closes it
    outcome = _clerk_publishes(clerk, demo_server, axe_check, round_url, reference)

    notice = _parent_sees_the_result(parent, demo_server, axe_check, snap, reference, outcome, twins, tmp_path)
    if outcome == "placed":  # together, at the second choice: the first had one seat, not two
        result = parent.locator("#allocation").inner_text()
        assert result.count(names[1]) >= 2 and "第1希望" in result and "きょうだい" in result, result
    _verifies(parent, demo_server, axe_check, notice, reference, tenant, outcome)
