"""Accounts sessions, platform admins, email verification, TOTP, identity verification codes.

- ``web_sessions`` (global: looked up by cookie hash before the tenant is known);
- ``platform_admins`` (global);
- ``accounts`` gains login throttling, TOTP and address-verification columns, and a unique index that links
  a registry person to at most one account per tenant;
- ``email_verifications`` and ``identity_verifications`` (tenant-owned: row-level security).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from madoguchi.migrations import rls

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

#: Tenant-owned tables this migration creates (row-level security + app-role grants on PostgreSQL).
TENANT_TABLES: tuple[str, ...] = ("email_verifications", "identity_verifications")

_TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "web_sessions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=True),
        sa.Column("account_id", sa.Uuid(), nullable=True),
        sa.Column("platform_admin_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.Column("last_seen_at", _TIMESTAMP, nullable=False),
        sa.Column("expires_at", _TIMESTAMP, nullable=False),
        sa.Column("second_factor_at", _TIMESTAMP, nullable=True),
        sa.Column("revoked_at", _TIMESTAMP, nullable=True),
        sa.Column("user_agent", sa.String(length=300), nullable=True),
        sa.Column("ip_address", sa.String(length=45), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_web_sessions_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_web_sessions_token_hash")),
    )
    op.create_index(op.f("ix_web_sessions_account_id"), "web_sessions", ["account_id"], unique=False)
    op.create_index(op.f("ix_web_sessions_platform_admin_id"), "web_sessions", ["platform_admin_id"], unique=False)

    op.create_table(
        "platform_admins",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=True),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.Column("last_login_at", _TIMESTAMP, nullable=True),
        sa.Column("failed_login_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("locked_until", _TIMESTAMP, nullable=True),
        sa.Column("lock_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("totp_secret_encrypted", sa.LargeBinary(), nullable=True),
        sa.Column("totp_enabled_at", _TIMESTAMP, nullable=True),
        sa.Column("totp_last_counter", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_platform_admins")),
        sa.UniqueConstraint("email", name=op.f("uq_platform_admins_email")),
    )

    # Plain ADD COLUMN (nullable, or NOT NULL with a constant default) works on SQLite without a table copy.
    op.add_column("accounts", sa.Column("email_verified_at", _TIMESTAMP, nullable=True))
    op.add_column("accounts", sa.Column("last_login_at", _TIMESTAMP, nullable=True))
    op.add_column("accounts", sa.Column("failed_login_count", sa.Integer(), server_default="0", nullable=False))
    op.add_column("accounts", sa.Column("locked_until", _TIMESTAMP, nullable=True))
    op.add_column("accounts", sa.Column("lock_count", sa.Integer(), server_default="0", nullable=False))
    op.add_column("accounts", sa.Column("totp_secret_encrypted", sa.LargeBinary(), nullable=True))
    op.add_column("accounts", sa.Column("totp_enabled_at", _TIMESTAMP, nullable=True))
    op.add_column("accounts", sa.Column("totp_last_counter", sa.BigInteger(), nullable=True))
    op.create_index("uq_accounts_tenant_id_person_id", "accounts", ["tenant_id", "person_id"], unique=True)

    op.create_table(
        "email_verifications",
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
            name=op.f("fk_email_verifications_tenant_id_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_email_verifications_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_verifications")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_email_verifications_token_hash")),
    )
    op.create_index(op.f("ix_email_verifications_account_id"), "email_verifications", ["account_id"], unique=False)

    op.create_table(
        "identity_verifications",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.Column("expires_at", _TIMESTAMP, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("used_at", _TIMESTAMP, nullable=True),
        sa.Column("revoked_at", _TIMESTAMP, nullable=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "account_id"],
            ["accounts.tenant_id", "accounts.id"],
            name=op.f("fk_identity_verifications_tenant_id_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "person_id"],
            ["persons.tenant_id", "persons.id"],
            name=op.f("fk_identity_verifications_tenant_id_person_id_persons"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_identity_verifications_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_verifications")),
    )
    op.create_index(
        "ix_identity_verifications_account",
        "identity_verifications",
        ["tenant_id", "account_id", "created_at"],
        unique=False,
    )

    rls.protect_tenant_tables(TENANT_TABLES)
    if rls.is_postgres():
        # Global tables, looked up before any tenant is known. No DELETE: sessions are revoked, admins disabled.
        rls.grant_app_role({"web_sessions": "SELECT, INSERT, UPDATE", "platform_admins": "SELECT, INSERT, UPDATE"})


def downgrade() -> None:
    op.drop_index("ix_identity_verifications_account", table_name="identity_verifications")
    op.drop_table("identity_verifications")
    op.drop_index(op.f("ix_email_verifications_account_id"), table_name="email_verifications")
    op.drop_table("email_verifications")
    op.drop_index("uq_accounts_tenant_id_person_id", table_name="accounts")
    with op.batch_alter_table("accounts") as batch_op:
        for column in (
            "totp_last_counter",
            "totp_enabled_at",
            "totp_secret_encrypted",
            "lock_count",
            "locked_until",
            "failed_login_count",
            "last_login_at",
            "email_verified_at",
        ):
            batch_op.drop_column(column)
    op.drop_table("platform_admins")
    op.drop_index(op.f("ix_web_sessions_platform_admin_id"), table_name="web_sessions")
    op.drop_index(op.f("ix_web_sessions_account_id"), table_name="web_sessions")
    op.drop_table("web_sessions")
