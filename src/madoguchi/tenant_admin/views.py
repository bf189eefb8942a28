"""The tenant admin's pages under ``/<tenant>/console/admin/``: staff accounts, procedure settings and upgrades to
new versions of the standard, vendor apps, registry CSV imports and the KPI summary.

Only staff holding ``tenant_admin``, fully signed in (their second factor passed), reach them. The views parse
forms and call the areas' operations, which hold the rules (the overrides a standard allows, the last active
tenant admin, what a vendor app may be granted, what a registry row must contain). Bad input re-renders the
form with status 422, the message beside each field and in the summary, and nothing stored.
"""

from __future__ import annotations

import io
import unicodedata
import uuid
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext

from madoguchi.catalog import operations as catalog
from madoguchi.catalog import repository as catalog_repository
from madoguchi.catalog import upgrades
from madoguchi.context import current_tenant, db_session
from madoguchi.errors import Conflict, NotFound, ValidationFailed
from madoguchi.identity import boundary
from madoguchi.identity import operations as identity
from madoguchi.identity.models import StaffRole
from madoguchi.identity.principal import SCOPE_DESCRIPTIONS, current_principal
from madoguchi.oauth import operations as oauth
from madoguchi.oauth import repository as oauth_repository
from madoguchi.oauth.models import AUTHORIZATION_CODE, CLIENT_CREDENTIALS, REFRESH_TOKEN
from madoguchi.registry import operations as registry
from madoguchi.registry.csv_formats import (
    COLUMNS,
    KINDS,
    RowError,
    UnreadableEncoding,
    decode_registry_csv,
    parse_registry_csv,
)
from madoguchi.stats import kpis
from madoguchi.web.auth import require_staff
from madoguchi.web.i18n import localized

bp = Blueprint("tenant_admin", __name__, template_folder="templates", url_prefix="/<tenant>/console/admin")
require_staff(bp, roles=[StaffRole.TENANT_ADMIN])

Errors = dict[str, list[str]]

#: The biggest registry CSV accepted from the browser (larger registers go through ``madoguchi registry import``).
MAX_CSV_BYTES = 5 * 1024 * 1024

ROLE_LABELS = {
    StaffRole.CLERK: lazy_gettext("Clerk"),
    StaffRole.SUPERVISOR: lazy_gettext("Supervisor"),
    StaffRole.TENANT_ADMIN: lazy_gettext("Tenant admin"),
}
REGISTRY_KIND_LABELS = {
    "residents": lazy_gettext("Resident register"),
    "tax": lazy_gettext("Tax assessments"),
    "facilities": lazy_gettext("Childcare facilities"),
}
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


# --- Overview ------------------------------------------------------------------------------------------------------


@bp.get("/")
def index() -> ResponseReturnValue:
    return _render("index.html", section="index")


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


# --- Procedure settings --------------------------------------------------------------------------------------------


def _procedure(key: str) -> tuple[Any, Any, dict[str, Any]]:
    try:
        tenant_service, version = catalog.tenant_service_for(db_session(), current_tenant.id, key)
    except NotFound:
        abort(404)
    return tenant_service, version, catalog.effective_settings(tenant_service, version)


@bp.get("/procedures")
def procedures() -> ResponseReturnValue:
    session = db_session()
    rows = [
        (ts, sv, catalog.effective_settings(ts, sv))
        for ts, sv in catalog_repository.enabled_services(session, current_tenant.id)
    ]
    # A newer published version of the standard waits for the admin to review and adopt it (see procedure_upgrade).
    newer = {
        sv.key: latest.version
        for _ts, sv, _effective in rows
        if (latest := catalog.latest_version(session, sv.key)).id != sv.id
    }
    return _render("procedures.html", section="procedures", procedures=rows, newer=newer)


def _editable(definition: dict[str, Any]) -> dict[str, Any]:
    """The settings of this procedure the page offers, with the standard's ranges and choices."""
    allowed = set(definition.get("tenant_may_override") or [])
    ranges = {
        name: definition[name]
        for name in ("fee", "sla_days", "min_monthly_work_hours")
        if name in allowed
        and isinstance(definition.get(name), dict)
        and definition[name]["min"] < definition[name]["max"]
    }
    auto_issue = "auto_issue" in allowed and bool((definition.get("auto_issue") or {}).get("allowed"))
    steps = (definition.get("workflow") or {}).get("optional_steps") or {} if "extra_steps" in allowed else {}
    return {"ranges": ranges, "auto_issue": auto_issue, "steps": steps}


RANGE_LABELS = {
    "fee": lazy_gettext("Fee (yen)"),
    "sla_days": lazy_gettext("Processing time (days)"),
    "min_monthly_work_hours": lazy_gettext("Minimum monthly working hours for childcare"),
}


def _range_message(name: str, low: int, high: int) -> str:
    if name == "fee":
        low_yen, high_yen = format(low, ","), format(high, ",")
        return _("The fee must be between %(min)s and %(max)s yen.", min=low_yen, max=high_yen)
    if name == "sla_days":
        return _("The processing time must be between %(min)s and %(max)s days.", min=low, max=high)
    return _("The minimum monthly working hours must be between %(min)s and %(max)s.", min=low, max=high)


def _parse_settings(editable: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str], Errors]:
    changes: dict[str, Any] = {}
    values: dict[str, Any] = {}
    errors: Errors = {}
    for name, setting in editable["ranges"].items():
        raw = unicodedata.normalize("NFKC", request.form.get(name, "")).strip().replace(",", "")
        values[name] = raw
        if not raw:
            _add(errors, name, _("Enter a whole number."))
        elif not raw.isascii() or not raw.lstrip("-").isdigit():
            _add(errors, name, _("Enter a whole number, for example %(example)s.", example=setting["default"]))
        else:
            changes[name] = int(raw)
    if editable["auto_issue"]:
        chosen = request.form.get("auto_issue")
        values["auto_issue"] = chosen
        if chosen not in ("yes", "no"):
            _add(errors, "auto_issue", _("Choose whether certificates are issued automatically."))
        else:
            changes["auto_issue"] = chosen == "yes"
    if editable["steps"]:
        steps = request.form.getlist("extra_steps")
        values["extra_steps"] = steps
        changes["extra_steps"] = [name for name in editable["steps"] if name in steps] or None
        if any(step not in editable["steps"] for step in steps):
            _add(errors, "extra_steps", _("Choose only the optional steps the standard offers."))
    return changes, values, errors


def _settings_refusal(name: str, messages: list[str], definition: dict[str, Any]) -> str:
    setting = definition.get(name)
    if name in RANGE_LABELS and isinstance(setting, dict):
        return _range_message(name, setting["min"], setting["max"])
    if name == "auto_issue" and any("impossible" in message for message in messages):
        return _("Automatic issuing is not possible with the extra steps chosen: a person must act before issuing.")
    if name == "auto_issue":
        return _("This procedure does not allow automatic issuing.")
    if name == "extra_steps":
        return _("Choose only the optional steps the standard offers.")
    return _("This setting is outside what the standard allows.")


@bp.route("/procedures/<key>", methods=["GET", "POST"])
def procedure_settings(key: str) -> ResponseReturnValue:
    _tenant_service, version, effective = _procedure(key)
    definition = version.definition
    editable = _editable(definition)
    context = {
        "section": "procedures",
        "key": key,
        "definition": definition,
        "effective": effective,
        "editable": editable,
        "range_labels": RANGE_LABELS,
    }
    if request.method == "GET":
        values: dict[str, Any] = {name: effective.get(name) for name in editable["ranges"]}
        values["auto_issue"] = "yes" if effective.get("auto_issue") else "no"
        values["extra_steps"] = list(effective.get("extra_steps") or [])
        return _render("procedure_settings.html", values=values, **context)
    changes, values, errors = _parse_settings(editable)
    if not errors:
        try:
            catalog.change_overrides(db_session(), current_tenant.id, key, changes, actor=_actor())
        except ValidationFailed as refused:
            db_session().rollback()
            for name, messages in (refused.errors or {}).items():
                _add(errors, name if name in values else "form", _settings_refusal(name, messages, definition))
        else:
            flash(
                _(
                    "The settings of %(procedure)s were saved. They apply to applications filed from now on; "
                    "applications already filed keep the settings they were filed under.",
                    procedure=localized(effective["title"]),
                )
            )
            return _to("tenant_admin.procedures")
    return _render("procedure_settings.html", 422, values=values, **context, errors=errors)


# --- Upgrading a procedure to a new version of the standard ----------------------------------------------------------

CHANGE_AREA_LABELS = {
    "fields": lazy_gettext("Form fields"),
    "workflow": lazy_gettext("Workflow: states and steps"),
    "fees": lazy_gettext("Fees and ranges"),
    "documents": lazy_gettext("Required documents"),
    "prefill": lazy_gettext("Filled in from the registers"),
    "output": lazy_gettext("Document issued"),
    "overrides": lazy_gettext("Settings a municipality may change"),
    "procedure": lazy_gettext("Description of the procedure"),
}
CHANGE_KIND_LABELS = {
    upgrades.ADDED: lazy_gettext("Added"),
    upgrades.REMOVED: lazy_gettext("Removed"),
    upgrades.CHANGED: lazy_gettext("Changed"),
}
SETTING_LABELS = {
    **RANGE_LABELS,
    "auto_issue": lazy_gettext("Automatic issuing"),
    "extra_steps": lazy_gettext("Extra steps"),
    "extra_questions": lazy_gettext("Extra questions"),
    "instructions": lazy_gettext("Instructions for residents"),
}
CONFIRM_FIELD = "confirm"


def _change_groups(changes: list[upgrades.Change]) -> list[tuple[str, list[dict[str, str]]]]:
    """The changes by area, each as the page shows it: what, where, before and after (as ``catalog diff`` does)."""
    groups: dict[str, list[dict[str, str]]] = {}
    for change in changes:
        groups.setdefault(change.area, []).append(
            {
                "kind": change.kind,
                "kind_label": str(CHANGE_KIND_LABELS[change.kind]),
                "path": change.path,
                "old": "" if change.old is None else upgrades.show_value(change.old),
                "new": "" if change.new is None else upgrades.show_value(change.new),
            }
        )
    return [(str(CHANGE_AREA_LABELS[area]), rows) for area, rows in groups.items()]


def _fixes(report: upgrades.UpgradeReport) -> tuple[dict[str, Any], list[str]]:
    """How the page lets the admin fix settings the new version does not allow: a range setting the new version
    still offers gets a field with the new range; any other goes back to the standard on adoption."""
    definition = report.latest.definition
    offered = _editable(definition)["ranges"]
    settings = dict.fromkeys(problem.setting for problem in report.problems)
    to_enter = {name: offered[name] for name in settings if name in offered}
    to_reset = [name for name in settings if name not in to_enter]
    return to_enter, to_reset


def _upgrade_context(key: str, report: upgrades.UpgradeReport) -> dict[str, Any]:
    to_enter, to_reset = _fixes(report)
    problems: Errors = {}
    for problem in report.problems:
        messages = [p.message for p in report.problems if p.setting == problem.setting]
        problems[problem.setting] = [_settings_refusal(problem.setting, messages, report.latest.definition)]
    return {
        "section": "procedures",
        "key": key,
        "report": report,
        "title": report.current.definition.get("title") or {},
        "change_groups": _change_groups(report.changes),
        "problems": problems,
        "to_enter": to_enter,
        "to_reset": to_reset,
        "range_labels": RANGE_LABELS,
        "setting_labels": SETTING_LABELS,
    }


def _parse_upgrade(to_enter: dict[str, Any], errors: Errors) -> tuple[dict[str, Any], dict[str, str]]:
    values: dict[str, str] = {}
    entered: dict[str, Any] = {}
    for name, setting in to_enter.items():
        raw = unicodedata.normalize("NFKC", request.form.get(name, "")).strip().replace(",", "")
        values[name] = raw
        if not raw.isascii() or not raw.lstrip("-").isdigit():
            _add(errors, name, _("Enter a whole number, for example %(example)s.", example=setting["default"]))
        else:
            entered[name] = int(raw)
    if request.form.get(CONFIRM_FIELD) != "yes":
        _add(errors, CONFIRM_FIELD, _("Confirm that you have reviewed the changes."))
    return entered, values


@bp.route("/procedures/<key>/upgrade", methods=["GET", "POST"])
def procedure_upgrade(key: str) -> ResponseReturnValue:
    session = db_session()
    try:
        report = upgrades.upgrade_report(session, current_tenant.id, key)
    except NotFound:
        abort(404)
    context = _upgrade_context(key, report)
    if request.method == "GET" or not report.available:
        values: dict[str, Any] = {name: report.overrides.get(name) for name in context["to_enter"]}
        return _render("procedure_upgrade.html", values=values, **context)
    errors: Errors = {}
    entered, values = _parse_upgrade(context["to_enter"], errors)
    if request.form.get("version") != report.latest.version:
        # A newer version was published while the admin was reading this one: show it instead.
        _add(errors, "form", _("Another version was published meanwhile. Review its changes before adopting it."))
    if not errors:
        overrides = None
        if report.problems:
            overrides = {name: value for name, value in report.overrides.items() if name not in context["to_reset"]}
            overrides.update(entered)
        try:
            upgrades.adopt_version(
                session, current_tenant.id, key, actor=_actor(), version=report.latest.version, overrides=overrides
            )
        except ValidationFailed as refused:
            session.rollback()
            for name, messages in (refused.errors or {}).items():
                field = name if name in context["to_enter"] else "form"
                _add(errors, field, _settings_refusal(name, messages, report.latest.definition))
        except Conflict:
            session.rollback()
            _add(errors, "form", _("The procedure was changed meanwhile. Review the changes again."))
        else:
            flash(
                _(
                    "Version %(version)s of %(procedure)s is now in use for new applications. Applications already "
                    "filed keep the version they were filed under.",
                    version=report.latest.version,
                    procedure=localized(context["title"]),
                )
            )
            return _to("tenant_admin.procedures")
    return _render("procedure_upgrade.html", 422, values=values, **context, errors=errors)


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
        "name": _form_text("name"),
        "homepage_url": _form_text("homepage_url"),
        "redirect_uris": request.form.get("redirect_uris", ""),
        "kinds": [kind for kind in request.form.getlist("kinds") if kind in APP_KINDS],
        "scopes": [scope for scope in request.form.getlist("scopes") if scope in VENDOR_SCOPES],
    }
    errors: Errors = {}
    if not values["kinds"]:
        _add(errors, "kinds", str(APP_FIELD_MESSAGES["grant_types"]))
    if not values["scopes"]:
        _add(errors, "scopes", _("Choose at least one permission."))
    if not errors:
        grants = [grant for kind in values["kinds"] for grant in APP_KINDS[kind][1]]
        registration = oauth.ClientRegistration(
            name=values["name"],
            redirect_uris=[line.strip() for line in values["redirect_uris"].splitlines() if line.strip()],
            grant_types=grants,
            scopes=values["scopes"],
            homepage_url=values["homepage_url"] or None,
        )
        try:
            client, secret = oauth.create_client(db_session(), current_tenant.id, registration, actor=_actor())
        except ValidationFailed as refused:
            db_session().rollback()
            for name in refused.errors or {}:
                field = {"grant_types": "kinds"}.get(name, name)
                _add(errors, field, str(APP_FIELD_MESSAGES.get(name, _("Check this field."))))
        else:
            return _render("app_created.html", section="apps", client=client, secret=secret)
    return _render("app_new.html", 422, values=values, **_app_context(), errors=errors)


@bp.post("/apps/<uuid:client_id>/revoke")
def app_revoke(client_id: uuid.UUID) -> ResponseReturnValue:
    session = db_session()
    client = oauth.get_tenant_client(session, current_tenant.id, client_id)
    if client.revoked_at is None:
        oauth.revoke_client(session, client, actor=_actor())
    flash(_("The app %(name)s was revoked: its tokens no longer work.", name=client.name))
    return _to("tenant_admin.apps")


# --- Registry CSV import -------------------------------------------------------------------------------------------


def _registry_context(**extra: Any) -> dict[str, Any]:
    return {
        "section": "registry",
        "kind_options": [(kind, str(REGISTRY_KIND_LABELS[kind])) for kind in KINDS],
        "columns": COLUMNS,
        "kind_labels": REGISTRY_KIND_LABELS,
        "max_megabytes": MAX_CSV_BYTES // (1024 * 1024),
        **extra,
    }


def _read_upload(errors: Errors) -> str | None:
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        _add(errors, "file", _("Choose a CSV file."))
        return None
    try:
        content = upload.stream.read(MAX_CSV_BYTES + 1)
    finally:
        upload.close()  # a large upload is spooled to a temporary file
    if len(content) > MAX_CSV_BYTES:
        _add(errors, "file", _("The file is larger than %(size)s MB.", size=MAX_CSV_BYTES // (1024 * 1024)))
        return None
    try:
        return decode_registry_csv(content)[0]
    except UnreadableEncoding:
        _add(errors, "file", _("The file must be a CSV file saved as UTF-8 or Shift_JIS text."))
        return None


@bp.route("/registry", methods=["GET", "POST"])
def registry_import() -> ResponseReturnValue:
    if request.method == "GET":
        return _render("registry.html", **_registry_context(values={}))
    errors: Errors = {}
    kind = request.form.get("kind", "")
    values = {"kind": kind}
    if kind not in KINDS:
        _add(errors, "kind", _("Choose what the file contains."))
    text = _read_upload(errors)
    if errors or text is None:
        return _render("registry.html", 422, **_registry_context(values=values, errors=errors))
    parsed = parse_registry_csv(kind, io.StringIO(text, newline=""))
    row_errors: list[RowError] = parsed.errors
    if not row_errors:
        session = db_session()
        report = registry.import_rows(
            session, current_tenant.id, kind, parsed.rows, parsed.lines, sealer=boundary.sealer(), actor=_actor()
        )
        if report.ok:
            unchanged = len(parsed.rows) - report.created - report.updated
            flash(
                _(
                    "%(kind)s: %(rows)s rows imported (%(created)s new, %(updated)s updated, %(unchanged)s unchanged).",
                    kind=REGISTRY_KIND_LABELS[kind],
                    rows=len(parsed.rows),
                    created=report.created,
                    updated=report.updated,
                    unchanged=unchanged,
                )
            )
            return _to("tenant_admin.registry_import")
        session.rollback()
        row_errors = report.errors
    errors["file"] = [
        _(
            "The file has %(count)s problem(s): nothing was imported. Correct the rows listed below.",
            count=len(row_errors),
        )
    ]
    return _render("registry.html", 422, **_registry_context(values=values, errors=errors, row_errors=row_errors))


# --- KPIs ----------------------------------------------------------------------------------------------------------


@bp.get("/kpis")
def kpi_summary() -> ResponseReturnValue:
    session = db_session()
    found = kpis.procedure_kpis(session, current_tenant.id)
    titles: dict[str, Any] = {}
    state_titles: dict[str, Any] = {}
    for ts, sv in catalog_repository.enabled_services(session, current_tenant.id):
        effective = catalog.effective_settings(ts, sv)
        titles[ts.service_key] = effective["title"]
        for state in effective["workflow"]["states"]:
            state_titles.setdefault(state["name"], state["title"])
    order = list(state_titles)
    states = sorted(
        {state for kpi in found for state in kpi.by_state},
        key=lambda s: (order.index(s) if s in order else len(order), s),
    )
    return _render(
        "kpis.html",
        section="kpis",
        kpis=found,
        total=kpis.overall(found),
        titles=titles,
        states=states,
        state_titles=state_titles,
    )


WEB_BLUEPRINTS = [bp]
