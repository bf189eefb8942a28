"""Queries over applications and their history. Every function takes (session, tenant_id, ...), except
:func:`get_for`, which takes the caller: it is the one place that says which application a caller may see.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    SQLColumnExpression,
    and_,
    bindparam,
    false,
    func,
    or_,
    select,
    tuple_,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from madoguchi import jp
from madoguchi.applications import snapshots
from madoguchi.applications.models import DUE_ORDER, SUBMITTED_ORDER, Application, ApplicationEvent, SettingsSnapshot
from madoguchi.catalog.models import ServiceVersion, TenantService
from madoguchi.db import CrossTenantWrite, bound_tenant, utcnow
from madoguchi.errors import NotFound
from madoguchi.identity.principal import APPLICATIONS_PROCESS, Principal
from madoguchi.registry.models import Facility, Person


def get(session: Session, tenant_id: uuid.UUID, application_id: uuid.UUID, *, lock: bool = False) -> Application:
    """An application of the tenant whoever asks: for operations, which the caller's view has already let
    through :func:`get_for`. ``lock``: ``SELECT ... FOR UPDATE`` (serialises writers such as uploads)."""
    return _one(session, _locked(select(Application).where(Application.id == application_id), lock), tenant_id)


def get_for(session: Session, principal: Principal, application_id: uuid.UUID, lock: bool = False) -> Application:
    """The application as ``principal`` may see it (:func:`visible_to`), else ``NotFound``: another caller's
    application, or another municipality's, is simply not there (404, never 403)."""
    if principal.tenant_id is None:
        raise NotFound("No such application.")
    stmt = select(Application).where(Application.id == application_id, visible_to(principal))
    return _one(session, _locked(stmt, lock), principal.tenant_id)


def _locked(stmt: Select[Application], lock: bool) -> Select[Application]:
    # populate_existing: the row read under the lock wins over a copy already in the session.
    return stmt.with_for_update().execution_options(populate_existing=True) if lock else stmt


def _one(session: Session, stmt: Select[Application], tenant_id: uuid.UUID) -> Application:
    application = session.execute(stmt.where(Application.tenant_id == tenant_id)).scalar_one_or_none()
    if application is None:
        raise NotFound("No such application.")
    return application


def processes_applications(principal: Principal) -> bool:
    """Staff working the queue: a clerk's session, or a staff member's token with ``applications:process``."""
    return principal.is_staff and principal.has_scope(APPLICATIONS_PROCESS)


def visible_to(principal: Principal) -> ColumnElement[bool]:
    """Which of its municipality's applications a caller sees. Staff who process applications: the queue
    (:func:`staff_visible`). A resident, or a vendor app acting for them with their consent (a token carrying
    their account): their own. A vendor app with client credentials: those it filed. Anyone else: none."""
    if processes_applications(principal):
        return staff_visible()
    if principal.account is not None:
        return Application.applicant_account_id == principal.account.id
    if principal.client_id is not None:
        return Application.filed_by_client_id == principal.client_id
    return false()


def store_snapshot(bind: Session | Connection, tenant_id: uuid.UUID, content: dict[str, Any]) -> str:
    """Store ``content`` as a settings snapshot of the tenant, once, and return its hash (decision 0027).

    ``INSERT ... ON CONFLICT DO NOTHING`` on both backends: two filings of the same settings at the same time both
    succeed (the second waits for the first and inserts nothing), and a row once written never changes. ``bind`` is
    a session bound to the tenant, or a connection (bulk loaders, the benchmarks: the caller sets the tenant).
    """
    if isinstance(bind, Session) and bound_tenant(bind) != tenant_id:
        # A Core insert passes neither the ORM's tenant criteria nor the flush check: say so here as they would.
        raise CrossTenantWrite("SettingsSnapshot of another tenant written in a session bound to one")
    digest = snapshots.snapshot_hash(content)
    engine = bind if isinstance(bind, Connection) else bind.get_bind()
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    values = {"tenant_id": tenant_id, "hash": digest, "content": content, "created_at": utcnow()}
    bind.execute(dialect.insert(SettingsSnapshot.__table__).values(values).on_conflict_do_nothing())
    snapshots.cache.put((tenant_id, digest), content)
    return digest


def load_snapshots(session: Session, applications: Sequence[Application]) -> None:
    """Read the snapshots of ``applications`` that the process has not cached yet, each once, in one query:
    a page of a queue then costs no snapshot reads once warm, and at most one per distinct snapshot when not."""
    tenant_id = bound_tenant(session)
    missing = {
        a.settings_snapshot_hash
        for a in applications
        if a.tenant_id == tenant_id and snapshots.cache.get((a.tenant_id, a.settings_snapshot_hash)) is None
    }
    if tenant_id is None or not missing:
        return
    stmt = select(SettingsSnapshot.hash, SettingsSnapshot.content).where(
        SettingsSnapshot.tenant_id == tenant_id, SettingsSnapshot.hash.in_(sorted(missing))
    )
    for digest, content in session.execute(stmt):
        snapshots.cache.put((tenant_id, digest), content)


def own_applications(session: Session, tenant_id: uuid.UUID, account_id: uuid.UUID, *, limit: int) -> list[Application]:
    """A resident's applications, newest first (the portal's "My applications")."""
    stmt = (
        select(Application)
        .where(Application.tenant_id == tenant_id, Application.applicant_account_id == account_id)
        .order_by(Application.created_at.desc(), Application.id.desc())
        .limit(limit)
    )
    rows = list(session.execute(stmt).scalars())
    load_snapshots(session, rows)
    return rows


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


#: Keyset orders of a queue. Each ends with the id, so every row has a distinct key and no page repeats one.
#: "created" is the API's order; the console sorts by submission (a counter draft by its creation) or due date.
#: Each has its index (decision 0024; tests/applications/test_queue_indexes.py plans every queue query).
SORT_KEYS: dict[str, tuple[SQLColumnExpression[Any], ...]] = {
    "created": (Application.created_at, Application.id),
    "submitted": (SUBMITTED_ORDER, Application.id),
    "due": (DUE_ORDER, SUBMITTED_ORDER, Application.id),
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
        # Drafts too: none has a due date, and leaving them out lets the open-queue index serve the filter.
        not_open = sorted({*terminal_states(session, tenant_id), "draft"})
        late = and_(
            # DUE_ORDER rather than due_on: the "due" sort's index serves the filter (no due date is never late).
            # Japan's date, whatever the server's clock zone: the console and the API must agree.
            (today or jp.today()) > DUE_ORDER,
            # The terminal states as literals, not parameters: every plan, a prepared statement's generic one
            # too, then proves the predicate of the open-queue indexes (models.OPEN; decision 0028).
            Application.state.not_in(bindparam("not_open", not_open, expanding=True, literal_execute=True)),
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
    stmt = page_statement(
        tenant_id, visible=visible, filters=filters, newest_first=newest_first, after=after, limit=limit, sort=sort
    )
    rows = list(session.execute(stmt).scalars())
    load_snapshots(session, rows)
    return rows


def page_statement(
    tenant_id: uuid.UUID,
    *,
    visible: ColumnElement[bool],
    filters: list[ColumnElement[bool]],
    newest_first: bool,
    after: Sequence[Any] | None,
    limit: int,
    sort: str = "created",
) -> Select[Application]:
    """The query :func:`page` runs (the queue indexes' EXPLAIN test plans it: decision 0024)."""
    key = SORT_KEYS[sort]
    stmt = select(Application).where(Application.tenant_id == tenant_id, visible, *filters)
    if after is not None:
        stmt = stmt.where(tuple_(*key) < tuple_(*after) if newest_first else tuple_(*key) > tuple_(*after))
    order = [column.desc() for column in key] if newest_first else list(key)
    return stmt.order_by(*order).limit(limit + 1)


# --- What applications need from the register (filing at the counter, the form's choices) ----------------


def person_by_resident_code(session: Session, tenant_id: uuid.UUID, resident_code: str) -> Person:
    stmt = select(Person).where(Person.tenant_id == tenant_id, Person.resident_code == resident_code)
    person = session.execute(stmt).scalar_one_or_none()
    if person is None:
        raise NotFound("No such person in this municipality's resident register.")
    return person


def household_of(session: Session, tenant_id: uuid.UUID, person_id: uuid.UUID) -> list[Person]:
    """The members of the person's household (none when the person is no longer in the register)."""
    stmt = select(Person).where(Person.tenant_id == tenant_id, Person.id == person_id)
    person = session.execute(stmt).scalar_one_or_none()
    return list(person.household.members) if person is not None else []


def facilities(session: Session, tenant_id: uuid.UUID) -> list[Facility]:
    stmt = select(Facility).where(Facility.tenant_id == tenant_id).order_by(Facility.facility_code)
    return list(session.execute(stmt).scalars())


def references_of(session: Session, tenant_id: uuid.UUID, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Application]:
    """The tenant's applications of these ids (the data-use ledger names each by its reference and procedure)."""
    if not ids:
        return {}
    stmt = select(Application).where(Application.tenant_id == tenant_id, Application.id.in_(set(ids)))
    return {application.id: application for application in session.execute(stmt).scalars()}
