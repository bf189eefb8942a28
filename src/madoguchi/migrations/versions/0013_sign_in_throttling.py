"""Sign-in throttling with growing delays instead of a lock an outsider could trigger.

- ``sign_in_failures`` (global, like ``web_sessions``): one row per failed password or code, kept a day;
  ``identity.throttling`` counts them per account, per account and address, and per address;
- ``accounts.sign_in_notice_at``: when the owner was last told by email that sign-in is being slowed;
- the lock columns (``failed_login_count``, ``locked_until``, ``lock_count``) of ``accounts`` and
  ``platform_admins`` go: nothing locks an account any more.

Revision ID: 0013
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from madoguchi.migrations import rls

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

#: Tenant-owned tables this migration creates (row-level security + app-role grants on PostgreSQL).
TENANT_TABLES: tuple[str, ...] = ()

_TIMESTAMP = sa.DateTime(timezone=True)
_LOCK_COLUMNS = ("failed_login_count", "locked_until", "lock_count")


def upgrade() -> None:
    op.create_table(
        "sign_in_failures",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=45), nullable=False),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_in_failures")),
    )
    op.create_index("ix_sign_in_failures_subject", "sign_in_failures", ["subject", "created_at"], unique=False)
    op.create_index("ix_sign_in_failures_address", "sign_in_failures", ["address", "created_at"], unique=False)
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("sign_in_notice_at", _TIMESTAMP, nullable=True))
        for column in _LOCK_COLUMNS:
            batch.drop_column(column)
    with op.batch_alter_table("platform_admins") as batch:
        for column in _LOCK_COLUMNS:
            batch.drop_column(column)
    if rls.is_postgres():
        # Global: counted before any account is known. Rows of a subject go when it signs in, and after a day.
        rls.grant_app_role({"sign_in_failures": "SELECT, INSERT, DELETE"})


def downgrade() -> None:
    for table in ("platform_admins", "accounts"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("failed_login_count", sa.Integer(), server_default="0", nullable=False))
            batch.add_column(sa.Column("locked_until", _TIMESTAMP, nullable=True))
            batch.add_column(sa.Column("lock_count", sa.Integer(), server_default="0", nullable=False))
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("sign_in_notice_at")
    op.drop_index("ix_sign_in_failures_address", table_name="sign_in_failures")
    op.drop_index("ix_sign_in_failures_subject", table_name="sign_in_failures")
    op.drop_table("sign_in_failures")
