"""Upgrading one of the municipality's procedures to a newer version of the standard, with its report."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import abort, flash, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext

from madoguchi.catalog import upgrades
from madoguchi.catalog.schemas import ProcedureSettingsSchema
from madoguchi.context import current_tenant, db_session
from madoguchi.errors import Conflict, NotFound, ValidationFailed
from madoguchi.tenant_admin.views.common import (
    Errors,
    _actor,
    _add,
    _render,
    _to,
    bp,
)
from madoguchi.tenant_admin.views.procedures import RANGE_LABELS, _editable, _settings_refusal, range_messages
from madoguchi.web import form_input
from madoguchi.web.i18n import localized

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
CONFIRM_MESSAGES = {CONFIRM_FIELD: (lazy_gettext("Confirm that you have reviewed the changes."),) * 2}


def _change_groups(
    changes: list[upgrades.Change], area_labels: Mapping[str, Any] = CHANGE_AREA_LABELS
) -> list[tuple[str, list[dict[str, str]]]]:
    """The changes by area, each as the page shows it: what, where, before and after (as ``catalog diff`` does).
    The allocation rules' page lists its own areas (``area_labels``)."""
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
    return [(str(area_labels[area]), rows) for area, rows in groups.items()]


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
    values = {name: request.form.get(name, "") for name in to_enter}
    # The new range is shown beside each field, so an empty field gets the same message as a wrong one.
    messages = {name: (wrong, wrong) for name, (_empty, wrong) in range_messages(to_enter).items()}
    entered, refused = form_input.load(ProcedureSettingsSchema(only=list(to_enter)), values, messages)
    errors.update(refused)
    ticked = {CONFIRM_FIELD: request.form.get(CONFIRM_FIELD)}
    errors.update(form_input.load(form_input.confirmation(CONFIRM_FIELD)(), ticked, CONFIRM_MESSAGES)[1])
    return dict(entered or {}), values


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
