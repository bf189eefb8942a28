"""The tenant admin's vendor apps: OAuth clients registered for the municipality, and revoking them."""

from __future__ import annotations

import uuid
from typing import Any

from flask import flash, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext

from madoguchi.context import current_tenant, db_session
from madoguchi.errors import ValidationFailed
from madoguchi.identity.principal import SCOPE_DESCRIPTIONS
from madoguchi.oauth import operations as oauth
from madoguchi.oauth import repository as oauth_repository
from madoguchi.oauth.models import AUTHORIZATION_CODE, CLIENT_CREDENTIALS, REFRESH_TOKEN
from madoguchi.oauth.schemas import ClientCreateSchema
from madoguchi.tenant_admin.views.common import (
    Errors,
    _actor,
    _add,
    _render,
    _to,
    bp,
)
from madoguchi.web import form_input

#: How a vendor app works, as the admin chooses it, and the OAuth grants that means.
APP_KINDS = {
    "residents": (
        lazy_gettext("For residents: residents sign in and allow the app to act for them"),
        [AUTHORIZATION_CODE, REFRESH_TOKEN],
    ),
    "system": (
        lazy_gettext("For the municipality: the app's own server calls the API (no resident)"),
        [CLIENT_CREDENTIALS],
    ),
}

VENDOR_SCOPES = sorted(oauth.VENDOR_SCOPES)

APP_FIELD_MESSAGES = {
    "name": lazy_gettext("Enter the app's name (at most 200 characters)."),
    "redirect_uris": lazy_gettext(
        "Enter each redirect URI on its own line, as a full https address without * or # "
        "(plain http only for localhost). Apps for residents need at least one; apps for the municipality none."
    ),
    "grant_types": lazy_gettext("Choose how the app works."),
    "scopes": lazy_gettext(
        "Choose permissions that fit how the app works: apps for residents may read the procedures and read and "
        "file applications; apps for the municipality may read the procedures and applications and manage webhooks."
    ),
    "homepage_url": lazy_gettext("Enter the homepage as a full https address, or leave it empty."),
}

CHECK_THIS = lazy_gettext("Check this field.")
#: The page's field for each field of the OAuth clients API it differs from.
APP_FIELDS = {"grant_types": "kinds"}

# --- Vendor apps ---------------------------------------------------------------------------------------------------


@bp.get("/apps")
def apps() -> ResponseReturnValue:
    clients = oauth_repository.tenant_clients(db_session(), current_tenant.id)
    return _render("apps.html", section="apps", clients=clients, scope_descriptions=SCOPE_DESCRIPTIONS)


def _app_context() -> dict[str, Any]:
    return {
        "section": "apps",
        "kind_options": [(kind, str(label)) for kind, (label, _grants) in APP_KINDS.items()],
        "scope_options": [(scope, scope) for scope in VENDOR_SCOPES],
        "scope_descriptions": SCOPE_DESCRIPTIONS,
    }


@bp.route("/apps/new", methods=["GET", "POST"])
def app_new() -> ResponseReturnValue:
    if request.method == "GET":
        values: dict[str, Any] = {
            "kinds": ["residents"],
            "scopes": ["catalog:read", "applications:read", "applications:write"],
        }
        return _render("app_new.html", values=values, **_app_context())
    values = {
        "name": request.form.get("name", ""),
        "homepage_url": request.form.get("homepage_url", ""),
        "redirect_uris": request.form.get("redirect_uris", ""),
        "kinds": [kind for kind in request.form.getlist("kinds") if kind in APP_KINDS],
        "scopes": [scope for scope in request.form.getlist("scopes") if scope in VENDOR_SCOPES],
    }
    errors: Errors = {}
    if not values["kinds"]:
        _add(errors, "kinds", str(APP_FIELD_MESSAGES["grant_types"]))
    if not values["scopes"]:
        _add(errors, "scopes", _("Choose at least one permission."))
    registration = None
    if not errors:
        registration, errors = _load_registration(values)
    if registration is not None:
        try:
            client, secret = oauth.create_client(db_session(), current_tenant.id, registration, actor=_actor())
        except ValidationFailed as refused:
            db_session().rollback()
            errors = _page_errors(refused.errors or {})
        else:
            return _render("app_created.html", section="apps", client=client, secret=secret)
    return _render("app_new.html", 422, values=values, **_app_context(), errors=errors)


def _registration(values: dict[str, Any]) -> dict[str, Any]:
    """The page's answers as the OAuth clients API takes them (the page's kinds are grants; one URI a line)."""
    return {
        "name": values["name"],
        "grant_types": [grant for kind in values["kinds"] for grant in APP_KINDS[kind][1]],
        "redirect_uris": [line for line in values["redirect_uris"].splitlines() if line.strip()],
        "scopes": values["scopes"],
        "homepage_url": values["homepage_url"].strip() or None,
    }


def _load_registration(values: dict[str, Any]) -> tuple[oauth.ClientRegistration | None, Errors]:
    """The answers loaded by the OAuth clients API's schema and checked by its registration rules (grants, URLs,
    scopes) together, so the admin sees every field's problem at once, in the order of the form."""
    registration = _registration(values)
    messages = {"form": (CHECK_THIS, CHECK_THIS)} | {name: (text, text) for name, text in APP_FIELD_MESSAGES.items()}
    data, refused = form_input.load(ClientCreateSchema(), registration, messages)
    errors = {APP_FIELDS.get(name, name): messages for name, messages in refused.items()}
    try:
        checked = oauth.validate_registration(oauth.ClientRegistration(**(data or registration)))
    except ValidationFailed as error:
        errors = _page_errors(error.errors or {}) | errors
    order = [APP_FIELDS.get(name, name) for name in registration]
    errors = dict(sorted(errors.items(), key=lambda item: order.index(item[0]) if item[0] in order else len(order)))
    return (None if errors else checked), errors


def _page_errors(refusals: dict[str, Any]) -> Errors:
    return {APP_FIELDS.get(name, name): [str(APP_FIELD_MESSAGES.get(name, CHECK_THIS))] for name in refusals}


@bp.post("/apps/<uuid:client_id>/revoke")
def app_revoke(client_id: uuid.UUID) -> ResponseReturnValue:
    session = db_session()
    client = oauth.get_tenant_client(session, current_tenant.id, client_id)
    if client.revoked_at is None:
        oauth.revoke_client(session, client, actor=_actor())
    flash(_("The app %(name)s was revoked: its tokens no longer work.", name=client.name))
    return _to("tenant_admin.apps")
