"""Helpers for the infrastructure tests: the repository root, free ports, clean child environments, HCL."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import hcl2

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def environment_without_settings(**extra: str) -> dict[str, str]:
    """The current environment minus every MADOGUCHI_* and gunicorn variable, plus ``extra``."""
    ignored = ("MADOGUCHI_", "WEB_CONCURRENCY", "GUNICORN_CMD_ARGS", "FORWARDED_ALLOW_IPS", "PORT")
    env = {k: v for k, v in os.environ.items() if not k.startswith(ignored)}
    env.update(extra)
    return env


def _plain(value: Any) -> Any:
    """python-hcl2 keeps the quotes of labels and string literals; drop them for plain comparisons."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def parse_hcl(path: Path) -> dict[str, Any]:
    return _plain(hcl2.loads(path.read_text(encoding="utf-8")))


def hcl_blocks(path: Path, kind: str) -> dict[str, dict[str, Any]]:
    """Blocks of one kind in a .tf file: ``resource`` -> {"aws_lb.this": body}, ``module`` -> {"app": body}."""
    found: dict[str, dict[str, Any]] = {}
    for entry in parse_hcl(path).get(kind, []):
        for label, body in entry.items():
            if kind in ("resource", "data"):
                for name, inner in body.items():
                    found[f"{label}.{name}"] = inner
            else:
                found[label] = body
    return found
