"""Webhook subscriptions and deliveries.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401 - used once the tables are added
from alembic import op  # noqa: F401

from madoguchi.migrations import rls

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

#: Tenant-owned tables this migration creates (row-level security + app-role grants on PostgreSQL).
TENANT_TABLES: tuple[str, ...] = ()


def upgrade() -> None:
    rls.protect_tenant_tables(TENANT_TABLES)


def downgrade() -> None:
    pass
