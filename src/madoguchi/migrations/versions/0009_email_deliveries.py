"""Email deliveries: one row per outbox message, retries visible to staff; the account's chosen language.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from madoguchi.migrations import rls

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

#: Tenant-owned tables this migration creates (row-level security + app-role grants on PostgreSQL).
TENANT_TABLES: tuple[str, ...] = ("email_deliveries",)

_TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "email_deliveries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("template", sa.String(length=100), nullable=False),
        sa.Column("reference", sa.String(length=100), nullable=True),
        sa.Column("recipient", sa.String(length=254), nullable=False),
        sa.Column("locale", sa.String(length=5), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("backend", sa.String(length=20), nullable=False),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.Column("last_attempt_at", _TIMESTAMP, nullable=True),
        sa.Column("next_attempt_at", _TIMESTAMP, nullable=True),
        sa.Column("sent_at", _TIMESTAMP, nullable=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_email_deliveries_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_deliveries")),
        # The dedupe key: one email per outbox message, whatever happens.
        sa.UniqueConstraint("message_id", name=op.f("uq_email_deliveries_message_id")),
    )
    op.create_index("ix_email_deliveries_status", "email_deliveries", ["tenant_id", "status", "created_at"])
    # Delivery rows are the record of what was sent: the app never deletes them.
    rls.protect_tenant_tables(TENANT_TABLES, {"email_deliveries": "SELECT, INSERT, UPDATE"})
    op.add_column("accounts", sa.Column("locale", sa.String(length=5), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("locale")
    op.drop_index("ix_email_deliveries_status", table_name="email_deliveries")
    op.drop_table("email_deliveries")
