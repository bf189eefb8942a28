"""Attachments: scan status and storage details.

The ``attachments`` table itself (with row-level security) came with 0001; uploads now record who uploaded a
file and whether it was virus-scanned, and the per-application lookups get an index.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

#: Tenant-owned tables this migration creates (row-level security + app-role grants on PostgreSQL).
TENANT_TABLES: tuple[str, ...] = ()


def upgrade() -> None:
    with op.batch_alter_table("attachments") as batch:
        batch.add_column(sa.Column("uploaded_by_account_id", sa.Uuid(), nullable=True))
        # Rows from before scanning existed were not scanned.
        batch.add_column(sa.Column("scan_status", sa.String(length=20), nullable=False, server_default="not_scanned"))
    op.create_index("ix_attachments_application", "attachments", ["tenant_id", "application_id", "document_key"])


def downgrade() -> None:
    op.drop_index("ix_attachments_application", table_name="attachments")
    with op.batch_alter_table("attachments") as batch:
        batch.drop_column("scan_status")
        batch.drop_column("uploaded_by_account_id")
