"""Route access declarations, and the cross-origin guard of cookie-authenticated API writes.

Every view is either declared public with ``@public`` or goes through an authentication hook of its
blueprint (added with the identity issue). ``tests/test_architecture.py`` walks ``app.url_map`` and
fails for any route that is neither, so a forgotten decorator cannot silently expose data.

The API takes a session cookie as well as a bearer token, and has no CSRF token (it speaks JSON). A browser
would still send the cookie with a form another site posts to it (SameSite=Lax is the only other guard), so
``guard_cookie_writes`` refuses an unsafe request that carries the cookie and comes from another origin.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar
from urllib.parse import urlsplit

from flask import Flask, request

from madoguchi.errors import Forbidden

F = TypeVar("F", bound=Callable[..., object])

PUBLIC_ATTRIBUTE = "_madoguchi_public"
#: Set on a blueprint whose authentication hook was attached at registration (API and page guards alike).
AUTHENTICATED_ATTRIBUTE = "madoguchi_authenticated"


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


#: Methods that change nothing: never refused.
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
#: Bodies a plain HTML form may send anywhere and no API endpoint reads (multipart: uploads, which every
#: current browser sends with Origin).
_FORM_CONTENT_TYPES = frozenset({"application/x-www-form-urlencoded", "text/plain"})


class CrossOriginRefused(Forbidden):
    slug, title = "cross-origin-refused", "Cross-origin request refused"


def _same_origin(origin: str) -> bool:
    parts = urlsplit(origin)
    return parts.scheme == request.scheme and parts.netloc.lower() == request.host.lower()


def cross_origin_problem() -> str | None:
    """Why this request may not use the session cookie to write, or None.

    Fetch metadata (``Sec-Fetch-Site``) first, then ``Origin`` (``null`` included); a browser that sends
    neither may still not post a form body with the cookie. Non-browser clients send no such headers and
    JSON bodies: unaffected.
    """
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site not in ("same-origin", "none"):
        return f"Sec-Fetch-Site is {site}"
    origin = request.headers.get("Origin")
    if origin is not None and not _same_origin(origin):
        return "the Origin is another site"
    if site is None and origin is None and request.mimetype in _FORM_CONTENT_TYPES:
        return "a form body without Origin"
    return None


def guard_cookie_writes(app: Flask, *, prefix: str, cookie_name: str) -> None:
    """Refuse (403 problem) unsafe requests under ``prefix`` that carry ``cookie_name``, no bearer token, and
    come from another origin; nothing is read or written before the refusal."""

    @app.before_request
    def _refuse_cross_origin() -> None:
        if request.method in _SAFE_METHODS or not request.path.startswith(prefix + "/"):
            return
        if cookie_name not in request.cookies or request.headers.get("Authorization"):
            return
        reason = cross_origin_problem()
        if reason is not None:
            raise CrossOriginRefused(
                f"A signed-in browser may change data through the API only from this site ({reason})."
            )
