"""Alembic environment: runs migrations with the URL ``madoguchi db upgrade`` put in the config."""

from __future__ import annotations

from alembic import context

from madoguchi import models  # noqa: F401 - fills Base.metadata
from madoguchi.db import Base, make_engine

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    if url is None:
        raise RuntimeError("sqlalchemy.url is not set: run migrations with `madoguchi db upgrade`")
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                render_as_batch=connection.dialect.name == "sqlite",
                compare_type=True,
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("Offline (SQL script) migrations are not supported; run `madoguchi db upgrade`.")
run_migrations_online()
