"""`madoguchi demo` as a new user runs it: seeded, served by gunicorn, stopped with Ctrl-C, data kept."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pyotp
import pytest
from click.testing import CliRunner

from madoguchi import create_app
from madoguchi.audit.keys import parse_keyring
from madoguchi.cli import main
from madoguchi.config import Settings
from madoguchi.context import database
from madoguchi.crypto import Sealer
from madoguchi.demo import DEMO_PASSWORD, demo_settings, seed, with_demo_secrets

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get_json(url: str):
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - our own loopback server
        return json.load(response)


def _start(data_dir: Path, port: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MADOGUCHI_")}
    return subprocess.Popen(
        [sys.executable, "-m", "madoguchi.cli", "demo", "--port", str(port), "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def _wait_until_up(process: subprocess.Popen[str], port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"demo exited early:\n{process.stdout.read() if process.stdout else ''}")
        try:
            if _get_json(f"http://127.0.0.1:{port}/healthz") == {"status": "ok"}:
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("demo did not answer /healthz within 60 s")


def _interrupt(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=30)
    return output


def test_demo_serves_the_seeded_platform_and_survives_a_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "instance"
    port = _free_port()
    process = _start(data_dir, port)
    try:
        _wait_until_up(process, port)
        base = f"http://127.0.0.1:{port}"
        slugs = [t["slug"] for t in _get_json(f"{base}/api/v1/tenants")]
        assert len(slugs) >= 2
        for slug in slugs:
            keys = {p["key"] for p in _get_json(f"{base}/api/v1/t/{slug}/procedures")}
            assert keys == {"residency-certificate", "tax-certificate", "childcare-admission"}
    finally:
        output = _interrupt(process)
    assert process.returncode == 0, output
    assert f"http://127.0.0.1:{port}/" in output and DEMO_PASSWORD in output
    assert "Traceback" not in output

    database = data_dir / "madoguchi.db"
    with sqlite3.connect(database) as conn:
        assert conn.execute("pragma journal_mode").fetchone()[0] == "wal"
        people_before = conn.execute("select count(*) from persons").fetchone()[0]
        # A change made while stopped (as a registry import would) must survive the next start.
        conn.execute(
            "update persons set given_name = '再起動' where resident_code = (select min(resident_code) from persons)"
        )
    assert people_before > 300

    port = _free_port()
    process = _start(data_dir, port)
    try:
        _wait_until_up(process, port)
        assert [t["slug"] for t in _get_json(f"http://127.0.0.1:{port}/api/v1/tenants")] == slugs
    finally:
        _interrupt(process)
    # Reseeding fills gaps only: the change is still there and nothing was duplicated.
    with sqlite3.connect(database) as conn:
        assert conn.execute("select count(*) from persons").fetchone()[0] == people_before
        assert conn.execute("select count(*) from persons where given_name = '再起動'").fetchone()[0] == 1


def test_seeding_twice_changes_nothing(tmp_path: Path) -> None:
    settings = demo_settings(tmp_path / "instance")
    first = seed(settings)
    with sqlite3.connect(settings.data_dir / "madoguchi.db") as conn:
        counts = [conn.execute(f"select count(*) from {t}").fetchone()[0] for t in ("persons", "accounts", "tenants")]
    second = seed(demo_settings(tmp_path / "instance"))
    with sqlite3.connect(settings.data_dir / "madoguchi.db") as conn:
        again = [conn.execute(f"select count(*) from {t}").fetchone()[0] for t in ("persons", "accounts", "tenants")]
    assert counts == again
    assert [a.email for a in first.accounts] == [a.email for a in second.accounts]
    # Staff and the platform admin have an authenticator set up, its key printed the same on every start.
    keys = {a.email: a.totp_secret for a in first.accounts}
    assert keys == {a.email: a.totp_secret for a in second.accounts}
    assert all(keys[a.email] for a in first.accounts if a.role.startswith(("clerk", "tenant_admin", "platform")))
    assert not any(keys[a.email] for a in first.accounts if a.role.startswith("resident"))


def test_a_newcomer_signs_in_as_the_demo_clerk_with_the_printed_key(tmp_path: Path) -> None:
    settings = demo_settings(tmp_path / "instance")
    result = CliRunner().invoke(main, ["demo", "--seed-only", "--data-dir", str(settings.data_dir)])
    assert result.exit_code == 0, result.output
    clerk = "clerk@shiomi-town.example.jp"
    key = re.search(rf"{re.escape(clerk)}\s.*TOTP key: ([A-Z2-7]+)", result.output).group(1)
    assert re.search(r"platform-admin@example\.jp\s.*TOTP key: [A-Z2-7]+", result.output)
    app = create_app(settings)
    try:
        client = app.test_client()
        body = {"email": clerk, "password": DEMO_PASSWORD}
        without = client.post("https://localhost/api/v1/t/shiomi-town/session", json=body)
        assert without.status_code == 401 and without.json["type"].endswith("second-factor-required")
        signed_in = client.post(
            "https://localhost/api/v1/t/shiomi-town/session", json={**body, "totp_code": pyotp.TOTP(key).now()}
        )
        assert signed_in.status_code == 201 and signed_in.json["second_factor"] == "done"
    finally:
        with app.app_context():
            database().dispose()


def test_the_demos_secrets_registry_files_and_database_are_private_to_its_user(tmp_path: Path) -> None:
    """Issue 12, point 10: demo registry files (names, addresses, Individual Numbers) and secrets are 0600 in
    0700 folders, also when an older demo left a world-readable data directory behind."""
    data_dir = tmp_path / "instance"
    (data_dir / "demo-data" / "shiomi-town").mkdir(parents=True, mode=0o755)
    os.chmod(data_dir, 0o755)  # noqa: S103 - as an older demo left it, on purpose
    env = {k: v for k, v in os.environ.items() if not k.startswith("MADOGUCHI_")}
    seeded = subprocess.run(
        [sys.executable, "-m", "madoguchi.cli", "demo", "--seed-only", "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert seeded.returncode == 0, seeded.stdout + seeded.stderr
    registry_files = list((data_dir / "demo-data").rglob("*.csv"))
    assert len(registry_files) >= 6 and (data_dir / "demo-secrets.json").is_file()
    for path in [data_dir, *data_dir.rglob("*")]:
        mode = path.stat().st_mode & 0o777
        assert mode == (0o700 if path.is_dir() else 0o600), f"{path.relative_to(tmp_path)} is {mode:o}"


def test_the_demo_makes_an_audit_key_once_and_adds_it_to_an_older_instance(tmp_path: Path) -> None:
    folder = tmp_path / "instance"
    folder.mkdir()
    older = {"secret_key": "kept", "data_key": Sealer.generate_key()}
    (folder / "demo-secrets.json").write_text(json.dumps(older))
    settings = demo_settings(folder)
    assert parse_keyring(settings.audit_key).current.key_id.startswith("audit-")
    assert (settings.secret_key, settings.data_key) == (older["secret_key"], older["data_key"])
    assert demo_settings(folder).audit_key == settings.audit_key
    assert (folder / "demo-secrets.json").stat().st_mode & 0o777 == 0o600


def test_commands_beside_a_demo_use_its_generated_secrets_but_never_in_production(tmp_path: Path) -> None:
    folder = tmp_path / "instance"
    made = demo_settings(folder)
    beside = with_demo_secrets(Settings(data_dir=folder))
    assert (beside.secret_key, beside.data_key, beside.audit_key) == (made.secret_key, made.data_key, made.audit_key)
    assert with_demo_secrets(Settings(data_dir=folder, audit_key="own:key")).audit_key == "own:key"
    production = with_demo_secrets(Settings(data_dir=folder, env="production"))
    assert (production.secret_key, production.data_key, production.audit_key) == ("", "", "")
    assert with_demo_secrets(Settings(data_dir=tmp_path / "elsewhere")).audit_key == ""


def test_a_command_that_must_write_an_audit_record_without_a_key_says_so_in_one_line(tmp_path: Path) -> None:
    """No demo secrets and no MADOGUCHI_AUDIT_KEY: one line naming the setting, not a traceback."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MADOGUCHI_")}
    env["MADOGUCHI_DATA_DIR"] = str(tmp_path)
    for argv in (["db", "upgrade"], ["tenants", "sync"]):
        done = subprocess.run(
            [sys.executable, "-m", "madoguchi.cli", *argv], env=env, capture_output=True, text=True, timeout=300
        )
        if done.returncode != 0:
            break
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        "Error: MADOGUCHI_AUDIT_KEY is not set: audit records cannot be written or verified"
    )
