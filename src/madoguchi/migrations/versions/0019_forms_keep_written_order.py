"""Stored forms keep the order they were written in: ``json`` instead of ``jsonb`` on PostgreSQL.

JSONB sorts an object's keys (shortest first), so a published form's questions came back in an order nobody
wrote and the portal had to guess the real one. ``json`` keeps the text as stored. Rows published before this
keep the sorted order JSONB gave them (their page order comes from ``x-pages`` once republished). SQLite stores
JSON as text already: nothing to do there (decision 0020).

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

from alembic import op

from madoguchi.migrations import rls

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

#: (table, column) holding a JSON Schema form whose property order matters.
FORM_COLUMNS = (("service_versions", "form_schema"), ("applications", "settings_snapshot"))


def _retype(to: str) -> None:
    if not rls.is_postgres():
        return
    for table, column in FORM_COLUMNS:
        op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE {to} USING {column}::{to}")


def upgrade() -> None:
    _retype("json")


def downgrade() -> None:
    _retype("jsonb")
