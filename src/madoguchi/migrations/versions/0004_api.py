"""Idempotency keys for the applications API; the client that filed an application; a keyset index.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from madoguchi.migrations import rls

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

#: Tenant-owned tables this migration creates (row-level security + app-role grants on PostgreSQL).
TENANT_TABLES: tuple[str, ...] = ("idempotency_keys",)

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("caller", sa.String(length=80), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("response_body", sa.Text(), nullable=True),
        sa.Column("response_headers", JSON_TYPE, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_idempotency_keys_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_keys")),
        sa.UniqueConstraint("tenant_id", "caller", "key", name=op.f("uq_idempotency_keys_tenant_id_caller_key")),
    )
    with op.batch_alter_table("applications") as batch:
        batch.add_column(sa.Column("filed_by_client_id", sa.Uuid(), nullable=True))
        batch.create_index("ix_applications_keyset", ["tenant_id", "created_at", "id"])
    rls.protect_tenant_tables(TENANT_TABLES)


def downgrade() -> None:
    with op.batch_alter_table("applications") as batch:
        batch.drop_index("ix_applications_keyset")
        batch.drop_column("filed_by_client_id")
    op.drop_table("idempotency_keys")
