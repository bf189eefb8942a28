"""The resident journey in a real browser at phone width: sign up, verify the email and the identity (letter
code), apply for a residency certificate with prefilled data, submit, see the status; axe on every page.

``submit_residency_certificate`` is the reusable step for other journeys (the clerk's approves what it files).
"""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select

from madoguchi.demo import demo_settings
from madoguchi.identity import operations as identity
from madoguchi.identity.models import Account, IdentityVerification
from madoguchi.outbox import OutboxMessage
from madoguchi.registry.models import Person
from madoguchi.tenancy.models import Tenant
from tests.browser.conftest import DESKTOP, PHONE, DemoServer, demo_email, sign_in

TOWN = "shiomi-town"  # ja + en; a supervisor signs off residency certificates
VILLAGE = "midorikawa-village"
PASSWORD = "a long harbour evening 2026"


def _tenant(server: DemoServer, slug: str) -> Tenant:
    with server.db.transaction() as session:
        return session.execute(select(Tenant).where(Tenant.slug == slug)).scalar_one()


def _continue(page: Any) -> None:
    page.locator("main button[value=continue]").click()
    page.wait_for_load_state("domcontentloaded")


def axe_everywhere(page: Any, axe_check: Any, name: str, *, english: bool = True) -> None:
    """axe on the current page at 375 and 1280 px, in Japanese and (if offered) English; back to ja, 375."""
    here = page.url.split("?")[0]
    for locale in ("ja", "en") if english else ("ja",):
        if english:
            page.goto(f"{here}?lang={locale}")
        for size in (PHONE, DESKTOP):
            page.set_viewport_size(size)
            axe_check(page, f"{name} {locale} {size['width']}")
    if english:
        page.goto(f"{here}?lang=ja")
    page.set_viewport_size(PHONE)


#: The delivery radio buttons in the form's order (electronic, 郵送, 窓口).
DELIVERY_INPUTS = {"electronic": "f-delivery", "mail": "f-delivery-2", "counter": "f-delivery-3"}


def submit_residency_certificate(page: Any, server: DemoServer, tenant: str, delivery: str = "mail") -> str:
    """As a signed-in, verified resident: apply for one copy of their residency certificate, to receive it as
    ``delivery`` says (by post unless told otherwise); the reference."""
    page.goto(server.url(f"/{tenant}/procedures/residency-certificate?lang=ja"))
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(re.compile(r".*/form/1$"))
    page.fill("[id='f-applicant-phone']", "090-1234-5678")
    _continue(page)
    page.check("[id='f-requester-relationship']")  # 本人
    _continue(page)
    page.check("[id='f-scope']")  # 本人のみ
    page.select_option("[id='f-purpose']", "employment")
    page.fill("[id='f-copies']", "1")
    _continue(page)
    page.check(f"[id='{DELIVERY_INPUTS[delivery]}']")
    _continue(page)
    page.wait_for_url(re.compile(r".*/review$"))
    page.locator("main form button[type=submit]").last.click()
    page.wait_for_url(re.compile(r".*/submitted$"))
    return page.locator(".reference-large").inner_text().strip()


def _unlinked_person(server: DemoServer, tenant: Tenant) -> Person:
    with server.db.transaction(tenant.id) as session:
        linked = select(Account.person_id).where(Account.person_id.is_not(None))
        return session.execute(
            select(Person).where(Person.id.not_in(linked)).order_by(Person.resident_code).limit(1)
        ).scalar_one()


def _verification_link(server: DemoServer, tenant: Tenant, email: str) -> str:
    return urlsplit(server.mailbox.link_to(email, "/verify-email/")).path


def _letter_code(server: DemoServer, tenant: Tenant, email: str) -> str:
    with server.db.transaction(tenant.id) as session:
        account_id = session.execute(select(Account.id).where(Account.email == email)).scalar_one()
        verification = session.execute(
            select(IdentityVerification.id).where(IdentityVerification.account_id == account_id)
        ).scalar_one()
        letter = session.execute(select(OutboxMessage).where(OutboxMessage.topic == "notify.letter")).scalars()
        payload = next(m.payload for m in letter if m.payload["reference"] == f"identity-verification:{verification}")
    return identity.open_letter_code(payload, tenant.id, demo_settings(server.data_dir).data_key)


def test_a_new_resident_signs_up_verifies_applies_and_sees_the_status(
    page: Any, demo_server: DemoServer, axe_check: Any, snap: Any
) -> None:
    tenant = _tenant(demo_server, TOWN)
    email = f"journey-{uuid.uuid4().hex[:8]}@example.jp"

    page.goto(demo_server.url(f"/{TOWN}/?lang=ja"))
    snap(page, "portal-landing-phone")
    page.goto(demo_server.url(f"/{TOWN}/sign-up"))
    page.fill("#display_name", "汐見 花子")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.locator("main button[type=submit]").click()
    page.wait_for_load_state("domcontentloaded")
    page.goto(demo_server.url(_verification_link(demo_server, tenant, email)))
    page.goto(demo_server.url(f"/{TOWN}/login"))
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.locator("main button[type=submit]").first.click()
    page.wait_for_load_state("domcontentloaded")
    assert page.get_by_text("汐見 花子").count() >= 1  # signed in: the header shows the name

    # Identity: a letter code for a person in the register who has no account yet.
    person = _unlinked_person(demo_server, tenant)
    page.goto(demo_server.url(f"/{TOWN}/account/identity?lang=ja"))
    axe_everywhere(page, axe_check, "identity")
    page.fill("#resident_code", person.resident_code)
    page.fill("#birth_date", person.birth_date.isoformat())
    page.get_by_role("button", name="確認コードを郵送する").click()
    page.wait_for_load_state("domcontentloaded")
    page.fill("#code", _letter_code(demo_server, tenant, email))
    page.get_by_role("button", name="確認する").click()
    page.wait_for_load_state("domcontentloaded")
    assert "本人確認が完了しました" in page.locator(".flash-messages").inner_text()

    # The procedure page, then the form: the applicant block comes from the register.
    page.goto(demo_server.url(f"/{TOWN}/procedures/residency-certificate"))
    snap(page, "portal-procedure-phone")
    axe_everywhere(page, axe_check, "procedure")
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(re.compile(r".*/form/1$"))
    prefilled = page.locator(".prefilled")
    assert "住民記録より" in prefilled.inner_text()
    assert person.family_name in prefilled.inner_text()
    assert page.locator("[name='/applicant/name']").count() == 0
    snap(page, "portal-form-prefilled-phone")
    axe_everywhere(page, axe_check, "form page 1")
    page.fill("[id='f-applicant-phone']", "0880-12-3456")
    _continue(page)
    page.check("[id='f-requester-relationship']")
    _continue(page)

    # Errors: beside the fields and in the summary, which links to them.
    _continue(page)
    summary = page.locator(".error-summary")
    assert summary.is_visible()
    assert page.locator("#f-purpose-error").is_visible()
    summary.get_by_role("link").first.click()
    snap(page, "portal-error-summary-phone")
    axe_check(page, "error summary ja 375")
    page.set_viewport_size(DESKTOP)
    axe_check(page, "error summary ja 1280")
    page.set_viewport_size(PHONE)
    page.check("[id='f-scope']")
    page.select_option("[id='f-purpose']", "employment")
    page.fill("[id='f-copies']", "1")
    _continue(page)
    axe_everywhere(page, axe_check, "form page 4")
    page.check("[id='f-delivery-2']")
    _continue(page)

    page.wait_for_url(re.compile(r".*/review$"))
    assert "住民記録より" in page.locator("main").inner_text()
    snap(page, "portal-review-phone")
    axe_everywhere(page, axe_check, "review")
    page.locator("main form button[type=submit]").last.click()
    page.wait_for_url(re.compile(r".*/submitted$"))
    reference = page.locator(".reference-large").inner_text().strip()
    assert re.fullmatch(r"RC-[0-9A-Z]{4}-[0-9A-Z]{4}", reference)
    assert "受付待ち" in page.locator("main").inner_text()
    snap(page, "portal-confirmation-phone")
    axe_everywhere(page, axe_check, "confirmation")

    page.goto(demo_server.url(f"/{TOWN}/applications/"))
    assert reference in page.locator("main").inner_text()
    axe_everywhere(page, axe_check, "my applications")
    page.get_by_role("link", name="住民票の写し等の交付請求").first.click()
    timeline = page.locator(".timeline")
    assert "受付待ち" in timeline.inner_text()
    assert re.search(r"令和\d+年\d+月\d+日", timeline.inner_text())
    snap(page, "portal-application-timeline-phone")
    axe_everywhere(page, axe_check, "application")

    for path in ("/notices/", "/account/connected-apps", "/"):
        page.goto(demo_server.url(f"/{TOWN}{path}"))
        axe_everywhere(page, axe_check, path)
    page.goto(demo_server.url(f"/{TOWN}/notices/"))
    page.locator("main .notices a").first.click()
    assert reference in page.locator("main").inner_text()
    axe_everywhere(page, axe_check, "notice")


def test_the_verified_demo_resident_of_the_village_applies_and_submits(
    page: Any, demo_server: DemoServer, axe_check: Any
) -> None:
    sign_in(page, demo_server, VILLAGE, demo_email(VILLAGE, "resident"))
    reference = submit_residency_certificate(page, demo_server, VILLAGE)
    assert reference.startswith("RC-")
    assert "受付待ち" in page.locator("main").inner_text()
    axe_everywhere(page, axe_check, "village confirmation", english=False)
    page.goto(demo_server.url(f"/{VILLAGE}/applications/"))
    assert reference in page.locator("main").inner_text()
    axe_everywhere(page, axe_check, "village my applications", english=False)
