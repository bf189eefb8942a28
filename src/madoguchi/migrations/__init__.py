"""Alembic migrations. Applied with ``madoguchi db upgrade`` on SQLite and PostgreSQL alike."""
