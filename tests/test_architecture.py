"""Structural rules that keep the codebase safe as it grows (in the manner of Notify Admin's route tests)."""

from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path

import pytest
from sqlalchemy import text

from madoguchi import models  # noqa: F401 - registers every model
from madoguchi.db import Base, TenantScoped
from madoguchi.migrate import MIGRATIONS_DIR
from madoguchi.security import is_public_endpoint

#: Route arguments that are not ids: the tenant slug, procedure keys, static file names and emailed tokens.
# ``provider``: a payment provider's name (stripe, fake) in the webhooks-in URL, a name like ``key``, not an id.
# ``dataset``: an open-data dataset's name (procedure-kpis), likewise.
NON_ID_ARGUMENTS = {"tenant", "key", "filename", "token", "provider", "dataset"}
#: A segment: a parameter, kebab-case words, or a published file's name (``datapackage.json``, ``<dataset>.csv``).
KEBAB_SEGMENT = re.compile(
    r"^(<[^>]+>|[a-z0-9]+(-[a-z0-9]+)*|\.well-known|openapi\.json|(<[^>]+>|[a-z0-9]+(-[a-z0-9]+)*)\.(csv|json|jsonld))$"
)


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
            if type(converter).__name__ not in (
                "UUIDConverter",
                "IntegerConverter",
                "IsoDateConverter",
                "YearMonthConverter",
            ):
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


# Views, routes and surfaces are HTTP adapters: they call operations and repositories (docs/decisions/0016-layers.md).
SRC = Path(__file__).resolve().parents[1] / "src"
SURFACE_PACKAGES = ("api", "portal", "console", "tenant_admin", "admin", "accounts")
QUERY_BUILDERS = {"select", "update", "delete"}


def _adapter_modules() -> dict[str, Path]:
    """Modules named views/routes (``*_views``, ``*_routes`` too) and every module of a surface package."""
    modules = {}
    for path in sorted((SRC / "madoguchi").rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        adapter_name = parts[-1] in ("views", "routes") or parts[-1].endswith(("_views", "_routes"))
        if adapter_name or (len(parts) > 2 and parts[1] in SURFACE_PACKAGES):
            modules[name] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _data_access_imports(path: Path) -> set[str]:
    """What a module imports of SQL statement builders (``select``...) and of models modules (``*.models``)."""
    found: set[str] = set()
    sqlalchemy_aliases: set[str] = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    # Imports under ``if TYPE_CHECKING:`` name types for annotations only; they run nothing (as in .importlinter).
    for block in [n for n in ast.walk(tree) if isinstance(n, ast.If) and _is_type_checking(n.test)]:
        block.body = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module.split(".")[0] == "sqlalchemy":
                found |= {alias.name for alias in node.names if alias.name in QUERY_BUILDERS}
            elif node.module.startswith("madoguchi"):
                for alias in node.names:
                    target = f"{node.module}.{alias.name}"
                    if node.module.endswith("models") or target.endswith(".models"):
                        found.add(node.module if node.module.endswith("models") else target)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "sqlalchemy":
                    sqlalchemy_aliases.add(alias.asname or alias.name)
                elif alias.name.startswith("madoguchi") and alias.name.endswith("models"):
                    found.add(alias.name)
        elif (
            isinstance(node, ast.Attribute)
            and node.attr in QUERY_BUILDERS
            and isinstance(node.value, ast.Name)
            and node.value.id in sqlalchemy_aliases
        ):
            found.add(node.attr)
    return found


#: Adapters that still query or import models at run time, module -> what. SHRINKING: an entry that no longer
#: holds fails the test below, so remove it then. Most are enums and classes named at run time (StaffRole,
#: AccountKind, a model in an isinstance check); the only statements left are the API's idempotency table's,
#: which issue 15 rewrites (one INSERT ... ON CONFLICT claim).
DATA_ACCESS_ALLOWED: dict[str, set[str]] = {
    "madoguchi.accounts.common": {"madoguchi.identity.models"},
    "madoguchi.accounts.oauth": {"madoguchi.oauth.models", "madoguchi.tenancy.models"},
    "madoguchi.accounts.platform_admins": {"madoguchi.identity.models"},
    "madoguchi.accounts.views": {"madoguchi.identity.models"},
    "madoguchi.admin.views": {"madoguchi.tenancy.models"},
    "madoguchi.api.admin": {"madoguchi.tenancy.models"},
    "madoguchi.api.catalog_upgrades": {"madoguchi.identity.models"},
    "madoguchi.api.emails": {"madoguchi.notify.models"},
    "madoguchi.api.identity.accounts": {"madoguchi.identity.models"},
    "madoguchi.api.identity.common": {"madoguchi.identity.models"},
    "madoguchi.api.identity.staff": {"madoguchi.identity.models"},
    "madoguchi.api.oauth_clients": {"madoguchi.identity.models"},
    "madoguchi.api.webhooks": {"madoguchi.notify.models"},
    "madoguchi.console.certificates": {"madoguchi.identity.models"},
    "madoguchi.console.email_deliveries": {"madoguchi.identity.models"},
    "madoguchi.console.views.application": {"madoguchi.applications.models"},
    "madoguchi.console.views.common": {
        "madoguchi.applications.models",
        "madoguchi.identity.models",
        "madoguchi.registry.models",
    },
    "madoguchi.console.views.counter": {"madoguchi.applications.models", "madoguchi.registry.models"},
    "madoguchi.console.views.identity_check": {"madoguchi.identity.models", "madoguchi.registry.models"},
    # The identity levels (an enum) and the Account type the page's words are chosen by; no queries.
    "madoguchi.portal.views.applications": {"madoguchi.identity.models"},
    "madoguchi.portal.views.assurance": {"madoguchi.identity.models"},
    "madoguchi.tenant_admin.views.apps": {"madoguchi.oauth.models"},
    "madoguchi.tenant_admin.views.common": {"madoguchi.identity.models"},
    "madoguchi.tenant_admin.views.staff": {"madoguchi.identity.models"},
    "madoguchi.web.views": {"madoguchi.identity.models"},
}


def test_views_routes_and_surfaces_import_no_query_builders_and_no_models() -> None:
    found = {name: imports for name, path in _adapter_modules().items() if (imports := _data_access_imports(path))}
    new = {name: imports - DATA_ACCESS_ALLOWED.get(name, set()) for name, imports in found.items()}
    assert {name: sorted(imports) for name, imports in new.items() if imports} == {}, (
        "views, routes and surface modules call operations and repositories (docs/decisions/0016-layers.md)"
    )
    stale = {
        name: sorted(allowed - found.get(name, set()))
        for name, allowed in DATA_ACCESS_ALLOWED.items()
        if allowed - found.get(name, set())
    }
    assert stale == {}, "fixed: remove these from DATA_ACCESS_ALLOWED"


def test_the_data_access_check_sees_each_kind_of_import(tmp_path: Path) -> None:
    module = tmp_path / "views.py"
    module.write_text(
        "import sqlalchemy as sa\n"
        "from sqlalchemy import func, select\n"
        "from madoguchi.identity.models import Account\n"
        "from madoguchi.catalog import models\n"
        "from madoguchi.errors import NotFound\n"
        "stmt = sa.delete(Account)\n",
        encoding="utf-8",
    )
    assert _data_access_imports(module) == {"select", "delete", "madoguchi.identity.models", "madoguchi.catalog.models"}


#: API reads that show no resident's personal data to someone other than that resident, and why. Every other GET
#: of the API is marked ``@records_reads`` and writes a data-use entry (docs/data-use-ledger.md): a new GET that is
#: in neither fails the test below, so whoever adds it decides.
API_READS_WITHOUT_PERSONAL_DATA = {
    "/api/v1/openapi.json": "the API's description",
    "/api/v1/docs": "the API's documentation page",
    "/api/v1/docs/assets/<path:filename>": "the documentation's assets",
    "/api/v1/tenants": "the public list of municipalities",
    "/api/v1/open-data": "published KPIs: counts per procedure and month, suppressed under 10",
    "/api/v1/open-data/<dataset>": "published KPIs: counts per procedure and month, suppressed under 10",
    "/api/v1/open-data/<dataset>/<month:month>": "published KPIs: counts per procedure and month, suppressed under 10",
    "/api/v1/t/<tenant>/open-data": "published KPIs: counts per procedure and month, suppressed under 10",
    "/api/v1/t/<tenant>/open-data/<dataset>": "published KPIs: counts per procedure and month, suppressed under 10",
    "/api/v1/t/<tenant>/open-data/<dataset>/<month:month>": "published KPIs: counts per procedure and month",
    "/api/v1/t/<tenant>/procedures": "the catalog",
    "/api/v1/t/<tenant>/procedures/<key>": "the catalog",
    "/api/v1/t/<tenant>/procedures/<key>/upgrade": "a procedure's versions (tenant admin)",
    "/api/v1/t/<tenant>/me": "the caller's own account",
    "/api/v1/t/<tenant>/me/consents": "the caller's own consents",
    "/api/v1/t/<tenant>/staff": "staff accounts, not residents",
    "/api/v1/t/<tenant>/staff/<uuid:account_id>": "a staff account, not a resident",
    "/api/v1/t/<tenant>/oauth-clients": "the municipality's apps",
    "/api/v1/t/<tenant>/oauth-clients/<uuid:client_id>": "one app",
    "/api/v1/t/<tenant>/webhooks": "an app's subscriptions",
    "/api/v1/t/<tenant>/webhooks/<uuid:subscription_id>": "an app's subscription",
    "/api/v1/t/<tenant>/webhooks/<uuid:subscription_id>/deliveries": "event ids and delivery status",
    "/api/v1/t/<tenant>/applications/<uuid:application_id>/documents": "serials, hashes and revocation, no content",
    "/api/v1/t/<tenant>/documents/<uuid:document_id>": "a serial, a hash and revocation, no content",
    "/api/v1/t/<tenant>/closed-days": "the municipality's calendar",
    "/api/v1/t/<tenant>/childcare/rounds": "rounds: dates, counts and hashes",
    "/api/v1/t/<tenant>/childcare/rounds/<uuid:round_id>": "one round: dates, counts and hashes",
    "/api/v1/t/<tenant>/childcare/rounds/<uuid:round_id>/open-numbers": "anonymous numbers and points (公開)",
    "/api/v1/admin/tenants": "municipalities (platform)",
    "/api/v1/admin/tenants/<uuid:tenant_id>": "a municipality (platform)",
}
#: Reads that do show personal data and do not record it yet. SHRINKING: record them, then remove them here.
API_READS_NOT_YET_RECORDED = {
    "/api/v1/t/<tenant>/applications/<uuid:application_id>/payments": "payment states and amounts",
    "/api/v1/t/<tenant>/applications/<uuid:application_id>/fee-quote": "the fee and its 減免",
    "/api/v1/t/<tenant>/applications/<uuid:application_id>/refunds": "refunds",
    "/api/v1/t/<tenant>/email-deliveries": "residents' email addresses (staff)",
    "/api/v1/t/<tenant>/childcare/rounds/<uuid:round_id>/results": "each child's outcome (staff)",
    "/api/v1/verifications/<token>": "a certificate's holder, to whoever has its code",
}


def test_every_api_read_of_personal_data_records_it_or_says_why_not(app) -> None:
    from madoguchi import context

    undeclared, declared_twice = [], []
    for rule in _routes(app):
        if not rule.rule.startswith("/api/") or "GET" not in (rule.methods or ()):
            continue
        view = app.view_functions[rule.endpoint]
        view_class = getattr(view, "view_class", None)
        handler = getattr(view_class, "get", None) if view_class is not None else view
        records = bool(getattr(handler, context._RECORDS_READS, False))
        excused = rule.rule in API_READS_WITHOUT_PERSONAL_DATA or rule.rule in API_READS_NOT_YET_RECORDED
        if not records and not excused:
            undeclared.append(rule.rule)
        if records and excused:
            declared_twice.append(rule.rule)
    assert undeclared == [], "mark the view @records_reads and record the read, or list it with the reason"
    assert declared_twice == [], "it records now: remove it from the lists"
    routes = {rule.rule for rule in _routes(app)}
    stale = (set(API_READS_WITHOUT_PERSONAL_DATA) | set(API_READS_NOT_YET_RECORDED)) - routes
    assert stale == set()
