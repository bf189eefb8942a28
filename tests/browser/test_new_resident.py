"""A newcomer's first hour, in a real browser against the demo, with links taken from the demo's own mailbox:

* a new resident of shiomi-town signs up, follows the verification link from ``/demo/mailbox``, is linked to the
  register by a clerk on the console's "identity at the counter" page, applies for a residency certificate and
  submits it;
* a forgotten password is reset from the emailed link, which then refuses a second use; an expired link is
  refused; the reset ends the account's other sessions.

axe runs on every new page (the mailbox, the console's linking pages, the password reset pages) in Japanese and
English at 375 and 1280 px. Staff sign in only through ``conftest.sign_in``.
"""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import update

from madoguchi.db import utcnow
from madoguchi.identity.models import PasswordReset
from tests.browser.conftest import DESKTOP, PHONE, DemoServer, demo_email, sign_in
from tests.browser.test_resident_journey import (
    PASSWORD,
    TOWN,
    _tenant,
    _unlinked_person,
    axe_everywhere,
    submit_residency_certificate,
)

NEW_PASSWORD = "the tide comes in at dusk 2026"


def _axe_keeping_the_query(page: Any, axe_check: Any, name: str) -> None:
    """Like ``axe_everywhere``, for a page whose query matters (search results): ja and en, 375 and 1280 px."""
    url = re.sub(r"[?&]lang=[a-z]+", "", page.url)
    for locale in ("ja", "en"):
        page.goto(f"{url}{'&' if '?' in url else '?'}lang={locale}")
        for size in (PHONE, DESKTOP):
            page.set_viewport_size(size)
            axe_check(page, f"{name} {locale} {size['width']}")
    page.goto(f"{url}{'&' if '?' in url else '?'}lang=ja")


def _mails_to(page: Any, server: DemoServer, recipient: str, subject: str) -> Any:
    page.goto(server.url("/demo/mailbox?lang=ja"))
    return page.locator("ol.mailbox article").filter(has_text=recipient).filter(has_text=subject)


def _newest_link(page: Any, server: DemoServer, recipient: str, subject: str, *, after: int = 0) -> str:
    """The link in the newest mail to ``recipient`` whose subject has ``subject``, once there are more than
    ``after`` of them (the demo's worker sends within a few seconds)."""
    deadline = time.monotonic() + 30
    while True:
        mails = _mails_to(page, server, recipient, subject)
        if mails.count() > after:
            return str(mails.first.locator("pre a").first.get_attribute("href"))
        assert time.monotonic() < deadline, f"no mail '{subject}' to {recipient} in the demo's mailbox"
        time.sleep(0.5)


def _sign_up(page: Any, server: DemoServer, email: str, name: str) -> None:
    page.goto(server.url(f"/{TOWN}/sign-up?lang=ja"))
    page.fill("#display_name", name)
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.locator("main button[type=submit]").click()
    page.wait_for_load_state("domcontentloaded")


def _sign_in_resident(page: Any, server: DemoServer, email: str, password: str) -> None:
    page.goto(server.url(f"/{TOWN}/login?lang=ja"))
    page.fill("#email", email)
    page.fill("#password", password)
    page.locator("main button[type=submit]").first.click()
    page.wait_for_load_state("domcontentloaded")


def test_a_new_resident_is_verified_at_the_counter_and_applies(
    page: Any, desktop_page: Any, demo_server: DemoServer, axe_check: Any, snap: Any
) -> None:
    email = f"newcomer-{uuid.uuid4().hex[:8]}@example.jp"
    _sign_up(page, demo_server, email, "髙﨑 葛󠄀子")
    assert "メールを確認してください" in page.locator("h1").inner_text()

    # The verification link, from the demo's mailbox.
    link = _newest_link(page, demo_server, email, "メールアドレスの確認")
    snap(page, "demo-mailbox-phone")
    _axe_keeping_the_query(page, axe_check, "demo mailbox")
    # The demo's console printed the same link, one line per mail.
    console = (demo_server.data_dir.parent / "demo.log").read_text()
    assert f"Mail: 【汐見町】メールアドレスの確認  {link}" in console
    page.goto(link)
    assert "メールアドレスを確認しました" in page.locator("h1").inner_text()
    _sign_in_resident(page, demo_server, email, PASSWORD)
    assert page.get_by_text("髙﨑 葛󠄀子").count() >= 1

    # At the counter: the resident shows an identity document; the clerk links the account to the register.
    person = _unlinked_person(demo_server, _tenant(demo_server, TOWN))
    clerk = desktop_page
    sign_in(clerk, demo_server, TOWN, demo_email(TOWN, "clerk"), next_path=f"/{TOWN}/console/identity/?lang=ja")
    axe_everywhere(clerk, axe_check, "console identity find")
    clerk.fill("#email", email)
    clerk.get_by_role("button", name="アカウントを探す").click()
    clerk.wait_for_load_state("domcontentloaded")
    assert email in clerk.locator("main").inner_text() and "未確認" in clerk.locator("main").inner_text()
    clerk.fill("#resident_code", person.resident_code)
    clerk.get_by_role("button", name="検索する").click()
    clerk.wait_for_load_state("domcontentloaded")
    _axe_keeping_the_query(clerk, axe_check, "console identity account with results")
    clerk.locator("main table a").first.click()
    clerk.wait_for_load_state("domcontentloaded")
    main = clerk.locator("main").inner_text()
    assert email in main and person.resident_code in main  # both, side by side
    snap(clerk, "console-identity-confirm-desktop")
    axe_everywhere(clerk, axe_check, "console identity confirm")
    clerk.get_by_role("button", name="結び付けて本人確認を完了する").click()
    clerk.wait_for_load_state("domcontentloaded")
    assert clerk.locator("#checked-error").is_visible()  # the document check must be ticked first
    axe_check(clerk, "console identity confirm error")
    clerk.check("#checked")
    clerk.get_by_role("button", name="結び付けて本人確認を完了する").click()
    clerk.wait_for_load_state("domcontentloaded")
    assert "本人確認しました" in clerk.locator(".flash-messages").inner_text()
    assert "本人確認済み" in clerk.locator("main").inner_text()

    # The resident, now verified, applies and submits.
    reference = submit_residency_certificate(page, demo_server, TOWN)
    assert reference.startswith("RC-")
    assert "受付待ち" in page.locator("main").inner_text()


def test_a_forgotten_password_is_reset_from_the_emailed_link_once_and_not_after_expiry(
    page: Any, browser: Any, demo_server: DemoServer, axe_check: Any, snap: Any
) -> None:
    email = f"forgetful-{uuid.uuid4().hex[:8]}@example.jp"
    _sign_up(page, demo_server, email, "汐見 忘")
    # Signed in elsewhere (another device): the reset must end that session.
    other_device = browser.new_context(locale="ja-JP")
    elsewhere = other_device.new_page()
    _sign_in_resident(elsewhere, demo_server, email, PASSWORD)
    assert elsewhere.get_by_text("汐見 忘").count() >= 1

    page.goto(demo_server.url(f"/{TOWN}/login?lang=ja"))
    page.get_by_role("link", name="パスワードを忘れた場合").click()
    page.wait_for_load_state("domcontentloaded")
    axe_everywhere(page, axe_check, "password reset request")
    page.fill("#email", "not an address")
    page.get_by_role("button", name="リンクを送る").click()
    page.wait_for_load_state("domcontentloaded")
    assert page.locator("#email-error").is_visible()
    axe_check(page, "password reset request error")
    answers = []
    for address in ("nobody-here@example.jp", email):
        page.goto(demo_server.url(f"/{TOWN}/password-reset?lang=ja"))
        page.fill("#email", address)
        page.get_by_role("button", name="リンクを送る").click()
        page.wait_for_load_state("domcontentloaded")
        answers.append(page.locator("main").inner_text())
    assert answers[0] == answers[1]  # the same answer whether or not the address has an account
    axe_everywhere(page, axe_check, "password reset requested", english=False)

    link = _newest_link(page, demo_server, email, "パスワードの再設定")
    page.goto(link)
    assert email in page.locator("main").inner_text()
    snap(page, "password-reset-phone")
    axe_everywhere(page, axe_check, "password reset form")
    page.fill("#password", "short")
    page.get_by_role("button", name="パスワードを設定する").click()
    page.wait_for_load_state("domcontentloaded")
    assert page.locator("#password-error").is_visible()
    page.fill("#password", NEW_PASSWORD)
    page.get_by_role("button", name="パスワードを設定する").click()
    page.wait_for_load_state("domcontentloaded")
    assert "新しいパスワードを設定しました" in page.locator("h1").inner_text()
    axe_everywhere(page, axe_check, "password reset done", english=False)

    # Used twice: refused.
    page.goto(link)
    assert "このリンクは使えません" in page.locator("h1").inner_text()
    axe_everywhere(page, axe_check, "password reset link used")
    # The other device was signed out; the new password signs in, the old one not.
    elsewhere.goto(demo_server.url(f"/{TOWN}/applications/"))
    assert "/login" in elsewhere.url
    other_device.close()
    _sign_in_resident(page, demo_server, email, PASSWORD)
    assert page.locator("#email-error, .error-summary").count() >= 1
    _sign_in_resident(page, demo_server, email, NEW_PASSWORD)
    assert page.get_by_text("汐見 忘").count() >= 1

    # Expired: a new link whose expiry has passed (moved back in the database: the demo cannot wait an hour).
    before = _mails_to(page, demo_server, email, "パスワードの再設定").count()
    page.goto(demo_server.url(f"/{TOWN}/password-reset?lang=ja"))
    page.fill("#email", email)
    page.get_by_role("button", name="リンクを送る").click()
    page.wait_for_load_state("domcontentloaded")
    expired = _newest_link(page, demo_server, email, "パスワードの再設定", after=before)
    token_hash = hashlib.sha256(expired.rsplit("/", 1)[1].encode()).hexdigest()
    with demo_server.db.transaction(_tenant(demo_server, TOWN).id) as session:
        moved = session.execute(
            update(PasswordReset)
            .where(PasswordReset.token_hash == token_hash)
            .values(expires_at=utcnow() - timedelta(minutes=1))
        )
        assert moved.rowcount == 1
    page.goto(expired)
    assert "このリンクは使えません" in page.locator("h1").inner_text()
    assert "1時間" in page.locator("main").inner_text()
