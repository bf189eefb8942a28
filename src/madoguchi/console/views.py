"""The clerk console: the queue, the application page, counter filing (書かない窓口), and linking a resident's
account to the resident register at the counter (窓口での本人確認).

Staff of the municipality in the URL only (any staff role); what a staff member may do to an application
is decided by the procedure's workflow and the operations, never here. Forms post back to the page they
came from; input errors re-render it with status 422, a changed application with status 409.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from sqlalchemy import select

from madoguchi.applications import forms, operations, repository
from madoguchi.applications.models import Application, ApplicationEvent
from madoguchi.applications.workflow import Workflow
from madoguchi.audit import access
from madoguchi.catalog import operations as catalog
from madoguchi.catalog import repository as catalog_repository
from madoguchi.console import search
from madoguchi.context import current_tenant, db_session
from madoguchi.errors import (
    Conflict,
    Forbidden,
    InvalidTransition,
    NotFound,
    PreconditionFailed,
    SeparationOfDuties,
    ValidationFailed,
)
from madoguchi.identity import operations as identity
from madoguchi.identity.models import Account, AccountKind, StaffRole
from madoguchi.identity.principal import current_principal
from madoguchi.registry.models import Person
from madoguchi.web import schema_answers, schema_form
from madoguchi.web.auth import require_staff
from madoguchi.web.i18n import TIMEZONE, localized
from madoguchi.web.reads import record_read

bp = Blueprint("console", __name__, url_prefix="/<tenant>/console", template_folder="templates")
require_staff(bp)

PAGE_SIZE = 25
SORTS = {"submitted": ("submitted", False), "newest": ("submitted", True), "due": ("due", False)}
COMMENT_MAX = 2000
#: Transitions into these end an application without what was asked: their buttons ask for confirmation.
STOPPING_STATES = ("rejected", "withdrawn")

#: Messages of the form checks (English in the operations) as a person at the counter reads them.
FIELD_MESSAGES = {
    "is required": lazy_gettext("Enter or choose this."),
    "is required for this action": lazy_gettext("Write the reason: the applicant is told it."),
}


def _message(text: str) -> str:
    known = FIELD_MESSAGES.get(text)
    if known is not None:
        return str(known)
    if text.startswith("must be one of"):
        return _("Choose one of the options.")
    return _("Check this answer.")


def _today() -> date:
    return datetime.now(ZoneInfo(TIMEZONE)).date()


@bp.context_processor
def _console_nav() -> dict[str, Any]:
    account = current_principal().account
    is_admin = account is not None and StaffRole.TENANT_ADMIN in (account.roles or [])
    return {"is_tenant_admin": is_admin, "tenant": current_tenant}


# ------------------------------------------------------------------------------------------ lookups


def _load(application_id: uuid.UUID) -> Application:
    """An application of this municipality as staff see it (not a resident's unsent draft), else 404."""
    stmt = select(Application).where(
        Application.tenant_id == current_tenant.id, Application.id == application_id, repository.staff_visible()
    )
    application = db_session().execute(stmt).scalar_one_or_none()
    if application is None:
        abort(404)
    return application


def _staff_members() -> list[Account]:
    stmt = (
        select(Account)
        .where(Account.tenant_id == current_tenant.id, Account.kind == AccountKind.STAFF, Account.disabled.is_(False))
        .order_by(Account.display_name, Account.email)
    )
    return list(db_session().execute(stmt).scalars())


def _names(account_ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not account_ids:
        return {}
    stmt = select(Account.id, Account.display_name).where(Account.id.in_(account_ids))
    return {row.id: row.display_name for row in db_session().execute(stmt)}


def _procedures() -> list[tuple[str, dict[str, Any]]]:
    """(key, effective settings) of every procedure the municipality offers."""
    return [
        (ts.service_key, catalog.effective_settings(ts, sv))
        for ts, sv in catalog_repository.enabled_services(db_session(), current_tenant.id)
    ]


@dataclass
class Due:
    label: str
    css: str


def _due_badge(application: Application, workflow: Workflow, today: date) -> Due | None:
    if application.due_on is None or workflow.is_terminal(application.state):
        return None
    if application.due_on < today:
        return Due(_("Overdue"), "badge-overdue")
    if (application.due_on - today).days <= 1:
        return Due(_("Due soon"), "badge-warn")
    return Due(_("On time"), "badge-ok")


def _state_title(workflow: Workflow, state: str) -> str:
    return localized(workflow.states.get(state, {}).get("title")) or state


def _applicant_name(application: Application, people: dict[uuid.UUID, str]) -> str:
    if application.applicant_person_id in people:
        return people[application.applicant_person_id]
    name = forms.resolve(application.data or {}, "/applicant/name", None)
    return str(name) if name else "—"


def _people(ids: set[uuid.UUID | None]) -> dict[uuid.UUID, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    stmt = select(Person).where(Person.tenant_id == current_tenant.id, Person.id.in_(wanted))
    return {p.id: p.full_name for p in db_session().execute(stmt).scalars()}


# -------------------------------------------------------------------------------------------- queue


def _uuid_arg(name: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(request.args.get(name, ""))
    except ValueError:
        return None


@bp.get("/")
def queue() -> ResponseReturnValue:
    """The queue: filters and sort in the query string, keyset pages of PAGE_SIZE."""
    session = db_session()
    principal = current_principal()
    today = _today()
    args = request.args
    chosen: dict[str, Any] = {
        "state": args.get("state", ""),
        "procedure": args.get("procedure", ""),
        "assignee": args.get("assignee", ""),
        "overdue": args.get("overdue") == "1",
        "sort": args.get("sort") if args.get("sort") in SORTS else "submitted",
    }
    assignee = chosen["assignee"]
    assignee_id = principal.account.id if assignee == "me" and principal.account else None
    if assignee not in ("", "me", "none"):
        try:
            assignee_id = uuid.UUID(assignee)
        except ValueError:
            chosen["assignee"] = assignee = ""
    filters = repository.queue_filters(
        session,
        current_tenant.id,
        state=chosen["state"] or None,
        procedure=chosen["procedure"] or None,
        assignee_id=assignee_id,
        unassigned=assignee == "none",
        overdue=True if chosen["overdue"] else None,
        today=today,
    )
    sort, newest_first = SORTS[chosen["sort"]]
    after, before = _uuid_arg("after"), _uuid_arg("before")
    anchor = before or after
    key = repository.sort_key_of(session, current_tenant.id, anchor, sort) if anchor else None
    rows = repository.page(
        session,
        current_tenant.id,
        visible=repository.staff_visible(),
        filters=filters,
        newest_first=newest_first != bool(before),
        after=key,
        limit=PAGE_SIZE,
        sort=sort,
    )
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    if before:
        rows.reverse()
    kept = {k: v for k, v in chosen.items() if v and k != "overdue"} | ({"overdue": "1"} if chosen["overdue"] else {})
    next_url = prev_url = None
    if rows and (more if not before else True):
        next_url = url_for(".queue", tenant=current_tenant.slug, **kept, after=rows[-1].id)
    if rows and (more if before else bool(after)):
        prev_url = url_for(".queue", tenant=current_tenant.slug, **kept, before=rows[0].id)

    procedures = _procedures()
    people = _people({a.applicant_person_id for a in rows})
    staff = _staff_members()
    staff_names = {a.id: a.display_name for a in staff} | _names(
        {a.assignee_account_id for a in rows if a.assignee_account_id}
    )
    titles = {key: settings["title"] for key, settings in procedures}
    items = []
    for application in rows:
        workflow = Workflow(application.settings_snapshot["workflow"])
        items.append(
            {
                "application": application,
                "procedure": localized(
                    titles.get(application.service_key) or application.settings_snapshot.get("title")
                )
                or application.service_key,
                "applicant": _applicant_name(application, people),
                "state": _state_title(workflow, application.state),
                "due": _due_badge(application, workflow, today),
                "assignee": staff_names.get(application.assignee_account_id)
                if application.assignee_account_id
                else None,
            }
        )
    states: dict[str, str] = {}
    for _key, settings in procedures:
        workflow = Workflow(settings["workflow"])
        for name in workflow.states:
            states.setdefault(name, _state_title(workflow, name))
    return render_template(
        "console/queue.html",
        items=items,
        chosen=chosen,
        states=list(states.items()),
        procedures=[(key, localized(settings["title"])) for key, settings in procedures],
        staff=[(str(a.id), a.display_name) for a in staff],
        next_url=next_url,
        prev_url=prev_url,
    )


# ---------------------------------------------------------------------------------- application page


def _event_title(workflow: Workflow, event: ApplicationEvent) -> str:
    labels = {
        "create": _("Started"),
        "update": _("Answers changed"),
        "assign": _("Assignee changed"),
        "comment": _("Comment"),
        "auto_issue_declined": _("Automatic issue not possible"),
    }
    if event.action in labels:
        return labels[event.action]
    step = next((t for t in workflow.transitions if t.name == event.action), None)
    return localized(step.title) if step else event.action


def _application_page(
    application: Application, *, errors: dict[str, list[str]] | None = None, status: int = 200, **values: Any
) -> ResponseReturnValue:
    session = db_session()
    principal = current_principal()
    workflow = Workflow(application.settings_snapshot["workflow"])
    settings = application.settings_snapshot
    history = repository.history(session, current_tenant.id, application.id)
    names = _names(
        {e.actor_account_id for e in history if e.actor_account_id}
        | ({application.assignee_account_id} if application.assignee_account_id else set())
    )
    person = None
    if application.applicant_person_id:
        person = session.execute(
            select(Person).where(Person.tenant_id == current_tenant.id, Person.id == application.applicant_person_id)
        ).scalar_one_or_none()
    is_draft = application.state == workflow.initial
    last_actors = repository.last_actors_in(history)
    mine: dict[str, Any] = {"applicant_account_id": application.applicant_account_id, "last_actors": last_actors}
    transitions: list[dict[str, Any]] = []
    for t in [] if is_draft else workflow.available_to(principal.actor, application.state, **mine):
        needs_comment = "comment_present" in t.guards
        kind = "warning" if t.to in STOPPING_STATES else "secondary"
        if kind == "secondary" and not needs_comment and not any(x["kind"] == "primary" for x in transitions):
            kind = "primary"
        transitions.append({"name": t.name, "title": localized(t.title), "kind": kind})
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
            due=_due_badge(application, workflow, _today()),
            sections=schema_answers.answer_sections(
                settings["form"], application.data or {}, application.prefill_sources or {}
            ),
            prefill=[
                (
                    schema_answers.title_of(schema_form.schema_at(settings["form"], ptr), ptr),
                    schema_answers.source_label(src),
                    src.get("field"),
                )
                for ptr, src in (application.prefill_sources or {}).items()
            ],
            person=person,
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
        ),
        status,
    )


def _posted_version() -> int | None:
    raw = request.form.get("version", "")
    return int(raw) if raw.isdigit() else None


def _changed_meanwhile(application_id: uuid.UUID) -> ResponseReturnValue:
    db_session().rollback()
    fresh = _load(application_id)
    message = _("Someone changed this application in the meantime. Here is the latest version: check it and try again.")
    return _application_page(fresh, errors={"form": [message]}, status=409)


@bp.get("/applications/<uuid:application_id>")
def application_page(application_id: uuid.UUID) -> ResponseReturnValue:
    application = _load(application_id)
    shows_register = application.applicant_person_id is not None  # the page shows the applicant's 基本4情報
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
    name = request.form.get("transition", "")
    comment = request.form.get("comment", "").strip()
    if len(comment) > COMMENT_MAX:
        return _application_page(
            application, errors={"comment": [_("Keep it under 2000 characters.")]}, status=422, comment=comment
        )
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
        return _application_page(fresh, errors={"form": [_("This action is not possible now.")]}, status=409)
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
            state=_state_title(Workflow(application.settings_snapshot["workflow"]), application.state),
        )
    )
    return redirect(url_for(".application_page", tenant=current_tenant.slug, application_id=application_id), code=303)


@bp.post("/applications/<uuid:application_id>/comments")
def add_comment(application_id: uuid.UUID) -> ResponseReturnValue:
    application = _load(application_id)
    text = request.form.get("note", "").strip()
    error = None
    if not text:
        error = _("Write the comment.")
    elif len(text) > COMMENT_MAX:
        error = _("Keep it under 2000 characters.")
    if error:
        return _application_page(application, errors={"note": [error]}, status=422, note=text)
    operations.add_comment(db_session(), current_tenant, current_principal().actor, application.id, text)
    flash(_("Your comment was added."))
    return redirect(url_for(".application_page", tenant=current_tenant.slug, application_id=application_id), code=303)


@bp.post("/applications/<uuid:application_id>/assignee")
def assign(application_id: uuid.UUID) -> ResponseReturnValue:
    application = _load(application_id)
    chosen = request.form.get("assignee", "")
    principal = current_principal()
    assignee_id: uuid.UUID | None = None
    if chosen == "me":
        assignee_id = principal.account.id if principal.account else None
    elif chosen:
        try:
            assignee_id = uuid.UUID(chosen)
        except ValueError:
            return _application_page(application, errors={"assignee": [_("Choose a staff member.")]}, status=422)
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


# ------------------------------------------------------------------------------------- counter filing


@bp.get("/counter/")
def counter_search() -> ResponseReturnValue:
    query, people, errors = _search_register()
    return render_template(
        "console/counter_search.html",
        query=query,
        people=people,
        errors=errors,
        person_url=lambda person: url_for(".counter_person", tenant=current_tenant.slug, person_id=person.id),
    ), (422 if errors else 200)


def _search_register() -> tuple[search.PersonQuery, list[Person] | None, dict[str, list[str]]]:
    """The register search of the request's query (``search=1``): (query, people or None, errors per field)."""
    query = search.PersonQuery.from_args(request.args)
    errors: dict[str, list[str]] = {}
    people: list[Person] | None = None
    if request.args.get("search"):
        errors = {key: [str(m) for m in messages] for key, messages in query.problems().items()}
        if not errors:
            people = search.people(db_session(), current_tenant.id, query)
    return query, people, errors


def _person(person_id: uuid.UUID) -> Person:
    stmt = select(Person).where(Person.tenant_id == current_tenant.id, Person.id == person_id)
    person = db_session().execute(stmt).scalar_one_or_none()
    if person is None:
        abort(404)
    return person


def _counter_procedures() -> list[tuple[str, str]]:
    return [(key, localized(s["title"])) for key, s in _procedures() if schema_form.supports_counter(s["form"])]


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
    key = request.form.get("procedure", "")
    if key not in dict(_counter_procedures()):
        return _person_page(person, {"procedure": [_("Choose a procedure.")]}, 422)
    application = operations.create_draft(
        db_session(), current_tenant, current_principal().actor, key, channel="counter", person_id=person.id
    )
    return redirect(url_for(".counter_form", tenant=current_tenant.slug, application_id=application.id), code=303)


def _counter_draft(application_id: uuid.UUID) -> Application:
    """A counter filing still being prepared; once submitted, its pages lead to the done page."""
    application = _load(application_id)
    if application.channel != "counter":
        abort(404)
    if application.state != Workflow(application.settings_snapshot["workflow"]).initial:
        abort(redirect(url_for(".counter_done", tenant=current_tenant.slug, application_id=application.id), code=303))
    return application


def _household(application: Application) -> list[tuple[str, str]]:
    if not application.applicant_person_id:
        return []
    person = _person(application.applicant_person_id)
    return [(m.resident_code, m.full_name) for m in person.household.members]


def _counter_page(application: Application) -> schema_form.Page:
    settings = application.settings_snapshot
    choices = schema_form.Choices(household_members=_household(application))
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
            settings["form"], application.data or {}, application.prefill_sources or {}
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
    errors = schema_form.page_errors(form, page, read, complete=True, id_of=by_input)
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
            settings["form"], application.data or {}, application.prefill_sources or {}
        ),
        errors=errors,
    ), status


@bp.route("/counter/<uuid:application_id>/confirm", methods=["GET", "POST"])
def counter_confirm(application_id: uuid.UUID) -> ResponseReturnValue:
    application = _counter_draft(application_id)
    if request.method == "GET":
        return _confirm_page(application, {})
    if request.form.get("checked") != "true":
        return _confirm_page(
            application, {"checked": [_("Tick the box once the resident has checked the content.")]}, 422
        )
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
    if application.state == Workflow(application.settings_snapshot["workflow"]).initial:
        return redirect(
            url_for(".counter_confirm", tenant=current_tenant.slug, application_id=application_id), code=303
        )
    return render_template(
        "console/counter_done.html",
        application=application,
        procedure=localized(application.settings_snapshot.get("title")),
        state=_state_title(Workflow(application.settings_snapshot["workflow"]), application.state),
    )


WEB_BLUEPRINTS = [bp]


# ------------------------------------------------------------------- identity verification at the counter
# The resident shows an identity document; the clerk finds their account by email, searches the register, compares
# both side by side and links them (identity.operations.link_identity_at_counter holds the rule and the audit).


@bp.get("/identity/")
def identity_find() -> ResponseReturnValue:
    """Find the resident's account by its email address."""
    raw = request.args.get("email", "")
    errors: dict[str, list[str]] = {}
    if "email" in request.args:
        try:
            email = identity.normalize_email(raw)
        except ValueError:
            errors["email"] = [_("Enter an email address like name@example.jp.") if raw.strip() else _("Enter this.")]
        else:
            account = identity.find_account_by_email(db_session(), current_tenant.id, email)
            if account is not None and account.kind == AccountKind.RESIDENT:
                return redirect(
                    url_for(".identity_account", tenant=current_tenant.slug, account_id=account.id), code=303
                )
            errors["email"] = [_("No resident account uses this address. Check it with the resident.")]
    return render_template("console/identity_find.html", email=raw, errors=errors), (422 if errors else 200)


def _resident_account(account_id: uuid.UUID) -> Account:
    """A resident account of this municipality, else 404 (another municipality's accounts do not exist here)."""
    try:
        account = identity.get_account(db_session(), current_tenant.id, account_id)
    except NotFound:
        abort(404)
    if account.kind != AccountKind.RESIDENT:
        abort(404)
    return account


def _linked_person(account: Account) -> Person | None:
    return _person(account.person_id) if account.person_id is not None else None


@bp.get("/identity/accounts/<uuid:account_id>")
def identity_account(account_id: uuid.UUID) -> ResponseReturnValue:
    """The account, and the register search to find the person it belongs to."""
    account = _resident_account(account_id)
    query, people, errors = _search_register()
    return render_template(
        "console/identity_account.html",
        account=account,
        linked=_linked_person(account),
        query=query,
        people=people,
        errors=errors,
        person_url=lambda person: url_for(
            ".identity_confirm", tenant=current_tenant.slug, account_id=account.id, person_id=person.id
        ),
    ), (422 if errors else 200)


def _identity_confirm_page(
    account: Account, person: Person, errors: dict[str, list[str]] | None = None, status: int = 200
) -> ResponseReturnValue:
    return render_template("console/identity_confirm.html", account=account, person=person, errors=errors or {}), status


@bp.route("/identity/accounts/<uuid:account_id>/people/<uuid:person_id>", methods=["GET", "POST"])
def identity_confirm(account_id: uuid.UUID, person_id: uuid.UUID) -> ResponseReturnValue:
    """Account and register entry side by side; confirming links them (clerks and supervisors)."""
    account, person = _resident_account(account_id), _person(person_id)
    if request.method == "GET":
        return _identity_confirm_page(account, person)
    if not request.form.get("checked"):
        errors = {"checked": [_("Check the identity document against the register entry first.")]}
        return _identity_confirm_page(account, person, errors, 422)
    principal = current_principal()
    assert principal.account is not None  # require_staff: a staff member is signed in
    session = db_session()
    try:
        identity.link_identity_at_counter(
            session,
            current_tenant.id,
            account.id,
            resident_code=person.resident_code,
            by=principal.account,
            actor=principal.actor.label,
        )
    except Forbidden:
        session.rollback()
        abort(403)
    except Conflict:
        session.rollback()
        account, person = _resident_account(account_id), _person(person_id)
        message = (
            _("This account is already linked to another person.")
            if account.person_id not in (None, person.id)
            else _("This person is already linked to another account.")
        )
        return _identity_confirm_page(account, person, {"form": [message]}, 409)
    flash(_("Done: %(email)s is now verified as %(name)s.", email=account.email, name=person.full_name))
    return redirect(url_for(".identity_account", tenant=current_tenant.slug, account_id=account.id), code=303)
