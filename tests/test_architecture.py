"""Structural rules that keep the codebase safe as it grows (in the manner of Notify Admin's route tests)."""

from __future__ import annotations

import importlib.util
import re

import pytest
from sqlalchemy import text

from madoguchi import models  # noqa: F401 - registers every model
from madoguchi.db import Base, TenantScoped
from madoguchi.migrate import MIGRATIONS_DIR
from madoguchi.security import is_public_endpoint

#: Route arguments that are not ids: the tenant slug, procedure keys, static file names and emailed tokens.
NON_ID_ARGUMENTS = {"tenant", "key", "filename", "token"}
KEBAB_SEGMENT = re.compile(r"^(<[^>]+>|[a-z0-9]+(-[a-z0-9]+)*|\.well-known|openapi\.json)$")


def _routes(app):
    return [rule for rule in app.url_map.iter_rules() if rule.endpoint != "static"]


def test_every_route_is_public_by_declaration_or_authenticated(app) -> None:
    undeclared = []
    for rule in _routes(app):
        blueprint = app.blueprints.get(rule.endpoint.rsplit(".", 1)[0]) if "." in rule.endpoint else None
        authenticated = getattr(blueprint, "madoguchi_authenticated", False)
        if not (is_public_endpoint(app, rule.endpoint) or authenticated):
            undeclared.append(f"{rule.rule} ({rule.endpoint})")
    assert undeclared == []


def test_route_ids_are_typed(app) -> None:
    untyped = []
    for rule in _routes(app):
        for argument, converter in rule._converters.items():
            if argument in NON_ID_ARGUMENTS:
                continue
            if type(converter).__name__ not in ("UUIDConverter", "IntegerConverter"):
                untyped.append(f"{rule.rule}: <{argument}>")
    assert untyped == []


def test_paths_are_kebab_case(app) -> None:
    bad = [
        rule.rule
        for rule in _routes(app)
        if rule.endpoint != "web.static" and "assets" not in rule.endpoint
        for segment in rule.rule.strip("/").split("/")
        if segment and not KEBAB_SEGMENT.match(segment)
    ]
    assert bad == []


def _migration_tenant_tables() -> set[str]:
    """The union of every migration's TENANT_TABLES (the tables it put under row-level security)."""
    tables: set[str] = set()
    for path in sorted(MIGRATIONS_DIR.joinpath("versions").glob("[0-9]*.py")):
        spec = importlib.util.spec_from_file_location(f"migration_{path.stem}", path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        tables |= set(getattr(module, "TENANT_TABLES", ()))
    return tables


def test_every_tenant_scoped_model_has_a_row_level_security_policy() -> None:
    scoped = {mapper.local_table.name for mapper in Base.registry.mappers if issubclass(mapper.class_, TenantScoped)}
    assert scoped == _migration_tenant_tables()


def test_tenant_scoped_tables_carry_tenant_id_not_null() -> None:
    for mapper in Base.registry.mappers:
        if issubclass(mapper.class_, TenantScoped):
            column = mapper.local_table.c.tenant_id
            assert column.nullable is False, mapper.local_table.name


@pytest.mark.postgres_only
def test_row_level_security_is_enabled_and_forced_on_the_database(db, backend) -> None:
    with db.transaction() as session:
        rows = session.execute(
            text(
                "select c.relname, c.relrowsecurity, c.relforcerowsecurity from pg_class c "
                "join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'public' and c.relkind = 'r'"
            )
        ).all()
    protected = {name for name, enabled, forced in rows if enabled and forced}
    assert _migration_tenant_tables() <= protected
