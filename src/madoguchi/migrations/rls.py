"""Row-level security and app-role grants, shared by every migration that adds tables (PostgreSQL only).

A migration that adds tenant-owned tables lists them in a module-level ``TENANT_TABLES`` tuple and calls
``protect_tenant_tables(TENANT_TABLES)``; global tables get ``grant_app_role({...})``.
``tests/test_architecture.py`` checks that the union of every migration's ``TENANT_TABLES`` is exactly the
set of ``TenantScoped`` models. See docs/decisions/0001-tenant-isolation.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from alembic import context, op

DEFAULT_APP_PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE"

# NULLIF: after a transaction ends, a setting that was set locally reads '' rather than NULL.
CURRENT_TENANT = "NULLIF(current_setting('app.tenant_id', true), '')::uuid"


def is_postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def app_role() -> str:
    return context.config.get_main_option("app_db_role") or "madoguchi_app"


def enable_row_level_security(tables: Iterable[str]) -> None:
    for table in tables:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        # FORCE: the table owner is held to the policy too (only superusers and BYPASSRLS roles are not).
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON {table} "
            f"USING (tenant_id = {CURRENT_TENANT}) WITH CHECK (tenant_id = {CURRENT_TENANT})"
        )


def grant_app_role(privileges: Mapping[str, str]) -> None:
    """Grant exactly ``privileges`` (table -> "SELECT, INSERT") to the app role, if that role exists."""
    if not privileges:
        return
    role = app_role()
    # Revoke first: default privileges of the schema may have granted more than a table should allow.
    statements = [f"REVOKE ALL ON {table} FROM {role}" for table in privileges]
    statements += [f"GRANT {grant} ON {table} TO {role}" for table, grant in privileges.items()]
    body = "; ".join(statements)
    op.execute(
        "DO $$ BEGIN "
        f"IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN {body}; "
        f"ELSE RAISE NOTICE 'role {role} does not exist: no privileges granted'; END IF; END $$"
    )


def protect_tenant_tables(tables: Iterable[str], privileges: Mapping[str, str] | None = None) -> None:
    """RLS with FORCE on each table, and the app role's grants (default: read and write)."""
    tables = tuple(tables)
    if not tables or not is_postgres():
        return
    enable_row_level_security(tables)
    grant_app_role({table: (privileges or {}).get(table, DEFAULT_APP_PRIVILEGES) for table in tables})
