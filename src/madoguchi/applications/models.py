"""Applications, the settings snapshots they were filed under, and their history (the documents issued and attached
for them: ``madoguchi.documents.models``)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Date,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
    case,
    literal,
    select,
)
from sqlalchemy.orm import Mapped, mapped_column, object_session, relationship
from sqlalchemy.sql.elements import Grouping

from madoguchi.applications import snapshots
from madoguchi.applications.workflow import MORE_INFO_REQUESTED, Workflow
from madoguchi.db import Base, OrderedJSONType, TenantScoped, bound_tenant, new_id, utcnow


class SnapshotNotLoaded(RuntimeError):
    """An application's settings snapshot is neither cached nor readable: its session is closed, or bound to
    another tenant (a programming error)."""


class SettingsSnapshot(TenantScoped, Base):
    """The effective settings of a procedure as applications were filed under them, once per content.

    Immutable: rows are only added (``repository.store_snapshot``, ``INSERT ... ON CONFLICT DO NOTHING``), and
    the app role may not update or delete them. Decision 0027.
    """

    __tablename__ = "settings_snapshots"
    __table_args__ = (PrimaryKeyConstraint("tenant_id", "hash"),)

    #: SHA-256 (hex) of the content's canonical JSON (``snapshots.snapshot_hash``).
    hash: Mapped[str] = mapped_column(String(64))
    #: As written, key order included (the form's question order, decision 0020): ``json``, not ``jsonb``.
    content: Mapped[dict[str, Any]] = mapped_column(OrderedJSONType)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Application(TenantScoped, Base):
    __tablename__ = "applications"
    __table_args__ = (
        UniqueConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "reference"),
        ForeignKeyConstraint(["tenant_id", "applicant_account_id"], ["accounts.tenant_id", "accounts.id"]),
        ForeignKeyConstraint(["tenant_id", "applicant_person_id"], ["persons.tenant_id", "persons.id"]),
        ForeignKeyConstraint(["tenant_id", "assignee_account_id"], ["accounts.tenant_id", "accounts.id"]),
        # Named, and not on SQLite, as the snapshot's below (migration 0029).
        ForeignKeyConstraint(
            ["tenant_id", "subject_person_id"],
            ["persons.tenant_id", "persons.id"],
            name="fk_applications_subject_person",
        ),
        # Named: the convention's name would pass PostgreSQL's 63 characters. Not on SQLite (migration 0022).
        ForeignKeyConstraint(
            ["tenant_id", "settings_snapshot_hash"],
            ["settings_snapshots.tenant_id", "settings_snapshots.hash"],
            name="fk_applications_settings_snapshot",
        ),
        # The queue's indexes (decision 0024): tenant first (every query and the row-level security policy
        # name it), then a filter, then the API's keyset order; the console's sorts are indexed below.
        Index("ix_applications_keyset", "tenant_id", "created_at", "id"),
        Index("ix_applications_state", "tenant_id", "state", "created_at", "id"),
        Index("ix_applications_service", "tenant_id", "service_key", "created_at", "id"),
        Index("ix_applications_assignee", "tenant_id", "assignee_account_id", "created_at", "id"),
        Index("ix_applications_applicant", "tenant_id", "applicant_account_id", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    #: Shown to the resident and quoted at the counter, e.g. "RC-7K3M-Q2XD".
    reference: Mapped[str] = mapped_column(String(20))
    service_key: Mapped[str] = mapped_column(String(63))
    #: The catalog version the application was filed under; it keeps these rules to the end.
    service_version_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("service_versions.id"))
    state: Mapped[str] = mapped_column(String(40))
    #: online (the resident), counter (a clerk at the counter), api (a vendor on the resident's behalf)
    channel: Mapped[str] = mapped_column(String(20))
    #: Who filed it (申請者): the signed-in account, and that account's own entry in the register if it has one.
    applicant_account_id: Mapped[uuid.UUID | None]
    applicant_person_id: Mapped[uuid.UUID | None]
    #: Whom it is about (本人): the person in the register the certificate is built for. The applicant's own entry
    #: when they file for themselves or their household; for an agent, a legal representative or a third party,
    #: None until a clerk has matched the person they named (decision 0036).
    subject_person_id: Mapped[uuid.UUID | None]
    #: How the applicant stands to the person concerned: self, household_member, agent (任意代理人),
    #: legal_representative (法定代理人) or third_party (第三者, 住民基本台帳法12条の3). Fixed when the draft starts,
    #: and always equal to the form's ``/requester/relationship``. None: the procedure does not ask (childcare).
    relation: Mapped[str | None] = mapped_column(String(30))
    #: The clerk's review of the evidence (委任状, 疎明資料): accepted or not_accepted (with the reason), who, when.
    evidence_review: Mapped[str | None] = mapped_column(String(20))
    evidence_review_reason: Mapped[str | None] = mapped_column(Text)
    evidence_reviewed_at: Mapped[datetime | None]
    evidence_reviewed_by_account_id: Mapped[uuid.UUID | None]
    #: A delivery the rules impose over the one chosen: "mail" when an agent asks for 個人番号 or 住民票コード (the
    #: copy goes by post to the person concerned's registered address, never to the agent).
    forced_delivery: Mapped[str | None] = mapped_column(String(20))
    #: The vendor app (OAuth client) that filed it on the resident's behalf, if any.
    filed_by_client_id: Mapped[uuid.UUID | None]
    assignee_account_id: Mapped[uuid.UUID | None]
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: JSON pointer -> {"source": "resident_register", "field": "person.full_name"} for prefilled fields.
    prefill_sources: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: The effective settings at filing time (fee, SLA, steps), so later tenant changes don't rewrite history: a
    #: ``SettingsSnapshot`` of the tenant, read through :attr:`settings_snapshot`.
    settings_snapshot_hash: Mapped[str] = mapped_column(String(64))
    #: Staff's decision details (e.g. the facility a child is placed in), separate from what the applicant wrote.
    decision: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    submitted_at: Mapped[datetime | None]
    decided_at: Mapped[datetime | None]
    #: The last day of the processing time (標準処理期間) in the municipality's working days; empty before submission
    #: and while the clock is stopped for 補正 (then :attr:`sla_remaining_days` holds what is left). Decision 0034.
    due_on: Mapped[date | None]
    #: While waiting for the resident's 補正: the working days the processing time had left when it stopped.
    sla_remaining_days: Mapped[int | None]
    #: While waiting for the resident's 補正: the day (in Japan) the clock stopped.
    sla_paused_on: Mapped[date | None]
    #: Optimistic lock: every UPDATE checks it, so of two concurrent transitions exactly one wins.
    lock_version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": lock_version}  # noqa: RUF012 - SQLAlchemy's declarative API

    events: Mapped[list[ApplicationEvent]] = relationship(
        order_by="ApplicationEvent.seq", back_populates="application", overlaps="application"
    )

    @property
    def is_editable(self) -> bool:
        """Whether the applicant's answers and documents may still change: while it is a draft (the workflow's
        initial state) or awaits more information."""
        return self.state in (self.workflow.initial, MORE_INFO_REQUESTED)

    @property
    def sla_paused(self) -> bool:
        """Whether the processing time's clock is stopped (waiting for the resident's 補正)."""
        return self.sla_remaining_days is not None

    @property
    def delivery_method(self) -> str | None:
        """How the document reaches its recipient: the delivery the rules force, else the one chosen."""
        return self.forced_delivery or (self.data or {}).get("delivery")

    @property
    def settings_snapshot(self) -> dict[str, Any]:
        """The effective settings it was filed under (frozen: shared by every application with the same ones)."""
        return self._parsed_snapshot().settings

    @property
    def workflow(self) -> Workflow:
        """The workflow it was filed under, built once per process for each snapshot."""
        workflow = self._parsed_snapshot().workflow
        if workflow is None:
            raise SnapshotNotLoaded(f"the settings snapshot of application {self.id} has no workflow")
        return workflow

    def _parsed_snapshot(self) -> snapshots.Parsed:
        key = (self.tenant_id, self.settings_snapshot_hash)
        session = object_session(self)
        # The cache serves a session bound to this application's tenant, or an application no longer in a session
        # (it was read by one allowed to); any other session reads the row, under its own tenant rules.
        if session is None or bound_tenant(session) == self.tenant_id:
            found = snapshots.cache.get(key)
            if found is not None:
                return found
        if session is None:
            raise SnapshotNotLoaded(f"the settings snapshot of application {self.id} is not loaded (no session)")
        with session.no_autoflush:  # a read: it must not flush this application half-built
            content = session.execute(
                select(SettingsSnapshot.content).where(
                    SettingsSnapshot.tenant_id == self.tenant_id, SettingsSnapshot.hash == self.settings_snapshot_hash
                )
            ).scalar_one_or_none()
        if content is None:
            raise SnapshotNotLoaded(f"the settings snapshot of application {self.id} cannot be read here")
        return snapshots.cache.put(key, content)


# The console's sort keys. CASE, not COALESCE: under row-level security PostgreSQL uses a condition as an index
# condition only if it cannot leak rows of other tenants, and it counts COALESCE as possibly leaky but not CASE,
# so a keyset page's bound on COALESCE would be a filter over every row before it (decision 0024).
#: Where the console's queue sorts an application: by submission, a counter draft by its creation.
SUBMITTED_ORDER = case((Application.submitted_at.is_(None), Application.created_at), else_=Application.submitted_at)
#: What a due date without one sorts as: after every real one. A literal in the SQL, not a parameter, so a
#: prepared statement's generic plan still matches the expression of ``ix_applications_due``.
NO_DUE_DATE = date(9999, 12, 31)
#: Where the console's "due" sort puts an application (and what "overdue" compares: no due date is never late).
DUE_ORDER = case(
    (Application.due_on.is_(None), literal(NO_DUE_DATE, Date, literal_execute=True)), else_=Application.due_on
)
# Grouping: PostgreSQL takes an expression in an index's column list only in parentheses.
Index("ix_applications_submitted", Application.tenant_id, Grouping(SUBMITTED_ORDER), Application.id)
Index("ix_applications_due", Application.tenant_id, Grouping(DUE_ORDER), Grouping(SUBMITTED_ORDER), Application.id)
# The console's sorts after a state or an assignee (decision 0028): a prepared statement's generic plan does not
# know which state or clerk it is for, and walked the sort's index through the history to find them.
for _column in (Application.state, Application.assignee_account_id):
    Index(
        f"ix_applications_{_column.key}_submitted",
        Application.tenant_id,
        _column,
        Grouping(SUBMITTED_ORDER),
        Application.id,
    )
    Index(
        f"ix_applications_{_column.key}_due",
        Application.tenant_id,
        _column,
        Grouping(DUE_ORDER),
        Grouping(SUBMITTED_ORDER),
        Application.id,
    )

#: The terminal states of the standard's every workflow (a tenant's optional steps add none of their own). The
#: "overdue" filter excludes a tenant's terminal states as literals in the SQL (``repository.queue_filters``), so
#: PostgreSQL proves the open-queue indexes' predicate below from it in every plan, generic ones included.
FINISHED_STATES = ("issued", "rejected", "withdrawn")
#: Not open either: drafts. Residents' abandoned drafts pile up for years, and a draft has no due date (it is set
#: on submission), so "overdue" never finds one; left in, they were most of the open index at a million rows.
NOT_OPEN_STATES = (*FINISHED_STATES, "draft")
#: The rows the queue's two time-bound filters look for: unassigned, and open (submitted, not finished). Both are a
#: sliver of a long history, and their rows are the recent ones: walking a whole-table index in a queue order to find
#: them reads the history first (decision 0028). A partial index of each, in each queue order, holds only them.
UNASSIGNED = Application.assignee_account_id.is_(None)
OPEN = Application.state.not_in(NOT_OPEN_STATES)
for _name, _where in (("unassigned", UNASSIGNED), ("open", OPEN)):
    Index(
        f"ix_applications_{_name}",
        Application.tenant_id,
        Application.created_at,
        Application.id,
        postgresql_where=_where,
        sqlite_where=_where,
    )
    Index(
        f"ix_applications_{_name}_submitted",
        Application.tenant_id,
        Grouping(SUBMITTED_ORDER),
        Application.id,
        postgresql_where=_where,
        sqlite_where=_where,
    )
    Index(
        f"ix_applications_{_name}_due",
        Application.tenant_id,
        Grouping(DUE_ORDER),
        Grouping(SUBMITTED_ORDER),
        Application.id,
        postgresql_where=_where,
        sqlite_where=_where,
    )


class ApplicationEvent(TenantScoped, Base):
    """One line of an application's history: who moved it from where to where, when, and why."""

    __tablename__ = "application_events"
    __table_args__ = (
        UniqueConstraint("tenant_id", "application_id", "seq"),
        ForeignKeyConstraint(["tenant_id", "application_id"], ["applications.tenant_id", "applications.id"]),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    application_id: Mapped[uuid.UUID]
    seq: Mapped[int]
    #: create, update, submit, approve, ... (a workflow transition name, or a non-transition action)
    action: Mapped[str] = mapped_column(String(63))
    from_state: Mapped[str | None] = mapped_column(String(40))
    to_state: Mapped[str | None] = mapped_column(String(40))
    actor_account_id: Mapped[uuid.UUID | None]
    actor_role: Mapped[str] = mapped_column(String(20))
    comment: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=utcnow)

    application: Mapped[Application] = relationship(back_populates="events", overlaps="events")
