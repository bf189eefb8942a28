"""Queries over applications and their history. Every function takes (session, tenant_id, ...)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, SQLColumnExpression, and_, func, or_, select, tuple_
from sqlalchemy.orm import Session

from madoguchi.applications.models import Application, ApplicationEvent, Attachment
from madoguchi.catalog.models import ServiceVersion
from madoguchi.errors import NotFound
from madoguchi.tenancy.models import TenantService


def get(session: Session, tenant_id: uuid.UUID, application_id: uuid.UUID) -> Application:
    stmt = select(Application).where(Application.tenant_id == tenant_id, Application.id == application_id)
    application = session.execute(stmt).scalar_one_or_none()
    if application is None:
        raise NotFound("No such application.")
    return application


def next_event_seq(session: Session, tenant_id: uuid.UUID, application_id: uuid.UUID) -> int:
    stmt = select(func.coalesce(func.max(ApplicationEvent.seq), 0)).where(
        ApplicationEvent.tenant_id == tenant_id, ApplicationEvent.application_id == application_id
    )
    return int(session.execute(stmt).scalar_one()) + 1


def history(session: Session, tenant_id: uuid.UUID, application_id: uuid.UUID) -> list[ApplicationEvent]:
    stmt = (
        select(ApplicationEvent)
        .where(ApplicationEvent.tenant_id == tenant_id, ApplicationEvent.application_id == application_id)
        .order_by(ApplicationEvent.seq)
    )
    return list(session.execute(stmt).scalars())


def last_actors(session: Session, tenant_id: uuid.UUID, application_id: uuid.UUID) -> dict[str, uuid.UUID | None]:
    """For each action taken on the application, the account that took it most recently (None: the system)."""
    return last_actors_in(history(session, tenant_id, application_id))


def last_actors_in(events: Sequence[ApplicationEvent]) -> dict[str, uuid.UUID | None]:
    """:func:`last_actors` from an already loaded history (ordered by ``seq``)."""
    return {event.action: event.actor_account_id for event in events}


def attached_document_keys(session: Session, tenant_id: uuid.UUID, application_id: uuid.UUID) -> set[str]:
    stmt = select(Attachment.document_key).where(
        Attachment.tenant_id == tenant_id, Attachment.application_id == application_id
    )
    return set(session.execute(stmt).scalars())


#: Keyset orders of a queue. Each ends with the id, so every row has a distinct key and no page repeats one.
#: "created" is the API's order; the console sorts by submission (a counter draft by its creation) or due date.
_SUBMITTED = func.coalesce(Application.submitted_at, Application.created_at)
_NO_DUE_DATE = date(9999, 12, 31)
SORT_KEYS: dict[str, tuple[SQLColumnExpression[Any], ...]] = {
    "created": (Application.created_at, Application.id),
    "submitted": (_SUBMITTED, Application.id),
    "due": (func.coalesce(Application.due_on, _NO_DUE_DATE), _SUBMITTED, Application.id),
}


def staff_visible() -> ColumnElement[bool]:
    """What staff see of the tenant's applications: all but residents' unsent drafts (a counter draft is
    the clerk's own work in progress, so it shows)."""
    return or_(Application.state != "draft", Application.channel == "counter")


def terminal_states(session: Session, tenant_id: uuid.UUID) -> set[str]:
    """Terminal states of every procedure version the tenant offers (optional steps included)."""
    stmt = (
        select(ServiceVersion.definition)
        .join(TenantService, TenantService.service_version_id == ServiceVersion.id)
        .where(TenantService.tenant_id == tenant_id)
    )
    states: set[str] = set()
    for definition in session.execute(stmt).scalars():
        workflow = definition.get("workflow", {})
        states |= {s["name"] for s in workflow.get("states", []) if s.get("terminal")}
        for step in (workflow.get("optional_steps") or {}).values():
            states |= {s["name"] for s in step.get("states", []) if s.get("terminal")}
    return states


def queue_filters(
    session: Session,
    tenant_id: uuid.UUID,
    *,
    state: str | None = None,
    procedure: str | None = None,
    assignee_id: uuid.UUID | None = None,
    unassigned: bool = False,
    overdue: bool | None = None,
    today: date | None = None,
) -> list[ColumnElement[bool]]:
    """The queue's filters, shared by the API and the console. ``overdue``: past the due date and not done."""
    filters: list[ColumnElement[bool]] = []
    if state:
        filters.append(Application.state == state)
    if procedure:
        filters.append(Application.service_key == procedure)
    if unassigned:
        filters.append(Application.assignee_account_id.is_(None))
    elif assignee_id is not None:
        filters.append(Application.assignee_account_id == assignee_id)
    if overdue is not None:
        late = and_(
            Application.due_on.is_not(None),
            Application.due_on < (today or date.today()),
            Application.state.not_in(terminal_states(session, tenant_id)),
        )
        filters.append(late if overdue else ~late)
    return filters


def sort_key_of(session: Session, tenant_id: uuid.UUID, application_id: uuid.UUID, sort: str) -> tuple[Any, ...]:
    """The sort key of one application: where a page that follows (or precedes) it starts."""
    stmt = select(*SORT_KEYS[sort]).where(Application.tenant_id == tenant_id, Application.id == application_id)
    row = session.execute(stmt).one_or_none()
    if row is None:
        raise NotFound("No such application.")
    return tuple(row)


def page(
    session: Session,
    tenant_id: uuid.UUID,
    *,
    visible: ColumnElement[bool],
    filters: list[ColumnElement[bool]],
    newest_first: bool,
    after: Sequence[Any] | None,
    limit: int,
    sort: str = "created",
) -> list[Application]:
    """One keyset page in the order ``sort`` (``SORT_KEYS``) after the key ``after``, with one extra row
    when more follow: stable however many rows arrive meanwhile."""
    key = SORT_KEYS[sort]
    stmt = select(Application).where(Application.tenant_id == tenant_id, visible, *filters)
    if after is not None:
        stmt = stmt.where(tuple_(*key) < tuple_(*after) if newest_first else tuple_(*key) > tuple_(*after))
    order = [column.desc() for column in key] if newest_first else list(key)
    return list(session.execute(stmt.order_by(*order).limit(limit + 1)).scalars())


def find_staff_visible(session: Session, tenant_id: uuid.UUID, application_id: uuid.UUID) -> Application | None:
    """The application as staff see it (not a resident's unsent draft), or ``None``."""
    stmt = select(Application).where(
        Application.tenant_id == tenant_id, Application.id == application_id, staff_visible()
    )
    return session.execute(stmt).scalar_one_or_none()
