"""The stored 利用調整基準: one tenant's rule set for one fiscal year, versioned, frozen once published.

A version starts as a ``draft`` the tenant admin edits, becomes ``published`` (then its body never changes: rounds
pin it and a notice quotes it) and is ``retired`` when a newer version of the same year is published. At most one
version per tenant and fiscal year is published at a time (a partial unique index holds that too). A listener
refuses any change to a published or retired version's body, year or number, and deleting one. Decision 0038.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, UniqueConstraint, event, inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, Mapper, mapped_column

from madoguchi.db import Base, OrderedJSONType, TenantScoped, new_id, utcnow

DRAFT, PUBLISHED, RETIRED = "draft", "published", "retired"
STATUSES = (DRAFT, PUBLISHED, RETIRED)
#: What a published version may never change (its status may still go to retired).
FROZEN_COLUMNS = ("body", "body_sha256", "fiscal_year", "version", "tenant_id", "published_at",
                  "published_by_account_id")  # fmt: skip


class PublishedRuleSetChanged(RuntimeError):
    """Code tried to change or delete a published rule set (a programming error: operations never do)."""


class AllocationRuleSet(TenantScoped, Base):
    """One version of a tenant's rule set for a fiscal year (年度): its body (``childcare.rules``) and its state."""

    __tablename__ = "allocation_rule_sets"
    __table_args__ = (
        UniqueConstraint("tenant_id", "fiscal_year", "version"),
        Index(
            "uq_allocation_rule_sets_published",
            "tenant_id",
            "fiscal_year",
            unique=True,
            postgresql_where=text("status = 'published'"),
            sqlite_where=text("status = 'published'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    #: The fiscal year the rules apply to (2027 = 令和9年度, April 2027 to March 2028).
    fiscal_year: Mapped[int]
    #: 1, 2, … within the tenant's fiscal year.
    version: Mapped[int]
    status: Mapped[str] = mapped_column(String(10), default=DRAFT)
    #: The rule-set body as written (key order kept for the editor), valid against ``childcare.rules.SCHEMA``.
    body: Mapped[dict[str, Any]] = mapped_column(OrderedJSONType)
    #: SHA-256 of the body's canonical JSON (``rules.body_sha256``): what a frozen round records.
    body_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None]
    published_by_account_id: Mapped[uuid.UUID | None]
    retired_at: Mapped[datetime | None]


@event.listens_for(AllocationRuleSet, "before_update")
def _refuse_changing_a_published_version(_mapper: Mapper[Any], _connection: Connection, target: Any) -> None:
    state = inspect(target)
    status = state.attrs.status.history
    was = (status.deleted or status.unchanged or [target.status])[0]
    if was == DRAFT:
        return
    changed = [name for name in FROZEN_COLUMNS if state.attrs[name].history.has_changes()]
    if changed or (was == RETIRED and status.has_changes()) or target.status == DRAFT:
        raise PublishedRuleSetChanged(f"rule set {target.id} is {was}: {', '.join(changed) or 'status'} cannot change")


@event.listens_for(AllocationRuleSet, "before_delete")
def _refuse_deleting_a_published_version(_mapper: Mapper[Any], _connection: Connection, target: Any) -> None:
    if target.status != DRAFT:
        raise PublishedRuleSetChanged(f"rule set {target.id} is {target.status}: it cannot be deleted")
