"""The queue's filters that look for recent rows in a long history get indexes in the queue's orders.

bench/scale.py at 200,000 and 1,000,000 applications: "unassigned" and "overdue" walked a whole-table index in
the queue's order from the oldest row (40-100 ms in the database at 200,000), and the console's state and
assignee filters did the same under a prepared statement's generic plan (250 ms more per page at 1,000,000).
Added: a partial index of the unassigned rows and one of the open (not finished) rows in each queue order (the
API's created order, the console's submitted and due orders), and the console's two sorts after a state or an
assignee. Decision 0028; tests/applications/test_queue_indexes.py checks that those queries use them.

Revision ID: 0023
Revises: 0022
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from madoguchi.migrations.queue_orders import DUE_ORDER, SUBMITTED_ORDER

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

ORDERS: dict[str, list[str | sa.TextClause]] = {
    "": ["tenant_id", "created_at", "id"],
    "_submitted": ["tenant_id", SUBMITTED_ORDER, "id"],
    "_due": ["tenant_id", DUE_ORDER, SUBMITTED_ORDER, "id"],
}
#: As ``UNASSIGNED`` and ``OPEN`` in the model (``NOT_OPEN_STATES``: the standard's terminal states, and drafts).
ROWS = {
    "unassigned": sa.text("assignee_account_id IS NULL"),
    "open": sa.text("state NOT IN ('issued', 'rejected', 'withdrawn', 'draft')"),
}


#: The console's sorts after a state or an assignee: ``ix_applications_{column}{order}``.
FILTERED = ("state", "assignee_account_id")


def upgrade() -> None:
    for column in FILTERED:
        for order, columns in ORDERS.items():
            if order:
                op.create_index(f"ix_applications_{column}{order}", "applications", [columns[0], column, *columns[1:]])
    for rows, where in ROWS.items():
        for order, columns in ORDERS.items():
            op.create_index(
                f"ix_applications_{rows}{order}",
                "applications",
                columns,
                postgresql_where=where,
                sqlite_where=where,
            )


def downgrade() -> None:
    for column in FILTERED:
        for order in ORDERS:
            if order:
                op.drop_index(f"ix_applications_{column}{order}", table_name="applications")
    for rows in ROWS:
        for order in ORDERS:
            op.drop_index(f"ix_applications_{rows}{order}", table_name="applications")
