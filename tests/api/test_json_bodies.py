"""Hostile JSON bodies (issue 12, point 10): 100,000 levels of nesting, a 5,000-digit integer, a body nested
just past what the decoder allows but deeper than any payload of ours, and plain broken JSON are answered
400 problem+json by every write operation of the API, before authentication, never 500."""

from __future__ import annotations

import uuid

import pytest
from flask import Flask
from flask.testing import FlaskClient

from madoguchi.api import API_PREFIX
from madoguchi.api.json_bodies import MAX_DEPTH, depth_of
from tests.oauth.conftest import HTTPS

HOSTILE_BODIES = {
    "nested 100,000 deep": '{"data": ' + "[" * 100_000 + "]" * 100_000 + "}",
    "a 5,000-digit integer": '{"copies": ' + "9" * 5000 + "}",
    "nested 500 deep": '{"data": ' + '{"a": ' * 500 + "1" + "}" * 500 + "}",
    "not JSON": '{"data": [1, 2,',
}


def _write_urls(app: Flask) -> list[tuple[str, str]]:
    """Every POST/PUT/PATCH rule of the API, its variables filled in (any tenant and id will do)."""
    urls = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(API_PREFIX):
            continue
        values = {
            name: "sakuragaoka-city" if name == "tenant" else uuid.uuid4() if "id" in name else "x"
            for name in rule.arguments
        }
        with app.test_request_context():
            path = app.url_for(rule.endpoint, **values)
        urls.extend((method, path) for method in sorted(rule.methods or ()) if method in ("POST", "PUT", "PATCH"))
    return urls


@pytest.mark.parametrize("body", HOSTILE_BODIES.values(), ids=HOSTILE_BODIES.keys())
def test_every_api_write_answers_a_hostile_json_body_with_400(app: Flask, client: FlaskClient, body: str) -> None:
    urls = _write_urls(app)
    assert len(urls) > 20  # the walk found the API
    answers = {}
    for method, path in urls:
        response = client.open(f"{HTTPS}{path}", method=method, data=body, content_type="application/json")
        answers[(method, path)] = (response.status_code, response.mimetype, (response.json or {}).get("errors"))
    wrong = {url: answer for url, answer in answers.items() if answer[:2] != (400, "application/problem+json")}
    assert not wrong, wrong
    assert all(answer[2] and "body" in answer[2] for answer in answers.values())


def test_ordinary_bodies_pass_and_depth_is_measured_without_recursion() -> None:
    assert depth_of({"data": {"household": [{"name": "髙橋 𠮷"}]}}) == 4
    assert depth_of(1) == 0
    deep: list = []
    node = deep
    for _ in range(200_000):
        node.append([])
        node = node[0]
    assert depth_of(deep) == 200_001 > MAX_DEPTH
