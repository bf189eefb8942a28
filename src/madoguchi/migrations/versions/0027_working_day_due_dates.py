"""Due dates in working days: the municipality's own closed days, and the clock stopped during 補正.

- ``tenant_closed_days`` (tenant-owned, row-level security): a day the offices are closed beyond 土日祝 and 年末年始,
  with an optional reason and where it was configured (the tenant file or the tenant admin);
- ``applications.sla_remaining_days`` and ``applications.sla_paused_on``: while an application waits for the
  resident's 補正 (``more_info_requested``) its due date is empty and these hold the working days that were left
  and the day the clock stopped; the response sets a new due date from them.

Applications already waiting for 補正 are paused here, on the day of the upgrade, with the working days left until
their due date (none when it has passed). Open applications keep the due date they were given. Decision 0034.

Revision ID: 0027
Revises: 0023
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from madoguchi import jp, workdays
from madoguchi.migrations import rls

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

#: Tenant-owned tables this migration creates (row-level security + app-role grants on PostgreSQL).
TENANT_TABLES: tuple[str, ...] = ("tenant_closed_days",)

_applications = sa.table(
    "applications",
    sa.column("id", sa.Uuid()),
    sa.column("state", sa.String(40)),
    sa.column("due_on", sa.Date()),
    sa.column("sla_remaining_days", sa.Integer()),
    sa.column("sla_paused_on", sa.Date()),
)


def _pause_waiting_applications() -> None:
    """Stop the clock of the applications waiting for 補正 today (the national calendar: no tenant has closed
    days of its own yet). Few rows: the ones waiting for a resident's answer."""
    bind = op.get_bind()
    today = jp.today()
    waiting = bind.execute(
        sa.select(_applications.c.id, _applications.c.due_on).where(
            _applications.c.state == "more_info_requested", _applications.c.due_on.is_not(None)
        )
    ).all()
    for application_id, due_on in waiting:
        bind.execute(
            _applications.update()
            .where(_applications.c.id == application_id)
            .values(
                due_on=None,
                sla_remaining_days=workdays.working_days_between(today, due_on),
                sla_paused_on=today,
            )
        )


def upgrade() -> None:
    op.create_table(
        "tenant_closed_days",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(length=100), nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_tenant_closed_days_tenant_id_tenants", ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "day", name="pk_tenant_closed_days"),
    )
    rls.protect_tenant_tables(TENANT_TABLES)
    op.add_column("applications", sa.Column("sla_remaining_days", sa.Integer(), nullable=True))
    op.add_column("applications", sa.Column("sla_paused_on", sa.Date(), nullable=True))
    if rls.is_postgres():
        # FORCE holds the owner to the tenant policy too, and a migration runs with no tenant set: lift it briefly.
        op.execute("ALTER TABLE applications NO FORCE ROW LEVEL SECURITY")
    _pause_waiting_applications()
    if rls.is_postgres():
        op.execute("ALTER TABLE applications FORCE ROW LEVEL SECURITY")


def downgrade() -> None:
    if rls.is_postgres():
        op.execute("ALTER TABLE applications NO FORCE ROW LEVEL SECURITY")
    # A paused application gets back a due date: the working days it had left, from the day it was paused.
    bind = op.get_bind()
    paused = bind.execute(
        sa.select(_applications.c.id, _applications.c.sla_paused_on, _applications.c.sla_remaining_days).where(
            _applications.c.sla_paused_on.is_not(None)
        )
    ).all()
    for application_id, paused_on, remaining in paused:
        due_on = workdays.add_working_days(paused_on, remaining or 0)
        bind.execute(_applications.update().where(_applications.c.id == application_id).values(due_on=due_on))
    if rls.is_postgres():
        op.execute("ALTER TABLE applications FORCE ROW LEVEL SECURITY")
    # Plain ALTER: SQLite's batch mode would rebuild ``applications``, which its foreign keys forbid here (0022).
    op.execute("ALTER TABLE applications DROP COLUMN sla_paused_on")
    op.execute("ALTER TABLE applications DROP COLUMN sla_remaining_days")
    op.drop_table("tenant_closed_days")
