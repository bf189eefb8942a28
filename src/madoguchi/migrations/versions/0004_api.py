"""Idempotency keys for the applications API.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401 - used once the tables are added
from alembic import op  # noqa: F401

from madoguchi.migrations import rls

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

#: Tenant-owned tables this migration creates (row-level security + app-role grants on PostgreSQL).
TENANT_TABLES: tuple[str, ...] = ()


def upgrade() -> None:
    rls.protect_tenant_tables(TENANT_TABLES)


def downgrade() -> None:
    pass
