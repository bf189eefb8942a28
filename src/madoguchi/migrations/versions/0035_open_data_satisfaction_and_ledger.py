"""Open data and the data-use ledger: monthly KPI snapshots, satisfaction answers, vendor consent on reads.

* ``kpi_months`` (tenant-owned, RLS): a municipality's dataset for one closed month, exact and as published. The
  app role may insert and update (a month is recomputed only when the definitions change) but not delete, so a
  published month is not lost to a purge of applications.
* ``national_kpi_months`` (global): the country's aggregate, published rows only.
* ``satisfaction_responses`` (tenant-owned, RLS): one answer per journey, apart from the application; insert-only
  for the app role, so an answer is never edited by staff.
* ``access_events`` gains ``consent_id`` and ``scope``: a vendor app's read names the consent that allowed it.
Decision 0049.

Revision ID: 0035
Revises: 0034
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from madoguchi.migrations import rls

revision = "0035"
down_revision = "0034"
branch_labels = None
depends_on = None

TENANT_TABLES: tuple[str, ...] = ("kpi_months", "satisfaction_responses")
PRIVILEGES = {
    "kpi_months": "SELECT, INSERT, UPDATE",
    "satisfaction_responses": "SELECT, INSERT",
}

TIMESTAMP = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _tenant_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id"], ["tenants.id"], name=op.f(f"fk_{table}_tenant_id_tenants"), ondelete="RESTRICT"
    )


def upgrade() -> None:
    op.create_table(
        "national_kpi_months",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("dataset", sa.String(length=40), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("definition_version", sa.String(length=20), nullable=False),
        sa.Column("generated_at", TIMESTAMP, nullable=False),
        sa.Column("published", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_national_kpi_months")),
        sa.UniqueConstraint("dataset", "period", name="uq_national_kpi_months_dataset_period"),
    )
    op.create_table(
        "kpi_months",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("dataset", sa.String(length=40), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("definition_version", sa.String(length=20), nullable=False),
        sa.Column("generated_at", TIMESTAMP, nullable=False),
        sa.Column("internal", JSON, nullable=False),
        sa.Column("published", JSON, nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        _tenant_fk("kpi_months"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kpi_months")),
        sa.UniqueConstraint("tenant_id", "dataset", "period", name="uq_kpi_months_dataset_period"),
    )
    op.create_table(
        "satisfaction_responses",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("service_key", sa.String(length=63), nullable=False),
        sa.Column("journey", sa.String(length=20), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("score", sa.SmallInteger(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("answered_at", TIMESTAMP, nullable=False),
        sa.Column("journey_key", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        _tenant_fk("satisfaction_responses"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_satisfaction_responses")),
        sa.UniqueConstraint("tenant_id", "journey_key", name="uq_satisfaction_responses_journey_key"),
    )
    op.create_index(
        "ix_satisfaction_responses_tenant_id_answered_at",
        "satisfaction_responses",
        ["tenant_id", "answered_at"],
        unique=False,
    )
    op.add_column("access_events", sa.Column("consent_id", sa.Uuid(), nullable=True))
    op.add_column("access_events", sa.Column("scope", sa.String(length=200), nullable=True))
    rls.protect_tenant_tables(TENANT_TABLES, PRIVILEGES)
    if rls.is_postgres():
        rls.grant_app_role({"national_kpi_months": "SELECT, INSERT, UPDATE"})


def downgrade() -> None:
    with op.batch_alter_table("access_events") as batch:
        batch.drop_column("scope")
        batch.drop_column("consent_id")
    op.drop_index("ix_satisfaction_responses_tenant_id_answered_at", table_name="satisfaction_responses")
    for table in reversed(TENANT_TABLES):
        op.drop_table(table)
    op.drop_table("national_kpi_months")
