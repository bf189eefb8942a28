"""Allocation rounds (利用調整回): the round, its seats, the frozen entries and sibling groups, results, open numbers.

Six tenant-owned tables under row-level security. A frozen round never changes what it was given: entries,
classes and groups are written at freeze and only read after; results and class numbers are replaced while the
round is recomputed, and kept once it is approved. Nothing is deleted by the app except a draft round's seats
and results being recomputed. Decision 0040.

Revision ID: 0031
Revises: 0030
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from madoguchi.migrations import rls

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None

#: Tenant-owned tables this migration creates (row-level security + app-role grants on PostgreSQL).
TENANT_TABLES: tuple[str, ...] = (
    "allocation_rounds",
    "round_classes",
    "sibling_groups",
    "round_entries",
    "round_results",
    "round_class_stats",
)
#: The frozen snapshot is only ever added; seats are edited while draft; results are replaced while computed.
PRIVILEGES = {
    "allocation_rounds": "SELECT, INSERT, UPDATE",
    "round_classes": "SELECT, INSERT, UPDATE, DELETE",
    "sibling_groups": "SELECT, INSERT",
    "round_entries": "SELECT, INSERT",
    "round_results": "SELECT, INSERT, DELETE",
    "round_class_stats": "SELECT, INSERT, DELETE",
}

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "allocation_rounds",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("label_ja", sa.String(length=100), nullable=False),
        sa.Column("label_en", sa.String(length=100), nullable=False),
        sa.Column("intake_month", sa.String(length=7), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("fiscal_year", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("reuse_transfer_seats", sa.Boolean(), nullable=False),
        sa.Column("rule_set_id", sa.Uuid(), nullable=True),
        sa.Column("rule_set_version", sa.Integer(), nullable=True),
        sa.Column("rule_set_sha256", sa.String(length=64), nullable=True),
        sa.Column("tail_names", JSON_TYPE, nullable=False),
        sa.Column("lottery_seed", sa.String(length=64), nullable=True),
        sa.Column("input_sha256", sa.String(length=64), nullable=True),
        sa.Column("result_sha256", sa.String(length=64), nullable=True),
        sa.Column("algorithm_version", sa.String(length=40), nullable=True),
        sa.Column("stats", JSON_TYPE, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("frozen_at", TIMESTAMP, nullable=True),
        sa.Column("frozen_by", sa.String(length=200), nullable=True),
        sa.Column("computed_at", TIMESTAMP, nullable=True),
        sa.Column("computed_by", sa.String(length=200), nullable=True),
        sa.Column("approved_at", TIMESTAMP, nullable=True),
        sa.Column("approved_by", sa.String(length=200), nullable=True),
        sa.Column("published_at", TIMESTAMP, nullable=True),
        sa.Column("published_by", sa.String(length=200), nullable=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_allocation_rounds_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_allocation_rounds")),
        sa.UniqueConstraint("tenant_id", "id", name=op.f("uq_allocation_rounds_tenant_id_id")),
    )
    op.create_index(
        "ix_allocation_rounds_tenant_intake",
        "allocation_rounds",
        ["tenant_id", "intake_month", "created_at"],
        unique=False,
    )
    op.create_table(
        "round_classes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("round_id", sa.Uuid(), nullable=False),
        sa.Column("facility_code", sa.String(length=20), nullable=False),
        sa.Column("age_class", sa.Integer(), nullable=False),
        sa.Column("seats", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "round_id"],
            ["allocation_rounds.tenant_id", "allocation_rounds.id"],
            name="fk_round_classes_round",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_round_classes_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_round_classes")),
        sa.UniqueConstraint(
            "round_id", "facility_code", "age_class", name=op.f("uq_round_classes_round_id_facility_code_age_class")
        ),
    )
    op.create_table(
        "sibling_groups",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("round_id", sa.Uuid(), nullable=False),
        sa.Column("application_id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("mode", sa.String(length=30), nullable=False),
        sa.Column("partial_priority", sa.String(length=10), nullable=False),
        sa.Column("members", JSON_TYPE, nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "round_id"],
            ["allocation_rounds.tenant_id", "allocation_rounds.id"],
            name="fk_sibling_groups_round",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_sibling_groups_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sibling_groups")),
        sa.UniqueConstraint("round_id", "key", name=op.f("uq_sibling_groups_round_id_key")),
        sa.UniqueConstraint("tenant_id", "id", name=op.f("uq_sibling_groups_tenant_id_id")),
    )
    op.create_table(
        "round_entries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("round_id", sa.Uuid(), nullable=False),
        sa.Column("application_id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("child_index", sa.Integer(), nullable=False),
        sa.Column("child_name", sa.String(length=200), nullable=False),
        sa.Column("category", sa.String(length=1), nullable=False),
        sa.Column("care_time", sa.String(length=10), nullable=True),
        sa.Column("age_class", sa.Integer(), nullable=False),
        sa.Column("preferences", JSON_TYPE, nullable=False),
        sa.Column("current_facility", sa.String(length=20), nullable=True),
        sa.Column("points", JSON_TYPE, nullable=False),
        sa.Column("priority", JSON_TYPE, nullable=False),
        sa.Column("lottery", sa.Integer(), nullable=False),
        sa.Column("income_levy", sa.Integer(), nullable=True),
        sa.Column("eligible", sa.Boolean(), nullable=False),
        sa.Column("sibling_group_key", sa.String(length=40), nullable=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "application_id"],
            ["applications.tenant_id", "applications.id"],
            name=op.f("fk_round_entries_tenant_id_application_id_applications"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "round_id"],
            ["allocation_rounds.tenant_id", "allocation_rounds.id"],
            name="fk_round_entries_round",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_round_entries_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_round_entries")),
        sa.UniqueConstraint("round_id", "key", name=op.f("uq_round_entries_round_id_key")),
        sa.UniqueConstraint("tenant_id", "id", name=op.f("uq_round_entries_tenant_id_id")),
    )
    op.create_index("ix_round_entries_application", "round_entries", ["tenant_id", "application_id"], unique=False)
    op.create_table(
        "round_results",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("round_id", sa.Uuid(), nullable=False),
        sa.Column("entry_key", sa.String(length=40), nullable=False),
        sa.Column("outcome", sa.String(length=12), nullable=False),
        sa.Column("facility_code", sa.String(length=20), nullable=True),
        sa.Column("age_class", sa.Integer(), nullable=True),
        sa.Column("pref_rank", sa.Integer(), nullable=True),
        sa.Column("explanation", JSON_TYPE, nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "round_id"],
            ["allocation_rounds.tenant_id", "allocation_rounds.id"],
            name="fk_round_results_round",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_round_results_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_round_results")),
        sa.UniqueConstraint("round_id", "entry_key", name=op.f("uq_round_results_round_id_entry_key")),
    )
    op.create_table(
        "round_class_stats",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("round_id", sa.Uuid(), nullable=False),
        sa.Column("facility_code", sa.String(length=20), nullable=False),
        sa.Column("age_class", sa.Integer(), nullable=False),
        sa.Column("seats", sa.Integer(), nullable=False),
        sa.Column("listed_by", sa.Integer(), nullable=False),
        sa.Column("placed", sa.Integer(), nullable=False),
        sa.Column("lowest_placed_score", sa.Integer(), nullable=True),
        sa.Column("lowest_placed_tiebreak", sa.String(length=40), nullable=True),
        sa.Column("waiting_count", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "round_id"],
            ["allocation_rounds.tenant_id", "allocation_rounds.id"],
            name="fk_round_class_stats_round",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_round_class_stats_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_round_class_stats")),
        sa.UniqueConstraint(
            "round_id", "facility_code", "age_class", name=op.f("uq_round_class_stats_round_id_facility_code_age_class")
        ),
    )
    rls.protect_tenant_tables(TENANT_TABLES, PRIVILEGES)


def downgrade() -> None:
    for table in reversed(TENANT_TABLES):
        op.drop_table(table)
