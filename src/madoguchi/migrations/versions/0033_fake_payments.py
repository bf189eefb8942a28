"""The fake payment provider's store: the payments its hosted-page simulator settles (demo and tests).

A global table, like ``certificate_verifications``' public lookup: the simulator's page at ``/fake-pay/<ref>``
has no municipality in its address and finds a payment by its random reference. Each row names its tenant (to
sign and deliver the webhook to it); nothing personal is stored. The app role reads, inserts and updates; nothing
is deleted but with the tenant. Decision 0044.

Revision ID: 0033
Revises: 0032
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from madoguchi.migrations import rls

revision = "0033"
down_revision = "0032"
branch_labels = None
depends_on = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "fake_payments",
        sa.Column("ref", sa.String(length=60), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("amount_jpy", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("return_url", sa.Text(), nullable=False),
        sa.Column("payment_metadata", JSON_TYPE, nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("failure_code", sa.String(length=40), nullable=True),
        sa.Column("refunded_jpy", sa.Integer(), nullable=False),
        sa.Column("events_sent", sa.Integer(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("succeeded_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_fake_payments_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("ref", name=op.f("pk_fake_payments")),
        sa.UniqueConstraint("tenant_id", "idempotency_key", name=op.f("uq_fake_payments_tenant_id_idempotency_key")),
    )
    if rls.is_postgres():
        rls.grant_app_role({"fake_payments": "SELECT, INSERT, UPDATE"})


def downgrade() -> None:
    op.drop_table("fake_payments")
