"""Deliveries: the printed copy of a certificate posted (郵送) or handed over at the counter (窓口).

One row per certificate issued by post or for pick-up, with the register's name and address at issue, the day's
mail-out worklist it belongs to, the pick-up code, and who posted or handed it over when. Decision 0033.

Revision ID: 0026
Revises: 0023
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from madoguchi.migrations import rls

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

#: Tenant-owned tables this migration creates (row-level security + app-role grants on PostgreSQL).
TENANT_TABLES: tuple[str, ...] = ("deliveries",)

_TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("application_id", sa.Uuid(), nullable=False),
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("method", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("recipient_name", sa.String(length=200), nullable=False),
        sa.Column("postal_code", sa.String(length=8), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.Column("pickup_code", sa.String(length=8), nullable=True),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.Column("completed_at", _TIMESTAMP, nullable=True),
        sa.Column("completed_by", sa.String(length=200), nullable=True),
        sa.Column("identity_document", sa.String(length=40), nullable=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "application_id"],
            ["applications.tenant_id", "applications.id"],
            name=op.f("fk_deliveries_tenant_id_application_id_applications"),
        ),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["issued_documents.id"],
            name=op.f("fk_deliveries_document_id_issued_documents"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_deliveries_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deliveries")),
        sa.UniqueConstraint("tenant_id", "document_id", name=op.f("uq_deliveries_tenant_id_document_id")),
        sa.UniqueConstraint("tenant_id", "pickup_code", name=op.f("uq_deliveries_tenant_id_pickup_code")),
    )
    op.create_index("ix_deliveries_worklist", "deliveries", ["tenant_id", "method", "day", "status"])
    # A delivery is the record of where the paper went: the app never deletes one.
    rls.protect_tenant_tables(TENANT_TABLES, {"deliveries": "SELECT, INSERT, UPDATE"})


def downgrade() -> None:
    op.drop_index("ix_deliveries_worklist", table_name="deliveries")
    op.drop_table("deliveries")
