"""The platform front page and each municipality's landing page; who is signed in, for the page header."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, g, render_template, url_for

from madoguchi.catalog import operations, repository
from madoguchi.context import current_tenant, db_session
from madoguchi.identity.models import AccountKind
from madoguchi.identity.sessions import principal_from_platform_session, principal_from_session_cookie
from madoguchi.security import public
from madoguchi.tenancy import repository as tenancy
from madoguchi.web.resident_nav import nav_context, signed_in_resident

blp = Blueprint("web", __name__, template_folder="templates", static_folder="static", static_url_path="/static")


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
    tenants = tenancy.serving_tenants(db_session())
    return render_template("platform_home.html", tenants=tenants)


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
