"""The console's queue: the municipality's applications, filtered and sorted, in keyset pages."""

from __future__ import annotations

from typing import Any

from flask import render_template, request, url_for
from flask.typing import ResponseReturnValue
from marshmallow import EXCLUDE, ValidationError, fields, validate

from madoguchi.applications import repository
from madoguchi.applications.schemas import QueueFilterArgsSchema, assignee_filter
from madoguchi.applications.workflow import Workflow
from madoguchi.console.views.common import (
    _applicant_name,
    _calendar,
    _due_badge,
    _names,
    _people,
    _procedures,
    _staff_members,
    _state_title,
    _today,
    bp,
)
from madoguchi.context import current_tenant, db_session
from madoguchi.identity.principal import current_principal
from madoguchi.web.i18n import localized

PAGE_SIZE = 25
SORTS = {"submitted": ("submitted", False), "newest": ("submitted", True), "due": ("due", False)}

# -------------------------------------------------------------------------------------------- queue


class ConsoleQueueArgsSchema(QueueFilterArgsSchema):
    """The queue page's query string: the API's filters, the page's sort, and the keyset anchors."""

    class Meta:
        unknown = EXCLUDE  # ?lang= and the like belong to other parts of the page

    sort = fields.String(validate=validate.OneOf(list(SORTS)))
    after = fields.UUID()
    before = fields.UUID()


def _queue_args() -> dict[str, Any]:
    """The query string as the schema loads it; a value that does not load (a stale bookmark) is left out."""
    try:
        return dict(ConsoleQueueArgsSchema().load(request.args))
    except ValidationError as error:
        return dict(error.valid_data or {})


@bp.get("/")
def queue() -> ResponseReturnValue:
    """The queue: filters and sort in the query string, keyset pages of PAGE_SIZE."""
    session = db_session()
    principal = current_principal()
    today = _today()
    args = _queue_args()
    chosen: dict[str, Any] = {
        "state": args.get("state", ""),
        "procedure": args.get("procedure", ""),
        "assignee": str(args.get("assignee") or ""),
        "overdue": bool(args.get("overdue")),
        "sort": args.get("sort", "submitted"),
    }
    me = principal.account.id if principal.account else None
    filters = repository.queue_filters(
        session,
        current_tenant.id,
        state=chosen["state"] or None,
        procedure=chosen["procedure"] or None,
        overdue=True if chosen["overdue"] else None,
        today=today,
        **assignee_filter(args.get("assignee"), me),
    )
    sort, newest_first = SORTS[chosen["sort"]]
    after, before = args.get("after"), args.get("before")
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
    calendar = _calendar(today)
    items = []
    for application in rows:
        workflow = application.workflow
        items.append(
            {
                "application": application,
                "procedure": localized(
                    titles.get(application.service_key) or application.settings_snapshot.get("title")
                )
                or application.service_key,
                "applicant": _applicant_name(application, people),
                "state": _state_title(workflow, application.state),
                "due": _due_badge(application, workflow, today, calendar),
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
