"""The tenant admin and the platform admin in a real browser, on `madoguchi demo`.

The tenant admin of sakuragaoka-city signs in with the TOTP key the demo printed and changes the tax-certificate
fee, which the landing page, the procedure page and the API then show; a fee outside the standard's range is
refused beside the field. The platform admin creates a municipality (a wrong check digit first), suspends it (its
portal answers 403) and resumes it. Every admin page gets an axe scan in Japanese and English at 375 and 1280 px.

The demo server is shared by all browser tests: only the tax-certificate fee of sakuragaoka-city is changed (and
put back), and the platform admin only suspends the municipality it created itself.
"""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import Callable
from typing import Any

from madoguchi.jp import local_government_code_check_digit
from tests.browser.conftest import DESKTOP, PHONE, DemoServer, demo_email, sign_in, sign_in_platform_admin

CITY = "sakuragaoka-city"
ADMIN = f"/{CITY}/console/admin"
KEY = "tax-certificate"
STANDARD_FEE = "350"  # sakuragaoka-city's fee in its tenant file


def _admin_sign_in(page: Any, server: DemoServer, next_path: str) -> None:
    sign_in(page, server, CITY, demo_email(CITY, "admin"), next_path=next_path)
    assert page.url.endswith(next_path), page.url


def _every_way(page: Any, axe_check: Callable[..., Any], name: str) -> None:
    """axe at phone and desktop width, on the page as it is (no reload: a POST result stays)."""
    for size in (PHONE, DESKTOP):
        page.set_viewport_size(size)
        axe_check(page, f"{name} {size['width']}")
        # Wide tables scroll inside their box: the page itself never scrolls sideways.
        assert page.evaluate("() => document.documentElement.scrollWidth") <= size["width"], name
    page.set_viewport_size(PHONE)


def _both_languages(page: Any, server: DemoServer, axe_check: Callable[..., Any], path: str, name: str) -> None:
    for lang in ("ja", "en"):
        separator = "&" if "?" in path else "?"
        response = page.goto(server.url(f"{path}{separator}lang={lang}"))
        assert response.status == 200, (path, response.status)
        assert page.locator("html").get_attribute("lang") == lang
        _every_way(page, axe_check, f"{name} {lang}")


def _fee_in_api(server: DemoServer) -> int:
    with urllib.request.urlopen(server.url(f"/api/v1/t/{CITY}/procedures")) as response:  # noqa: S310 - loopback
        procedures = {p["key"]: p for p in json.load(response)}
    return int(procedures[KEY]["fee"]["amount"])


def _set_fee(page: Any, server: DemoServer, fee: str) -> None:
    page.goto(server.url(f"{ADMIN}/procedures/{KEY}"))
    page.fill("#fee", fee)
    page.get_by_role("button", name="設定を保存する").click()
    page.wait_for_load_state("networkidle")


def test_the_tenant_admin_changes_the_tax_certificate_fee(
    page: Any, demo_server: DemoServer, axe_check: Any, snap: Any
) -> None:
    _admin_sign_in(page, demo_server, f"{ADMIN}/procedures")
    try:
        page.get_by_role("link", name="変更 課税・所得証明書の交付請求").click()
        assert page.get_by_role("heading", level=1).inner_text() == "課税・所得証明書の交付請求"
        assert page.locator("#fee").input_value() == STANDARD_FEE

        # Outside the standard's range (200-450 yen): the message beside the field and in the summary.
        page.fill("#fee", "1000")
        page.get_by_role("button", name="設定を保存する").click()
        page.wait_for_load_state("networkidle")
        assert page.locator("#fee-error").inner_text().endswith("手数料は200円から450円の範囲で設定してください。")
        summary = page.locator(".error-summary")
        assert summary.get_by_role("link", name="手数料は200円から450円の範囲で設定してください。").is_visible()
        # app.js moves the focus once the page has loaded, which may be just after the summary is visible.
        page.wait_for_function("() => document.activeElement.classList.contains('error-summary')", timeout=5000)
        _every_way(page, axe_check, "procedure settings with an error ja")
        snap(page, "admin-procedure-settings-error")
        assert _fee_in_api(demo_server) == int(STANDARD_FEE)

        page.fill("#fee", "４２０")  # full-width digits, as a Japanese keyboard may type them
        page.get_by_role("button", name="設定を保存する").click()
        page.wait_for_load_state("networkidle")
        assert page.url.endswith(f"{ADMIN}/procedures")
        assert "これから受け付ける申請に適用されます" in page.locator(".flash").inner_text()
        row = page.locator("tr", has_text="課税・所得証明書の交付請求")
        assert row.locator("[data-setting=fee]").inner_text() == "420円"
        snap(page, "admin-procedures")

        assert _fee_in_api(demo_server) == 420
        page.goto(demo_server.url(f"/{CITY}/"))
        assert "420円" in page.locator("main").inner_text()
        assert page.goto(demo_server.url(f"/{CITY}/procedures/{KEY}")).status == 200
        assert "420円" in page.locator("main").inner_text()
    finally:
        _set_fee(page, demo_server, STANDARD_FEE)
    assert _fee_in_api(demo_server) == int(STANDARD_FEE)


BAD_RESIDENTS_CSV = (
    "household_code,resident_code,family_name\n"  # the wrong columns: the header says it all
    "H1,00000000001,髙橋\n"
).encode()


def test_every_tenant_admin_page_passes_axe_in_both_languages_at_both_widths(
    page: Any, demo_server: DemoServer, axe_check: Any, snap: Any
) -> None:
    _admin_sign_in(page, demo_server, f"{ADMIN}/")
    for path, name in (
        (f"{ADMIN}/", "admin overview"),
        (f"{ADMIN}/staff", "staff"),
        (f"{ADMIN}/staff/new", "new staff form"),
        (f"{ADMIN}/procedures", "procedures"),
        (f"{ADMIN}/procedures/{KEY}", "procedure settings"),
        (f"{ADMIN}/procedures/childcare-admission", "childcare settings"),
        (f"{ADMIN}/apps", "vendor apps"),
        (f"{ADMIN}/apps/new", "new app form"),
        (f"{ADMIN}/registry", "registry import"),
        (f"{ADMIN}/kpis", "key figures"),
    ):
        _both_languages(page, demo_server, axe_check, path, name)
    snap(page, "admin-kpis-en")

    # The tenant admin's own account page.
    page.goto(demo_server.url(f"{ADMIN}/staff?lang=en"))
    page.get_by_role("link", name="Change Admin", exact=True).click()
    _every_way(page, axe_check, "own staff account en")

    for lang in ("ja", "en"):
        # A staff form with errors.
        page.goto(demo_server.url(f"{ADMIN}/staff/new?lang={lang}"))
        page.fill("#email", "not an address")
        page.locator("main form button[type=submit]").click()
        page.wait_for_load_state("networkidle")
        assert page.locator("#email-error").is_visible() and page.locator("#display_name-error").is_visible()
        _every_way(page, axe_check, f"new staff with errors {lang}")

        # An app form with errors, then an app registered: the secret is shown once.
        page.goto(demo_server.url(f"{ADMIN}/apps/new?lang={lang}"))
        page.fill("#name", f"Kurashi Navi {uuid.uuid4().hex[:6]}")
        page.fill("#redirect_uris", "http://vendor.example.jp/callback")
        page.locator("main form button[type=submit]").click()
        page.wait_for_load_state("networkidle")
        assert page.locator("#redirect_uris-error").is_visible()
        _every_way(page, axe_check, f"new app with errors {lang}")
        page.fill("#redirect_uris", "https://vendor.example.jp/callback")
        page.locator("main form button[type=submit]").click()
        page.wait_for_load_state("networkidle")
        secret = page.locator("#client-secret").inner_text()
        assert len(secret) == 64
        _every_way(page, axe_check, f"app registered {lang}")
        if lang == "en":
            snap(page, "admin-app-secret-shown-once")
        page.goto(demo_server.url(f"{ADMIN}/apps"))
        assert secret not in page.content()  # shown once only

        # A registry CSV with problems: the report lists them and nothing is imported.
        page.goto(demo_server.url(f"{ADMIN}/registry?lang={lang}"))
        page.check("#kind")  # residents
        page.set_input_files("#file", files=[{"name": "bad.csv", "mimeType": "text/csv", "buffer": BAD_RESIDENTS_CSV}])
        page.locator("main form button[type=submit]").click()
        page.wait_for_load_state("networkidle")
        assert page.locator("#row-errors tbody tr").count() >= 1
        assert page.locator("#file-error").is_visible()
        _every_way(page, axe_check, f"registry report {lang}")
        if lang == "en":
            snap(page, "admin-registry-error-report")

    # Revoke the apps this test registered (the confirm dialog is accepted).
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(demo_server.url(f"{ADMIN}/apps?lang=en"))
    for _ in range(page.locator("tr", has_text="Kurashi Navi").count()):
        page.locator("tr", has_text="Kurashi Navi").first.get_by_role("button").click()
        page.wait_for_load_state("networkidle")
    assert page.locator("tr", has_text="Kurashi Navi").count() == 0


def _valid_code(prefecture: str) -> str:
    body = f"{prefecture}{uuid.uuid4().int % 1000:03d}"
    return f"{body}{local_government_code_check_digit(body)}"


def test_the_platform_admin_creates_suspends_and_resumes_a_municipality(
    page: Any, demo_server: DemoServer, axe_check: Any, snap: Any
) -> None:
    sign_in_platform_admin(page, demo_server)
    assert page.url.endswith("/admin/"), page.url
    _both_languages(page, demo_server, axe_check, "/admin/", "tenants list")
    _both_languages(page, demo_server, axe_check, "/admin/tenants/new", "new tenant form")

    slug = f"test-{uuid.uuid4().hex[:6]}"
    code = _valid_code("13")
    wrong = code[:5] + str((int(code[5]) + 1) % 10)
    for lang in ("en", "ja"):
        page.goto(demo_server.url(f"/admin/tenants/new?lang={lang}"))
        page.fill("#slug", slug)
        page.fill("#name_ja", "試験町")
        page.fill("#name_en", "Test Town")
        page.fill("#local_government_code", wrong)
        page.select_option("#prefecture_code", "13")
        page.check("#services")
        page.locator("main form button[type=submit]").click()
        page.wait_for_load_state("networkidle")
        assert page.locator("#local_government_code-error").is_visible()
        assert page.locator(".error-summary a[href='#local_government_code']").is_visible()
        _every_way(page, axe_check, f"new tenant with errors {lang}")
    assert "check digit" not in page.locator("#local_government_code-error").inner_text()  # Japanese now
    assert "検査数字" in page.locator("#local_government_code-error").inner_text()

    page.fill("#local_government_code", code)
    page.locator("main form button[type=submit]").click()
    page.wait_for_load_state("networkidle")
    row = page.locator(f"tr[data-slug='{slug}']")
    assert "試験町" in row.inner_text() and "試行中" in row.inner_text()
    snap(page, "admin-tenants")
    assert page.goto(demo_server.url(f"/{slug}/")).status == 200

    page.goto(demo_server.url("/admin/"))
    page.locator(f"tr[data-slug='{slug}']").get_by_role("link", name="停止").click()
    _every_way(page, axe_check, "suspend confirmation ja")
    page.get_by_role("button", name="停止する").click()
    page.wait_for_load_state("networkidle")
    assert "停止中" in page.locator(f"tr[data-slug='{slug}']").inner_text()
    assert page.goto(demo_server.url(f"/{slug}/")).status == 403

    page.goto(demo_server.url("/admin/?lang=en"))
    page.locator(f"tr[data-slug='{slug}']").get_by_role("link", name="Resume").click()
    _every_way(page, axe_check, "resume confirmation en")
    page.get_by_role("button", name="Resume the municipality").click()
    page.wait_for_load_state("networkidle")
    assert "Trial" in page.locator(f"tr[data-slug='{slug}']").inner_text()
    assert page.goto(demo_server.url(f"/{slug}/")).status == 200
