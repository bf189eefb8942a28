"""What the identity API's routes share: its two blueprints (public, authenticated), the problem responses
they document, how accounts and staff are shown, and who is signed in."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask_smorest import Blueprint

from madoguchi.api.auth import limit_per_caller_and_address, require_authentication
from madoguchi.context import db_session
from madoguchi.errors import PROBLEM_CONTENT_TYPE, Forbidden
from madoguchi.extensions import ProblemSchema
from madoguchi.identity import boundary, operations
from madoguchi.identity.models import Account, AccountKind
from madoguchi.identity.principal import Principal, current_principal

public_blp = Blueprint(
    "identity_public",
    __name__,
    description="Resident sign-up, email address verification, and signing in and out (session cookie)",
)
blp = Blueprint(
    "identity",
    __name__,
    description="Your account and second factor, the municipality's staff, and residents' identity verification",
)
require_authentication(blp)
limit_per_caller_and_address(blp)

for _blueprint in (public_blp, blp):
    _blueprint.record_once(lambda state: boundary.install(state.app))

_PROBLEMS = {
    401: "Not signed in (or the session ended)",
    403: "Not allowed (role, account kind, or an OAuth token), or the municipality's service is suspended",
    404: "Unknown municipality, or no such account in it",
    409: "The request conflicts with the current state",
    422: "The data is not valid",
    429: "Too many requests: see Retry-After",
}


def problems(bp: Blueprint, *statuses: int) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Document the problem+json answers a view may give."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        for status in statuses:
            view = bp.alt_response(
                status, schema=ProblemSchema, content_type=PROBLEM_CONTENT_TYPE, description=_PROBLEMS[status]
            )(view)
        return view

    return decorate


def account_view(account: Account, *, pending: bool = False) -> dict[str, Any]:
    return {
        "id": account.id,
        "email": account.email,
        "display_name": account.display_name,
        "kind": account.kind,
        "roles": list(account.roles or []),
        "identity_assurance": account.identity_assurance,
        "resident_code": operations.resident_code_of(db_session(), account),
        "email_verified": account.email_verified_at is not None,
        "totp_enabled": account.totp_enabled,
        "second_factor_pending": pending,
    }


def staff_view(account: Account, *, initial_password: str | None = None) -> dict[str, Any]:
    return {
        "id": account.id,
        "email": account.email,
        "display_name": account.display_name,
        "roles": list(account.roles or []),
        "disabled": account.disabled,
        "totp_enabled": account.totp_enabled,
        "created_at": account.created_at,
        "last_login_at": account.last_login_at,
        "initial_password": initial_password,
    }


def _signed_in(kind: str | None = None) -> Principal:
    """The caller, signed in with a browser session (not an OAuth token), optionally of one account kind."""
    principal = current_principal()
    if principal.method != "session" or principal.account is None:
        raise Forbidden("This needs a signed-in browser session, not an OAuth token.")
    if kind is not None and principal.account.kind != kind:
        raise Forbidden(f"This is for {kind} accounts.")
    return principal


def _staff_with(*roles: str) -> Principal:
    principal = _signed_in(AccountKind.STAFF)
    assert principal.account is not None
    if not set(roles) & set(principal.account.roles or []):
        raise Forbidden(f"This needs the role {' or '.join(roles)}.")
    return principal
