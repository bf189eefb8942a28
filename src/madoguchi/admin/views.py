"""The platform admin pages under ``/admin/``: the municipalities (tenants) with their status, creating a tenant,
inviting its first tenant admin (the one-time link is shown once), going live, suspending, resuming and deleting
one (soft delete, confirmed by typing the slug).

Only a signed-in platform admin reaches them (the login is ``/admin/login``). The rules live in
``platform.provisioning``; every action there is audited in the tenant's chain. A suspended tenant answers 403 on
all its pages and APIs (``tenancy.resolution``); the admin pages address tenants by id, never by the slug, so
they still reach a suspended one.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext

from madoguchi.context import db_session
from madoguchi.errors import Conflict, ValidationFailed
from madoguchi.identity.principal import current_principal
from madoguchi.jp import PREFECTURES
from madoguchi.platform import lifecycle
from madoguchi.platform import provisioning as tenancy
from madoguchi.platform.schemas import (
    NOT_PRINTABLE,
    InvitationCreateSchema,
    TenantCreateSchema,
    TenantDeleteConfirmationSchema,
)
from madoguchi.tenancy.models import TenantStatus
from madoguchi.web import form_input
from madoguchi.web.auth import require_platform_admin
from madoguchi.web.i18n import LOCALE_NAMES, current_locale, localized

bp = Blueprint("admin", __name__, template_folder="templates", url_prefix="/admin")
require_platform_admin(bp)

Errors = dict[str, list[str]]

STATUS_LABELS = {
    TenantStatus.TRIAL.value: lazy_gettext("Trial"),
    TenantStatus.LIVE.value: lazy_gettext("Live"),
    TenantStatus.SUSPENDED.value: lazy_gettext("Suspended"),
    TenantStatus.DELETED.value: lazy_gettext("Deleted"),
}
#: What each refusal of ``tenancy.create_tenant`` means, in the admin's language.
REFUSALS = {
    tenancy.SLUG_INVALID: lazy_gettext(
        "Enter a slug of lowercase letters, digits and hyphens that starts with a letter, for example "
        "sakura-town (not a reserved word such as admin or api)."
    ),
    tenancy.SLUG_TAKEN: lazy_gettext("Another municipality already uses this slug."),
    tenancy.NAME_MISSING: lazy_gettext("Enter the name."),
    tenancy.NAME_TOO_LONG: lazy_gettext("Use at most 200 characters."),
    tenancy.NAME_INVALID: lazy_gettext("Use letters, digits and punctuation only."),
    tenancy.CODE_INVALID: lazy_gettext(
        "Enter the six-digit local government code with its check digit, for example 131016. "
        "Check the last digit: it does not match the first five."
    ),
    tenancy.CODE_TAKEN: lazy_gettext("Another municipality already has this local government code."),
    tenancy.PREFECTURE_MISMATCH: lazy_gettext(
        "Choose the prefecture whose code is the first two digits of the local government code."
    ),
    tenancy.LOCALES_INVALID: lazy_gettext("Choose at least one language."),
    tenancy.DEFAULT_LOCALE_INVALID: lazy_gettext("Choose a default language among the languages offered."),
    tenancy.SERVICE_UNKNOWN: lazy_gettext("Choose procedures of the standard catalog."),
}

#: How the invitation page words a refusal of the admin API's invitation schema: (left empty, wrong).
INVITE_MESSAGES = {
    "email": (lazy_gettext("Enter an email address like name@example.jp."),) * 2,
    "display_name": (
        lazy_gettext("Use at most 100 characters."),
        lambda refusals: (
            _("Use letters, digits and punctuation only.")
            if NOT_PRINTABLE in refusals
            else _("Use at most 100 characters.")
        ),
    ),
    "form": (lazy_gettext("Check this field."),) * 2,
}


def _actor() -> str:
    return current_principal().actor.label


def _render(template: str, status: int = 200, **context: Any) -> ResponseReturnValue:
    context.setdefault("errors", {})
    return render_template(f"admin/{template}", status_labels=STATUS_LABELS, **context), status


@bp.get("/")
def tenants() -> ResponseReturnValue:
    return _render("tenants.html", tenants=tenancy.list_tenants(db_session()))


def _form_context() -> dict[str, Any]:
    procedures = tenancy.published_procedures(db_session())
    return {
        "prefecture_options": [(code, f"{code} {localized(p)}") for code, p in PREFECTURES.items()],
        "locale_options": list(LOCALE_NAMES.items()),
        "procedure_options": [(key, f"{localized(title)} ({key})") for key, title in procedures.items()],
    }


@bp.route("/tenants/new", methods=["GET", "POST"])
def tenant_new() -> ResponseReturnValue:
    if request.method == "GET":
        values: dict[str, Any] = {"locales": ["ja", "en"], "default_locale": "ja", "services": []}
        return _render("tenant_new.html", values=values, **_form_context())
    lists = ("locales", "services")
    posted: dict[str, Any] = {
        name: request.form.getlist(name) if name in lists else request.form.get(name, "") for name in FORM_ORDER
    }
    # Every field is text or a list of texts, so the schema refuses nothing here; it normalizes them as the API.
    values = TenantCreateSchema().load(posted)
    errors: Errors = {}
    prefecture = PREFECTURES.get(values["prefecture_code"] or "")
    if prefecture is None:
        errors["prefecture_code"] = [_("Choose the prefecture.")]
    else:
        new = tenancy.NewTenant(
            slug=values["slug"],
            name_ja=values["name_ja"],
            name_en=values["name_en"],
            local_government_code=values["local_government_code"],
            prefecture=prefecture,
            locales=values["locales"],
            default_locale=values["default_locale"],
            services=values["services"],
        )
        try:
            tenant = tenancy.create_tenant(db_session(), new, actor=_actor())
        except ValidationFailed as refused:
            db_session().rollback()
            reasons = refused.extra.get("reasons") or {}
            errors = {name: [str(REFUSALS[code]) for code in codes] for name, codes in reasons.items()}
        else:
            flash(_("%(name)s was created on trial.", name=tenant.name(current_locale())))
            return redirect(url_for("admin.tenants"), code=303)
    return _render("tenant_new.html", 422, values=values, errors=_in_form_order(errors), **_form_context())


FORM_ORDER = (
    "slug",
    "name_ja",
    "name_en",
    "local_government_code",
    "prefecture_code",
    "locales",
    "default_locale",
    "services",
)


def _in_form_order(errors: Errors) -> Errors:
    return {name: errors[name] for name in sorted(errors, key=lambda n: FORM_ORDER.index(n) if n in FORM_ORDER else 99)}


#: What each status change page says: its heading, what happens, the button, and the message afterwards.
STATUS_CHANGES: dict[str, dict[str, Any]] = {
    "suspend": {
        "title": lazy_gettext("Suspend a municipality"),
        "question": lambda name: _("Suspend %(name)s?", name=name),
        "explanation": lazy_gettext(
            "Residents, staff and apps can no longer use this municipality's portal, console or API: every page "
            "answers 403 until it is resumed. No data is deleted."
        ),
        "button": lazy_gettext("Suspend the municipality"),
        "kind": "warning",
        "operation": tenancy.suspend_tenant,
        "done": lambda name: _("%(name)s is suspended: its pages and API answer 403.", name=name),
    },
    "resume": {
        "title": lazy_gettext("Resume a municipality"),
        "question": lambda name: _("Resume %(name)s?", name=name),
        "explanation": lazy_gettext(
            "The portal, console and API of this municipality work again, in the status it had before the suspension."
        ),
        "button": lazy_gettext("Resume the municipality"),
        "kind": "primary",
        "operation": tenancy.resume_tenant,
        "done": lambda name: _("%(name)s is running again.", name=name),
    },
    "go-live": {
        "title": lazy_gettext("Put a municipality live"),
        "question": lambda name: _("End the trial of %(name)s?", name=name),
        "explanation": lazy_gettext(
            "The municipality leaves its trial and is shown as live. Its pages, settings and data stay as they are."
        ),
        "button": lazy_gettext("Go live"),
        "kind": "primary",
        "operation": lifecycle.go_live,
        "done": lambda name: _("%(name)s is live.", name=name),
    },
}


@bp.route("/tenants/<uuid:tenant_id>/suspend", methods=["GET", "POST"])
def tenant_suspend(tenant_id: uuid.UUID) -> ResponseReturnValue:
    return _status_change(tenant_id, "suspend")


@bp.route("/tenants/<uuid:tenant_id>/resume", methods=["GET", "POST"])
def tenant_resume(tenant_id: uuid.UUID) -> ResponseReturnValue:
    return _status_change(tenant_id, "resume")


@bp.route("/tenants/<uuid:tenant_id>/go-live", methods=["GET", "POST"])
def tenant_go_live(tenant_id: uuid.UUID) -> ResponseReturnValue:
    return _status_change(tenant_id, "go-live")


def _status_change(tenant_id: uuid.UUID, action: str) -> ResponseReturnValue:
    """A confirmation page (GET), then the change (POST): it works without JavaScript and is never one click."""
    session = db_session()
    tenant = tenancy.get_tenant(session, tenant_id)
    change = STATUS_CHANGES[action]
    name = tenant.name(current_locale())
    if request.method == "GET":
        return _render("tenant_status.html", tenant=tenant, action=action, change=change, name=name)
    try:
        change["operation"](session, tenant.id, actor=_actor())
    except Conflict:
        session.rollback()
        flash(_("Nothing changed: the municipality was already in that state."), "error")
    else:
        flash(change["done"](name))
    return redirect(url_for("admin.tenants"), code=303)


@bp.route("/tenants/<uuid:tenant_id>/delete", methods=["GET", "POST"])
def tenant_delete(tenant_id: uuid.UUID) -> ResponseReturnValue:
    """Soft delete, confirmed by typing the slug (a deleted municipality cannot be brought back from here)."""
    session = db_session()
    tenant = tenancy.get_tenant(session, tenant_id)
    retention_days = current_app.config["MADOGUCHI"].tenant_retention_days
    context = {"tenant": tenant, "retention_days": retention_days}
    if request.method == "GET":
        return _render("tenant_delete.html", **context)
    retype = _("Type the slug %(slug)s to confirm.", slug=tenant.slug)
    values = {"confirm_slug": request.form.get("confirm_slug", "")}
    data, errors = form_input.load(TenantDeleteConfirmationSchema(), values, {"confirm_slug": (retype, retype)})
    if data is None or data["confirm_slug"] != tenant.slug:
        return _render("tenant_delete.html", 422, **context, errors=errors or {"confirm_slug": [retype]})
    try:
        lifecycle.delete_tenant(session, tenant.id, actor=_actor())
    except Conflict:
        session.rollback()
        flash(_("Nothing changed: the municipality was already in that state."), "error")
    else:
        flash(_("%(name)s is deleted: its pages and API answer 404.", name=tenant.name(current_locale())))
    return redirect(url_for("admin.tenants"), code=303)


@bp.route("/tenants/<uuid:tenant_id>/invite", methods=["GET", "POST"])
def tenant_invite(tenant_id: uuid.UUID) -> ResponseReturnValue:
    """Invite a tenant admin: the one-time link is shown on the answer page once (and emailed), never again."""
    session = db_session()
    tenant = tenancy.get_tenant(session, tenant_id)
    if request.method == "GET":
        return _render("tenant_invite.html", tenant=tenant, values={})
    values = {"email": request.form.get("email", ""), "display_name": request.form.get("display_name", "")}
    data, errors = form_input.load(InvitationCreateSchema(only=list(values)), values, INVITE_MESSAGES)
    if data is not None:
        email = data["email"]
        settings = current_app.config["MADOGUCHI"]
        try:
            issued = lifecycle.invite_tenant_admin(
                session,
                tenant.id,
                email=email,
                display_name=data["display_name"] or email.split("@", 1)[0],
                public_url=settings.public_url,
                data_key=settings.data_key,
                lifetime=timedelta(hours=settings.invitation_lifetime_hours),
                actor=_actor(),
                locale=current_locale(),
            )
        except Conflict as refused:
            session.rollback()
            if refused.errors:
                errors["email"] = [_("This address already has an account in this municipality.")]
            else:
                errors["email"] = [_("The municipality is deleted: nothing can be changed.")]
        else:
            return _render("tenant_invited.html", tenant=tenant, invitation=issued.invitation, url=issued.url)
    return _render("tenant_invite.html", 422, tenant=tenant, values=values, errors=errors)


WEB_BLUEPRINTS = [bp]
