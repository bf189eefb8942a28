"""Certificates in a real browser: a verified resident of a city that issues automatically applies, downloads
the signed PDF from "My applications", and a recipient checks it on /verify by its code and by uploading the
file — the original reads valid, a copy with one byte changed reads altered. Every page is scanned by axe."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sqlalchemy import select

from madoguchi.applications.models import Application
from madoguchi.documents.models import IssuedDocument
from madoguchi.tenancy.models import Tenant
from tests.browser.conftest import DemoServer, demo_email, sign_in
from tests.browser.test_clerk_journey import axe_all
from tests.browser.test_payment_journey import press_on_hosted_page, to_hosted_page
from tests.browser.test_resident_journey import submit_residency_certificate

CITY = "sakuragaoka-city"  # ja + en; residency certificates are issued to verified residents once the fee is paid


def _document_of(server: DemoServer, reference: str) -> IssuedDocument:
    with server.db.transaction() as session:
        tenant = session.execute(select(Tenant).where(Tenant.slug == CITY)).scalar_one()
    with server.db.transaction(tenant.id) as session:
        application = session.execute(select(Application).where(Application.reference == reference)).scalar_one()
        return session.execute(
            select(IssuedDocument).where(IssuedDocument.application_id == application.id)
        ).scalar_one()


def _upload_on_verify_page(page: Any, server: DemoServer, path: Path) -> str:
    page.goto(server.url("/verify/"))
    page.set_input_files("#file", str(path))
    page.locator("main form[enctype] button[type=submit]").click()
    page.wait_for_load_state("domcontentloaded")
    return page.locator("main .verify-status").get_attribute("class") or ""


def test_an_auto_issued_certificate_is_downloaded_and_checked_by_code_and_by_file(
    page: Any, demo_server: DemoServer, axe_check: Any, snap: Any, tmp_path: Path
) -> None:
    sign_in(page, demo_server, CITY, demo_email(CITY, "resident"))
    # Electronic delivery: the PDF is the resident's (a posted certificate is paper, decision 0033).
    reference = submit_residency_certificate(page, demo_server, CITY, delivery="electronic")
    page.locator("main a.button", has_text="申請状況を見る").click()
    page.wait_for_load_state("domcontentloaded")
    # The city takes the fee before issue (decision 0044): paid on the provider's page, issued with no clerk.
    to_hosted_page(page)
    press_on_hosted_page(page, "成功")
    page.locator("main a.back-link").click()
    page.wait_for_load_state("domcontentloaded")
    assert "交付済み" in page.locator("main").inner_text()
    axe_all(page, axe_check, "application with its certificate", locales=("ja", "en"))
    snap(page, "portal-certificate-ready")

    with page.expect_download() as download:
        page.locator("main a[download]").first.click()
    original = tmp_path / "certificate.pdf"
    download.value.save_as(original)
    assert original.read_bytes().startswith(b"%PDF-")

    document = _document_of(demo_server, reference)
    page.goto(demo_server.url("/verify/"))
    axe_all(page, axe_check, "verify start", locales=("ja", "en"))
    page.fill("#code", document.verification_code.lower())  # typed loosely: case does not matter
    page.locator("main form[method=get] button[type=submit]").click()
    page.wait_for_url(re.compile(r".*/verify/[0-9A-Z]+$"))
    assert "verify-valid" in (page.locator("main .verify-status").get_attribute("class") or "")
    assert document.serial in page.locator("main").inner_text()
    axe_all(page, axe_check, "verify by code", locales=("ja", "en"))

    assert "verify-valid" in _upload_on_verify_page(page, demo_server, original)
    axe_all(page, axe_check, "verify upload valid")
    altered = tmp_path / "altered.pdf"
    data = bytearray(original.read_bytes())
    data[len(data) // 3] ^= 0x01
    altered.write_bytes(bytes(data))
    assert "verify-altered" in _upload_on_verify_page(page, demo_server, altered)
    axe_all(page, axe_check, "verify upload altered")
    snap(page, "verify-altered")
