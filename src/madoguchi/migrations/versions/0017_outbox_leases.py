"""Outbox leases: a message is claimed by one worker for a while, and marked when its send starts.

``lease_id`` names the claim (one worker's one claim of the message), ``lease_expires_at`` says until when
no other worker may take it, and ``in_flight_at`` is set, in its own short transaction, just before the
message's email or webhook leaves. A worker killed mid-batch leaves at most its in-flight messages to be
sent again (with the same id) once their lease expires; the ones it had claimed but not started were never
sent. See ``madoguchi.notify.worker`` and docs/operations.md.

Revision ID: 0017
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0015"
branch_labels = None
depends_on = None

#: Tenant-owned tables this migration creates (row-level security + app-role grants on PostgreSQL).
TENANT_TABLES: tuple[str, ...] = ()


def upgrade() -> None:
    with op.batch_alter_table("outbox_messages") as batch:
        batch.add_column(sa.Column("lease_id", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("in_flight_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox_messages") as batch:
        batch.drop_column("in_flight_at")
        batch.drop_column("lease_expires_at")
        batch.drop_column("lease_id")
