"""Real-browser tests: Playwright drives Debian's Chromium against `madoguchi demo`, as a new user runs it.

* ``demo_server`` starts ``python -m madoguchi.cli demo`` on a free port (one per xdist worker), with
  its own data directory, and waits for ``/healthz``. Tests may read (never write) its database through
  ``demo_server.db`` — for what a person would read elsewhere, such as the link in a sign-up email. The
  authenticator (TOTP) keys the demo prints for its staff and platform admin are in ``demo_server.totp_keys``.
* ``sign_in`` (anyone of a municipality) and ``sign_in_platform_admin`` are THE way a browser test signs in:
  the password, then the authenticator code (or, for an account without one, the set-up page's QR/key step),
  with a code from a time step not used before (a code is good once).
* ``page`` is a fresh browser context per test (cookies not shared) at phone width (375 px) unless a
  test asks for ``desktop_page`` (1280 px).
* ``axe_check(page, name)`` injects axe-core (from npm: ``tests/browser/package.json``), runs it with the
  WCAG 2.x A/AA rules and fails on any serious or critical violation; ``snap(page, name)`` saves a
  screenshot under ``test-artifacts/screenshots/``.

Chromium: ``/usr/bin/chromium`` (``MADOGUCHI_CHROMIUM`` overrides). Without it, or without Playwright or
axe-core, these tests skip — unless ``MADOGUCHI_REQUIRE_BROWSER=1`` (CI sets it), where they fail.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyotp
import pytest

from madoguchi.db import Database
from madoguchi.demo import DEMO_PASSWORD, DEMO_PLATFORM_ADMIN, demo_settings
from madoguchi.notify.mailbox import Mailbox as DemoMailbox

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
ARTIFACTS = ROOT / "test-artifacts" / "screenshots"
AXE_SOURCE = HERE / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--no-first-run"]
PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 900}
#: axe rule tags: WCAG 2.0/2.1/2.2 at levels A and AA (JIS X 8341-3:2016 follows WCAG 2.0 AA).
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]

pytestmark = pytest.mark.browser


def _unavailable(reason: str) -> None:
    if os.environ.get("MADOGUCHI_REQUIRE_BROWSER") == "1":
        pytest.fail(f"browser tests required (MADOGUCHI_REQUIRE_BROWSER=1) but {reason}")
    pytest.skip(reason)


def chromium_path() -> str:
    path = os.environ.get("MADOGUCHI_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        _unavailable("Chromium is not installed (apt-get install chromium)")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Mailbox:
    """The demo's own mailbox (``<data_dir>/mailbox``, what ``/demo/mailbox`` shows): one-time links are read from
    the email, as a resident would, since the outbox keeps them only until the email is sent."""

    folder: Path

    def link_to(self, address: str, marker: str, timeout: float = 15) -> str:
        """The first line containing ``marker`` of the newest email to ``address`` (waits for it)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for mail in DemoMailbox(self.folder).mails():
                if mail.kind == "email" and mail.recipient == address:
                    return next(line.strip() for line in mail.body.splitlines() if marker in line)
            time.sleep(0.1)
        raise AssertionError(f"no email to {address} within {timeout} s")


@dataclass
class DemoServer:
    base_url: str
    data_dir: Path
    db: Database
    mailbox: Mailbox
    password: str = DEMO_PASSWORD
    #: email -> authenticator key: printed by the demo, or set up by ``sign_in`` at an account's first sign-in.
    totp_keys: dict[str, str] = field(default_factory=dict)
    #: email -> the last TOTP time step used, so no code is sent twice.
    _last_steps: dict[str, int] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return self.base_url + path

    def totp_code(self, email: str) -> str:
        """A code of the account's authenticator from a time step it has not used (this one or the next)."""
        now = int(time.time() // 30)
        step = max(now, self._last_steps.get(email, now - 1) + 1)
        if step > now + 1:  # both used: wait for the next step
            time.sleep(30 - time.time() % 30 + 0.5)
            step = int(time.time() // 30)
        self._last_steps[email] = step
        return str(pyotp.TOTP(self.totp_keys[email]).at(step * 30))


#: "  shiomi-town      clerk@shiomi-town.example.jp   clerk  TOTP key: ABC..." in the demo's output.
_PRINTED_KEY = re.compile(r"^\s+\S+\s+(\S+@\S+)\s.*TOTP key: ([A-Z2-7]+)\s*$", re.MULTILINE)


@pytest.fixture(scope="session")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    data_dir = tmp_path_factory.mktemp("browser-demo") / "instance"
    port = _free_port()
    mailbox = Mailbox(data_dir / "mailbox")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MADOGUCHI_")}
    env["PYTHONUNBUFFERED"] = "1"  # the printed logins reach the log before the server answers
    log_path = data_dir.parent / "demo.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "madoguchi.cli", "demo", "--port", str(port), "--data-dir", str(data_dir)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        if process.poll() is not None:
            pytest.fail(f"madoguchi demo exited early:\n{log_path.read_text()}")
        try:
            with urllib.request.urlopen(f"{base_url}/healthz", timeout=2) as response:  # noqa: S310 - loopback
                if json.load(response) == {"status": "ok"}:
                    break
        except OSError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"madoguchi demo did not answer within 180 s:\n{log_path.read_text()}")
        time.sleep(0.3)
    demo = demo_settings(data_dir)
    database = Database(demo.effective_database_url, pool_size=1, audit_key=demo.audit_key)
    keys = dict(_PRINTED_KEY.findall(log_path.read_text()))
    try:
        yield DemoServer(base_url=base_url, data_dir=data_dir, db=database, mailbox=mailbox, totp_keys=keys)
    finally:
        database.dispose()
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        output = log_path.read_text()
        assert "Traceback" not in output, f"the demo server logged an error:\n{output}"


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright is not installed (pip install -e '.[test]')")
    executable = chromium_path()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def _new_page(browser: Any, viewport: dict[str, int], locale: str = "ja-JP") -> Iterator[Any]:
    context = browser.new_context(viewport=viewport, locale=locale, timezone_id="Asia/Tokyo")
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "console",
        lambda message: (
            errors.append(message.text)
            if message.type == "error" and "Content Security Policy" in message.text
            else None
        ),
    )
    yield page
    context.close()
    assert errors == [], f"JavaScript errors or CSP violations on the page: {errors}"


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A phone-width page (375 px) in a fresh browser context."""
    yield from _new_page(browser, PHONE)


@pytest.fixture
def desktop_page(browser: Any) -> Iterator[Any]:
    """A desktop-width page (1280 px) in a fresh browser context."""
    yield from _new_page(browser, DESKTOP)


@pytest.fixture(scope="session")
def axe_source() -> str:
    if not AXE_SOURCE.exists() and shutil.which("npm"):
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--prefix", str(HERE)], check=False, capture_output=True
        )
    if not AXE_SOURCE.exists():
        _unavailable("axe-core is not installed (npm ci --prefix tests/browser)")
    return AXE_SOURCE.read_text()


@pytest.fixture
def axe_check(axe_source: str) -> Any:
    def check(page: Any, name: str = "") -> list[dict[str, Any]]:
        """Run axe on the page; fail listing every serious or critical violation. Returns all violations."""
        # A click that navigates returns once the new URL is committed, before the document exists:
        # axe run then would find no documentElement. Wait for the page the click led to.
        page.wait_for_load_state("load")
        if not page.evaluate("() => typeof window.axe !== 'undefined'"):
            page.evaluate(axe_source)  # evaluated by the browser's devtools protocol, so the CSP allows it
        result = page.evaluate(
            "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})",
            WCAG_TAGS,
        )
        bad = [v for v in result["violations"] if v["impact"] in ("serious", "critical")]
        details = [f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:5]}" for v in bad]
        assert not bad, f"axe on {name or page.url}:\n" + "\n".join(details)
        return list(result["violations"])

    return check


@pytest.fixture
def snap() -> Any:
    def save(page: Any, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{re.sub(r'[^a-z0-9-]+', '-', name.lower()).strip('-')}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return save


# --- Steps shared by journeys ---------------------------------------------------------------------


def sign_in(
    page: Any, server: DemoServer, tenant: str, email: str, *, next_path: str | None = None, password: str | None = None
) -> None:
    """Sign in through the municipality's login page: staff also pass the code step (or set up an authenticator)."""
    query = f"?next={next_path}" if next_path else ""
    page.goto(server.url(f"/{tenant}/login{query}"))
    _password_then_code(page, server, email, password)


def sign_in_platform_admin(page: Any, server: DemoServer, *, next_path: str = "/admin/") -> None:
    """Sign in as the demo's platform admin at /admin/login (password, then the code)."""
    page.goto(server.url(f"/admin/login?next={next_path}"))
    _password_then_code(page, server, DEMO_PLATFORM_ADMIN, None)


def _password_then_code(page: Any, server: DemoServer, email: str, password: str | None) -> None:
    page.fill("#email", email)
    page.fill("#password", password or server.password)
    page.locator("main button[type=submit]").first.click()
    page.wait_for_load_state("networkidle")
    if "/account/two-factor" in page.url:  # no authenticator yet: set one up from the page's key
        page.locator("main form button[type=submit]").click()
        page.wait_for_load_state("networkidle")
        assert page.locator(".qr-code-figure svg").is_visible()
        server.totp_keys[email] = page.locator("code.secret").inner_text().strip()
        page.fill("#code", server.totp_code(email))
        page.locator("main form button[type=submit]").click()
    elif "/login/second-factor" in page.url:
        page.fill("#code", server.totp_code(email))
        page.locator("main form button[type=submit]").click()
    page.wait_for_load_state("networkidle")


def demo_email(tenant: str, who: str) -> str:
    return f"{who}@{tenant}.example.jp"
