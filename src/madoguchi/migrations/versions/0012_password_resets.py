"""Password resets: single-use, expiring links sent by email; only the SHA-256 of each token is stored.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from madoguchi.migrations import rls

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

#: Tenant-owned tables this migration creates (row-level security + app-role grants on PostgreSQL).
TENANT_TABLES: tuple[str, ...] = ("password_resets",)

_TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "password_resets",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.Column("expires_at", _TIMESTAMP, nullable=False),
        sa.Column("used_at", _TIMESTAMP, nullable=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "account_id"],
            ["accounts.tenant_id", "accounts.id"],
            name=op.f("fk_password_resets_tenant_id_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_password_resets_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_password_resets")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_password_resets_token_hash")),
    )
    op.create_index("ix_password_resets_account", "password_resets", ["tenant_id", "account_id", "created_at"])
    # Used links are marked, never deleted, by the app (a purge runs as the owner).
    rls.protect_tenant_tables(TENANT_TABLES, {"password_resets": "SELECT, INSERT, UPDATE"})


def downgrade() -> None:
    op.drop_index("ix_password_resets_account", table_name="password_resets")
    op.drop_table("password_resets")
