"""The data-use ledger in a real browser: a clerk opens a resident's application in the console, and the resident's
「わたしのデータの利用記録」 then shows that read (who as a role and a staff code, what, which application, why), with
axe clean at 375 and 1280 px in Japanese and English. A vendor app the resident allowed on the real consent page
reads through the API, and the ledger then names the app and links to that consent."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import urllib.parse
import urllib.request
from typing import Any

from tests.browser.clerk_steps import open_from_the_queue
from tests.browser.conftest import DemoServer, demo_email, sign_in
from tests.browser.test_clerk_journey import axe_all
from tests.browser.test_resident_journey import submit_residency_certificate
from tests.browser.test_sign_in_pages import _madoguchi

TOWN = "shiomi-town"  # ja + en


def test_a_clerks_read_shows_in_the_residents_ledger(
    page: Any, desktop_page: Any, demo_server: DemoServer, axe_check: Any, snap: Any
) -> None:
    resident = page
    sign_in(resident, demo_server, TOWN, demo_email(TOWN, "resident"))
    reference = submit_residency_certificate(resident, demo_server, TOWN)

    clerk = desktop_page
    sign_in(clerk, demo_server, TOWN, demo_email(TOWN, "clerk"), next_path=f"/{TOWN}/console/")
    open_from_the_queue(clerk, reference).get_by_role("link", name=reference).click()
    clerk.wait_for_load_state("domcontentloaded")
    assert reference in clerk.locator("main").inner_text()

    resident.goto(demo_server.url(f"/{TOWN}/account/data-use?lang=ja"))
    assert resident.get_by_role("heading", level=1).inner_text() == "わたしのデータの利用記録"
    newest = resident.locator("main ol.data-use > li").first.inner_text()
    assert "申請内容の閲覧" in newest and reference in newest
    assert re.search(r"職員コード S-[0-9A-F]{8}", newest)
    assert "の処理のため" in newest
    # The resident's own prefill is there too, as the system's.
    assert "住民記録からの自動入力" in resident.locator("main").inner_text()
    snap(resident, "portal-data-use")
    axe_all(resident, axe_check, "data-use ledger", locales=("ja", "en"))
    resident.goto(demo_server.url(f"/{TOWN}/account/data-use?who=staff&lang=en"))
    assert "Viewed an application" in resident.locator("main ol.data-use > li").first.inner_text()


#: The app's name carries 外字 and an IVS (葛󠄀 = 葛 + U+E0100): the ledger must show it exactly.
APP_NAME = "𠮷田くらし葛󠄀ナビ"
CALLBACK = "http://127.0.0.1:8765/callback"


def _token_for(demo_server: DemoServer, client: dict[str, str], code: str, verifier: str) -> str:
    """The app's side: exchange the code for an access token (client_secret_basic, PKCE)."""
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK, "code_verifier": verifier}
    basic = base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode()).decode()
    request = urllib.request.Request(  # noqa: S310 - the demo on loopback
        demo_server.url("/oauth/token"),
        data=urllib.parse.urlencode(form).encode(),
        headers={"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"},
    )
    with urllib.request.urlopen(request) as response:  # noqa: S310 - the demo on loopback
        return str(json.load(response)["access_token"])


def test_a_vendors_read_shows_with_its_app_name_and_the_consent(page: Any, demo_server: DemoServer, snap: Any) -> None:
    args = ["oauth", "create-client", "--tenant", TOWN, "--name", APP_NAME, "--json"]
    args += ["--redirect-uri", CALLBACK, "--grant", "authorization_code"]
    client = dict(json.loads(_madoguchi(demo_server, *args)))
    resident = page
    sign_in(resident, demo_server, TOWN, demo_email(TOWN, "resident"))
    reference = submit_residency_certificate(resident, demo_server, TOWN)

    # The resident allows the app on the real consent page; the app's callback is not running: the code is read
    # from the address the browser is sent to.
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = {
        "response_type": "code",
        "client_id": client["client_id"],
        "redirect_uri": CALLBACK,
        "scope": "applications:read",
        "state": "s",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    resident.goto(demo_server.url(f"/oauth/authorize?{urllib.parse.urlencode(query)}&lang=ja"))
    with resident.expect_request(re.compile(r"^http://127\.0\.0\.1:8765/callback")) as redirected:
        resident.get_by_role("button", name="許可する").click()
    code = urllib.parse.parse_qs(urllib.parse.urlparse(redirected.value.url).query)["code"][0]
    token = _token_for(demo_server, client, code, verifier)

    # The app reads the resident's applications through the API.
    api = urllib.request.Request(  # noqa: S310 - the demo on loopback
        demo_server.url(f"/api/v1/t/{TOWN}/applications"), headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(api) as response:  # noqa: S310 - the demo on loopback
        assert reference in response.read().decode()

    resident.goto(demo_server.url(f"/{TOWN}/account/data-use?who=vendor_app&lang=ja"))
    newest = resident.locator("main ol.data-use > li").first
    assert APP_NAME in newest.inner_text()
    consent_link = newest.get_by_role("link").first
    assert "consent" in (consent_link.get_attribute("href") or "")
    snap(resident, "portal-data-use-vendor")
    anchor = (consent_link.get_attribute("href") or "").split("#", 1)[1]
    consent_link.click()
    resident.wait_for_load_state("domcontentloaded")
    assert APP_NAME in resident.locator(f"#{anchor}").inner_text()  # the consent that allowed the read
