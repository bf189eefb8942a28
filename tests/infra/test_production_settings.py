"""Production refuses to start on settings that fail open or fail late (issue 12, point 7).

With ``MADOGUCHI_ENV=production`` (the container image's default), gunicorn with infra/gunicorn.conf.py, the app
factory and ``madoguchi worker`` stop at once with one line naming what is missing: the secret key (else each
process makes its own), the data key, a shared rate-limit store (memory:// counts per process) and a signing key
source other than ``generated`` (which would mint a CA on a read-only root filesystem). With them, they start.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from madoguchi import create_app
from madoguchi.config import ConfigurationError, Settings
from tests.infra.helpers import REPO, environment_without_settings, free_port

CONFIG = REPO / "infra" / "gunicorn.conf.py"
#: Every production setting, as the ECS task definition provides them (the store is never contacted at start).
PRODUCTION = {
    "MADOGUCHI_ENV": "production",
    "MADOGUCHI_SECRET_KEY": "s" * 64,
    "MADOGUCHI_DATA_KEY": "7hYl5m3yQ2bUSvWvH4pRrY8nX0gk9cJm6dPqT1aZ-eE=",
    "MADOGUCHI_AUDIT_KEY": "audit-1:" + "a" * 43,
    "MADOGUCHI_RATELIMIT_STORAGE_URL": "rediss://:token@127.0.0.1:6379/0",
    "MADOGUCHI_SIGNING_KEY_SOURCE": "kms",
}
#: The name each missing setting is reported by, and what the environment has when it is missing.
MISSING = {
    "MADOGUCHI_SECRET_KEY": None,
    "MADOGUCHI_DATA_KEY": None,
    "MADOGUCHI_AUDIT_KEY": None,
    "MADOGUCHI_RATELIMIT_STORAGE_URL": "memory://",
    "MADOGUCHI_SIGNING_KEY_SOURCE": "generated",
}


def _without(name: str) -> dict[str, str]:
    env = dict(PRODUCTION)
    if MISSING[name] is None:
        del env[name]
    else:
        env[name] = MISSING[name]
    return env


def _settings(env: dict[str, str]) -> Settings:
    fields = {name.removeprefix("MADOGUCHI_").lower(): value for name, value in env.items()}
    return Settings(**fields)


@pytest.mark.parametrize("name", MISSING)
def test_each_missing_setting_is_named_in_one_line(name: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        _settings(_without(name)).check_production()
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith("madoguchi refuses to start in production: ")
    assert [other for other in MISSING if other in message] == [name]


def test_all_missing_settings_are_named_together() -> None:
    problems = Settings(env="production").production_problems()
    assert [next(n for n in MISSING if n in p) for p in problems] == list(MISSING)


def test_development_keeps_the_embedded_defaults_and_an_unknown_environment_is_refused() -> None:
    assert Settings().production_problems() == []
    assert _settings(PRODUCTION).production_problems() == []
    with pytest.raises(ConfigurationError, match="MADOGUCHI_ENV is 'prod', not development or production"):
        Settings(env="prod").check_production()


def test_the_app_factory_refuses_before_it_builds_anything(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="MADOGUCHI_SECRET_KEY"):
        create_app(_settings({**_without("MADOGUCHI_SECRET_KEY"), "MADOGUCHI_DATA_DIR": str(tmp_path)}))
    assert list(tmp_path.iterdir()) == []  # no database, no generated key or CA


# -- the real entry points ------------------------------------------------------------------------------------------


def _gunicorn(env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", str(CONFIG), "madoguchi:create_app()"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=cwd,
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", [*MISSING, "all"])
def test_gunicorn_in_production_without_a_setting_exits_with_one_line(name: str, tmp_path: Path) -> None:
    given = {"MADOGUCHI_ENV": "production"} if name == "all" else _without(name)
    env = environment_without_settings(
        **given, MADOGUCHI_DATA_DIR=str(tmp_path), MADOGUCHI_BIND=f"127.0.0.1:{free_port()}"
    )
    started = time.monotonic()
    process = _gunicorn(env, tmp_path)
    output, _ = process.communicate(timeout=60)
    assert process.returncode != 0
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    named = [other for other in MISSING if other in lines[0]]
    assert named == (list(MISSING) if name == "all" else [name])
    assert time.monotonic() - started < 30
    assert list(tmp_path.iterdir()) == []  # no worker booted: nothing was created


@pytest.mark.slow
def test_gunicorn_in_production_with_every_setting_starts_and_answers(migrated_data_dir: Path) -> None:
    port = free_port()
    env = environment_without_settings(
        **PRODUCTION,
        MADOGUCHI_DATA_DIR=str(migrated_data_dir),
        MADOGUCHI_BIND=f"127.0.0.1:{port}",
        MADOGUCHI_WEB_CONCURRENCY="1",
    )
    process = _gunicorn(env, migrated_data_dir)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise AssertionError(f"gunicorn exited:\n{process.stdout.read() if process.stdout else ''}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
                    assert response.status == 200
                    break
            except OSError:
                assert time.monotonic() < deadline, "gunicorn did not answer /healthz within 60 s"
                time.sleep(0.2)
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=40)
    assert process.returncode == 0, output
    assert "Booting worker" in output and "refuses" not in output and "Traceback" not in output


def _worker(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "madoguchi.cli", "worker"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", MISSING)
def test_worker_in_production_without_a_setting_exits_with_one_line(name: str, migrated_data_dir: Path) -> None:
    process = _worker(environment_without_settings(**_without(name), MADOGUCHI_DATA_DIR=str(migrated_data_dir)))
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 1
    (line,) = output.strip().splitlines()
    assert line.startswith("Error: madoguchi refuses to start in production: ")
    assert [other for other in MISSING if other in line] == [name]


@pytest.mark.slow
def test_worker_in_production_with_every_setting_starts(migrated_data_dir: Path) -> None:
    env = environment_without_settings(
        **PRODUCTION, MADOGUCHI_DATA_DIR=str(migrated_data_dir), MADOGUCHI_WORKER_POLL_SECONDS="300"
    )
    process = _worker(env)
    output = ""
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 30
        while "outbox worker started" not in output:
            line = process.stdout.readline()
            if not line or time.monotonic() > deadline:
                raise AssertionError(f"the worker did not start:\n{output}")
            output += line
    finally:
        process.send_signal(signal.SIGTERM)
        rest, _ = process.communicate(timeout=15)
    assert process.returncode == 0, output + rest
