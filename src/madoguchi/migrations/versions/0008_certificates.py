"""Issued certificates: signed PDFs, verification codes, revocation.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from madoguchi.migrations import rls

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

#: Tenant-owned tables this migration creates (row-level security + app-role grants on PostgreSQL).
#: ``issued_documents`` gains columns only; ``certificate_verifications`` is a global lookup (no RLS).
TENANT_TABLES: tuple[str, ...] = ()


def _new_columns() -> list[sa.Column]:
    return [
        sa.Column("revoked_by", sa.String(length=200), nullable=True),
        sa.Column("verification_code", sa.String(length=12), nullable=True),
        sa.Column("pdf_storage_key", sa.String(length=300), nullable=True),
        sa.Column("pdf_sha256", sa.String(length=64), nullable=True),
        sa.Column("pdf_size", sa.Integer(), nullable=True),
    ]


def upgrade() -> None:
    with op.batch_alter_table("issued_documents") as batch:
        for column in _new_columns():
            batch.add_column(column)
    op.create_table(
        "certificate_verifications",
        sa.Column("code", sa.String(length=12), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("pdf_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_certificate_verifications_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_certificate_verifications")),
        sa.UniqueConstraint("pdf_sha256", name=op.f("uq_certificate_verifications_pdf_sha256")),
    )
    if rls.is_postgres():
        # Readable by anyone's request (that is its purpose); rows are only ever added.
        rls.grant_app_role({"certificate_verifications": "SELECT, INSERT"})


def downgrade() -> None:
    op.drop_table("certificate_verifications")
    with op.batch_alter_table("issued_documents") as batch:
        for column in reversed(_new_columns()):
            batch.drop_column(column.name)
