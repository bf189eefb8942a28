"""Fees and payments: quotes, payment intents and their events, refunds, postal orders, settlement reports.

Seven tenant-owned tables under row-level security, each pointing at its application or intent by a composite
foreign key (tenant, id), so no row can reach another tenant's. ``payment_events`` is append-only for the app role
(insert, and the worker marking a webhook processed); a provider's event id is unique per tenant and provider, which
is what makes a webhook delivered twice have one effect. Nothing is deleted by the app. Decisions 0043–0046.

Revision ID: 0032
Revises: 0031
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from madoguchi.migrations import rls

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None

TENANT_TABLES: tuple[str, ...] = (
    "fee_quotes",
    "payment_intents",
    "payment_events",
    "payment_refunds",
    "postal_orders",
    "settlement_imports",
    "settlement_lines",
)
PRIVILEGES = {
    "fee_quotes": "SELECT, INSERT, UPDATE",
    "payment_intents": "SELECT, INSERT, UPDATE",
    "payment_events": "SELECT, INSERT, UPDATE",
    "payment_refunds": "SELECT, INSERT, UPDATE",
    "postal_orders": "SELECT, INSERT, UPDATE",
    "settlement_imports": "SELECT, INSERT, UPDATE",
    "settlement_lines": "SELECT, INSERT",
}

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "settlement_imports",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("file_sha256", sa.String(length=64), nullable=False),
        sa.Column("imported_by_account_id", sa.Uuid(), nullable=True),
        sa.Column("imported_at", TIMESTAMP, nullable=False),
        sa.Column("matched", sa.Integer(), nullable=False),
        sa.Column("mismatched", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_settlement_imports_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settlement_imports")),
        sa.UniqueConstraint("tenant_id", "id", name=op.f("uq_settlement_imports_tenant_id_id")),
    )
    op.create_index("ix_settlement_imports_day", "settlement_imports", ["tenant_id", "day"], unique=False)
    op.create_table(
        "settlement_lines",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("import_id", sa.Uuid(), nullable=False),
        sa.Column("line_number", sa.Integer(), nullable=True),
        sa.Column("provider_ref", sa.String(length=200), nullable=True),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("reported_jpy", sa.Integer(), nullable=True),
        sa.Column("expected_jpy", sa.Integer(), nullable=True),
        sa.Column("intent_id", sa.Uuid(), nullable=True),
        sa.Column("result", sa.String(length=10), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "import_id"],
            ["settlement_imports.tenant_id", "settlement_imports.id"],
            name="fk_settlement_lines_import",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_settlement_lines_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settlement_lines")),
    )
    op.create_index("ix_settlement_lines_import", "settlement_lines", ["tenant_id", "import_id"], unique=False)
    op.create_table(
        "fee_quotes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("application_id", sa.Uuid(), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("items", JSON_TYPE, nullable=False),
        sa.Column("fee_jpy", sa.Integer(), nullable=False),
        sa.Column("surcharge_jpy", sa.Integer(), nullable=False),
        sa.Column("total_jpy", sa.Integer(), nullable=False),
        sa.Column("exemption_code", sa.String(length=30), nullable=True),
        sa.Column("exemption_reason", sa.Text(), nullable=True),
        sa.Column("exemption_evidence_id", sa.Uuid(), nullable=True),
        sa.Column("quoted_by_account_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("superseded_at", TIMESTAMP, nullable=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "application_id"],
            ["applications.tenant_id", "applications.id"],
            name="fk_fee_quotes_application",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_fee_quotes_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fee_quotes")),
        sa.UniqueConstraint("tenant_id", "id", name=op.f("uq_fee_quotes_tenant_id_id")),
    )
    op.create_index(
        "ix_fee_quotes_application", "fee_quotes", ["tenant_id", "application_id", "created_at"], unique=False
    )
    op.create_table(
        "payment_intents",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("application_id", sa.Uuid(), nullable=False),
        sa.Column("quote_id", sa.Uuid(), nullable=True),
        sa.Column("amount_jpy", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("mode", sa.String(length=20), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("provider_ref", sa.String(length=200), nullable=True),
        sa.Column("redirect_url", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=True),
        sa.Column("succeeded_at", TIMESTAMP, nullable=True),
        sa.Column("polled_at", TIMESTAMP, nullable=True),
        sa.Column("created_by_account_id", sa.Uuid(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "application_id"],
            ["applications.tenant_id", "applications.id"],
            name="fk_payment_intents_application",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_payment_intents_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_intents")),
        sa.UniqueConstraint("tenant_id", "id", name=op.f("uq_payment_intents_tenant_id_id")),
        sa.UniqueConstraint("tenant_id", "idempotency_key", name=op.f("uq_payment_intents_tenant_id_idempotency_key")),
    )
    op.create_index(
        "ix_payment_intents_application", "payment_intents", ["tenant_id", "application_id", "created_at"], unique=False
    )
    op.create_index("ix_payment_intents_provider_ref", "payment_intents", ["provider", "provider_ref"], unique=False)
    op.create_index("ix_payment_intents_status", "payment_intents", ["tenant_id", "status", "updated_at"], unique=False)
    op.create_table(
        "postal_orders",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("application_id", sa.Uuid(), nullable=False),
        sa.Column("intent_id", sa.Uuid(), nullable=True),
        sa.Column("orders", JSON_TYPE, nullable=False),
        sa.Column("total_jpy", sa.Integer(), nullable=False),
        sa.Column("excess_jpy", sa.Integer(), nullable=False),
        sa.Column("excess_returned", sa.Boolean(), nullable=False),
        sa.Column("expired_count", sa.Integer(), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("received_by_account_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "application_id"],
            ["applications.tenant_id", "applications.id"],
            name="fk_postal_orders_application",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_postal_orders_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_postal_orders")),
    )
    op.create_index("ix_postal_orders_application", "postal_orders", ["tenant_id", "application_id"], unique=False)
    op.create_table(
        "payment_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("intent_id", sa.Uuid(), nullable=True),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("provider_event_id", sa.String(length=200), nullable=True),
        sa.Column("provider_event_type", sa.String(length=100), nullable=True),
        sa.Column("payload_sha256", sa.String(length=64), nullable=True),
        sa.Column("signature_ok", sa.Boolean(), nullable=True),
        sa.Column("from_status", sa.String(length=20), nullable=True),
        sa.Column("to_status", sa.String(length=20), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("at", TIMESTAMP, nullable=False),
        sa.Column("processed_at", TIMESTAMP, nullable=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "intent_id"],
            ["payment_intents.tenant_id", "payment_intents.id"],
            name="fk_payment_events_intent",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_payment_events_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_events")),
        sa.UniqueConstraint(
            "tenant_id",
            "provider",
            "provider_event_id",
            name=op.f("uq_payment_events_tenant_id_provider_provider_event_id"),
        ),
    )
    op.create_index("ix_payment_events_intent", "payment_events", ["tenant_id", "intent_id", "at"], unique=False)
    op.create_table(
        "payment_refunds",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("intent_id", sa.Uuid(), nullable=False),
        sa.Column("amount_jpy", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("provider_ref", sa.String(length=200), nullable=True),
        sa.Column("requested_by_account_id", sa.Uuid(), nullable=True),
        sa.Column("approved_by_account_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("decided_at", TIMESTAMP, nullable=True),
        sa.Column("succeeded_at", TIMESTAMP, nullable=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "intent_id"],
            ["payment_intents.tenant_id", "payment_intents.id"],
            name="fk_payment_refunds_intent",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_payment_refunds_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_refunds")),
    )
    op.create_index("ix_payment_refunds_intent", "payment_refunds", ["tenant_id", "intent_id"], unique=False)
    rls.protect_tenant_tables(TENANT_TABLES, PRIVILEGES)


def downgrade() -> None:
    for table in reversed(TENANT_TABLES):
        op.drop_table(table)
