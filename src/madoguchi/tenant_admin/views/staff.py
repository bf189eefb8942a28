"""The tenant admin's staff accounts: list, create, edit (roles, disabling, second-factor reset)."""

from __future__ import annotations

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
from madoguchi.identity.schemas import StaffCreateSchema, StaffUpdateSchema
from madoguchi.tenant_admin.views.common import (
    Errors,
    _actor,
    _add,
    _form_text,
    _render,
    _to,
    bp,
)
from madoguchi.web import form_input

ROLE_LABELS = {
    StaffRole.CLERK: lazy_gettext("Clerk"),
    StaffRole.SUPERVISOR: lazy_gettext("Supervisor"),
    StaffRole.TENANT_ADMIN: lazy_gettext("Tenant admin"),
    StaffRole.ACCOUNTANT: lazy_gettext("Accounting (会計管理者)"),
}
#: How the staff pages word a refusal of the identity API's staff schemas: (left empty, wrong).
STAFF_MESSAGES = {
    "email": (lazy_gettext("Enter the email address."), lazy_gettext("Enter an email address like name@example.jp.")),
    "display_name": (lazy_gettext("Enter the name."), lazy_gettext("Use at most 100 characters.")),
    "roles": (lazy_gettext("Choose at least one role."), lazy_gettext("Choose at least one role.")),
    "form": (lazy_gettext("This change is not possible."), lazy_gettext("This change is not possible.")),
}


# --- Staff accounts ------------------------------------------------------------------------------------------------


def _role_options() -> list[tuple[str, str]]:
    return [(role, str(ROLE_LABELS[StaffRole(role)])) for role in identity.STAFF_ROLE_ORDER]


def _chosen_roles(errors: Errors) -> list[str]:
    values = {"roles": request.form.getlist("roles")}
    data, refused = form_input.load(StaffUpdateSchema(), values, STAFF_MESSAGES)
    errors.update(refused)
    return data["roles"] if data is not None else values["roles"]


@bp.get("/staff")
def staff_list() -> ResponseReturnValue:
    staff = identity.list_staff(db_session(), current_tenant.id)
    return _render("staff_list.html", section="staff", staff=staff, role_labels=ROLE_LABELS)


@bp.route("/staff/new", methods=["GET", "POST"])
def staff_new() -> ResponseReturnValue:
    context: dict[str, Any] = {"section": "staff", "role_options": _role_options()}
    if request.method == "GET":
        return _render("staff_new.html", values={"roles": [StaffRole.CLERK.value]}, **context)
    values: dict[str, Any] = {
        "email": _form_text("email"),
        "display_name": _form_text("display_name"),
        "roles": request.form.getlist("roles"),
    }
    data, errors = form_input.load(StaffCreateSchema(), values, STAFF_MESSAGES)
    if data is not None:
        try:
            account, password = identity.create_staff(
                db_session(),
                current_tenant.id,
                email=data["email"],
                display_name=data["display_name"],
                roles=data["roles"],
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
