"""The platform front page and each municipality's landing page; who is signed in, for the page header."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, g, render_template, request, url_for

from madoguchi.catalog import operations, repository
from madoguchi.context import current_tenant, db_session
from madoguchi.identity.models import AccountKind
from madoguchi.identity.sessions import principal_from_platform_session, principal_from_session_cookie
from madoguchi.security import public
from madoguchi.tenancy import repository as tenancy
from madoguchi.web.resident_nav import nav_context, signed_in_resident

blp = Blueprint("web", __name__, template_folder="templates", static_folder="static", static_url_path="/static")

#: Municipalities per page of the platform's front page.
HOME_PAGE_SIZE = 100


@dataclass(frozen=True)
class SignedIn:
    name: str
    logout_url: str
    is_staff: bool


def signed_in_account() -> SignedIn | None:
    """Who the page header shows as signed in: the session's account in this municipality, or the admin."""
    if "_signed_in" in g:
        return g._signed_in
    found: SignedIn | None = None
    tenant = g.get("tenant")
    principal = g.get("principal")
    if tenant is not None:
        if principal is None or principal.account is None:
            principal = principal_from_session_cookie()
        if principal is not None and principal.account is not None and principal.tenant_id == tenant.id:
            account = principal.account
            found = SignedIn(
                account.display_name,
                url_for("identity_web.logout", tenant=tenant.slug),
                account.kind == AccountKind.STAFF,
            )
    else:
        admin = principal if getattr(principal, "platform_admin_email", None) else principal_from_platform_session()
        if admin is not None:
            found = SignedIn(admin.platform_admin_email or "", url_for("platform_login.admin_logout"), True)
    g._signed_in = found
    return found


@blp.get("/")
@public
def platform_home() -> str:
    """The municipalities by local government code, a keyset page at a time (``?after=`` the last code shown)."""
    after = request.args.get("after") or None
    tenants = tenancy.serving_tenants(db_session(), after=after, limit=HOME_PAGE_SIZE + 1)
    next_url = None
    if len(tenants) > HOME_PAGE_SIZE:
        tenants = tenants[:HOME_PAGE_SIZE]
        next_url = url_for(".platform_home", after=tenants[-1].local_government_code)
    first_url = url_for(".platform_home") if after else None
    return render_template("platform_home.html", tenants=tenants, next_url=next_url, first_url=first_url)


@blp.get("/<tenant>/")
@public
def tenant_home() -> str:
    tenant = current_tenant
    procedures = [
        operations.procedure_summary(ts, sv)
        for ts, sv in repository.enabled_services(db_session(), tenant.id, content=False)
    ]
    return render_template(
        "tenant_home.html", tenant=tenant, procedures=procedures, **nav_context(signed_in_resident(), "home")
    )
