"""Access and error logs never carry a one-time link's token or an OAuth code (issue 12, point 2)."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from flask import request
from gunicorn.config import Config

from madoguchi.accesslog import (
    ENVIRON_KEY,
    REFERER_KEY,
    JsonAccessLogger,
    RedactingLogger,
    loggable_query,
    loggable_url,
)

#: Short enough that no "looks like a token" rule would catch it: only knowing the route does.
SHORT_TOKEN = "abc123"
LONG_TOKEN = "Q2hlY2tpbmctdGhhdC1hLXRva2VuLWlzLXJlZGFjdGVk_-x"


@pytest.mark.parametrize(
    "path",
    [
        f"/shiomi-town/verify-email/{SHORT_TOKEN}",
        f"/sakuragaoka-city/invitation/{SHORT_TOKEN}",
        f"/verify/{SHORT_TOKEN}",
    ],
)
def test_a_route_variable_named_token_is_redacted_whatever_its_length(app, path: str) -> None:
    client = app.test_client()
    with client:
        client.get(path, base_url="https://localhost")
        logged = request.environ[ENVIRON_KEY]
    assert SHORT_TOKEN not in logged and logged.endswith("/[redacted]")
    assert logged.rsplit("/", 2)[0] == path.rsplit("/", 2)[0]


def test_a_referer_naming_one_of_our_token_links_is_redacted_whatever_its_length(app) -> None:
    client = app.test_client()
    referer = f"https://madoguchi.example/shiomi-town/invitation/{SHORT_TOKEN}?state=s7&lang=en"
    with client:
        client.get("/shiomi-town/login", base_url="https://localhost", headers={"Referer": referer})
        logged = request.environ[REFERER_KEY]
    assert logged == "https://madoguchi.example/shiomi-town/invitation/[redacted]?state=[redacted]&lang=en"


def test_other_route_values_stay_readable(app) -> None:
    client = app.test_client()
    with client:
        client.get("/shiomi-town/login", base_url="https://localhost")
        assert request.environ[ENVIRON_KEY] == "/shiomi-town/login"


def test_secret_query_parameters_lose_their_values_and_keep_their_names() -> None:
    assert loggable_query("code=SplxlOBeZQ&state=af0ifjsldkj&lang=en") == ("code=[redacted]&state=[redacted]&lang=en")
    assert loggable_query("") == ""
    referer = f"https://madoguchi.example/shiomi-town/verify-email/{LONG_TOKEN}?token=t0k3n&page=2#frag"
    assert (
        loggable_url(referer) == "https://madoguchi.example/shiomi-town/verify-email/[redacted]?token=[redacted]&page=2"
    )


def _logged(logger_class: type, environ: dict[str, str], capsys: pytest.CaptureFixture[str]) -> str:
    config = Config()
    config.set("accesslog", "-")  # gunicorn's own handler, to stdout, as in production
    logger = logger_class(config)
    response = SimpleNamespace(status="200 OK", sent=12, headers=[])
    logger.access(response, environ, environ, timedelta(milliseconds=5))
    return capsys.readouterr().out


@pytest.mark.parametrize("logger_class", [RedactingLogger, JsonAccessLogger])
def test_the_access_log_line_carries_no_token_code_or_state(logger_class: type, capsys) -> None:
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": f"/shiomi-town/invitation/{SHORT_TOKEN}?code=oauth-code-1&state=state-2",
        "PATH_INFO": f"/shiomi-town/invitation/{SHORT_TOKEN}",
        ENVIRON_KEY: "/shiomi-town/invitation/[redacted]",
        "QUERY_STRING": "code=oauth-code-1&state=state-2",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_REFERER": f"https://madoguchi.example/shiomi-town/verify-email/{LONG_TOKEN}?token=t0k3n",
        "HTTP_USER_AGENT": "probe",
    }
    text = _logged(logger_class, environ, capsys)
    assert "/shiomi-town/invitation/[redacted]" in text
    for secret in (SHORT_TOKEN, LONG_TOKEN, "oauth-code-1", "state-2", "t0k3n"):
        assert secret not in text
