"""The console's application page: answers, history, comments, the assignee and the workflow's actions."""

from __future__ import annotations

import uuid
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext

from madoguchi.applications import operations, relations, repository
from madoguchi.applications.models import Application, ApplicationEvent
from madoguchi.applications.schemas import (
    AssigneeChoiceSchema,
    NoteCreateSchema,
    TransitionCreateSchema,
    assignee_account_id,
)
from madoguchi.applications.workflow import Workflow
from madoguchi.audit import access
from madoguchi.childcare.certification import ACTION as CERTIFICATION_ACTION
from madoguchi.console.views.common import (
    STOPPING_STATES,
    _calendar,
    _due_badge,
    _facility_names,
    _load,
    _message,
    _names,
    _posted_version,
    _staff_members,
    _state_title,
    _today,
    bp,
)
from madoguchi.console.views.payment_panel import payment_panel
from madoguchi.context import current_tenant, db_session
from madoguchi.documents.content import NotIssuable
from madoguchi.errors import (
    Conflict,
    Forbidden,
    InvalidTransition,
    PreconditionFailed,
    SeparationOfDuties,
    ValidationFailed,
)
from madoguchi.identity.principal import current_principal
from madoguchi.registry import repository as registry_repository
from madoguchi.web import form_input, schema_answers, schema_form
from madoguchi.web.i18n import localized
from madoguchi.web.reads import record_read

# ---------------------------------------------------------------------------------- application page


#: How the application page words a refusal of the staff texts (the applications API's schemas): (empty, wrong).
TEXT_MESSAGES = {
    "note": (lazy_gettext("Write the comment."), lazy_gettext("Keep it under 2000 characters.")),
    "comment": (lazy_gettext("Keep it under 2000 characters."), lazy_gettext("Keep it under 2000 characters.")),
    "form": (lazy_gettext("This action is not possible now."), lazy_gettext("This action is not possible now.")),
}

#: How the assign form words a refusal: (empty, wrong); an empty choice is "nobody", never refused.
ASSIGN_MESSAGES = {"assignee": (lazy_gettext("Choose a staff member."), lazy_gettext("Choose a staff member."))}


def _event_title(workflow: Workflow, event: ApplicationEvent) -> str:
    labels = {
        "create": _("Started"),
        "update": _("Answers changed"),
        "assign": _("Assignee changed"),
        "comment": _("Comment"),
        "auto_issue_declined": _("Automatic issue not possible"),
        "link_person": _("Person concerned linked"),
        "evidence_review": _("Evidence reviewed"),
    }
    if event.action in labels:
        return labels[event.action]
    step = next((t for t in workflow.transitions if t.name == event.action), None)
    return localized(step.title) if step else event.action


def _relation_title(application: Application) -> str | None:
    """How the applicant stands to the person, as the form titles it (None: the procedure does not ask)."""
    if application.relation is None:
        return None
    field = schema_form.schema_at(application.settings_snapshot["form"], relations.RELATION_POINTER) or {}
    return localized((field.get("x-enum-titles") or {}).get(application.relation)) or application.relation


def _application_page(
    application: Application, *, errors: dict[str, list[str]] | None = None, status: int = 200, **values: Any
) -> ResponseReturnValue:
    session = db_session()
    principal = current_principal()
    workflow = application.workflow
    settings = application.settings_snapshot
    history = repository.history(session, current_tenant.id, application.id)
    names = _names(
        {e.actor_account_id for e in history if e.actor_account_id}
        | ({application.assignee_account_id} if application.assignee_account_id else set())
        | ({application.evidence_reviewed_by_account_id} if application.evidence_reviewed_by_account_id else set())
    )
    person = applicant_person = None
    if application.subject_person_id:  # whom it is about (本人)
        person = registry_repository.find_person(session, current_tenant.id, application.subject_person_id)
    if application.applicant_person_id and application.applicant_person_id != application.subject_person_id:
        applicant_person = registry_repository.find_person(session, current_tenant.id, application.applicant_person_id)
    is_draft = application.state == workflow.initial
    last_actors = repository.last_actors_in(history)
    mine: dict[str, Any] = {"applicant_account_id": application.applicant_account_id, "last_actors": last_actors}
    transitions: list[dict[str, Any]] = []
    for t in [] if is_draft else workflow.available_to(principal.actor, application.state, **mine):
        needs_comment = "comment_present" in t.guards
        kind = "warning" if t.to in STOPPING_STATES else "secondary"
        if kind == "secondary" and not needs_comment and not any(x["kind"] == "primary" for x in transitions):
            kind = "primary"
        entry = {"name": t.name, "title": localized(t.title), "kind": kind}
        if CERTIFICATION_ACTION in t.actions:  # the 支給認定 is decided on its own form, child by child
            entry["form_url"] = url_for(
                ".certification_form", tenant=current_tenant.slug, application_id=application.id
            )
        transitions.append(entry)
    timeline: list[dict[str, Any]] = [
        {
            "event": event,
            "title": _event_title(workflow, event),
            "to": _state_title(workflow, event.to_state)
            if event.to_state and event.to_state != event.from_state
            else "",
            "actor": names.get(event.actor_account_id) if event.actor_account_id else None,
        }
        for event in history
    ]
    return (
        render_template(
            "console/application.html",
            application=application,
            procedure=localized(settings.get("title")) or application.service_key,
            state=_state_title(workflow, application.state),
            due=_due_badge(application, workflow, _today(), _calendar(_today())),
            sections=schema_answers.answer_sections(
                settings["form"], application.data or {}, application.prefill_sources or {}, _facility_names()
            ),
            prefill=schema_answers.provenance(settings["form"], application.prefill_sources or {}),
            person=person,
            applicant_person=applicant_person,
            relation=_relation_title(application),
            on_behalf=application.relation in relations.ON_BEHALF,
            to_confirm=relations.confirmation_problems(application),
            reviewer=names.get(application.evidence_reviewed_by_account_id)
            if application.evidence_reviewed_by_account_id
            else None,
            timeline=timeline,
            comments=[row for row in timeline if row["event"].action == "comment"],
            transitions=transitions,
            # Four eyes: say why a button the role would allow is absent (the recommender cannot approve).
            separated=bool(workflow.barred_from(principal.actor, application.state, **mine)),
            is_draft=is_draft,
            assignee=names.get(application.assignee_account_id) if application.assignee_account_id else None,
            staff=[(str(a.id), a.display_name) for a in _staff_members()],
            errors=errors or {},
            values=values,
            payments=None if is_draft else payment_panel(application),
        ),
        status,
    )


def _changed_meanwhile(application_id: uuid.UUID) -> ResponseReturnValue:
    db_session().rollback()
    fresh = _load(application_id)
    message = _("Someone changed this application in the meantime. Here is the latest version: check it and try again.")
    return _application_page(fresh, errors={"form": [message]}, status=409)


@bp.get("/applications/<uuid:application_id>")
def application_page(application_id: uuid.UUID) -> ResponseReturnValue:
    application = _load(application_id)
    # The page shows the 基本4情報 of the person concerned, and of the applicant when someone else filed.
    shows_register = application.subject_person_id is not None or application.applicant_person_id is not None
    record_read(
        action=access.VIEW_APPLICATION,
        object_type="application",
        object_id=application.id,
        categories=[access.APPLICATION_FORM, access.APPLICATION_HISTORY] + ([access.BASIC4] if shows_register else []),
        application=application,
    )
    return _application_page(application)


@bp.post("/applications/<uuid:application_id>/transitions")
def take_transition(application_id: uuid.UUID) -> ResponseReturnValue:
    application = _load(application_id)
    values = {"transition": request.form.get("transition", ""), "comment": request.form.get("comment", "").strip()}
    data, errors = form_input.load(TransitionCreateSchema(), values, TEXT_MESSAGES)
    comment = values["comment"]
    if data is None:
        return _application_page(application, errors=errors, status=422, comment=comment)
    name = data["transition"]
    try:
        operations.transition(
            db_session(),
            current_tenant,
            current_principal().actor,
            application.id,
            name,
            comment=comment or None,
            expected_version=_posted_version(),
        )
    except PreconditionFailed:
        return _changed_meanwhile(application_id)
    except Conflict as error:
        db_session().rollback()
        fresh = _load(application_id)
        if not isinstance(error, InvalidTransition) and fresh.lock_version != _posted_version():
            return _changed_meanwhile(application_id)
        if isinstance(error, NotIssuable):
            # Say why, and the ways on: the request is not stuck in 交付決定 (decision 0032).
            reason = schema_form.register_reason(error.detail or "") or error.detail
            message = _(
                "The certificate cannot be issued. %(reason)s Reject the request with this reason (the applicant is"
                " told), or the applicant may withdraw it.",
                reason=reason,
            )
            return _application_page(fresh, errors={"form": [message]}, status=409)
        message = (
            _("Link the person concerned in the register and accept the evidence before deciding.")
            if error.extra.get("rule") == "person_concerned_confirmed"
            else _("This action is not possible now.")
        )
        return _application_page(fresh, errors={"form": [message]}, status=409)
    except ValidationFailed as error:
        db_session().rollback()
        fresh = _load(application_id)
        errors = {
            ("comment" if ptr == "comment" else "form"): [
                _message(m) if ptr == "comment" else _("The application is not complete: %(field)s", field=ptr)
                for m in messages
            ]
            for ptr, messages in (error.errors or {"form": [error.detail or ""]}).items()
        }
        return _application_page(fresh, errors=errors, status=422, comment=comment)
    except SeparationOfDuties:
        db_session().rollback()
        message = _("The staff member who recommended cannot approve.")
        return _application_page(_load(application_id), errors={"form": [message]}, status=403)
    except Forbidden:
        db_session().rollback()
        abort(403)
    flash(
        _(
            "Done: the application is now “%(state)s”.",
            state=_state_title(application.workflow, application.state),
        )
    )
    return redirect(url_for(".application_page", tenant=current_tenant.slug, application_id=application_id), code=303)


@bp.post("/applications/<uuid:application_id>/comments")
def add_comment(application_id: uuid.UUID) -> ResponseReturnValue:
    application = _load(application_id)
    values = {"note": request.form.get("note", "").strip()}
    data, errors = form_input.load(NoteCreateSchema(), values, TEXT_MESSAGES)
    if data is None:
        return _application_page(application, errors=errors, status=422, note=values["note"])
    operations.add_comment(db_session(), current_tenant, current_principal().actor, application.id, data["note"])
    flash(_("Your comment was added."))
    return redirect(url_for(".application_page", tenant=current_tenant.slug, application_id=application_id), code=303)


@bp.post("/applications/<uuid:application_id>/assignee")
def assign(application_id: uuid.UUID) -> ResponseReturnValue:
    application = _load(application_id)
    principal = current_principal()
    data, errors = form_input.load(
        AssigneeChoiceSchema(), {"assignee": request.form.get("assignee", "")}, ASSIGN_MESSAGES
    )
    if data is None:
        return _application_page(application, errors=errors, status=422)
    assignee_id = assignee_account_id(data["assignee"], principal.account.id if principal.account else None)
    if _posted_version() is not None and _posted_version() != application.lock_version:
        return _changed_meanwhile(application_id)
    try:
        operations.assign(db_session(), current_tenant, principal.actor, application.id, assignee_id)
    except ValidationFailed:
        db_session().rollback()
        return _application_page(_load(application_id), errors={"assignee": [_("Choose a staff member.")]}, status=422)
    except Conflict:
        return _changed_meanwhile(application_id)
    flash(_("The assignee was changed."))
    return redirect(url_for(".application_page", tenant=current_tenant.slug, application_id=application_id), code=303)
