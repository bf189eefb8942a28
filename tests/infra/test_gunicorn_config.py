"""infra/gunicorn.conf.py: settings from the environment, and a real gunicorn serving with it."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.infra.helpers import REPO, environment_without_settings, free_port, hcl_blocks

CONFIG = REPO / "infra" / "gunicorn.conf.py"
GUNICORN_ENV = (
    "MADOGUCHI_BIND",
    "PORT",
    "MADOGUCHI_WEB_CONCURRENCY",
    "WEB_CONCURRENCY",
    "MADOGUCHI_WEB_THREADS",
    "MADOGUCHI_FORWARDED_ALLOW_IPS",
    "FORWARDED_ALLOW_IPS",
    "MADOGUCHI_WEB_TIMEOUT",
    "MADOGUCHI_WEB_GRACEFUL_TIMEOUT",
    "MADOGUCHI_WEB_KEEPALIVE",
    "MADOGUCHI_WEB_MAX_REQUESTS",
    "MADOGUCHI_WEB_MAX_REQUESTS_JITTER",
)


def load_config(monkeypatch: pytest.MonkeyPatch, **env: str) -> dict[str, Any]:
    import runpy

    for name in GUNICORN_ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(CONFIG))


def test_defaults_scale_workers_with_the_cpus_this_process_may_use(monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_config(monkeypatch)
    assert config["workers"] == len(os.sched_getaffinity(0)) + 1
    assert config["bind"] == "0.0.0.0:8000"
    assert config["forwarded_allow_ips"] == "127.0.0.1"
    assert config["worker_class"] == "gthread" and config["threads"] == 4
    assert config["preload_app"] is False
    assert (config["timeout"], config["graceful_timeout"], config["keepalive"]) == (30, 25, 75)
    assert (config["max_requests"], config["max_requests_jitter"]) == (10000, 1000)
    assert config["accesslog"] == "-" and config["errorlog"] == "-"


def test_environment_overrides_every_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_config(
        monkeypatch,
        MADOGUCHI_BIND="127.0.0.1:9001",
        MADOGUCHI_WEB_CONCURRENCY="7",
        MADOGUCHI_WEB_THREADS="2",
        MADOGUCHI_FORWARDED_ALLOW_IPS="10.40.0.0/16",
        MADOGUCHI_WEB_TIMEOUT="60",
        MADOGUCHI_WEB_GRACEFUL_TIMEOUT="20",
        MADOGUCHI_WEB_KEEPALIVE="90",
        MADOGUCHI_WEB_MAX_REQUESTS="500",
        MADOGUCHI_WEB_MAX_REQUESTS_JITTER="50",
    )
    assert config["bind"] == "127.0.0.1:9001"
    assert (config["workers"], config["threads"]) == (7, 2)
    assert config["forwarded_allow_ips"] == "10.40.0.0/16"
    assert (config["timeout"], config["graceful_timeout"], config["keepalive"]) == (60, 20, 90)
    assert (config["max_requests"], config["max_requests_jitter"]) == (500, 50)


def test_gunicorns_own_variables_are_the_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_config(monkeypatch, WEB_CONCURRENCY="3", PORT="5000", FORWARDED_ALLOW_IPS="10.0.0.5")
    assert (config["workers"], config["bind"], config["forwarded_allow_ips"]) == (3, "0.0.0.0:5000", "10.0.0.5")

    config = load_config(monkeypatch, WEB_CONCURRENCY="3", MADOGUCHI_WEB_CONCURRENCY="5")
    assert config["workers"] == 5


def test_a_negative_or_garbled_number_is_refused_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="MADOGUCHI_WEB_TIMEOUT"):
        load_config(monkeypatch, MADOGUCHI_WEB_TIMEOUT="-1")
    with pytest.raises(ValueError):
        load_config(monkeypatch, MADOGUCHI_WEB_CONCURRENCY="many")


def test_the_config_is_valid_for_gunicorn_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    from gunicorn.config import Config

    cfg = Config()
    for name, value in load_config(monkeypatch, MADOGUCHI_WEB_CONCURRENCY="2").items():
        if name in cfg.settings:
            cfg.set(name, value)  # gunicorn validates each value
    assert cfg.workers == 2
    assert cfg.max_requests_jitter == 1000
    assert cfg.logger_class.__name__ == "JsonAccessLogger"


def test_timeouts_fit_the_load_balancer_and_ecs(monkeypatch: pytest.MonkeyPatch) -> None:
    """keepalive above the ALB's idle timeout (else 502s); graceful_timeout below ECS's stopTimeout."""
    config = load_config(monkeypatch)
    load_balancer = hcl_blocks(REPO / "terraform/modules/app/alb.tf", "resource")["aws_lb.this"]
    assert config["keepalive"] > load_balancer["idle_timeout"]
    ecs = (REPO / "terraform/modules/app/ecs.tf").read_text(encoding="utf-8")
    web_container = ecs[ecs.index('resource "aws_ecs_task_definition" "web"') :]
    stop_timeout = int(re.search(r"stopTimeout\s*=\s*(\d+)", web_container).group(1))
    assert config["graceful_timeout"] < stop_timeout


def test_token_like_path_segments_are_redacted_but_ids_are_not(monkeypatch: pytest.MonkeyPatch) -> None:
    loggable_path = load_config(monkeypatch)["loggable_path"]
    token = "Q2hlY2tpbmctdGhhdC1hLXRva2VuLWlzLXJlZGFjdGVk_-x"
    assert loggable_path(f"/shiomi-town/verify-email/{token}") == "/shiomi-town/verify-email/[redacted]"
    application = "/api/v1/t/shiomi-town/applications/0f6c4e0e-4b0c-4d0a-9a51-2f7c5d3f9b11"
    assert loggable_path(application) == application
    assert loggable_path("/") == "/"


# -- a real gunicorn ------------------------------------------------------------------------------------------------


def _get(url: str, **headers: str) -> int:
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - our own loopback server
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def _wait_for_health(process: subprocess.Popen[str], base: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"gunicorn exited early:\n{process.stdout.read() if process.stdout else ''}")
        try:
            if _get(f"{base}/healthz") == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("gunicorn did not answer /healthz within 60 s")


@pytest.mark.slow
def test_gunicorn_serves_with_the_config_and_logs_json(migrated_data_dir: Path) -> None:
    port = free_port()
    env = environment_without_settings(
        MADOGUCHI_DATA_DIR=str(migrated_data_dir),
        MADOGUCHI_BIND=f"127.0.0.1:{port}",
        MADOGUCHI_WEB_CONCURRENCY="2",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", str(CONFIG), "madoguchi:create_app()"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=migrated_data_dir,
    )
    base = f"http://127.0.0.1:{port}"
    token = "Q2hlY2tpbmctdGhhdC1hLXRva2VuLWlzLXJlZGFjdGVk_-x"
    try:
        _wait_for_health(process, base)
        awkward_agent = 'probe "quoted" \\ back\\slash'
        assert _get(f"{base}/healthz", **{"User-Agent": awkward_agent, "X-Forwarded-For": "203.0.113.7"}) == 200
        assert _get(f"{base}/no-such-town/verify-email/{token}?next=secret-in-query") == 404
        # A page reached from an emailed link names the link in its Referer; an OAuth redirect carries a code.
        assert _get(f"{base}/healthz", Referer=f"{base}/shiomi-town/invitation/{token}?code=oauth-code") == 200
        assert _get(f"{base}/no-such-town/verify-email/short1?code=oauth-code&state=oauth-state") == 404
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=40)
    assert process.returncode == 0, output

    access_lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    health = [entry for entry in access_lines if entry["user_agent"] == awkward_agent]
    assert len(health) == 1, output
    assert health[0]["path"] == "/healthz" and health[0]["status"] == 200 and health[0]["method"] == "GET"
    assert health[0]["forwarded_for"] == "203.0.113.7"
    assert isinstance(health[0]["duration_ms"], float)
    missing, routed = [entry for entry in access_lines if entry["status"] == 404]
    assert missing["path"] == "/no-such-town/verify-email/[redacted]"
    # A short token is not "token-like": the route (<token>) is what says it is one.
    assert routed["path"] == "/no-such-town/verify-email/[redacted]"
    assert token not in output and "secret-in-query" not in output
    assert "oauth-code" not in output and "oauth-state" not in output and "short1" not in output
    referred = [entry for entry in access_lines if entry["referer"]]
    assert referred[0]["referer"] == f"{base}/shiomi-town/invitation/[redacted]?code=[redacted]"
    assert "Booting worker" in output and "Traceback" not in output
