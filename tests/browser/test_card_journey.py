"""A new resident signs in with the マイナンバーカード at shiomi-town, is verified at once, and submits a residency
certificate request without any letter or counter visit (issue 19's acceptance; decision 0048).

``madoguchi demo`` runs the checkout's card provider beside itself (infra/card-idp: oidc-provider on loopback, with
fictional holders whose register entries the demo imports). Chromium goes to the provider's card reader page and
back. axe runs on every new page at 375 px and 1280 px, in Japanese and English.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from tests.browser.conftest import DESKTOP, PHONE, DemoServer
from tests.browser.test_resident_journey import submit_residency_certificate
from tests.support.card_idp import PIN, SHIOMI_EXACT

TOWN = "shiomi-town"


def _axe_here(page: Any, axe_check: Any, name: str) -> None:
    """axe on this page (its query kept) in Japanese and English, at 375 and 1280 px; back in Japanese at 375 px."""
    url = re.sub(r"[?&]lang=[a-z]+", "", page.url)
    joiner = "&" if "?" in url else "?"
    for locale in ("en", "ja"):
        page.goto(f"{url}{joiner}lang={locale}")
        for size in (DESKTOP, PHONE):
            page.set_viewport_size(size)
            axe_check(page, f"{name} {locale} {size['width']}")


def test_a_new_resident_signs_in_with_the_card_is_verified_at_once_and_applies(
    page: Any, demo_server: DemoServer, axe_check: Any, snap: Any
) -> None:
    card_demo = demo_server
    email = f"card-{uuid.uuid4().hex[:8]}@example.jp"
    page.goto(card_demo.url(f"/{TOWN}/login?lang=ja"))
    button = page.get_by_role("link", name="マイナンバーカードでログイン")
    assert button.is_visible()
    axe_check(page, "login with the card button ja 375")
    snap(page, "card-login-phone")
    button.click()

    # The provider's card reader page: choose the card, the PIN.
    page.wait_for_url(re.compile(r".*/interaction/.*"))
    assert page.url.startswith("http://127.0.0.1:") and not page.url.startswith(card_demo.base_url)
    page.check(f"[id='holder-{SHIOMI_EXACT}']")
    page.fill("#pin", PIN)
    page.locator("#read-card").click()

    # Back at shiomi-town: no account has this card yet, so an email address opens one.
    page.wait_for_url(re.compile(r".*/shiomi-town/card/new-account\?a=.*"))
    assert "アカウントの作成" in page.locator("h1").inner_text()
    _axe_here(page, axe_check, "card new account")
    page.locator("main button[type=submit]").click()  # nothing typed: the error beside the field
    page.wait_for_load_state("domcontentloaded")
    assert page.locator("#email-error").is_visible()
    axe_check(page, "card new account error ja 375")
    page.fill("#email", email)
    page.locator("main button[type=submit]").click()

    # Verified at once, at the card level.
    page.wait_for_url(re.compile(r".*/shiomi-town/card/result\?outcome=verified.*"))
    assert "本人確認ができました" in page.locator("h1").inner_text()
    snap(page, "card-verified-phone")
    _axe_here(page, axe_check, "card result verified")
    me = page.request.get(card_demo.url(f"/api/v1/t/{TOWN}/me")).json()
    assert me["email"] == email and me["identity_assurance"] == "card"
    assert [e["method"] for e in me["identity_evidence"]] == ["card"]  # no letter, no counter

    # The account page shows the card and how the identity was verified.
    page.goto(card_demo.url(f"/{TOWN}/account/identity?lang=ja"))
    main = page.locator("main").inner_text()
    assert "連携済み" in main and "マイナンバーカードで本人確認済み" in main
    _axe_here(page, axe_check, "account identity with the card")

    # And applies: the residency certificate is submitted with no letter and no visit to the counter.
    reference = submit_residency_certificate(page, card_demo, TOWN)
    assert reference.startswith("RC-")
    assert "受付待ち" in page.locator("main").inner_text()
