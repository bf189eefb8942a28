"""郵送 in a real browser (issue 16, point 5): a resident asks for their residency certificate by post; the clerk
reviews, approves and issues it, opens the day's mail-out, downloads the address labels and the certificates to
print, marks the item sent; the resident's application then reads 発送済み, with no PDF to download. axe on the
clerk's mail-out and pick-up pages and the resident's page."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

from tests.browser.clerk_steps import open_from_the_queue
from tests.browser.conftest import DemoServer, demo_email, sign_in
from tests.browser.test_clerk_journey import axe_all, take
from tests.browser.test_resident_journey import submit_residency_certificate

VILLAGE = "midorikawa-village"  # ja only; a clerk approves and issues


def _pdf_text(path: Path) -> str:
    tool = shutil.which("pdftotext")
    if tool is None:  # poppler-utils: .ci/run installs it; without it the PDF is checked by its header only
        return ""
    out = subprocess.run([tool, "-raw", "-enc", "UTF-8", str(path), "-"], check=True, capture_output=True, text=True)
    return " ".join(out.stdout.split())


def _download(page: Any, link_text: str, target: Path) -> Path:
    with page.expect_download() as download:
        page.locator("main a[download]", has_text=link_text).click()
    download.value.save_as(target)
    assert target.read_bytes().startswith(b"%PDF-")
    return target


def test_a_certificate_by_post_is_printed_with_its_label_marked_sent_and_the_resident_sees_it_sent(
    page: Any, desktop_page: Any, demo_server: DemoServer, axe_check: Any, snap: Any, tmp_path: Path
) -> None:
    resident = page
    sign_in(resident, demo_server, VILLAGE, demo_email(VILLAGE, "resident"))
    reference = submit_residency_certificate(resident, demo_server, VILLAGE, delivery="mail")

    clerk = desktop_page
    sign_in(clerk, demo_server, VILLAGE, demo_email(VILLAGE, "clerk"), next_path=f"/{VILLAGE}/console/")
    open_from_the_queue(clerk, reference).get_by_role("link", name=reference).click()
    clerk.wait_for_load_state("domcontentloaded")
    take(clerk, "審査を開始する")
    take(clerk, "交付を決定する")
    take(clerk, "交付する")
    assert clerk.locator("#current-state").inner_text() == "交付済み"

    # The day's mail-out, reached from the console's navigation (keyboard: a link like any other).
    clerk.get_by_role("navigation", name="職員メニュー").get_by_role("link", name="郵送").click()
    clerk.wait_for_load_state("domcontentloaded")
    assert "の郵送" in clerk.get_by_role("heading", level=1).inner_text()
    row = clerk.locator("main table tbody tr", has_text=reference)
    assert row.count() == 1
    assert "〒" in row.inner_text() and "未発送" in row.inner_text()
    snap(clerk, "console-mail-out")
    axe_all(clerk, axe_check, "mail-out")

    labels = _download(clerk, "宛名ラベル", tmp_path / "labels.pdf")
    batch = _download(clerk, "印刷する証明書", tmp_path / "batch.pdf")
    label_text, batch_text = _pdf_text(labels), _pdf_text(batch)
    if label_text:
        assert reference in label_text and "〒" in label_text and "様" in label_text
        assert "住民票の写し" in batch_text

    row.get_by_role("button", name="発送済みにする").click()
    clerk.wait_for_load_state("domcontentloaded")
    assert "発送済みにしました" in clerk.locator(".flash-messages").inner_text()
    row = clerk.locator("main table tbody tr", has_text=reference)
    assert "発送済み" in row.inner_text() and row.get_by_role("button").count() == 0

    clerk.get_by_role("navigation", name="職員メニュー").get_by_role("link", name="窓口受取").click()
    clerk.wait_for_load_state("domcontentloaded")
    axe_all(clerk, axe_check, "counter pick-up")

    # The resident: 発送済み on the application and in the list, a notice, and no PDF to download.
    resident.goto(demo_server.url(f"/{VILLAGE}/applications/"))
    assert "発送済み" in resident.locator("main li", has_text=reference).first.inner_text()
    resident.locator("main li", has_text=reference).first.get_by_role("link").first.click()
    resident.wait_for_load_state("domcontentloaded")
    main = resident.locator("main").inner_text()
    assert "発送済み" in main and "住民登録地へ発送しました" in main
    assert resident.locator("main a[download]").count() == 0
    snap(resident, "portal-sent-by-post")
    axe_all(resident, axe_check, "application sent by post")
    resident.goto(demo_server.url(f"/{VILLAGE}/notices/"))
    assert "住民登録地へ発送しました" in resident.locator("main").inner_text()
