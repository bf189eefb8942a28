"""Allocation rule sets (利用調整基準): each tenant's points rules per fiscal year, versioned, frozen once published.

One row per version: the fiscal year, the version number within it, the status (draft, published, retired), the
body (JSON as written: the editor shows keys in their written order) and its SHA-256, and who published it when.
At most one published version per tenant and fiscal year (a partial unique index). The table is tenant-owned:
row-level security, and the app role may read, add and update rows but not delete them (a published version is
the record of the rules a round was run under). Decision 0038.

Revision ID: 0030
Revises: 0029
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from madoguchi.migrations import rls

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None

#: Tenant-owned tables this migration creates (row-level security + app-role grants on PostgreSQL).
TENANT_TABLES: tuple[str, ...] = ("allocation_rule_sets",)

_TIMESTAMP = sa.DateTime(timezone=True)
_PUBLISHED = sa.text("status = 'published'")


def upgrade() -> None:
    op.create_table(
        "allocation_rule_sets",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("fiscal_year", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("body_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.Column("updated_at", _TIMESTAMP, nullable=False),
        sa.Column("published_at", _TIMESTAMP, nullable=True),
        sa.Column("published_by_account_id", sa.Uuid(), nullable=True),
        sa.Column("retired_at", _TIMESTAMP, nullable=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_allocation_rule_sets_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_allocation_rule_sets")),
        sa.UniqueConstraint(
            "tenant_id", "fiscal_year", "version", name=op.f("uq_allocation_rule_sets_tenant_id_fiscal_year_version")
        ),
    )
    op.create_index(
        "uq_allocation_rule_sets_published",
        "allocation_rule_sets",
        ["tenant_id", "fiscal_year"],
        unique=True,
        postgresql_where=_PUBLISHED,
        sqlite_where=_PUBLISHED,
    )
    rls.protect_tenant_tables(TENANT_TABLES, {"allocation_rule_sets": "SELECT, INSERT, UPDATE"})


def downgrade() -> None:
    op.drop_index("uq_allocation_rule_sets_published", table_name="allocation_rule_sets")
    op.drop_table("allocation_rule_sets")
