"""Authentication for blueprints: every non-public blueprint is registered through ``require_authentication``.

The hook runs after tenant resolution. It accepts a bearer token (OAuth) or a session cookie, refuses
anonymous callers with 401, and answers 404 when the credential belongs to another tenant than the URL's
(never revealing that the tenant's data exists). ``requires_scope`` guards individual views.
"""

from __future__ import annotations

import functools
import math
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import Blueprint, Flask, current_app, g, request
from flask_limiter.util import get_remote_address
from limits import RateLimitItem, parse_many
from werkzeug.exceptions import TooManyRequests

from madoguchi.errors import DomainError, Forbidden, NotFound
from madoguchi.extensions import limiter
from madoguchi.identity.principal import Principal, current_principal, set_principal
from madoguchi.identity.sessions import principal_from_session_cookie
from madoguchi.oauth.resource import principal_from_bearer
from madoguchi.security import AUTHENTICATED_ATTRIBUTE

F = TypeVar("F", bound=Callable[..., Any])


class Unauthenticated(DomainError):
    status, slug, title = 401, "unauthenticated", "Authentication required"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail or "Sign in, or send an OAuth 2.0 bearer token.")


def _bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


_UNRESOLVED = object()


def authenticate() -> Principal | None:
    """The caller's principal, or None (once per request: the rate limiter asks before the auth hook)."""
    cached = g.get("_authenticated", _UNRESOLVED)
    if cached is _UNRESOLVED:
        cached = g._authenticated = _authenticate()
    return cached


def _authenticate() -> Principal | None:
    """A bad bearer token is an error, not anonymity."""
    token = _bearer_token()
    if token is not None:
        principal = principal_from_bearer(token)
        if principal is None:
            raise Unauthenticated("The access token is invalid, expired or revoked.")
        return principal
    return principal_from_session_cookie()


def _authenticate_for_tenant() -> None:
    principal = authenticate()
    if principal is None:
        raise Unauthenticated()
    tenant = g.get("tenant")
    if tenant is not None and principal.tenant_id != tenant.id:
        raise NotFound("Not found.")
    set_principal(principal)


def require_authentication(blueprint: Blueprint) -> Blueprint:
    """Register the authentication hook on ``blueprint`` and mark it for the architecture test."""
    blueprint.before_request(_authenticate_for_tenant)
    setattr(blueprint, AUTHENTICATED_ATTRIBUTE, True)
    return blueprint


def signed_in_tenant_admin(manages: str) -> Principal:
    """The caller, if it is a signed-in tenant admin of the municipality (a browser session, not a token): else
    ``Forbidden`` saying who ``manages`` (e.g. "closed days")."""
    principal = current_principal()
    if principal.method != "session" or not principal.is_staff:
        raise Forbidden(f"Only the municipality's tenant admin, signed in, manages {manages}.")
    if not principal.is_tenant_admin:
        raise Forbidden(f"Only the municipality's tenant admin manages {manages}.")
    return principal


def requires_scope(*scopes: str) -> Callable[[F], F]:
    """The caller's credential must carry every one of ``scopes`` (403 otherwise)."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            principal: Principal = g.principal
            missing = [s for s in scopes if not principal.has_scope(s)]
            if missing:
                raise Forbidden(f"This needs the scope {', '.join(missing)}.", required_scopes=missing)
            return view(*args, **kwargs)

        return cast(F, wrapper)

    return decorate


def rate_limit_key() -> str:
    """Per vendor app for OAuth tokens, per account for sessions, per address otherwise."""
    try:
        principal = authenticate()
    except Unauthenticated:
        principal = None
    if principal is not None and principal.client_id is not None:
        return f"client:{principal.client_id}"
    if principal is not None and principal.account is not None:
        return f"account:{principal.account.id}"
    return f"ip:{request.remote_addr}"


class ProcessCounters:
    """Fixed-window counters of this process, for the ``memory://`` store: what ``limits``' memory storage counts
    (a window opens at its first hit and lasts the limit's period; a refused hit still counts), without the thread
    that storage starts to expire keys whenever its last one has finished - most requests, on a quiet worker."""

    SWEEP_EVERY = 10_000

    def __init__(self) -> None:
        #: key -> (when its window ends, requests counted in it)
        self._windows: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()
        self._hits = 0

    def hit(self, item: RateLimitItem, key: str) -> float | None:
        """Count one request; None if within ``item``, else the seconds until its window ends."""
        now = time.monotonic()
        scoped = f"{item.key_for()}/{key}"  # the limit's amount and period: "10/second;300/minute" counts apart
        with self._lock:
            self._hits += 1
            if self._hits % self.SWEEP_EVERY == 0:  # forget windows that ended (addresses come and go)
                self._windows = {k: w for k, w in self._windows.items() if now < w[0]}
            ends, count = self._windows.get(scoped, (0.0, 0))
            if now >= ends:
                ends, count = now + item.get_expiry(), 0
            self._windows[scoped] = (ends, count + 1)
        return None if count + 1 <= item.amount else ends - now

    def reset(self) -> None:
        with self._lock:
            self._windows.clear()


COUNTERS_EXTENSION = "madoguchi.api_rate_counters"


def _hit(item: RateLimitItem, scope: str, key: str) -> float | None:
    """One request against ``item`` for ``key``: None if allowed, else the seconds until it is again."""
    counters: ProcessCounters | None = current_app.extensions.get(COUNTERS_EXTENSION)
    if counters is not None:
        return counters.hit(item, f"{scope}/{key}")
    strategy = limiter.limiter  # the shared store (MADOGUCHI_RATELIMIT_STORAGE_URL), as Flask-Limiter's own limits
    if strategy.hit(item, scope, key):
        return None
    return max(strategy.get_window_stats(item, scope, key).reset_time - time.time(), 1.0)


@functools.lru_cache(maxsize=8)
def _parsed(limits: str) -> tuple[RateLimitItem, ...]:
    return tuple(parse_many(limits))


def _check_api_rate() -> None:
    """Both limits of ``api_rate_limit`` in one check: the caller's counter and the address's (decision 0025)."""
    keys = (("api-caller", rate_limit_key()), ("api-address", get_remote_address()))
    waits = [
        wait
        for item in _parsed(current_app.config["MADOGUCHI"].api_rate_limit)
        for scope, key in keys
        if (wait := _hit(item, scope, key)) is not None
    ]
    if waits:
        raise TooManyRequests("Too many requests: slow down.", retry_after=max(1, math.ceil(max(waits))))


def init_rate_limits(app: Flask) -> None:
    """Count in this process for ``memory://``; otherwise in the configured shared store."""
    if app.config["MADOGUCHI"].ratelimit_storage_url.startswith("memory://"):
        app.extensions[COUNTERS_EXTENSION] = ProcessCounters()


def reset_rate_limits(app: Flask) -> None:
    """Forget every count (tests)."""
    counters: ProcessCounters | None = app.extensions.get(COUNTERS_EXTENSION)
    if counters is not None:
        counters.reset()


def limit_per_caller_and_address(blueprint: Blueprint) -> Blueprint:
    """Apply the API rate limits (settings ``api_rate_limit``) per caller and, separately, per IP address, in one
    check before authentication answers (so anonymous floods count too): 429 + Retry-After beyond either."""
    blueprint.before_request_funcs.setdefault(None, []).insert(0, _check_api_rate)
    return blueprint
