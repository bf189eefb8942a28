"""Counter filing (書かない窓口): find the resident in the register, fill what the register does not know, confirm."""

from __future__ import annotations

import uuid
from typing import Any

from flask import abort, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext

from madoguchi.applications import operations
from madoguchi.applications.models import Application
from madoguchi.applications.schemas import ApplicationCreateSchema
from madoguchi.audit import access
from madoguchi.console.views.common import (
    _facility_names,
    _load,
    _person,
    _posted_version,
    _procedures,
    _search_register,
    _state_title,
    bp,
)
from madoguchi.context import current_tenant, db_session
from madoguchi.errors import (
    PreconditionFailed,
    ValidationFailed,
)
from madoguchi.identity.principal import current_principal
from madoguchi.registry.models import Person
from madoguchi.web import form_input, schema_answers, schema_form, tax_years
from madoguchi.web.i18n import localized
from madoguchi.web.reads import record_read

# ------------------------------------------------------------------------------------- counter filing

#: How the counter pages word a refusal: (left empty, wrong).
CHOOSE_PROCEDURE = {"procedure": (lazy_gettext("Choose a procedure."),) * 2}
CONFIRM_CONTENT = {"checked": (lazy_gettext("Tick the box once the resident has checked the content."),) * 2}


@bp.get("/counter/")
def counter_search() -> ResponseReturnValue:
    query, people, errors = _search_register("counter filing")
    return render_template(
        "console/counter_search.html",
        query=query,
        people=people,
        errors=errors,
        person_url=lambda person: url_for(".counter_person", tenant=current_tenant.slug, person_id=person.id),
    ), (422 if errors else 200)


def _counter_procedures() -> list[tuple[str, str]]:
    # Every procedure: lists of rows (a childcare application's children and guardians) are asked block by block.
    return [(key, localized(s["title"])) for key, s in _procedures()]


@bp.get("/counter/people/<uuid:person_id>")
def counter_person(person_id: uuid.UUID) -> ResponseReturnValue:
    person = _person(person_id)
    record_read(
        action=access.VIEW_REGISTRY,
        object_type="person",
        object_id=person.id,
        categories=[access.BASIC4, access.HOUSEHOLD],
        person_id=person.id,
        purpose="counter filing",
    )
    return _person_page(person)


def _person_page(person: Person, errors: dict[str, list[str]] | None = None, status: int = 200) -> ResponseReturnValue:
    return render_template(
        "console/counter_person.html", person=person, procedures=_counter_procedures(), errors=errors or {}
    ), status


@bp.post("/counter/people/<uuid:person_id>/applications")
def counter_start(person_id: uuid.UUID) -> ResponseReturnValue:
    person = _person(person_id)
    values = {"procedure": request.form.get("procedure", "")}
    data, errors = form_input.load(ApplicationCreateSchema(only=["procedure"]), values, CHOOSE_PROCEDURE)
    if data is None or data["procedure"] not in dict(_counter_procedures()):  # only those the municipality offers
        return _person_page(person, errors or {"procedure": [str(CHOOSE_PROCEDURE["procedure"][1])]}, 422)
    application = operations.create_draft(
        db_session(),
        current_tenant,
        current_principal().actor,
        data["procedure"],
        channel="counter",
        person_id=person.id,
    )
    return redirect(url_for(".counter_form", tenant=current_tenant.slug, application_id=application.id), code=303)


def _counter_draft(application_id: uuid.UUID) -> Application:
    """A counter filing still being prepared; once submitted, its pages lead to the done page."""
    application = _load(application_id)
    if application.channel != "counter":
        abort(404)
    if application.state != application.workflow.initial:
        abort(redirect(url_for(".counter_done", tenant=current_tenant.slug, application_id=application.id), code=303))
    return application


def _household(application: Application) -> list[tuple[str, str]]:
    if not application.applicant_person_id:
        return []
    person = _person(application.applicant_person_id)
    return schema_form.household_member_options(person.household.members)


def _counter_page(application: Application) -> schema_form.Page:
    settings = application.settings_snapshot
    facilities = list(_facility_names().items())
    choices = tax_years.with_tax_years(
        schema_form.Choices(household_members=_household(application), facilities=facilities),
        settings["form"],
        db_session(),
        current_tenant.id,
        application.subject_person_id or application.applicant_person_id,  # the person the certificate is about
    )
    return schema_form.counter_page(settings["form"], application.prefill_sources or {}, choices)


def _form_page(
    application: Application,
    errors: dict[str, list[str]],
    status: int = 200,
    *,
    posted: dict[str, Any] | None = None,
) -> ResponseReturnValue:
    settings = application.settings_snapshot
    fields = schema_form.counter_inputs(_counter_page(application), application.data or {}, posted)
    prefilled = [
        answer
        for section in schema_answers.answer_sections(
            settings["form"], application.data or {}, application.prefill_sources or {}, _facility_names()
        )
        for answer in section.answers
        if answer.source
    ]
    return render_template(
        "console/counter_form.html",
        application=application,
        procedure=localized(settings.get("title")),
        fields=fields,
        prefilled=prefilled,
        errors=errors,
    ), status


@bp.route("/counter/<uuid:application_id>/form", methods=["GET", "POST"])
def counter_form(application_id: uuid.UUID) -> ResponseReturnValue:
    application = _counter_draft(application_id)
    if request.method == "GET":
        return _form_page(application, {})
    form = application.settings_snapshot["form"]
    page = _counter_page(application)
    read = schema_form.read_page(page, request.form, application.data or {}, application.prefill_sources or {})
    posted = schema_form.values_from_form(page, request.form)
    by_input = schema_form.counter_id
    picked = schema_form.fill_picked(db_session(), application, page, read, by_input)
    errors = schema_form.page_errors(form, page, read, complete=True, id_of=by_input, picked=picked)
    if errors:
        return _form_page(application, errors, 422, posted=posted)
    try:
        operations.update_draft(
            db_session(),
            current_tenant,
            current_principal().actor,
            application.id,
            read.data,
            expected_version=_posted_version(),
        )
    except PreconditionFailed:
        errors = {
            "form": [_("Someone changed this application in the meantime. Check the answers and send them again.")]
        }
        return _form_page(_load(application_id), errors, 409, posted=posted)
    except ValidationFailed as error:
        db_session().rollback()
        errors = schema_form.refusal_errors(form, page, error.errors or {}, by_input)
        return _form_page(_load(application_id), errors, 422, posted=posted)
    return redirect(url_for(".counter_confirm", tenant=current_tenant.slug, application_id=application_id), code=303)


def _confirm_page(application: Application, errors: dict[str, list[str]], status: int = 200) -> ResponseReturnValue:
    settings = application.settings_snapshot
    return render_template(
        "console/counter_confirm.html",
        application=application,
        procedure=localized(settings.get("title")),
        sections=schema_answers.answer_sections(
            settings["form"], application.data or {}, application.prefill_sources or {}, _facility_names()
        ),
        errors=errors,
    ), status


@bp.route("/counter/<uuid:application_id>/confirm", methods=["GET", "POST"])
def counter_confirm(application_id: uuid.UUID) -> ResponseReturnValue:
    application = _counter_draft(application_id)
    if request.method == "GET":
        return _confirm_page(application, {})
    values = {"checked": request.form.get("checked")}
    _data, errors = form_input.load(form_input.confirmation("checked")(), values, CONFIRM_CONTENT)
    if errors:
        return _confirm_page(application, errors, 422)
    try:
        operations.submit(
            db_session(), current_tenant, current_principal().actor, application.id, expected_version=_posted_version()
        )
    except PreconditionFailed:
        errors = {"form": [_("Someone changed this application in the meantime. Check the content again.")]}
        return _confirm_page(_load(application_id), errors, 409)
    except ValidationFailed:
        db_session().rollback()
        messages = [_("Some answers are missing or not valid: go back to the form and complete them.")]
        return _confirm_page(_load(application_id), {"form": messages}, 422)
    return redirect(url_for(".counter_done", tenant=current_tenant.slug, application_id=application_id), code=303)


@bp.get("/counter/<uuid:application_id>/done")
def counter_done(application_id: uuid.UUID) -> ResponseReturnValue:
    application = _load(application_id)
    if application.channel != "counter":
        abort(404)
    if application.state == application.workflow.initial:
        return redirect(
            url_for(".counter_confirm", tenant=current_tenant.slug, application_id=application_id), code=303
        )
    return render_template(
        "console/counter_done.html",
        application=application,
        procedure=localized(application.settings_snapshot.get("title")),
        state=_state_title(application.workflow, application.state),
    )
