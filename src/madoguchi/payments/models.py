"""The tables of fees and payments: quotes, intents, their append-only events, refunds, postal orders, settlements.

Every table is tenant-owned (row-level security, composite foreign keys so a row can never point at another
tenant's application or intent). Amounts are whole yen (``int``): there are no fractions of a yen in 手数料.

* ``FeeQuote``: what an application costs, line by line (手数料 per copy or per unit of persons, the tenant's
  システム利用料 as its own line), for one channel, with an exemption (減免) when a clerk granted one. A new quote
  supersedes the previous one (``superseded_at``); the current one is the one without it.
* ``PaymentIntent``: one attempt to collect an amount, by one mode (prepay, after the fee is fixed, cash or
  terminal at the counter, 定額小為替 by post) and one provider; its status only moves forward (``states``).
* ``PaymentEvent``: append-only log of what happened to an intent (created, redirected, webhook, poll, succeeded,
  refunds, reconciliation), with the provider's event id unique per tenant and provider (deduplication).
* ``Refund``: requested by staff, approved by a supervisor, never more than what is left to refund.
* ``PostalOrder``: the 定額小為替 a postal request came with, face values and issue dates.
* ``SettlementImport``/``SettlementLine``: a provider's settlement report as imported, each line matched.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import ForeignKeyConstraint, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from madoguchi.db import Base, TenantScoped, new_id, utcnow

# Channels a fee may differ by (the catalog's ``fee.channels``): the counter, online (portal and API), and
# convenience-store issuing (コンビニ交付), which municipalities often price lower.
CHANNELS = ("counter", "online", "convenience")

# Modes of collecting (spec 2.2 flows a–d); an exemption (e) creates no intent.
PREPAY = "prepay"  # a fixed fee paid online before anything is issued
AFTER_FEE_FIXED = "after_fee_fixed"  # 事後決済: the clerk fixes the fee, the resident gets a payment link
COUNTER_CASH = "counter_cash"
COUNTER_TERMINAL = "counter_terminal"
POSTAL_ORDER = "postal_order"  # 定額小為替 mailed with the request
MODES = (PREPAY, AFTER_FEE_FIXED, COUNTER_CASH, COUNTER_TERMINAL, POSTAL_ORDER)
#: Modes recorded by a clerk (the money is in the municipality's hands already): no provider, born succeeded.
RECORDED_MODES = (COUNTER_CASH, COUNTER_TERMINAL, POSTAL_ORDER)

PURPOSES = ("fee", "postage")

#: Exemption (減免) codes a tenant may list (tenant file ``payments.exemptions``), after the 手数料条例 examples.
EXEMPTIONS = ("public_assistance", "public_pension", "government_office", "disaster", "other")

REFUND_REASONS = ("not_issuable", "duplicate", "overpaid", "other")
REFUND_REQUESTED, REFUND_SUBMITTED, REFUND_SUCCEEDED, REFUND_FAILED, REFUND_REJECTED = (
    "requested",
    "submitted",
    "succeeded",
    "failed",
    "rejected",
)
REFUND_STATUSES = (REFUND_REQUESTED, REFUND_SUBMITTED, REFUND_SUCCEEDED, REFUND_FAILED, REFUND_REJECTED)

#: Results of matching a settlement line: in both and equal; ours only; theirs only; in both, amounts differ.
MATCHED, MISSING, EXTRA, MISMATCH = "matched", "missing", "extra", "mismatch"
MATCH_RESULTS = (MATCHED, MISSING, EXTRA, MISMATCH)


def _of_application(table: str) -> ForeignKeyConstraint:
    # Composite: a row can never point at another tenant's application, even through a bug.
    return ForeignKeyConstraint(
        ["tenant_id", "application_id"],
        ["applications.tenant_id", "applications.id"],
        name=f"fk_{table}_application",
        ondelete="CASCADE",
    )


def _of_intent(table: str) -> ForeignKeyConstraint:
    return ForeignKeyConstraint(
        ["tenant_id", "intent_id"],
        ["payment_intents.tenant_id", "payment_intents.id"],
        name=f"fk_{table}_intent",
        ondelete="CASCADE",
    )


class FeeQuote(TenantScoped, Base):
    """What one application costs, for one channel: lines, totals, and the exemption if one was granted."""

    __tablename__ = "fee_quotes"
    __table_args__ = (
        _of_application("fee_quotes"),
        UniqueConstraint("tenant_id", "id"),
        Index("ix_fee_quotes_application", "tenant_id", "application_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    application_id: Mapped[uuid.UUID]
    channel: Mapped[str] = mapped_column(String(20))
    #: ``[{"kind": "fee"|"surcharge", "label": {"ja","en"}, "unit_price": int, "quantity": int, "persons": int|None,
    #: "amount": int}]``: ``quantity`` is copies × units of persons (e.g. 1–5 persons = 1 unit).
    items: Mapped[list[Any]] = mapped_column(default=list)
    #: 手数料 (revenue of the 歳入科目 手数料) after the exemption: 0 when exempt.
    fee_jpy: Mapped[int]
    #: The tenant's システム利用料, shown apart and not 手数料 revenue (0 when there is none or when exempt).
    surcharge_jpy: Mapped[int] = mapped_column(default=0)
    #: fee_jpy + surcharge_jpy: what the resident pays.
    total_jpy: Mapped[int]
    exemption_code: Mapped[str | None] = mapped_column(String(30))
    exemption_reason: Mapped[str | None] = mapped_column(Text)
    #: The attachment that evidences the exemption (受給証明 etc.), when there is one.
    exemption_evidence_id: Mapped[uuid.UUID | None]
    #: Whose step made the quote: whoever submitted (the resident, or the clerk at the counter), or the clerk who
    #: fixed the fee or granted 減免 (事後決済 is payable only once staff made the quote); None for the system.
    quoted_by_account_id: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    superseded_at: Mapped[datetime | None]


class PaymentIntent(TenantScoped, Base):
    """One attempt to collect an amount for an application; status per ``payments.states``."""

    __tablename__ = "payment_intents"
    __table_args__ = (
        _of_application("payment_intents"),
        UniqueConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "idempotency_key"),
        Index("ix_payment_intents_application", "tenant_id", "application_id", "created_at"),
        Index("ix_payment_intents_provider_ref", "provider", "provider_ref"),
        Index("ix_payment_intents_status", "tenant_id", "status", "updated_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    application_id: Mapped[uuid.UUID]
    quote_id: Mapped[uuid.UUID | None]
    amount_jpy: Mapped[int]
    purpose: Mapped[str] = mapped_column(String(20), default="fee")
    mode: Mapped[str] = mapped_column(String(20))
    #: ``fake``, ``stripe``, or ``counter`` for what a clerk recorded (cash, terminal, postal orders).
    provider: Mapped[str] = mapped_column(String(20))
    #: The provider's id of the payment (Stripe ``pi_…``); None until created there, and for recorded modes.
    provider_ref: Mapped[str | None] = mapped_column(String(200))
    #: The provider's hosted page the resident is sent to (never a page that takes card numbers of ours).
    redirect_url: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20))
    idempotency_key: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    succeeded_at: Mapped[datetime | None]
    #: When ``retrieve`` last asked the provider (the stuck-intent poller).
    polled_at: Mapped[datetime | None]
    #: Who started it: the resident's or the clerk's account (None: the system).
    created_by_account_id: Mapped[uuid.UUID | None]
    #: The provider's failure code or the clerk's note (cash receipt number, terminal slip).
    note: Mapped[str | None] = mapped_column(Text)


class PaymentEvent(TenantScoped, Base):
    """Append-only: one thing that happened to an intent (or a webhook that matched none, ``intent_id`` None)."""

    __tablename__ = "payment_events"
    __table_args__ = (
        _of_intent("payment_events"),
        # The same provider event twice has one effect: the second insert conflicts.
        UniqueConstraint("tenant_id", "provider", "provider_event_id"),
        Index("ix_payment_events_intent", "tenant_id", "intent_id", "at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    intent_id: Mapped[uuid.UUID | None]
    #: created|redirected|webhook|poll|succeeded|failed|canceled|expired|ignored|refund_requested|refund_approved|
    #: refund_rejected|refund_succeeded|refund_failed|reconciled|mismatch
    kind: Mapped[str] = mapped_column(String(30))
    provider: Mapped[str] = mapped_column(String(20))
    provider_event_id: Mapped[str | None] = mapped_column(String(200))
    #: The provider's event type (``payment_intent.succeeded``) for webhooks and polls.
    provider_event_type: Mapped[str | None] = mapped_column(String(100))
    payload_sha256: Mapped[str | None] = mapped_column(String(64))
    signature_ok: Mapped[bool | None]
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str | None] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    #: Webhooks are processed by the outbox worker; None until then.
    processed_at: Mapped[datetime | None]


class Refund(TenantScoped, Base):
    """A refund of (part of) a succeeded intent: requested by staff, approved by a supervisor (four eyes)."""

    __tablename__ = "payment_refunds"
    __table_args__ = (
        _of_intent("payment_refunds"),
        Index("ix_payment_refunds_intent", "tenant_id", "intent_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    intent_id: Mapped[uuid.UUID]
    amount_jpy: Mapped[int]
    reason: Mapped[str] = mapped_column(String(20))
    comment: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default=REFUND_REQUESTED)
    provider_ref: Mapped[str | None] = mapped_column(String(200))
    requested_by_account_id: Mapped[uuid.UUID | None]
    approved_by_account_id: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None]
    succeeded_at: Mapped[datetime | None]


class PostalOrder(TenantScoped, Base):
    """定額小為替 received with a postal request: the orders (face value, issue date), what they paid, any excess."""

    __tablename__ = "postal_orders"
    __table_args__ = (
        _of_application("postal_orders"),
        Index("ix_postal_orders_application", "tenant_id", "application_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    application_id: Mapped[uuid.UUID]
    #: The succeeded ``postal_order`` intent this recorded (the amount applied to the fee).
    intent_id: Mapped[uuid.UUID | None]
    #: ``[{"face_value": 50..1000, "issued_on": "YYYY-MM-DD", "number": str|None}]``
    orders: Mapped[list[Any]] = mapped_column(default=list)
    total_jpy: Mapped[int]
    #: What the orders exceed the amount due by (地方自治法施行令156条: must be 0, else returned).
    excess_jpy: Mapped[int] = mapped_column(default=0)
    excess_returned: Mapped[bool] = mapped_column(default=False)
    #: Orders older than 6 months on receipt (not cashable): flagged for the clerk.
    expired_count: Mapped[int] = mapped_column(default=0)
    received_on: Mapped[date]
    received_by_account_id: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SettlementImport(TenantScoped, Base):
    """One provider settlement report (one day) as imported by the 会計管理者's staff."""

    __tablename__ = "settlement_imports"
    __table_args__ = (UniqueConstraint("tenant_id", "id"), Index("ix_settlement_imports_day", "tenant_id", "day"))

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    provider: Mapped[str] = mapped_column(String(20))
    #: The settlement day (JST).
    day: Mapped[date]
    file_sha256: Mapped[str] = mapped_column(String(64))
    imported_by_account_id: Mapped[uuid.UUID | None]
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)
    matched: Mapped[int] = mapped_column(default=0)
    mismatched: Mapped[int] = mapped_column(default=0)


class SettlementLine(TenantScoped, Base):
    """One line of a settlement comparison: a report row, a succeeded intent missing from it, or both."""

    __tablename__ = "settlement_lines"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "import_id"],
            ["settlement_imports.tenant_id", "settlement_imports.id"],
            name="fk_settlement_lines_import",
            ondelete="CASCADE",
        ),
        Index("ix_settlement_lines_import", "tenant_id", "import_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    import_id: Mapped[uuid.UUID]
    #: 1-based line of the report (None for a ``missing`` line: ours only).
    line_number: Mapped[int | None]
    provider_ref: Mapped[str | None] = mapped_column(String(200))
    #: ``charge`` or ``refund``.
    kind: Mapped[str] = mapped_column(String(10))
    reported_jpy: Mapped[int | None]
    expected_jpy: Mapped[int | None]
    intent_id: Mapped[uuid.UUID | None]
    result: Mapped[str] = mapped_column(String(10))
