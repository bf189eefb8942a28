"""Tenant lifecycle: invitations, soft delete and purge.

- ``tenants`` gains ``deleted_at`` (soft delete) and ``purged_at``;
- ``tenant_invitations`` (tenant-owned: row-level security): one-time links for a tenant's first admin;
- ``platform_api_tokens`` (global): bearer tokens of platform admins for ``/api/v1/admin``.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from madoguchi.migrations import rls

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

#: Tenant-owned tables this migration creates (row-level security + app-role grants on PostgreSQL).
TENANT_TABLES: tuple[str, ...] = ("tenant_invitations",)

_TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(sa.Column("deleted_at", _TIMESTAMP, nullable=True))
        batch.add_column(sa.Column("purged_at", _TIMESTAMP, nullable=True))

    op.create_table(
        "tenant_invitations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("invited_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.Column("expires_at", _TIMESTAMP, nullable=False),
        sa.Column("accepted_at", _TIMESTAMP, nullable=True),
        sa.Column("revoked_at", _TIMESTAMP, nullable=True),
        sa.Column("account_id", sa.Uuid(), nullable=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_tenant_invitations_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenant_invitations")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_tenant_invitations_token_hash")),
    )

    op.create_table(
        "platform_api_tokens",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("platform_admin_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.Column("expires_at", _TIMESTAMP, nullable=False),
        sa.Column("revoked_at", _TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["platform_admin_id"],
            ["platform_admins.id"],
            name=op.f("fk_platform_api_tokens_platform_admin_id_platform_admins"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_platform_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_platform_api_tokens_token_hash")),
    )
    op.create_index(
        op.f("ix_platform_api_tokens_platform_admin_id"), "platform_api_tokens", ["platform_admin_id"], unique=False
    )

    # Invitations are revoked or marked accepted, never deleted by the app (the purge runs as the owner).
    rls.protect_tenant_tables(TENANT_TABLES, {"tenant_invitations": "SELECT, INSERT, UPDATE"})
    if rls.is_postgres():
        # Global: looked up by hash before any tenant is known. Tokens are revoked, not deleted.
        rls.grant_app_role({"platform_api_tokens": "SELECT, INSERT, UPDATE"})


def downgrade() -> None:
    op.drop_index(op.f("ix_platform_api_tokens_platform_admin_id"), table_name="platform_api_tokens")
    op.drop_table("platform_api_tokens")
    op.drop_table("tenant_invitations")
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("purged_at")
        batch.drop_column("deleted_at")
