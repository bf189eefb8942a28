"""The queue's sort keys as the migrations index them (migrations 0020 and 0023).

As ``SUBMITTED_ORDER`` and ``DUE_ORDER`` in ``applications/models.py`` render them: a query matches an expression
index only with the very same expression (decision 0024).
"""

from __future__ import annotations

import sqlalchemy as sa

SUBMITTED_ORDER = sa.text("(CASE WHEN submitted_at IS NULL THEN created_at ELSE submitted_at END)")
DUE_ORDER = sa.text("(CASE WHEN due_on IS NULL THEN '9999-12-31' ELSE due_on END)")
