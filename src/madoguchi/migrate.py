"""Run Alembic programmatically: ``madoguchi db upgrade`` and the test fixtures use this."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from madoguchi.config import Settings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(url: str, *, app_db_role: str = "madoguchi_app") -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    # Migrations grant this role its privileges on PostgreSQL (it must not own the tables).
    config.set_main_option("app_db_role", app_db_role)
    return config


def upgrade(settings: Settings, revision: str = "head") -> None:
    if not settings.is_postgres:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(settings.effective_migration_url, app_db_role=settings.app_db_role), revision)


def current_head() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
