"""Route access declarations.

Every view is either declared public with ``@public`` or goes through an authentication hook of its
blueprint (added with the identity issue). ``tests/test_architecture.py`` walks ``app.url_map`` and
fails for any route that is neither, so a forgotten decorator cannot silently expose data.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask import Flask

F = TypeVar("F", bound=Callable[..., object])

PUBLIC_ATTRIBUTE = "_madoguchi_public"


def public(view: F) -> F:
    """Mark a view (function or MethodView class) as intentionally reachable without credentials."""
    setattr(view, PUBLIC_ATTRIBUTE, True)
    return view


_PUBLIC_ENDPOINTS = "madoguchi.public_endpoints"


def mark_public_endpoint(app: Flask, endpoint: str) -> None:
    """Declare a route of a third-party blueprint public (its view may be a bound method we can't tag)."""
    app.extensions.setdefault(_PUBLIC_ENDPOINTS, set()).add(endpoint)


def is_public_endpoint(app: Flask, endpoint: str) -> bool:
    return endpoint in app.extensions.get(_PUBLIC_ENDPOINTS, set()) or is_public(app.view_functions[endpoint])


def is_public(view: object) -> bool:
    if getattr(view, PUBLIC_ATTRIBUTE, False):
        return True
    view_class = getattr(view, "view_class", None)
    return bool(view_class and getattr(view_class, PUBLIC_ATTRIBUTE, False))
