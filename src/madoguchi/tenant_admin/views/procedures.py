"""The tenant admin's procedure settings: the overrides the standard lets the municipality change."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext

from madoguchi.catalog import operations as catalog
from madoguchi.catalog import repository as catalog_repository
from madoguchi.catalog.schemas import ProcedureSettingsSchema
from madoguchi.context import current_tenant, db_session
from madoguchi.errors import NotFound, ValidationFailed
from madoguchi.tenant_admin.views.common import (
    Errors,
    _actor,
    _add,
    _render,
    _to,
    bp,
)
from madoguchi.web import form_input
from madoguchi.web.i18n import localized

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
        for name in ("fee", "sla_days", "min_monthly_work_hours", "max_preferences")
        if name in allowed
        and isinstance(definition.get(name), dict)
        and definition[name]["min"] < definition[name]["max"]
    }
    auto_issue = "auto_issue" in allowed and bool((definition.get("auto_issue") or {}).get("allowed"))
    steps = (definition.get("workflow") or {}).get("optional_steps") or {} if "extra_steps" in allowed else {}
    return {"ranges": ranges, "auto_issue": auto_issue, "steps": steps}


CHOOSE_AUTO_ISSUE = lazy_gettext("Choose whether certificates are issued automatically.")
OFFERED_STEPS_ONLY = lazy_gettext("Choose only the optional steps the standard offers.")
OUTSIDE_THE_STANDARD = lazy_gettext("This setting is outside what the standard allows.")

RANGE_LABELS = {
    "fee": lazy_gettext("Fee (yen)"),
    "sla_days": lazy_gettext("Processing time (days)"),
    "min_monthly_work_hours": lazy_gettext("Minimum monthly working hours for childcare"),
    "max_preferences": lazy_gettext("Facilities each child may rank (childcare)"),
}


def _range_message(name: str, low: int, high: int) -> str:
    if name == "fee":
        low_yen, high_yen = format(low, ","), format(high, ",")
        return _("The fee must be between %(min)s and %(max)s yen.", min=low_yen, max=high_yen)
    if name == "sla_days":
        return _("The processing time must be between %(min)s and %(max)s days.", min=low, max=high)
    if name == "max_preferences":
        return _("The number of facilities must be between %(min)s and %(max)s.", min=low, max=high)
    return _("The minimum monthly working hours must be between %(min)s and %(max)s.", min=low, max=high)


def range_messages(ranges: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """How a settings page words a refusal of a range setting: (left empty, not a whole number)."""
    return {
        name: (
            _("Enter a whole number."),
            _("Enter a whole number, for example %(example)s.", example=setting["default"]),
        )
        for name, setting in ranges.items()
    }


def _parse_settings(editable: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], Errors]:
    values: dict[str, Any] = {name: request.form.get(name, "") for name in editable["ranges"]}
    if editable["auto_issue"]:
        values["auto_issue"] = request.form.get("auto_issue")
    if editable["steps"]:
        values["extra_steps"] = request.form.getlist("extra_steps")
    messages = {
        **range_messages(editable["ranges"]),
        "auto_issue": (CHOOSE_AUTO_ISSUE, CHOOSE_AUTO_ISSUE),
        "extra_steps": (OFFERED_STEPS_ONLY, OFFERED_STEPS_ONLY),
        "form": (OUTSIDE_THE_STANDARD, OUTSIDE_THE_STANDARD),
    }
    data, errors = form_input.load(ProcedureSettingsSchema(), values, messages)
    changes = dict(data or {})
    if "extra_steps" in changes:
        steps = changes["extra_steps"]
        # Kept in the standard's order; none chosen clears the setting.
        changes["extra_steps"] = [name for name in editable["steps"] if name in steps] or None
        if any(step not in editable["steps"] for step in steps):
            _add(errors, "extra_steps", str(OFFERED_STEPS_ONLY))
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
        return str(OFFERED_STEPS_ONLY)
    return str(OUTSIDE_THE_STANDARD)


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
