"""How the schema the migrations built differs from the models: one helper for every migration-versus-model test.

Each test keeps the differences of its own tables (``tables_of``), because SQLite's reflection cannot read the
queue's expression indexes on ``applications`` (decision 0024) and reports them as differences of that table.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from madoguchi import models  # noqa: F401 - every model in the metadata
from madoguchi.db import Base


def schema_differences(owner_url: str, *, compare_type: bool = False) -> list[Any]:
    """Alembic's differences between the database at ``owner_url`` and the models' metadata."""
    engine = sa.create_engine(owner_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": compare_type})
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def tables_of(diff: Any) -> set[str]:
    """The table names a difference (or a list of column-level differences) touches."""
    if isinstance(diff, list):
        return set().union(*(tables_of(d) for d in diff))
    names = set()
    for part in diff[1:]:
        if isinstance(part, str):
            names.add(part)
        table = getattr(part, "table", None)
        if table is not None:
            names.add(table.name)
        if isinstance(part, sa.Table):
            names.add(part.name)
    return names
