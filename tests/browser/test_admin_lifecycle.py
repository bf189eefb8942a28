"""The tenant lifecycle pages in a real browser, on `madoguchi demo`: the platform admin puts a new municipality live,
invites its first tenant admin (the link shown once), the invited person sets a password and reaches the
authenticator set-up, and the municipality is deleted (confirmed by typing its slug) and answers 404.
Every new page gets an axe scan at 375 and 1280 px, in Japanese and English where the page offers both.

The municipality is created for this test only, so the other browser tests sharing the demo are not affected.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlsplit

from madoguchi.jp import PREFECTURES
from madoguchi.platform import provisioning as tenancy
from tests.browser.conftest import DemoServer, sign_in_platform_admin
from tests.browser.test_admin import _both_languages, _every_way, _valid_code


def _new_municipality(server: DemoServer) -> tuple[str, str]:
    slug = f"life-{uuid.uuid4().hex[:6]}"
    code = _valid_code("13")
    new = tenancy.NewTenant(
        slug=slug,
        name_ja="試験村",
        name_en="Test Village",
        local_government_code=code,
        prefecture=PREFECTURES["13"],
        locales=["ja", "en"],
        default_locale="ja",
        services=["residency-certificate"],
    )
    with server.db.transaction() as session:
        tenant = tenancy.create_tenant(session, new, actor="test")
        return slug, str(tenant.id)


def test_the_platform_admin_puts_live_invites_and_deletes_a_municipality(
    page: Any, browser: Any, demo_server: DemoServer, axe_check: Any
) -> None:
    slug, tenant_id = _new_municipality(demo_server)
    sign_in_platform_admin(page, demo_server)
    _both_languages(page, demo_server, axe_check, "/admin/", "tenants list with lifecycle actions")

    # Go live.
    _both_languages(page, demo_server, axe_check, f"/admin/tenants/{tenant_id}/go-live", "go-live confirmation")
    page.get_by_role("button", name="Go live").click()
    page.wait_for_load_state("networkidle")
    assert "Live" in page.locator(f"tr[data-slug='{slug}']").inner_text()

    # Invite: a bad address first, then the link, shown once.
    _both_languages(page, demo_server, axe_check, f"/admin/tenants/{tenant_id}/invite", "invite form")
    page.fill("#email", "not an address")
    page.locator("main form button[type=submit]").click()
    page.wait_for_load_state("networkidle")
    assert page.locator("#email-error").is_visible()
    _every_way(page, axe_check, "invite form with an error en")
    page.fill("#email", f"chief@{slug}.example.jp")
    page.locator("main form button[type=submit]").click()
    page.wait_for_load_state("networkidle")
    link = page.locator("#invitation-link").inner_text().strip()
    assert f"/{slug}/invitation/" in link
    _every_way(page, axe_check, "invitation sent en")

    # The invited person, in a browser of their own.
    invited = browser.new_page(viewport={"width": 375, "height": 800}, locale="ja-JP")
    try:
        invited.goto(demo_server.url(urlsplit(link).path))
        assert f"chief@{slug}.example.jp" in invited.locator("main").inner_text()
        _every_way(invited, axe_check, "invitation page ja")
        invited.fill("#password", "a long and sturdy passphrase")
        invited.locator("main form button[type=submit]").click()
        invited.wait_for_load_state("networkidle")
        assert f"/{slug}/account/two-factor" in invited.url
    finally:
        invited.close()

    # Delete: the wrong slug is refused beside the field, the right one deletes.
    _both_languages(page, demo_server, axe_check, f"/admin/tenants/{tenant_id}/delete", "delete confirmation")
    page.fill("#confirm_slug", "something-else")
    page.locator("main form button[type=submit]").click()
    page.wait_for_load_state("networkidle")
    assert page.locator("#confirm_slug-error").is_visible()
    _every_way(page, axe_check, "delete confirmation with an error en")
    page.fill("#confirm_slug", slug)
    page.locator("main form button[type=submit]").click()
    page.wait_for_load_state("networkidle")
    assert "Deleted" in page.locator(f"tr[data-slug='{slug}']").inner_text()
    assert page.goto(demo_server.url(f"/{slug}/")).status == 404
