"""Keyed audit chain and staff-read records.

- ``audit_records`` gains ``key_id``: records written from now on are HMAC'd with the audit key
  (``MADOGUCHI_AUDIT_KEY``); the records already there keep their plain SHA-256 hash and no key id.
- ``audit_chain_heads`` gains ``legacy_until_seq``, set to each chain's current length: only records up to it
  may be unkeyed (signed checkpoints repeat it). See docs/decisions/0012-keyed-audit-and-staff-reads.md.
- ``access_events`` (tenant-owned: row-level security): who read which resident's data. Append-only: the app
  role gets SELECT and INSERT only on PostgreSQL; on SQLite triggers refuse UPDATE and DELETE.

Revision ID: 0015
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from madoguchi.migrations import rls

revision = "0015"
down_revision = "0013"
branch_labels = None
depends_on = None

#: Tenant-owned tables this migration creates (row-level security + app-role grants on PostgreSQL).
TENANT_TABLES: tuple[str, ...] = ("access_events",)

_TIMESTAMP = sa.DateTime(timezone=True)
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _mark_legacy_records() -> None:
    """Every chain's current records are its unkeyed (legacy) part."""
    if rls.is_postgres():
        # FORCE row-level security holds the owner too, and a migration runs with no tenant set: lift it briefly.
        op.execute("ALTER TABLE audit_chain_heads NO FORCE ROW LEVEL SECURITY")
        op.execute("UPDATE audit_chain_heads SET legacy_until_seq = last_seq")
        op.execute("ALTER TABLE audit_chain_heads FORCE ROW LEVEL SECURITY")
    else:
        op.execute("UPDATE audit_chain_heads SET legacy_until_seq = last_seq")


def upgrade() -> None:
    with op.batch_alter_table("audit_records") as batch:
        batch.add_column(sa.Column("key_id", sa.String(length=40), nullable=True))
    with op.batch_alter_table("audit_chain_heads") as batch:
        batch.add_column(sa.Column("legacy_until_seq", sa.Integer(), nullable=False, server_default="0"))
    _mark_legacy_records()

    op.create_table(
        "access_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("at", _TIMESTAMP, nullable=False),
        sa.Column("actor_type", sa.String(length=20), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("actor_roles", _JSON, nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=True),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("operation", sa.String(length=200), nullable=False),
        sa.Column("object_type", sa.String(length=50), nullable=False),
        sa.Column("object_id", sa.String(length=64), nullable=False),
        sa.Column("application_id", sa.Uuid(), nullable=True),
        sa.Column("subject_person_id", sa.Uuid(), nullable=True),
        sa.Column("subject_account_id", sa.Uuid(), nullable=True),
        sa.Column("data_categories", _JSON, nullable=False),
        sa.Column("purpose", sa.String(length=200), nullable=True),
        sa.Column("visible_from", _TIMESTAMP, nullable=False),
        sa.Column("key_id", sa.String(length=40), nullable=False),
        sa.Column("mac", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_access_events_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_events")),
    )
    op.create_index("ix_access_events_tenant_id_at", "access_events", ["tenant_id", "at"])
    op.create_index(
        "ix_access_events_tenant_id_subject_person_id_at", "access_events", ["tenant_id", "subject_person_id", "at"]
    )
    op.create_index(
        "ix_access_events_tenant_id_subject_account_id_at", "access_events", ["tenant_id", "subject_account_id", "at"]
    )
    # Append-only for the app: what was read stays recorded.
    rls.protect_tenant_tables(TENANT_TABLES, {"access_events": "SELECT, INSERT"})
    if not rls.is_postgres():
        # SQLite has no roles: triggers stand in for the grants (the embedded default is one process anyway).
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER access_events_no_{verb.lower()} BEFORE {verb} ON access_events "
                "BEGIN SELECT RAISE(ABORT, 'access_events is append-only'); END"
            )


def downgrade() -> None:
    if not rls.is_postgres():
        op.execute("DROP TRIGGER IF EXISTS access_events_no_update")
        op.execute("DROP TRIGGER IF EXISTS access_events_no_delete")
    op.drop_table("access_events")
    with op.batch_alter_table("audit_chain_heads") as batch:
        batch.drop_column("legacy_until_seq")
    with op.batch_alter_table("audit_records") as batch:
        batch.drop_column("key_id")
