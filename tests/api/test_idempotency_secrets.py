"""No secret is ever stored with an Idempotency-Key (decision 0004): every POST that honours the header and
answers with a secret-like member declares it ``withheld_on_replay``, so the stored copy lacks it."""

from __future__ import annotations

import re
from typing import Any

SECRET_NAME = re.compile(r"secret|password|token", re.IGNORECASE)


def _resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = spec["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    for part in node.get("allOf", []):
        node = {**node, "properties": {**node.get("properties", {}), **_resolve(spec, part).get("properties", {})}}
    return node


def _secret_members(spec: dict[str, Any], operation: dict[str, Any]) -> set[str]:
    found: set[str] = set()
    for status, response in operation.get("responses", {}).items():
        if not status.startswith("2"):
            continue
        for media in response.get("content", {}).values():
            schema = _resolve(spec, media.get("schema", {}))
            found |= {name for name in schema.get("properties", {}) if SECRET_NAME.search(name)}
    return found


def _withheld(view: Any) -> set[str]:
    """The members a view declared with ``withheld_on_replay`` (looked up along its decorator chain)."""
    while view is not None:
        if hasattr(view, "idempotency_withheld"):
            return set(view.idempotency_withheld)
        view = getattr(view, "__wrapped__", None)
    return set()


def _post_view(app: Any, openapi_path: str) -> Any:
    rule_path = re.sub(r"\{(\w+)\}", r"<\1>", openapi_path)
    for rule in app.url_map.iter_rules():
        if re.sub(r"<(?:\w+:)?(\w+)>", r"<\1>", rule.rule).rstrip("/") == rule_path.rstrip("/") and "POST" in (
            rule.methods or ()
        ):
            view = app.view_functions[rule.endpoint]
            return getattr(view, "view_class", None).post if hasattr(view, "view_class") else view
    raise AssertionError(f"no POST rule for {openapi_path}")


def test_every_idempotent_post_answering_a_secret_withholds_it_from_replays(app) -> None:
    spec = app.test_client().get("/api/v1/openapi.json").json
    checked = []
    for path, operations in spec["paths"].items():
        operation = operations.get("post")
        if operation is None:
            continue
        honours_key = any(p.get("name") == "Idempotency-Key" for p in operation.get("parameters", []))
        secrets = _secret_members(spec, operation)
        if honours_key and secrets:
            checked.append(path)
            missing = secrets - _withheld(_post_view(app, path))
            assert not missing, f"POST {path} stores {sorted(missing)} with its Idempotency-Key: withhold them"
    assert any(path.endswith("/webhooks") for path in checked), checked  # the test sees the known case
