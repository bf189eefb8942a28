"""Authentication for blueprints: every non-public blueprint is registered through ``require_authentication``.

The hook runs after tenant resolution. It accepts a bearer token (OAuth) or a session cookie, refuses
anonymous callers with 401, and answers 404 when the credential belongs to another tenant than the URL's
(never revealing that the tenant's data exists). ``requires_scope`` guards individual views.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import Blueprint, current_app, g, request
from flask_limiter.util import get_remote_address

from madoguchi.errors import DomainError, Forbidden, NotFound
from madoguchi.extensions import limiter
from madoguchi.identity.principal import Principal, set_principal
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


def limit_per_caller_and_address(blueprint: Blueprint) -> Blueprint:
    """Apply the API rate limits (settings ``api_rate_limit``) per caller and per IP address: 429 + Retry-After."""

    def configured() -> str:
        return current_app.config["MADOGUCHI"].api_rate_limit

    limiter.limit(configured, key_func=rate_limit_key, scope="api-caller")(blueprint)
    limiter.limit(configured, key_func=get_remote_address, scope="api-address")(blueprint)
    return blueprint
