"""Access logs without credentials: one-time links and OAuth codes never reach a log line.

Links in emails carry their token in the path (``/<tenant>/verify-email/<token>``, ``/<tenant>/invitation/<token>``,
``/verify/<token>``) and OAuth redirects carry ``code`` and ``state`` in the query. A log is kept far longer and
read by far more people than the token is meant for, so:

* **Route variables.** The app marks, for every request it routes, the path with the value of each route
  variable named in ``SECRET_ROUTE_VARIABLES`` replaced by ``[redacted]`` (``install``); a new route with a
  ``<token>`` is covered without further work.
* **Anything else** (a path no route matched, a referer): every segment that looks like a token (32 or more
  URL-safe characters that are not a UUID) is redacted.
* **Query strings** keep their parameter names; the values of ``SECRET_QUERY_PARAMETERS`` are redacted.

gunicorn's loggers here apply this to every atom that can carry a URL: ``JsonAccessLogger`` for production
(infra/gunicorn.conf.py) and ``RedactingLogger`` (gunicorn's usual line format) for ``madoguchi demo``. The app's
own error log uses ``loggable_request_path``.
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from flask import Flask, request
from gunicorn import glogging

REDACTED = "[redacted]"
#: Route variables whose value grants access: their path segment never reaches a log.
SECRET_ROUTE_VARIABLES = frozenset({"token", "code"})
#: Query parameters whose value grants access (OAuth codes and tokens, their state, one-time tokens).
SECRET_QUERY_PARAMETERS = frozenset(
    {"code", "token", "state", "access_token", "refresh_token", "id_token", "client_secret", "code_verifier"}
)
#: Where ``install`` leaves the redacted path of a routed request in the WSGI environ, for the access log.
ENVIRON_KEY = "madoguchi.loggable_path"
REFERER_KEY = "madoguchi.loggable_referer"

# A path segment that looks like a one-time token (secrets.token_urlsafe(32) is 43 characters), not a UUID.
_TOKEN_LIKE_SEGMENT = re.compile(
    r"(?![0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$)[A-Za-z0-9_-]{32,}"
)


def loggable_path(path: str) -> str:
    """``path`` with token-like segments replaced by ``[redacted]``."""
    return "/".join(REDACTED if _TOKEN_LIKE_SEGMENT.fullmatch(segment) else segment for segment in path.split("/"))


def loggable_query(query: str) -> str:
    """``query`` with the values of secret parameters replaced by ``[redacted]`` (names and order kept)."""
    if not query:
        return ""
    pairs = parse_qsl(query, keep_blank_values=True)
    return urlencode(
        [(name, REDACTED if name.lower() in SECRET_QUERY_PARAMETERS else value) for name, value in pairs], safe="[]"
    )


def loggable_url(url: str) -> str:
    """A full or relative URL (a referer, a request URI) with its path and query redacted as above."""
    if not url or url == "-":
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return REDACTED
    return urlunsplit(parts._replace(path=loggable_path(parts.path), query=loggable_query(parts.query), fragment=""))


def _without_secret_values(path: str, view_args: dict[str, Any]) -> str:
    secrets = {str(value) for name, value in view_args.items() if name in SECRET_ROUTE_VARIABLES}
    return loggable_path("/".join(REDACTED if segment in secrets else segment for segment in path.split("/")))


def _loggable_referer(app: Flask, referer: str) -> str:
    """The referer with secret route values redacted when its path is one of ours (a page reached from an
    emailed link names that link), and as ``loggable_url`` otherwise."""
    try:
        parts = urlsplit(referer)
        _endpoint, view_args = app.url_map.bind("localhost").match(parts.path, method="GET")
    except Exception:  # not one of our paths (or a redirect): the generic rules apply
        return loggable_url(referer)
    path = _without_secret_values(parts.path, dict(view_args))
    return loggable_url(urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment)))


def install(app: Flask) -> None:
    """Have every routed request leave its loggable path and referer in the WSGI environ (``ENVIRON_KEY``,
    ``REFERER_KEY``), for the access log."""

    @app.url_value_preprocessor
    def _remember_loggable_path(_endpoint: str | None, _values: dict[str, Any] | None) -> None:
        if request.url_rule is not None:
            request.environ[ENVIRON_KEY] = _without_secret_values(request.path, request.view_args or {})
        referer = request.environ.get("HTTP_REFERER")
        if referer:
            request.environ[REFERER_KEY] = _loggable_referer(app, referer)


def loggable_request_path() -> str:
    """The current request's path, fit for a log line (the app's own logs)."""
    return request.environ.get(ENVIRON_KEY) or loggable_path(request.path)


def _environ_path(environ: dict[str, Any]) -> str:
    return environ.get(ENVIRON_KEY) or loggable_path(environ.get("PATH_INFO") or "")


class RedactingLogger(glogging.Logger):
    """gunicorn's logger with every URL-bearing atom redacted (request line, path, query, referer)."""

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> dict[str, Any]:
        atoms = super().atoms(resp, req, environ, request_time)
        path, query = _environ_path(environ), loggable_query(environ.get("QUERY_STRING") or "")
        uri = path + (f"?{query}" if query else "")
        atoms["r"] = f"{environ.get('REQUEST_METHOD')} {uri} {environ.get('SERVER_PROTOCOL')}"
        atoms["U"], atoms["q"] = path, query
        referer = environ.get(REFERER_KEY) or loggable_url(atoms.get("f") or "-")
        atoms["f"] = referer
        for key in ("{referer}i", "{http_referer}e"):
            if key in atoms:
                atoms[key] = referer
        for key in ("{raw_uri}e", "{request_uri}e"):
            if key in atoms:
                atoms[key] = uri
        if "{path_info}e" in atoms:
            atoms["{path_info}e"] = path
        if "{query_string}e" in atoms:
            atoms["{query_string}e"] = query
        return atoms


class JsonAccessLogger(RedactingLogger):
    """One JSON object per access log line (CloudWatch Logs Insights and friends), redacted as above.

    Built with ``json.dumps`` rather than a JSON-looking ``access_log_format``: a quote or backslash in a
    user agent would break a template, never this.
    """

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        if not self.access_log_enabled:
            return
        atoms = self.atoms(resp, req, environ, request_time)
        entry = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "remote_addr": atoms["h"],
            "forwarded_for": environ.get("HTTP_X_FORWARDED_FOR"),
            "method": atoms["m"],
            # The path only: a query string may carry search terms and the like, so it is left out altogether.
            "path": atoms["U"],
            "protocol": atoms["H"],
            "status": int(atoms["s"]) if str(atoms["s"]).isdigit() else atoms["s"],
            "bytes": atoms["B"],
            "duration_ms": round(request_time.total_seconds() * 1000, 3),
            "referer": None if atoms["f"] == "-" else atoms["f"],
            "user_agent": None if atoms["a"] == "-" else atoms["a"],
            "request_id": environ.get("HTTP_X_AMZN_TRACE_ID") or environ.get("HTTP_X_REQUEST_ID"),
            "pid": os.getpid(),
        }
        try:
            self.access_log.info("%s", json.dumps(entry, ensure_ascii=False, default=str))
        except Exception:
            self.exception("could not write the access log line")
