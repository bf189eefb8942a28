"""The queue's unassigned and open applications indexed on their own, in each queue order.

"Unassigned" and "overdue" look for recent rows (unsent, undecided work) in a long history: walking a whole-table
index in the queue's order read the history first (at 200,000 applications the biggest municipality's unassigned
and overdue queues took 40-100 ms in the database, every other filter under 1 ms). A partial index of the
unassigned rows, and one of the open (not finished) rows, in each queue order (the API's created order, the
console's submitted and due orders) reads only those. Decision 0028; tests/applications/test_queue_indexes.py
checks that each such query uses its index.

Revision ID: 0023
Revises: 0020
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from madoguchi.migrations.queue_orders import DUE_ORDER, SUBMITTED_ORDER

revision = "0023"
down_revision = "0020"
branch_labels = None
depends_on = None

ORDERS: dict[str, list[str | sa.TextClause]] = {
    "": ["tenant_id", "created_at", "id"],
    "_submitted": ["tenant_id", SUBMITTED_ORDER, "id"],
    "_due": ["tenant_id", DUE_ORDER, SUBMITTED_ORDER, "id"],
}
#: As ``UNASSIGNED`` and ``OPEN`` in the model (``FINISHED_STATES``: the standard's terminal states).
ROWS = {
    "unassigned": sa.text("assignee_account_id IS NULL"),
    "open": sa.text("state NOT IN ('issued', 'rejected', 'withdrawn')"),
}


def upgrade() -> None:
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
    for rows in ROWS:
        for order in ORDERS:
            op.drop_index(f"ix_applications_{rows}{order}", table_name="applications")
