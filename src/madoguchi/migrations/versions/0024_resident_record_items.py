"""The resident register holds what a 住民票 states beyond today's columns: 除票, 外国人住民の記載事項 and 旧氏.

Nullable columns on ``persons`` (a registered Japanese resident with no 旧氏 leaves them all empty):
- the removal (消除) that makes a record a 除票: the day, the reason (転出/死亡/職権消除), the 転出先 and the
  address the person had then;
- the items of 住民基本台帳法30条の45 for a foreign resident: 区分, 国籍・地域, 在留資格, 在留期間 and
  its end, 在留カード等の番号, and 通称 with its reading;
- the 旧氏 with its reading.
``persons`` is already under row-level security (migration 0001): new columns need no policy. Decision 0031.

Revision ID: 0024
Revises: 0023
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

COLUMNS: tuple[tuple[str, sa.types.TypeEngine], ...] = (
    ("former_surname", sa.String(100)),
    ("former_surname_kana", sa.String(100)),
    ("removed_on", sa.Date()),
    ("removal_reason", sa.String(10)),
    ("moved_out_to", sa.String(300)),
    ("address_at_removal", sa.String(300)),
    ("foreign_resident_category", sa.String(20)),
    ("nationality", sa.String(100)),
    ("residence_status", sa.String(40)),
    ("period_of_stay", sa.String(40)),
    ("period_of_stay_ends_on", sa.Date()),
    ("residence_card_number", sa.String(12)),
    ("alias", sa.String(100)),
    ("alias_kana", sa.String(100)),
)


def upgrade() -> None:
    with op.batch_alter_table("persons") as batch:
        for name, type_ in COLUMNS:
            batch.add_column(sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("persons") as batch:
        for name, _ in reversed(COLUMNS):
            batch.drop_column(name)
