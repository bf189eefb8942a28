"""The tenant admin's staff accounts: list, create, edit (roles, disabling, second-factor reset)."""

from __future__ import annotations

import unicodedata
import uuid
from typing import Any

from flask import abort, flash, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext

from madoguchi.context import current_tenant, db_session
from madoguchi.errors import Conflict, ValidationFailed
from madoguchi.identity import operations as identity
from madoguchi.identity.models import StaffRole
from madoguchi.identity.principal import current_principal
from madoguchi.tenant_admin.views.common import (
    Errors,
    _actor,
    _add,
    _form_text,
    _render,
    _to,
    bp,
)

ROLE_LABELS = {
    StaffRole.CLERK: lazy_gettext("Clerk"),
    StaffRole.SUPERVISOR: lazy_gettext("Supervisor"),
    StaffRole.TENANT_ADMIN: lazy_gettext("Tenant admin"),
}


# --- Staff accounts ------------------------------------------------------------------------------------------------


def _role_options() -> list[tuple[str, str]]:
    return [(role, str(ROLE_LABELS[StaffRole(role)])) for role in identity.STAFF_ROLE_ORDER]


def _chosen_roles(errors: Errors) -> list[str]:
    roles = [role for role in request.form.getlist("roles") if role in identity.STAFF_ROLE_ORDER]
    if not roles:
        _add(errors, "roles", _("Choose at least one role."))
    return roles


@bp.get("/staff")
def staff_list() -> ResponseReturnValue:
    staff = identity.list_staff(db_session(), current_tenant.id)
    return _render("staff_list.html", section="staff", staff=staff, role_labels=ROLE_LABELS)


@bp.route("/staff/new", methods=["GET", "POST"])
def staff_new() -> ResponseReturnValue:
    context: dict[str, Any] = {"section": "staff", "role_options": _role_options()}
    if request.method == "GET":
        return _render("staff_new.html", values={"roles": [StaffRole.CLERK.value]}, **context)
    errors: Errors = {}
    values: dict[str, Any] = {"email": _form_text("email"), "display_name": _form_text("display_name")}
    email = None
    if not values["email"]:
        _add(errors, "email", _("Enter the email address."))
    else:
        try:
            email = identity.normalize_email(values["email"])
        except ValueError:
            _add(errors, "email", _("Enter an email address like name@example.jp."))
    if not values["display_name"]:
        _add(errors, "display_name", _("Enter the name."))
    elif len(values["display_name"]) > 100 or any(unicodedata.category(ch) == "Cc" for ch in values["display_name"]):
        _add(errors, "display_name", _("Use at most 100 characters."))
    roles = _chosen_roles(errors)
    values["roles"] = roles
    if not errors and email is not None:
        try:
            account, password = identity.create_staff(
                db_session(),
                current_tenant.id,
                email=email,
                display_name=values["display_name"],
                roles=roles,
                password=None,
                actor=_actor(),
            )
        except Conflict:
            db_session().rollback()
            _add(errors, "email", _("There is already an account with this email address."))
        else:
            return _render(
                "staff_created.html", section="staff", account=account, password=password, role_labels=ROLE_LABELS
            )
    return _render("staff_new.html", 422, values=values, **context, errors=errors)


@bp.route("/staff/<uuid:account_id>", methods=["GET", "POST"])
def staff_edit(account_id: uuid.UUID) -> ResponseReturnValue:
    session = db_session()
    account = identity.get_staff(session, current_tenant.id, account_id)
    me = current_principal().account
    assert me is not None
    context: dict[str, Any] = {
        "section": "staff",
        "account": account,
        "role_options": _role_options(),
        "is_me": account.id == me.id,
    }
    if request.method == "GET":
        return _render("staff_edit.html", values={"roles": list(account.roles or [])}, **context)
    action = request.form.get("action")
    errors: Errors = {}
    roles = list(account.roles or [])
    changes: dict[str, Any] = {}
    if action == "roles":
        roles = _chosen_roles(errors)
        changes["roles"] = roles
    elif action in ("disable", "enable"):
        changes["disabled"] = action == "disable"
    else:
        abort(400)
    if not errors:
        try:
            identity.update_staff(session, current_tenant.id, account.id, by=me, actor=_actor(), **changes)
        except (Conflict, ValidationFailed) as refused:
            session.rollback()
            account = identity.get_staff(session, current_tenant.id, account_id)
            context["account"] = account
            _add(errors, "roles" if action == "roles" else "form", _staff_refusal(refused, action))
        else:
            flash(_("The account of %(name)s was updated.", name=account.display_name))
            return _to("tenant_admin.staff_list")
    return _render("staff_edit.html", 422, values={"roles": roles}, **context, errors=errors)


def _staff_refusal(refused: Exception, action: str) -> str:
    text = str(refused)
    if "own account" in text:
        return _("You cannot disable your own account.")
    if "tenant admin" in text:
        return _(
            "The municipality needs at least one active tenant admin: give another account the tenant admin role first."
        )
    return _("This change is not possible.")
