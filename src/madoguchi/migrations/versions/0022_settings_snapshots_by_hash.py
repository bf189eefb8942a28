"""Settings snapshots stored once: ``settings_snapshots(tenant_id, hash, content)``, applications name theirs by hash.

Each application carried its own copy of the effective settings it was filed under (11-17 KB of JSON; 9.2 GB of
``applications`` at a million rows), and every queue page decoded fifty of them. Now the content lives once per
tenant and content, keyed by the SHA-256 of its canonical JSON (``applications.snapshots.snapshot_hash``), and
``applications.settings_snapshot_hash`` names it. The table is tenant-owned (row-level security) and append-only:
the app role may read and add rows, never change or delete them. Decision 0027.

The move: every distinct (tenant, snapshot text) becomes one row (its content parsed and stored as written, key
order kept), then each application gets the hash of its own; the downgrade copies the content back. On PostgreSQL
the hashes are set in one pass (a join on the MD5 of the old text); on SQLite (the embedded default, small) one
UPDATE per distinct snapshot. SQLite cannot add a NOT NULL column or a foreign key to an existing table without
rebuilding ``applications`` (which its foreign keys forbid inside the migration's transaction), so there the new
column is nullable and unconstrained; the code always writes it. Dropping the old column frees no space on
PostgreSQL until the table is rewritten (``VACUUM FULL applications`` or pg_repack, in a maintenance window).

Revision ID: 0022
Revises: 0020
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import sqlalchemy as sa
from alembic import op

from madoguchi.applications.snapshots import snapshot_hash
from madoguchi.migrations import rls

revision = "0022"
down_revision = "0020"
branch_labels = None
depends_on = None

#: Tenant-owned tables this migration creates (row-level security + app-role grants on PostgreSQL).
TENANT_TABLES: tuple[str, ...] = ("settings_snapshots",)
#: Append-only: a snapshot never changes, and a purge (as the owner) is what removes a tenant's rows.
PRIVILEGES = {"settings_snapshots": "SELECT, INSERT"}
FOREIGN_KEY = "fk_applications_settings_snapshot"

_applications = sa.table(
    "applications",
    sa.column("tenant_id", sa.Uuid()),
    sa.column("settings_snapshot", sa.Text()),
    sa.column("settings_snapshot_hash", sa.String(64)),
)
_snapshots = sa.table(
    "settings_snapshots",
    sa.column("tenant_id", sa.Uuid()),
    sa.column("hash", sa.String(64)),
    sa.column("content", sa.JSON()),
    sa.column("created_at", sa.DateTime(timezone=True)),
)
#: The old column's text as stored (PostgreSQL's ``json`` keeps it as written; SQLite stores text).
_old_text = sa.cast(_applications.c.settings_snapshot, sa.Text())


def _lift_force(tables: tuple[str, ...]) -> None:
    # FORCE row-level security holds the owner too, and a migration runs with no tenant set: lift it briefly.
    for table in tables:
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")


def _restore_force(tables: tuple[str, ...]) -> None:
    for table in tables:
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")


def _tenant(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _move_snapshots_out() -> None:
    """One ``settings_snapshots`` row per distinct (tenant, snapshot text); each application gets its hash."""
    bind = op.get_bind()
    distinct = bind.execute(sa.select(_applications.c.tenant_id, _old_text).distinct()).all()
    moves: list[dict[str, Any]] = []
    stored: set[tuple[uuid.UUID, str]] = set()
    for tenant_value, text in distinct:
        tenant_id, content = _tenant(tenant_value), json.loads(text)
        digest = snapshot_hash(content)
        moves.append({"tenant_id": tenant_id, "text": text, "hash": digest})
        if (tenant_id, digest) not in stored:  # two texts of one content (spacing) are one snapshot
            stored.add((tenant_id, digest))
            bind.execute(
                _snapshots.insert().values(
                    tenant_id=tenant_id, hash=digest, content=content, created_at=sa.func.current_timestamp()
                )
            )
    if not moves:
        return
    if rls.is_postgres():
        # One pass over the table, joined on the MD5 of the old text (a per-snapshot UPDATE would read every
        # application of a tenant once per snapshot of that tenant).
        op.execute("CREATE TEMPORARY TABLE snapshot_moves (tenant_id uuid, digest text, hash varchar(64))")
        bind.execute(
            sa.text("INSERT INTO snapshot_moves VALUES (:tenant_id, md5(CAST(:text AS text)), :hash)"),
            [{"tenant_id": m["tenant_id"], "text": m["text"], "hash": m["hash"]} for m in moves],
        )
        op.execute(
            "UPDATE applications AS a SET settings_snapshot_hash = m.hash FROM snapshot_moves AS m"
            " WHERE a.tenant_id = m.tenant_id AND md5(a.settings_snapshot::text) = m.digest"
        )
        op.execute("DROP TABLE snapshot_moves")
        return
    for move in moves:
        bind.execute(
            _applications.update()
            .where(_applications.c.tenant_id == move["tenant_id"], _old_text == move["text"])
            .values(settings_snapshot_hash=move["hash"])
        )


def upgrade() -> None:
    op.create_table(
        "settings_snapshots",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_settings_snapshots_tenant_id_tenants", ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "hash", name="pk_settings_snapshots"),
    )
    op.add_column("applications", sa.Column("settings_snapshot_hash", sa.String(length=64), nullable=True))
    if rls.is_postgres():
        _lift_force(("applications",))
    _move_snapshots_out()
    if rls.is_postgres():
        _restore_force(("applications",))
        op.alter_column("applications", "settings_snapshot_hash", nullable=False)
        op.create_foreign_key(
            FOREIGN_KEY,
            "applications",
            "settings_snapshots",
            ["tenant_id", "settings_snapshot_hash"],
            ["tenant_id", "hash"],
        )
    rls.protect_tenant_tables(TENANT_TABLES, PRIVILEGES)
    op.execute("ALTER TABLE applications DROP COLUMN settings_snapshot")


def downgrade() -> None:
    op.add_column("applications", sa.Column("settings_snapshot", sa.JSON(), nullable=True))
    if rls.is_postgres():
        _lift_force(("applications", "settings_snapshots"))
    content = (
        sa.select(_snapshots.c.content)
        .where(
            _snapshots.c.tenant_id == _applications.c.tenant_id,
            _snapshots.c.hash == _applications.c.settings_snapshot_hash,
        )
        .scalar_subquery()
    )
    op.get_bind().execute(_applications.update().values(settings_snapshot=content))
    if rls.is_postgres():
        _restore_force(("applications",))
        op.alter_column("applications", "settings_snapshot", nullable=False)
        op.drop_constraint(FOREIGN_KEY, "applications", type_="foreignkey")
    op.execute("ALTER TABLE applications DROP COLUMN settings_snapshot_hash")
    op.drop_table("settings_snapshots")
