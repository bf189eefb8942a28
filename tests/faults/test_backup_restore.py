"""The restore drill: back up a seeded database with exactly the commands docs/operations.md shows, restore it
into a new database, and the app serves the same data, row for row, with every tenant's audit chain intact.

Also: a backup with a role that row-level security applies to (the owner, the app role) is refused with one
line and leaves no file, instead of dumping a silently empty copy.
"""

from __future__ import annotations

import io
import os
import re
import secrets
import shlex
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner, Result
from psycopg import sql
from sqlalchemy.engine import make_url
from werkzeug.datastructures import FileStorage

from madoguchi import create_app
from madoguchi.cli import main
from madoguchi.config import Settings
from madoguchi.db import Database
from madoguchi.identity.sessions import COOKIE_NAME
from tests.conftest import REPO, Backend
from tests.documents.certificate_fixtures import HTTPS, World, issue_by_clerk, submit, world
from tests.documents.conftest import multipart, pdf_bytes
from tests.factories import tenants
from tests.support.postgres import SUPERUSER, ThrowawayPostgres
from tests.world import residency_by_agent

__all__ = ["world"]
pytestmark = [pytest.mark.faults, pytest.mark.postgres_only]

AGENT = residency_by_agent("代理 﨑子")


def _backup_section() -> str:
    text = (REPO / "docs" / "operations.md").read_text(encoding="utf-8")
    start = text.index("## Backup and restore")
    return text[start : text.index("\n## ", start + 1)]


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", _backup_section(), flags=re.DOTALL)


def _documented_commands(*subcommands: str) -> list[list[str]]:
    """The ``madoguchi …`` lines of the section's shell blocks that start with one of ``subcommands``."""
    lines = [line.strip() for block in _blocks("sh") for line in block.splitlines()]
    return [shlex.split(line) for line in lines if line.startswith(tuple(f"madoguchi {s}" for s in subcommands))]


def _run(argv: list[str], env: dict[str, str], cwd: Path) -> Result:
    """Run a documented ``madoguchi …`` line through the command's own entry point, in ``cwd``."""
    assert argv[0] == "madoguchi"
    unset = {name: None for name in os.environ if name.startswith("MADOGUCHI_")}
    here = Path.cwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(main, argv[1:], env={**unset, **env}, catch_exceptions=False)
    finally:
        os.chdir(here)


def _env(**madoguchi: str) -> dict[str, str]:
    return {f"MADOGUCHI_{k.upper()}": v for k, v in madoguchi.items()}


def _create_backup_role(server: ThrowawayPostgres, database: str) -> str:
    """The backup role, made with the SQL block of docs/operations.md; returns its SQLAlchemy URL."""
    (block,) = [b for b in _blocks("sql") if "CREATE ROLE madoguchi_backup" in b]
    password = secrets.token_hex(16)
    statements = block.replace("<password>", password).replace("DATABASE madoguchi ", f"DATABASE {database} ")
    with psycopg.connect(server.conninfo(SUPERUSER, database), autocommit=True) as conn:
        if conn.execute("select 1 from pg_roles where rolname = 'madoguchi_backup'").fetchone():
            conn.execute(sql.SQL("ALTER ROLE madoguchi_backup PASSWORD {}").format(sql.Literal(password)))
            conn.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO madoguchi_backup").format(sql.Identifier(database)))
        else:
            for statement in filter(None, (s.strip() for s in statements.split(";"))):
                conn.execute(statement)
    return f"postgresql+psycopg://madoguchi_backup:{password}@127.0.0.1:{server.port}/{database}"


def _row_counts(server: ThrowawayPostgres, database: str) -> dict[str, int]:
    with psycopg.connect(server.conninfo(SUPERUSER, database)) as conn:
        tables = [
            name
            for (name,) in conn.execute(
                "select tablename from pg_tables where schemaname = 'public' order by tablename"
            ).fetchall()
        ]
        return {
            t: conn.execute(sql.SQL("select count(*) from {}").format(sql.Identifier(t))).fetchone()[0] for t in tables
        }


def _seed(world: World) -> None:
    """Applications in both towns: auto-issued certificates, a clerk's issue, one waiting, an attachment."""
    submit(world.a)
    submit(world.a, "tax-certificate", {**_tax()})
    issue_by_clerk(world.b)
    submit(world.b)
    draft = world.b.resident.post(
        world.b.api("/applications/"), json={"procedure": "residency-certificate", "data": AGENT}
    )
    assert draft.status_code == 201, draft.json
    body, body_type = multipart(
        {
            "document_key": "power_of_attorney",
            "file": FileStorage(io.BytesIO(pdf_bytes()), "委任状.pdf", "file", content_type="application/pdf"),
        }
    )
    uploaded = world.b.resident.post(
        world.b.api(f"/applications/{draft.json['id']}/attachments"), data=body, content_type=body_type
    )
    assert uploaded.status_code == 201, uploaded.json


def _tax() -> dict[str, Any]:
    from tests.documents.certificate_fixtures import TAX

    return TAX


def _answers(app: Any, world: World) -> dict[str, Any]:
    """What residents and clerks of both towns are shown, read through ``app`` with their session cookies."""
    seen: dict[str, Any] = {}
    for name, town in (("a", world.a), ("b", world.b)):
        for who, original in (("resident", town.resident), ("clerk", town.clerk)):
            client = app.test_client()
            cookie = original.get_cookie(COOKIE_NAME, domain="localhost")
            assert cookie is not None
            client.set_cookie(COOKIE_NAME, cookie.value, domain="localhost", secure=True, httponly=True)
            listing = client.get(town.api("/applications/"), base_url=HTTPS)
            assert listing.status_code == 200, listing.json
            seen[f"{name}/{who}/list"] = listing.json
            for item in listing.json["items"] if isinstance(listing.json, dict) else listing.json:
                history = client.get(town.api(f"/applications/{item['id']}/history"), base_url=HTTPS)
                seen[f"{name}/{who}/{item['id']}/history"] = history.json
                documents = client.get(town.api(f"/applications/{item['id']}/documents"), base_url=HTTPS)
                seen[f"{name}/{who}/{item['id']}/documents"] = documents.json
    return seen


def test_a_backup_restored_into_a_new_database_serves_the_same_data_and_every_audit_chain_verifies(
    world: World,
    app: Any,
    db: Database,
    settings: Settings,
    backend: Backend,
    postgres_server: ThrowawayPostgres,
    tmp_path: Path,
) -> None:
    _seed(world)
    source = make_url(backend.app_url).database
    assert source is not None
    backup_url = _create_backup_role(postgres_server, source)
    target = f"drill_{secrets.token_hex(4)}"
    target_owner, target_app = postgres_server.create_database(target)

    (backup_command,) = _documented_commands("db backup")
    backed_up = _run(backup_command, _env(backup_database_url=backup_url), tmp_path)
    assert backed_up.exit_code == 0, backed_up.output
    source_rows = _row_counts(postgres_server, source)
    assert source_rows["applications"] >= 5 and source_rows["audit_records"] > 0 and source_rows["attachments"] == 1
    assert f"backed up {sum(source_rows.values())} rows" in backed_up.stdout

    restore_commands = _documented_commands("db restore", "db upgrade", "audit verify")
    assert [c[:3] for c in restore_commands] == [
        ["madoguchi", "db", "restore"],
        ["madoguchi", "db", "upgrade"],
        ["madoguchi", "audit", "verify"],
    ]
    env = _env(
        migration_database_url=target_owner,
        database_url=target_app,
        data_dir=str(settings.data_dir),
        data_key=settings.data_key,
        audit_key=settings.audit_key,
    )
    for command in restore_commands[:2]:
        done = _run(command, env, tmp_path)
        assert done.exit_code == 0, done.output
    every_tenant = [tenant.slug for tenant in tenants(db)]
    assert len(every_tenant) >= 3
    for slug in every_tenant:
        verify = [slug if part == "<slug>" else part for part in restore_commands[2]]
        verified = _run(verify, env, tmp_path)
        assert verified.exit_code == 0 and "audit chain intact" in verified.stdout, verified.output

    assert _row_counts(postgres_server, target) == source_rows
    restored = create_app(replace(settings, database_url=target_app, migration_database_url=target_owner))
    restored.config["TESTING"] = True
    try:
        before = _answers(app, world)
        assert sum(len(v) for k, v in before.items() if k.endswith("/history")) >= 10  # a real comparison
        assert _answers(restored, world) == before
    finally:
        from madoguchi.context import database

        with restored.app_context():
            database().dispose()


@pytest.mark.parametrize("role", ["owner", "app"])
def test_a_backup_as_a_role_under_row_level_security_is_refused_in_one_line_and_writes_nothing(
    seeded: None, backend: Backend, tmp_path: Path, role: str
) -> None:
    url = backend.owner_url if role == "owner" else backend.app_url
    (backup_command,) = _documented_commands("db backup")
    refused = _run(backup_command, _env(backup_database_url=url), tmp_path)
    assert refused.exit_code == 1
    assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert "lacks BYPASSRLS" in refused.stderr and "Traceback" not in refused.stderr
    assert list(tmp_path.iterdir()) == []
