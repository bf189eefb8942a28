"""Sign-in guards for HTML blueprints: the portal, the console, the tenant admin and the platform admin.

The API answers a missing credential with 401 problem+json; a page instead sends the visitor to the
sign-in page and back (``?next=``) afterwards. A signed-in visitor of the wrong kind (a resident on the
console, a clerk on the admin pages) gets a 403 page. A session of another municipality counts as
not signed in here. Each guard marks its blueprint as authenticated for the architecture test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from urllib.parse import urlencode

from flask import Blueprint, abort, g, redirect, request, url_for
from werkzeug.wrappers import Response

from madoguchi.identity.models import AccountKind
from madoguchi.identity.principal import Principal, set_principal
from madoguchi.identity.sessions import (
    PlatformPrincipal,
    principal_from_platform_session,
    principal_from_session_cookie,
)
from madoguchi.security import AUTHENTICATED_ATTRIBUTE


def _next_here() -> str:
    return request.full_path.rstrip("?") if request.query_string else request.path


def login_redirect() -> Response:
    tenant = g.tenant
    query = {"next": _next_here()}
    if request.args.get("lang"):
        query["lang"] = request.args["lang"]
    return redirect(f"{url_for('identity_web.login', tenant=tenant.slug)}?{urlencode(query)}", code=303)


def _guard(allowed: Callable[[Principal], bool]) -> Callable[[], Response | None]:
    def check() -> Response | None:
        if request.endpoint and request.endpoint.endswith(".static"):
            return None
        tenant = g.get("tenant")
        principal = principal_from_session_cookie()
        if tenant is None or principal is None or principal.tenant_id != tenant.id:
            return login_redirect()
        if not allowed(principal):
            abort(403)
        set_principal(principal)
        return None

    return check


def require_resident(blueprint: Blueprint) -> Blueprint:
    """Pages for residents signed in to the municipality in the URL."""
    blueprint.before_request(_guard(lambda p: p.account is not None and p.account.kind == AccountKind.RESIDENT))
    setattr(blueprint, AUTHENTICATED_ATTRIBUTE, True)
    return blueprint


def require_staff(blueprint: Blueprint, roles: Iterable[str] | None = None) -> Blueprint:
    """Pages for staff of the municipality in the URL; with ``roles``, only staff holding one of them."""
    wanted = frozenset(roles or ())

    def allowed(principal: Principal) -> bool:
        account = principal.account
        if account is None or account.kind != AccountKind.STAFF or account.disabled:
            return False
        held = set(account.roles or ())
        return bool(held & wanted) if wanted else bool(held)

    blueprint.before_request(_guard(allowed))
    setattr(blueprint, AUTHENTICATED_ATTRIBUTE, True)
    return blueprint


def signed_in_with_any_role(roles: Iterable[str]) -> bool:
    """Whether the signed-in staff member holds one of ``roles`` (what a console's navigation shows them)."""
    account = getattr(g.get("principal"), "account", None)
    return account is not None and bool(set(account.roles or ()) & set(roles))


def require_platform_admin(blueprint: Blueprint) -> Blueprint:
    """Pages for platform admins (no tenant): anyone else is sent to ``/admin/login``."""

    def check() -> Response | None:
        principal = principal_from_platform_session()
        if principal is None:
            query = urlencode(
                {"next": _next_here(), **({"lang": request.args["lang"]} if "lang" in request.args else {})}
            )
            return redirect(f"{url_for('platform_login.admin_login')}?{query}", code=303)
        set_principal(principal)
        return None

    blueprint.before_request(check)
    setattr(blueprint, AUTHENTICATED_ATTRIBUTE, True)
    return blueprint


def current_platform_principal() -> PlatformPrincipal:
    principal = g.get("principal")
    if not isinstance(principal, PlatformPrincipal):
        raise RuntimeError("no platform admin: is the blueprint registered with require_platform_admin?")
    return principal
