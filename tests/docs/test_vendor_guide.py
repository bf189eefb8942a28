"""docs/vendor-guide.md, followed as a vendor would: against `madoguchi demo`, with the guide's own commands.

Registers the app with the guide's CLI command, runs the guide's runnable example (letting it play the
resident), and checks as the demo's clerk that the application is in the queue. The demo and the example's
callback listener run on free ports, given the way the guide says (VENDOR_BASE_URL, VENDOR_CALLBACK_PORT),
so nothing depends on 8000 or 8765 being free.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pyotp
import pytest

from tests.cli.test_demo import _free_port, _interrupt, _start, _wait_until_up

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
TENANT = "shiomi-town"


def _run(args: list[str], cwd: Path, extra_env: dict[str, str] | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MADOGUCHI_", "VENDOR_"))} | (extra_env or {})
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_the_vendor_guide_works_against_the_demo(tmp_path: Path) -> None:
    port = _free_port()
    # The logins the demo prints, with the clerk's authenticator key (staff pass a second factor).
    logins = _run([sys.executable, "-m", "madoguchi.cli", "demo", "--seed-only", "--data-dir", "instance"], tmp_path)
    clerk_key = re.search(rf"clerk@{TENANT}\.example\.jp\s.*TOTP key: ([A-Z2-7]+)", logins).group(1)
    demo = _start(tmp_path / "instance", port)
    try:
        _wait_until_up(demo, port)
        guide = (REPO / "docs" / "vendor-guide.md").read_text(encoding="utf-8")
        assert "madoguchi oauth create-client --tenant shiomi-town" in guide
        assert '--redirect-uri "http://127.0.0.1:$VENDOR_CALLBACK_PORT/callback"' in guide
        assert '--base-url "$VENDOR_BASE_URL" --callback-port "$VENDOR_CALLBACK_PORT"' in guide
        callback_port = _free_port()
        registered = _run(
            [
                sys.executable,
                "-m",
                "madoguchi.cli",
                "oauth",
                "create-client",
                "--tenant",
                TENANT,
                "--name",
                "Kurashi Navi",
                "--redirect-uri",
                f"http://127.0.0.1:{callback_port}/callback",
                "--grant",
                "authorization_code",
                "--grant",
                "refresh_token",
                "--grant",
                "client_credentials",
                "--json",
            ],
            cwd=tmp_path,
        )
        client = json.loads(registered)
        out = _run(
            [
                sys.executable,
                str(REPO / "docs" / "examples" / "vendor_quickstart.py"),
                "--tenant",
                TENANT,
                "--client-id",
                client["client_id"],
                "--client-secret",
                client["client_secret"],
                "--consent-as",
                f"resident@{TENANT}.example.jp:madoguchi-demo",
            ],
            cwd=tmp_path,
            extra_env={"VENDOR_BASE_URL": f"http://127.0.0.1:{port}", "VENDOR_CALLBACK_PORT": str(callback_port)},
        )
        assert f"-> http://127.0.0.1:{callback_port}/webhook" in out
        assert "the resident consented" in out
        reference = re.search(r"webhook verified: application.submitted for (\S+)", out).group(1)

        login = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/t/{TENANT}/session",
            method="POST",
            data=json.dumps(
                {
                    "email": f"clerk@{TENANT}.example.jp",
                    "password": "madoguchi-demo",
                    "totp_code": pyotp.TOTP(clerk_key).now(),
                }
            ).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(login, timeout=10) as response:  # noqa: S310 - loopback demo
            cookie = response.headers["Set-Cookie"].split(";", 1)[0]
        queue = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/t/{TENANT}/applications/?state=submitted", headers={"Cookie": cookie}
        )
        with urllib.request.urlopen(queue, timeout=10) as response:  # noqa: S310
            items = json.load(response)["items"]
        assert [(a["reference"], a["channel"]) for a in items] == [(reference, "api")]
    finally:
        _interrupt(demo)
