"""Catalog upgrades: no schema change.

Adopting a new version of a procedure switches ``tenant_services.service_version_id`` (and may replace
``overrides``); applications already point at the version they were filed under (``applications.service_version_id``
and ``settings_snapshot``), and the audit chain records each adoption. The revision is kept, empty, so the chain of
pre-created revisions stays unbroken.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

#: Tenant-owned tables this migration creates (row-level security + app-role grants on PostgreSQL).
TENANT_TABLES: tuple[str, ...] = ()


def upgrade() -> None:
    pass  # nothing to change: see the module docstring


def downgrade() -> None:
    pass
