"""Allocation rounds (利用調整回) in the database: the round, its seats, the frozen entries, the results, the numbers.

A round moves ``draft → frozen → computed → approved → published`` (``childcare.rounds``). Freezing copies every
child's application into :class:`RoundEntry` rows (preferences, points, priority and a recorded lottery number),
so nothing that changes later (an application, a new rule-set version) can change the round: ``input_sha256``
names that snapshot. The engine's outcome is stored as :class:`RoundResult` and :class:`RoundClassStat` rows,
named by ``result_sha256``. Facilities are named by their code, as the engine names them. Decision 0040.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKeyConstraint, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from madoguchi.db import Base, TenantScoped, new_id, utcnow

DRAFT = "draft"
FROZEN = "frozen"
COMPUTED = "computed"
APPROVED = "approved"
PUBLISHED = "published"
STATUSES = (DRAFT, FROZEN, COMPUTED, APPROVED, PUBLISHED)
#: 4月一次, 二次, 途中入所 (monthly).
KINDS = ("first", "second", "monthly")


class AllocationRound(TenantScoped, Base):
    """One 利用調整: an intake month, its seats, and (once frozen) the rule set and lottery it was run with."""

    __tablename__ = "allocation_rounds"
    __table_args__ = (
        UniqueConstraint("tenant_id", "id"),
        Index("ix_allocation_rounds_tenant_intake", "tenant_id", "intake_month", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    label_ja: Mapped[str] = mapped_column(String(100))
    label_en: Mapped[str] = mapped_column(String(100))
    #: YYYY-MM: the month the placed children start.
    intake_month: Mapped[str] = mapped_column(String(7))
    kind: Mapped[str] = mapped_column(String(10))
    #: 年度 of the intake month (April to March): the rule set's and the age classes' year.
    fiscal_year: Mapped[int]
    status: Mapped[str] = mapped_column(String(10), default=DRAFT)
    #: A transferring child's seat passes to others when it moves (ChilmAI's ``use_transfer``).
    reuse_transfer_seats: Mapped[bool] = mapped_column(default=True)
    #: The rule set pinned at freeze, by id and by the hash of its body (the body itself is in every entry's points).
    rule_set_id: Mapped[uuid.UUID | None]
    rule_set_version: Mapped[int | None]
    rule_set_sha256: Mapped[str | None] = mapped_column(String(64))
    #: The rule set's tie-breaker codes in the order of each entry's priority tail.
    tail_names: Mapped[list[Any]] = mapped_column(default=list)
    #: Recorded at freeze: the lottery permutation is drawn from it, so it can be drawn again to check.
    lottery_seed: Mapped[str | None] = mapped_column(String(64))
    input_sha256: Mapped[str | None] = mapped_column(String(64))
    result_sha256: Mapped[str | None] = mapped_column(String(64))
    algorithm_version: Mapped[str | None] = mapped_column(String(40))
    #: Counts of the last computation (placed, waitlisted, residual sibling envy ...) and the envy list.
    stats: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200))
    frozen_at: Mapped[datetime | None]
    frozen_by: Mapped[str | None] = mapped_column(String(200))
    computed_at: Mapped[datetime | None]
    computed_by: Mapped[str | None] = mapped_column(String(200))
    approved_at: Mapped[datetime | None]
    approved_by: Mapped[str | None] = mapped_column(String(200))
    published_at: Mapped[datetime | None]
    published_by: Mapped[str | None] = mapped_column(String(200))

    def label(self, locale: str) -> str:
        return self.label_en if locale == "en" else self.label_ja


def _of_round(table: str) -> ForeignKeyConstraint:
    # Composite: a row can never point at another tenant's round, even through a bug.
    return ForeignKeyConstraint(
        ["tenant_id", "round_id"],
        ["allocation_rounds.tenant_id", "allocation_rounds.id"],
        name=f"fk_{table}_round",
        ondelete="CASCADE",
    )


class RoundClass(TenantScoped, Base):
    """Seats offered in a round at one facility × age class (募集人数 = 定員 − 継続在園)."""

    __tablename__ = "round_classes"
    __table_args__ = (
        _of_round("round_classes"),
        UniqueConstraint("round_id", "facility_code", "age_class"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    round_id: Mapped[uuid.UUID]
    facility_code: Mapped[str] = mapped_column(String(20))
    age_class: Mapped[int]
    seats: Mapped[int]


class SiblingGroup(TenantScoped, Base):
    """Children of one application placed together, as the household asked (``/sibling_mode``)."""

    __tablename__ = "sibling_groups"
    __table_args__ = (
        _of_round("sibling_groups"),
        UniqueConstraint("tenant_id", "id"),
        UniqueConstraint("round_id", "key"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    round_id: Mapped[uuid.UUID]
    application_id: Mapped[uuid.UUID]
    #: The engine's id of the group (the application's reference): stable across databases.
    key: Mapped[str] = mapped_column(String(40))
    mode: Mapped[str] = mapped_column(String(30))
    partial_priority: Mapped[str] = mapped_column(String(10), default="elder")
    #: Entry keys, the eldest first.
    members: Mapped[list[Any]] = mapped_column(default=list)


class RoundEntry(TenantScoped, Base):
    """One child of one application as frozen for the round: what the engine is given, and why."""

    __tablename__ = "round_entries"
    __table_args__ = (
        _of_round("round_entries"),
        UniqueConstraint("tenant_id", "id"),
        UniqueConstraint("round_id", "key"),
        ForeignKeyConstraint(["tenant_id", "application_id"], ["applications.tenant_id", "applications.id"]),
        Index("ix_round_entries_application", "tenant_id", "application_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    round_id: Mapped[uuid.UUID]
    application_id: Mapped[uuid.UUID]
    #: The engine's id of the entry: ``<application reference>#<child index>``, the same on every database.
    key: Mapped[str] = mapped_column(String(40))
    child_index: Mapped[int]
    child_name: Mapped[str] = mapped_column(String(200))
    #: 認定区分 (2 or 3) and 保育必要量 as certified.
    category: Mapped[str] = mapped_column(String(1))
    care_time: Mapped[str | None] = mapped_column(String(10))
    age_class: Mapped[int]
    #: Facility codes, most wanted first.
    preferences: Mapped[list[Any]] = mapped_column(default=list)
    #: 転園: where the child is now.
    current_facility: Mapped[str | None] = mapped_column(String(20))
    #: ``Points.as_dict()`` under the pinned rule set.
    points: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: The engine's priority: tier, score, tail, facility_bonus.
    priority: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: This entry's number in the recorded lottery permutation (1..N).
    lottery: Mapped[int]
    #: 市町村民税所得割 of the household, read from the tax register with the household's consent (else None).
    income_levy: Mapped[int | None]
    eligible: Mapped[bool] = mapped_column(default=True)
    sibling_group_key: Mapped[str | None] = mapped_column(String(40))


class RoundResult(TenantScoped, Base):
    """The outcome for one entry: placed, stays (転園 without a move), waitlisted or ineligible, and why."""

    __tablename__ = "round_results"
    __table_args__ = (
        _of_round("round_results"),
        UniqueConstraint("round_id", "entry_key"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    round_id: Mapped[uuid.UUID]
    entry_key: Mapped[str] = mapped_column(String(40))
    outcome: Mapped[str] = mapped_column(String(12))
    facility_code: Mapped[str | None] = mapped_column(String(20))
    age_class: Mapped[int | None]
    pref_rank: Mapped[int | None]
    #: The engine's explanation items (``ExplanationItem`` as dicts), spec §1.4.
    explanation: Mapped[list[Any]] = mapped_column(default=list)


class RoundClassStat(TenantScoped, Base):
    """The open numbers of one class (issue 17 point 7): seats, applicants, placed, the border, waiting."""

    __tablename__ = "round_class_stats"
    __table_args__ = (
        _of_round("round_class_stats"),
        UniqueConstraint("round_id", "facility_code", "age_class"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    round_id: Mapped[uuid.UUID]
    facility_code: Mapped[str] = mapped_column(String(20))
    age_class: Mapped[int]
    seats: Mapped[int]
    listed_by: Mapped[int]
    placed: Mapped[int]
    lowest_placed_score: Mapped[int | None]
    lowest_placed_tiebreak: Mapped[str | None] = mapped_column(String(40))
    waiting_count: Mapped[int]
