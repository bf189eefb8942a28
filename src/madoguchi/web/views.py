"""The platform front page and each municipality's landing page, in Japanese and English."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from sqlalchemy import select

from madoguchi.catalog import operations, repository
from madoguchi.catalog.presenters import procedure_view
from madoguchi.context import current_tenant, db_session
from madoguchi.security import public
from madoguchi.tenancy.models import Tenant, TenantStatus

blp = Blueprint("web", __name__, template_folder="templates", static_folder="static", static_url_path="/static")

SUPPORTED_LOCALES = ("ja", "en")


def _locale(default: str) -> str:
    asked = request.args.get("lang")
    return asked if asked in SUPPORTED_LOCALES else default


@blp.get("/")
@public
def platform_home():  # type: ignore[no-untyped-def]
    locale = _locale("ja")
    stmt = select(Tenant).where(Tenant.status != TenantStatus.SUSPENDED.value).order_by(Tenant.local_government_code)
    tenants = list(db_session().execute(stmt).scalars())
    return render_template("platform_home.html", locale=locale, tenants=tenants)


@blp.get("/<tenant>/")
@public
def tenant_home():  # type: ignore[no-untyped-def]
    tenant = current_tenant
    locale = _locale(tenant.default_locale)
    procedures = [
        procedure_view(operations.effective_settings(ts, sv), sv)
        for ts, sv in repository.enabled_services(db_session(), tenant.id)
    ]
    return render_template("tenant_home.html", locale=locale, tenant=tenant, procedures=procedures)
