"""The clerk's 教育・保育給付認定 (支給認定) form: the ``certify`` action of a childcare application, per child.

The application page's certify button (a transition with the ``record_certification`` action) leads here. The form
starts from what the parent asked (category, 保育必要量) and the validity the law allows (``certification.proposal``);
what the clerk posts goes to the workflow as the transition's ``decision``, where ``childcare.certification``
checks it. A refusal comes back by field with a code, worded here beside the field; nothing is changed.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext

from madoguchi import jp
from madoguchi.applications import operations
from madoguchi.childcare import certification
from madoguchi.console.views.common import _load, _posted_version, _state_title, bp
from madoguchi.context import current_tenant, db_session
from madoguchi.errors import Conflict, Forbidden, PreconditionFailed, ValidationFailed
from madoguchi.identity.principal import current_principal
from madoguchi.web.i18n import format_date_local

if TYPE_CHECKING:  # annotations only: the pages go through the repository and the operations
    from madoguchi.applications.models import Application

#: How each problem ``childcare.certification`` names is worded beside its field.
PROBLEM_MESSAGES = {
    "schema": lazy_gettext("Check this value."),
    "required": lazy_gettext("Fill this in."),
    "unknown_child": lazy_gettext("This child is not in the application."),
    "duplicate_child": lazy_gettext("This child is decided twice."),
    "missing_child": lazy_gettext("Decide every child of the application (missing: child %(missing)s)."),
    "too_old_for_3": lazy_gettext("Category 3 is for a child under 3: the child is %(age)s on %(on)s."),
    "too_young_for_1_2": lazy_gettext(
        "Categories 1 and 2 are for a child of 3 or more: the child is %(age)s on %(on)s."
    ),
    "school_age": lazy_gettext("The child reaches school age on %(on)s: no certification from then."),
    "no_need": lazy_gettext(
        "Categories 2 and 3 need a need for care: %(guardian)s works %(hours)s hours a month, under the minimum of"
        " %(minimum)s. Certify category 1 or reject."
    ),
    "no_care_time_for_1": lazy_gettext("Category 1 has no hours of care: leave this empty."),
    "care_time_required": lazy_gettext("Choose standard or short hours."),
    "standard_needs_hours": lazy_gettext(
        "Standard hours need %(minimum)s hours of work a month; %(guardian)s works %(hours)s. Choose short hours."
    ),
    "before_application": lazy_gettext("It cannot start before the application arrived (%(on)s)."),
    "before_birth": lazy_gettext("It cannot start before the child was born (%(on)s)."),
    "ends_before_start": lazy_gettext("It must not end before it starts (%(on)s)."),
    "after_legal_end": lazy_gettext("It must not run after %(on)s, where the law ends this category."),
    "in_the_future": lazy_gettext("The day of certification must not be in the future."),
    "no_birth_date": lazy_gettext("The child's date of birth is not known: it is needed to certify."),
}


#: The guardians' needs for care (the form's ``need_reason``), as the clerk reads them beside the decision.
NEED_REASONS = {
    "employed": lazy_gettext("Employed"),
    "self_employed": lazy_gettext("Self-employed"),
    "pregnancy": lazy_gettext("Pregnancy or childbirth"),
    "illness": lazy_gettext("Illness"),
    "disability": lazy_gettext("Disability"),
    "caregiving": lazy_gettext("Caring for a relative"),
    "disaster": lazy_gettext("Disaster recovery"),
    "job_seeking": lazy_gettext("Job seeking"),
    "student": lazy_gettext("Studying"),
    "abuse_dv": lazy_gettext("Risk of abuse or domestic violence"),
    "childcare_leave": lazy_gettext("Continuity during childcare leave"),
    "other": lazy_gettext("Other"),
}


def _category_options() -> list[tuple[str, str]]:
    return [
        ("1", _("Category 1 (education, 3 or older)")),
        ("2", _("Category 2 (childcare, 3 or older)")),
        ("3", _("Category 3 (childcare, under 3)")),
    ]


def _care_time_options() -> list[tuple[str, str]]:
    return [
        ("", _("None (category 1)")),
        ("standard", _("Standard hours (up to 11 h a day)")),
        ("short", _("Short hours (up to 8 h a day)")),
    ]


def _field_id(index: int, name: str) -> str:
    return f"child-{index}-{name}"


def _worded(problem: dict[str, Any]) -> str:
    template = PROBLEM_MESSAGES.get(problem.get("code", ""), PROBLEM_MESSAGES["schema"])
    values = dict(problem.get("values") or {})
    if values.get("on"):
        values["on"] = format_date_local(str(values["on"]))
    return str(template) % values if values else str(template)


def errors_by_field(problems: list[dict[str, Any]], indexes: list[int]) -> dict[str, list[str]]:
    """The problems (pointers into the decision) keyed by the form's field ids."""
    errors: dict[str, list[str]] = {}
    for problem in problems:
        parts = problem.get("pointer", "").strip("/").split("/")
        if len(parts) >= 4 and parts[1] == "children" and parts[2].isdigit() and int(parts[2]) < len(indexes):
            field = parts[3] if parts[3] in certification.FIELDS else "category"
            key = _field_id(indexes[int(parts[2])], field)
        elif parts[-1] == "certified_on":
            key = "certified_on"
        else:
            key = "form"
        errors.setdefault(key, []).append(_worded(problem))
    return errors


def _date_text(text: str) -> str:
    """What the clerk typed as an ISO date (西暦 or 和暦, full-width alike), else as typed (then refused)."""
    try:
        return jp.parse_date(text).isoformat()
    except ValueError:
        return text.strip()


def _posted(children: list[certification.Child]) -> dict[str, Any]:
    form = request.form
    entries = []
    for child in children:
        entry: dict[str, Any] = {"index": child.index}
        entry["category"] = form.get(_field_id(child.index, "category"), "")
        entry["care_time"] = form.get(_field_id(child.index, "care_time"), "") or None
        for name in ("valid_from", "valid_to"):
            entry[name] = _date_text(form.get(_field_id(child.index, name), ""))
        entries.append(entry)
    return {"certified_on": _date_text(form.get("certified_on", "")) or None, "children": entries}


def _page(
    application: Application,
    values: dict[str, Any],
    *,
    errors: dict[str, list[str]] | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    data = application.data or {}
    children = certification.children_of(data)
    decided = {entry["index"]: entry for entry in values.get("children") or []}
    rows = [
        {
            "child": child,
            "birth_date": format_date_local(child.birth_date) if child.birth_date else "",
            "asked_category": child.desired_category or "",
            "asked_care_time": dict(_care_time_options()).get(child.care_time or "", ""),
            "values": decided.get(child.index) or {},
        }
        for child in children
    ]
    return (
        render_template(
            "console/certification.html",
            application=application,
            rows=rows,
            guardians=[
                (g.name, str(NEED_REASONS.get(g.need_reason or "", g.need_reason or "")), g.monthly_hours)
                for g in certification.guardians_of(data)
            ],
            certified_on=values.get("certified_on") or "",
            category_options=_category_options(),
            care_time_options=_care_time_options(),
            errors=errors or {},
            field_id=_field_id,
        ),
        status,
    )


def _certifiable(application_id: uuid.UUID) -> Application:
    application = _load(application_id)
    steps = operations.available_transitions(db_session(), application, current_principal().actor)
    if not any(certification.ACTION in step.actions for step in steps):
        abort(404)  # not certifiable now, or not by this staff member: the application page says what is possible
    return application


@bp.get("/applications/<uuid:application_id>/certification")
def certification_form(application_id: uuid.UUID) -> ResponseReturnValue:
    application = _certifiable(application_id)
    return _page(application, certification.proposal(application))


@bp.post("/applications/<uuid:application_id>/certification")
def certify(application_id: uuid.UUID) -> ResponseReturnValue:
    application = _certifiable(application_id)
    children = certification.children_of(application.data or {})
    posted = _posted(children)
    step = next(
        s
        for s in operations.available_transitions(db_session(), application, current_principal().actor)
        if certification.ACTION in s.actions
    )
    try:
        operations.transition(
            db_session(),
            current_tenant,
            current_principal().actor,
            application.id,
            step.name,
            expected_version=_posted_version(),
            decision={"certification": posted},
        )
    except ValidationFailed as refusal:
        db_session().rollback()
        problems = refusal.extra.get("problems") or [{"pointer": "", "code": "schema"}]
        errors = errors_by_field(problems, [child.index for child in children])
        return _page(_load(application_id), posted, errors=errors, status=422)
    except PreconditionFailed:
        db_session().rollback()
        message = _("Someone changed this application in the meantime. Check it and try again.")
        return _page(_load(application_id), posted, errors={"form": [message]}, status=409)
    except Conflict:
        db_session().rollback()
        message = _("This action is not possible now.")
        return _page(_load(application_id), posted, errors={"form": [message]}, status=409)
    except Forbidden:
        db_session().rollback()
        abort(403)
    flash(_("Done: the application is now “%(state)s”.", state=_state_title(application.workflow, application.state)))
    return redirect(url_for(".application_page", tenant=current_tenant.slug, application_id=application_id), code=303)
