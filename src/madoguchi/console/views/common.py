"""What the console's screens share: the blueprint, the lookups every screen makes, the due-date badge."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from flask import Blueprint, abort, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext

from madoguchi import jp, workdays
from madoguchi.applications import due_dates, forms, repository
from madoguchi.applications.models import Application
from madoguchi.applications.workflow import Workflow
from madoguchi.audit import access
from madoguchi.catalog import operations as catalog
from madoguchi.catalog import repository as catalog_repository
from madoguchi.console import search
from madoguchi.context import current_tenant, db_session
from madoguchi.identity import repository as identity_repository
from madoguchi.identity.models import Account, StaffRole
from madoguchi.identity.principal import current_principal
from madoguchi.registry import repository as registry_repository
from madoguchi.registry.models import Person
from madoguchi.tenancy import closed_days
from madoguchi.web.auth import require_staff
from madoguchi.web.i18n import localized
from madoguchi.web.reads import record_read

bp = Blueprint("console", __name__, url_prefix="/<tenant>/console", template_folder="../templates")
require_staff(bp)

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
    return jp.today()


@bp.context_processor
def _console_nav() -> dict[str, Any]:
    account = current_principal().account
    is_admin = account is not None and StaffRole.TENANT_ADMIN in (account.roles or [])
    return {"is_tenant_admin": is_admin, "tenant": current_tenant}


# ------------------------------------------------------------------------------------------ lookups


def _load(application_id: uuid.UUID) -> Application:
    """An application of this municipality as staff see it (not a resident's unsent draft), else 404."""
    return repository.get_for(db_session(), current_principal(), application_id)


def _staff_members() -> list[Account]:
    return identity_repository.active_staff(db_session(), current_tenant.id)


def _names(account_ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    return identity_repository.display_names(db_session(), current_tenant.id, account_ids)


def _facility_names() -> dict[str, str]:
    """This municipality's childcare facilities, code -> name in the page's language (answers show names)."""
    return {
        f.facility_code: localized({"ja": f.name_ja, "en": f.name_en})
        for f in repository.facilities(db_session(), current_tenant.id)
    }


def _procedures() -> list[tuple[str, dict[str, Any]]]:
    """(key, effective settings) of every procedure the municipality offers."""
    return [
        (ts.service_key, catalog.shared_effective_settings(ts, sv))
        for ts, sv in catalog_repository.enabled_services(db_session(), current_tenant.id, content=False)
    ]


@dataclass
class Due:
    label: str
    css: str


def _calendar(today: date) -> workdays.Calendar:
    """The municipality's working days from today on (what a due-date badge counts in)."""
    return closed_days.calendar_for(db_session(), current_tenant.id, since=today)


def _due_badge(application: Application, workflow: Workflow, today: date, calendar: workdays.Calendar) -> Due | None:
    """Overdue, due soon (on the due date or the working day before it) or on time; none while paused for 補正
    (no due date then) or once finished."""
    if application.due_on is None or workflow.is_terminal(application.state):
        return None
    if application.due_on < today:
        return Due(_("Overdue"), "badge-overdue")
    if due_dates.working_days_left(application.due_on, today, calendar) <= 1:
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
    return registry_repository.full_names(db_session(), current_tenant.id, ids)


def _posted_version() -> int | None:
    raw = request.form.get("version", "")
    return int(raw) if raw.isdigit() else None


def _person(person_id: uuid.UUID) -> Person:
    person = registry_repository.find_person(db_session(), current_tenant.id, person_id)
    if person is None:
        abort(404)
    return person


def _search_register(purpose: str) -> tuple[search.PersonQuery, list[Person] | None, dict[str, list[str]]]:
    """The register search of the request's query (``search=1``): (query, people or None, errors per field).

    Each person in the results is shown to the clerk (name, reading, date of birth, address): one data-use entry
    each, in the request's transaction, with ``purpose``."""
    query = search.PersonQuery.from_args(request.args)
    errors: dict[str, list[str]] = {}
    people: list[Person] | None = None
    if request.args.get("search"):
        errors = {key: [str(m) for m in messages] for key, messages in query.problems().items()}
        if not errors:
            people = search.people(db_session(), current_tenant.id, query)
            for person in people:
                record_read(
                    action=access.COUNTER_SEARCH_HIT,
                    object_type="person",
                    object_id=person.id,
                    categories=[access.BASIC4],
                    person_id=person.id,
                    purpose=purpose,
                )
    return query, people, errors
