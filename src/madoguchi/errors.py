"""Domain errors and the one place that turns any error into ``application/problem+json`` (RFC 9457).

Operations raise a ``DomainError``; views never build error responses themselves. HTTP errors raised by
Flask/werkzeug (404 for an unknown URL, 405 with its ``Allow`` header) and flask-smorest's argument
validation errors come out in the same shape. Anything unexpected is logged with its traceback and
answered with a plain 500 problem: never a stack trace to the user.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import psycopg
from flask import Flask, Response, current_app, json, request
from sqlalchemy import exc as sa_exc
from werkzeug.exceptions import HTTPException

from madoguchi.accesslog import loggable_request_path

log = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"
_TYPE_PREFIX = "urn:madoguchi:problem:"


class DomainError(Exception):
    """A rule of the domain said no. Subclasses fix the status and a stable problem type."""

    status = 400
    slug = "bad-request"
    title = "Bad request"

    def __init__(self, detail: str | None = None, *, errors: dict[str, Any] | None = None, **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.errors = errors
        self.extra = extra


class NotFound(DomainError):
    status, slug, title = 404, "not-found", "Not found"


class Forbidden(DomainError):
    status, slug, title = 403, "forbidden", "Forbidden"


class SeparationOfDuties(Forbidden):
    """Four eyes: the actor's role allows the transition, but they took the step it must be separate from."""

    slug, title = "separation-of-duties", "The staff member who recommended cannot approve"


class IdentityAssuranceRequired(Forbidden):
    """The procedure (or what was asked of it) needs a higher identity assurance than the account has. The problem
    names the level needed (``required_identity_assurance``), the account's own (``identity_assurance``) and the
    ways to get there (``ways``: ``card``, ``letter``, ``counter``, ``email``). Decision 0048."""

    slug, title = "identity-assurance-required", "This needs a higher identity assurance"


class TenantSuspended(Forbidden):
    slug, title = "tenant-suspended", "This municipality's service is suspended"


class Conflict(DomainError):
    status, slug, title = 409, "conflict", "Conflict"


class PaymentRequired(Conflict):
    """The fee is not settled yet: nothing is issued until it is paid, exempt or recorded (payments)."""

    slug, title = "payment-required", "The fee must be paid before this step"


class InvalidTransition(Conflict):
    slug, title = "invalid-transition", "This action is not possible in the application's current state"


class ValidationFailed(DomainError):
    status, slug, title = 422, "validation-failed", "The data is not valid"


class PreconditionFailed(DomainError):
    status, slug, title = 412, "precondition-failed", "The resource has changed since it was read"


class ServiceUnavailable(DomainError):
    """Something the request needs (the database, the document store, a scanner) is unavailable for now:
    nothing was changed, and the same request may be sent again after ``Retry-After`` seconds."""

    status, slug, title = 503, "service-unavailable", "A service needed for this request is unavailable"
    retry_after = 2


def is_database_unavailable(error: BaseException) -> bool:
    """Whether ``error`` means the database cannot serve right now (down, restarting, connection lost, pool
    exhausted, a statement or lock wait over its limit) rather than a bug: answered 503, not 500.

    The whole chain of causes is looked at: a connection lost mid-request often surfaces later as another
    error (the session's ``PendingRollbackError``, or an error raised while handling the first)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _means_database_unavailable(current):
            return True
        # Python's own rule for what led to an error: its cause, else its context unless ``from None`` hid it.
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return False


def _means_database_unavailable(error: BaseException) -> bool:
    if isinstance(error, sa_exc.TimeoutError):  # no pooled connection free within db_pool_timeout_seconds
        return True
    if isinstance(error, sa_exc.PendingRollbackError):  # the transaction died with its connection
        return True
    if isinstance(error, sa_exc.DBAPIError):
        # OperationalError covers a refused or lost connection, an administrator shutdown, PostgreSQL's
        # query_canceled (statement_timeout) and lock_not_available (lock_timeout), SQLite's "database is
        # locked"; InterfaceError a connection the driver already knows is closed.
        return error.connection_invalidated or isinstance(error, (sa_exc.OperationalError, sa_exc.InterfaceError))
    # The driver's own errors, where code talks to psycopg directly (backups, the idempotency release).
    return isinstance(error, (psycopg.OperationalError, psycopg.InterfaceError))


def problem_response(
    status: int,
    *,
    slug: str | None = None,
    title: str,
    detail: str | None = None,
    errors: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    body: dict[str, Any] = {
        # about:blank is RFC 9457's type for "nothing more than the HTTP status says".
        "type": f"{_TYPE_PREFIX}{slug}" if slug else "about:blank",
        "title": title,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = errors
    body.update(extra)
    body["instance"] = request.path
    response = Response(json.dumps(body, ensure_ascii=False), status=status, mimetype=PROBLEM_CONTENT_TYPE)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


#: ``app.extensions`` key of the HTML error page renderer: ``(status) -> Response | None`` (None: answer
#: problem+json). The web toolkit registers it (``madoguchi.web.error_pages``), so this foundation module never
#: imports the pages above it (docs/decisions/0016-layers.md).
HTML_ERROR_PAGE = "madoguchi.html_error_page"

HtmlErrorPage = Callable[[int], "Response | None"]


def register_html_error_page(app: Flask, render: HtmlErrorPage) -> None:
    """Let ``render`` answer browsers with an HTML page instead of problem+json (it returns None otherwise)."""
    app.extensions[HTML_ERROR_PAGE] = render


def _html_page(status: int) -> Response | None:
    """Browsers asking for a page get an HTML error page (when the web toolkit registered one), not a problem."""
    render: HtmlErrorPage | None = current_app.extensions.get(HTML_ERROR_PAGE)
    return render(status) if render is not None else None


def _from_domain_error(error: DomainError) -> Response:
    retry_after = getattr(error, "retry_after", None)
    headers = {"Retry-After": str(retry_after)} if retry_after else {}
    headers.update(getattr(error, "headers", None) or {})  # e.g. Retry-After of a throttled sign-in
    if (page := _html_page(error.status)) is not None:
        page.headers.update(headers)
        return page
    return problem_response(
        error.status,
        slug=error.slug,
        title=error.title,
        detail=error.detail,
        errors=error.errors,
        headers=headers,
        **error.extra,
    )


DATABASE_UNAVAILABLE_DETAIL = "The database is busy or unavailable for a moment; nothing was changed. Try again."


def service_unavailable_response(detail: str) -> Response:
    """The 503 answer (problem+json, or the error page for a browser) with ``Retry-After``."""
    return _from_domain_error(ServiceUnavailable(detail))


def _from_http_exception(error: HTTPException) -> Response:
    status = error.code or 500
    if (page := _html_page(status)) is not None:
        if "Retry-After" in error.get_response().headers:
            page.headers["Retry-After"] = error.get_response().headers["Retry-After"]
        return page
    errors = None
    # flask-smorest / webargs put field errors in `data["messages"]`: {"json": {"field": ["msg"]}}.
    data = getattr(error, "data", None) or {}
    messages = data.get("messages") if isinstance(data, dict) else None
    if messages:
        errors = _flatten_webargs_messages(messages)
    headers = {}
    original = error.get_response()
    for name in ("Allow", "Retry-After", "WWW-Authenticate"):
        if name in original.headers:
            headers[name] = original.headers[name]
    if isinstance(data, dict):
        headers.update(data.get("headers") or {})
    detail = error.description if error.description and not errors else None
    if status == 422 and errors:
        return problem_response(
            status, slug=ValidationFailed.slug, title=ValidationFailed.title, errors=errors, headers=headers
        )
    return problem_response(status, title=error.name, detail=detail, headers=headers)


def _flatten_webargs_messages(messages: dict[str, Any]) -> dict[str, list[str]]:
    """{"json": {"a": ["m"], "b": {"0": ["n"]}}} -> {"a": ["m"], "b/0": ["n"]}.

    Clients care about fields, not request locations; nested fields (list items, nested objects) are
    named by their path joined with "/", so ``errors`` is always a flat map of field -> messages.
    """
    flat: dict[str, list[str]] = {}

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(f"{prefix}/{key}" if prefix else str(key), value)
        elif isinstance(node, list) and all(isinstance(m, str) for m in node):
            flat.setdefault(prefix or "_schema", []).extend(node)
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(f"{prefix}/{index}", value)
        else:
            flat.setdefault(prefix or "_schema", []).append(str(node))

    for location_errors in messages.values():
        walk("", location_errors)
    return flat


def _from_unexpected(error: Exception) -> Response:
    if is_database_unavailable(error):
        log.warning("database unavailable on %s %s: %s", request.method, loggable_request_path(), first_line(error))
        return service_unavailable_response(DATABASE_UNAVAILABLE_DETAIL)
    # The path without the one-time tokens some links carry (madoguchi.accesslog).
    log.exception("unhandled error on %s %s", request.method, loggable_request_path())
    if (page := _html_page(500)) is not None:
        return page
    return problem_response(500, title="Internal Server Error", detail="Something went wrong on our side.")


def first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(DomainError, _from_domain_error)
    app.register_error_handler(HTTPException, _from_http_exception)
    app.register_error_handler(Exception, _from_unexpected)
