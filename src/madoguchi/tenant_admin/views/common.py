"""What the tenant admin's screens share: the blueprint (tenant admins only), rendering and form helpers."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from madoguchi.context import current_tenant
from madoguchi.identity.models import StaffRole
from madoguchi.identity.principal import current_principal
from madoguchi.web.auth import require_staff

bp = Blueprint("tenant_admin", __name__, template_folder="../templates", url_prefix="/<tenant>/console/admin")
require_staff(bp, roles=[StaffRole.TENANT_ADMIN])

Errors = dict[str, list[str]]


def _actor() -> str:
    return current_principal().actor.label


def _render(template: str, status: int = 200, **context: Any) -> ResponseReturnValue:
    context.setdefault("errors", {})
    return render_template(f"tenant_admin/{template}", tenant=current_tenant, **context), status


def _to(endpoint: str, **values: Any) -> ResponseReturnValue:
    return redirect(url_for(endpoint, tenant=current_tenant.slug, **values), code=303)


def _form_text(name: str) -> str:
    return request.form.get(name, "").strip()


def _add(errors: Errors, field: str, message: str) -> None:
    errors.setdefault(field, []).append(message)
