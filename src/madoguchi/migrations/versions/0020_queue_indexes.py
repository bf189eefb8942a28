"""An index for every queue query: each filter with the API's order, and the console's two sorts.

Tenant first in each (every query names the tenant, as does the row-level security policy), then the filter,
then the keyset order, so a page is read off the index in order instead of sorting the tenant's applications.
The console's sorts are expressions (``SUBMITTED_ORDER``, ``DUE_ORDER`` in ``applications/models.py``) and
indexed as such; ``ix_applications_queue`` (state, then ``submitted_at``, an order no query uses) gives way to
``ix_applications_state``. Decision 0024; tests/applications/test_queue_indexes.py plans every queue query.

Revision ID: 0020
Revises: 0019
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from madoguchi.migrations.queue_orders import DUE_ORDER, SUBMITTED_ORDER

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

#: name -> columns of each index this migration adds to ``applications``.
INDEXES: dict[str, list[str | sa.TextClause]] = {
    "ix_applications_state": ["tenant_id", "state", "created_at", "id"],
    "ix_applications_service": ["tenant_id", "service_key", "created_at", "id"],
    "ix_applications_assignee": ["tenant_id", "assignee_account_id", "created_at", "id"],
    "ix_applications_applicant": ["tenant_id", "applicant_account_id", "created_at", "id"],
    "ix_applications_submitted": ["tenant_id", SUBMITTED_ORDER, "id"],
    "ix_applications_due": ["tenant_id", DUE_ORDER, SUBMITTED_ORDER, "id"],
}


def upgrade() -> None:
    op.drop_index("ix_applications_queue", table_name="applications")
    for name, columns in INDEXES.items():
        op.create_index(name, "applications", columns)


def downgrade() -> None:
    for name in reversed(INDEXES):
        op.drop_index(name, table_name="applications")
    op.create_index("ix_applications_queue", "applications", ["tenant_id", "state", "submitted_at"])
