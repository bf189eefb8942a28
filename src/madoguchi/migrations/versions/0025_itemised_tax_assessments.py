"""Tax assessments itemised as a 課税・所得証明書 states them: 収入 beside 所得, more kinds of 所得, each 所得控除,
dependants by kind, 所得割 and 均等割 of each inhabitant tax, and the 森林環境税 (from fiscal 2024).

Every new column is nullable: an assessment imported from a file of the original format keeps its totals and
has no items, and its certificate states the totals only. The table already has its row-level security policy
(migration 0001). Decision 0032; the columns and their labels: ``madoguchi.registry.tax_items``.

Revision ID: 0025
Revises: 0023
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

#: Tenant-owned tables this migration creates (row-level security + app-role grants on PostgreSQL).
TENANT_TABLES: tuple[str, ...] = ()

#: The columns added, in ``tax_items.ITEMISED_COLUMNS`` order (written out: a migration never changes with the code).
COLUMNS: tuple[str, ...] = (
    "salary_revenue",
    "pension_revenue",
    "miscellaneous_income",
    "real_estate_income",
    "dividend_income",
    "casualty_loss_deduction",
    "medical_expense_deduction",
    "social_insurance_deduction",
    "mutual_aid_deduction",
    "life_insurance_deduction",
    "earthquake_insurance_deduction",
    "disability_deduction",
    "widow_deduction",
    "single_parent_deduction",
    "working_student_deduction",
    "spouse_deduction",
    "spouse_special_deduction",
    "dependent_deduction",
    "basic_deduction",
    "qualifying_spouse",
    "general_dependents",
    "specific_dependents",
    "elderly_dependents",
    "cohabiting_elderly_parents",
    "young_dependents",
    "municipal_income_levy",
    "municipal_per_capita_levy",
    "prefectural_income_levy",
    "prefectural_per_capita_levy",
    "forest_environment_tax",
)


def upgrade() -> None:
    with op.batch_alter_table("tax_assessments") as batch:
        for name in COLUMNS:
            batch.add_column(sa.Column(name, sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tax_assessments") as batch:
        for name in reversed(COLUMNS):
            batch.drop_column(name)
