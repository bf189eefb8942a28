"""Logical backups of the PostgreSQL database that contain every tenant's rows, and their restore.

Row-level security is forced on every tenant table (decision 0001), so a ``pg_dump`` as the owner fails
("query would be affected by row-level security policy") and one with ``--enable-row-security`` silently
dumps no tenant rows at all. A complete dump needs a role that bypasses row-level security: the dedicated
``madoguchi_backup`` role (``BYPASSRLS``, read-only through ``pg_read_all_data``), created once by an
administrator with the SQL in docs/operations.md and used by nothing but ``madoguchi db backup``. The app
role keeps lacking ``BYPASSRLS``.

``backup`` refuses (one line, exit 1) when its role would dump an incomplete copy; it counts every table's
rows in the same snapshot that ``pg_dump`` exports, so the report says exactly what the file holds.
``restore`` loads such a file into an empty database as the owner role: a dump creates policies and enables
row-level security after the data, so the owner loads every row without bypassing anything.
See docs/decisions/0013-backups-and-database-faults.md.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo
from sqlalchemy.engine import make_url


class BackupRefused(RuntimeError):
    """The backup or restore cannot be done completely; the message is one line for the operator."""


@dataclass(frozen=True)
class BackupReport:
    """What a backup file holds: rows per table, counted in the snapshot that was dumped."""

    path: Path
    rows: dict[str, int] = field(default_factory=dict)

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


@dataclass(frozen=True)
class _Connection:
    """A SQLAlchemy URL split into what libpq tools take: conninfo without the password, and the password."""

    conninfo: str
    password: str | None
    user: str

    @classmethod
    def from_url(cls, url: str) -> _Connection:
        parsed = make_url(url)
        if not parsed.drivername.startswith("postgresql"):
            raise BackupRefused(f"backups are for PostgreSQL; this database is {parsed.drivername}")
        params: dict[str, Any] = {
            "host": parsed.host,
            "port": parsed.port,
            "user": parsed.username,
            "dbname": parsed.database,
            **{k: v for k, v in parsed.query.items() if isinstance(v, str)},
        }
        conninfo = make_conninfo("", **{k: v for k, v in params.items() if v is not None})
        return cls(conninfo=conninfo, password=parsed.password, user=parsed.username or "")

    def connect(self) -> psycopg.Connection:
        try:
            return psycopg.connect(self.conninfo, password=self.password, connect_timeout=10, autocommit=True)
        except psycopg.OperationalError as error:
            raise BackupRefused(f"cannot connect as {self.user}: {_first_line(error)}") from None

    def tool_env(self) -> dict[str, str]:
        """The environment for pg_dump/pg_restore: the password in PGPASSWORD, never on the command line."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        if self.password:
            env["PGPASSWORD"] = self.password
        return env


def _one_value(row: Any) -> Any:
    """The single value of a one-row, one-column answer (these queries always return a row)."""
    if row is None:
        raise RuntimeError("the database answered no row")
    return row[0]


def _first_line(error: BaseException | str) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackupRefused(f"{name} not found on PATH (install the PostgreSQL client of the server's version)")
    return path


def _tenant_tables_without_bypass(conn: psycopg.Connection) -> list[str]:
    """Tables whose rows this role would not see in full: row-level security on, and the role no bypass."""
    bypass = conn.execute("select rolsuper or rolbypassrls from pg_roles where rolname = current_user").fetchone()
    if bypass and bypass[0]:
        return []
    rows = conn.execute(
        "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = 'public' and c.relkind = 'r' and c.relrowsecurity order by c.relname"
    ).fetchall()
    return [name for (name,) in rows]


def _public_tables(conn: psycopg.Connection) -> list[str]:
    rows = conn.execute(
        "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = 'public' and c.relkind in ('r', 'p') order by c.relname"
    ).fetchall()
    return [name for (name,) in rows]


def backup(url: str, path: Path) -> BackupReport:
    """Dump the whole database at ``url`` (the backup role) to ``path`` in pg_dump's custom format."""
    connection = _Connection.from_url(url)
    pg_dump = _tool("pg_dump")
    with connection.connect() as conn:
        hidden = _tenant_tables_without_bypass(conn)
        if hidden:
            raise BackupRefused(
                f"role {connection.user} lacks BYPASSRLS: the dump would leave out tenant rows of {len(hidden)} "
                f"tables ({hidden[0]}, ...); use the backup role from docs/operations.md"
            )
        # One snapshot for the counts and for pg_dump (--snapshot), held open until pg_dump has finished.
        conn.execute("begin isolation level repeatable read read only")
        snapshot = _one_value(conn.execute("select pg_export_snapshot()").fetchone())
        rows = {
            table: _one_value(conn.execute(sql.SQL("select count(*) from {}").format(sql.Identifier(table))).fetchone())
            for table in _public_tables(conn)
        }
        partial = path.with_name(path.name + ".partial")
        result = subprocess.run(  # noqa: S603 - fixed arguments, no shell
            [pg_dump, "--format=custom", f"--snapshot={snapshot}", f"--file={partial}", "-d", connection.conninfo],
            env=connection.tool_env(),
            capture_output=True,
            text=True,
            check=False,
        )
        conn.execute("commit")
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        raise BackupRefused(f"pg_dump failed: {_first_line(result.stderr or str(result.returncode))}")
    partial.replace(path)  # only a finished dump ever carries the file's name
    return BackupReport(path=path, rows=rows)


def restore(url: str, path: Path) -> int:
    """Load the dump at ``path`` into the empty database at ``url`` (the owner role); returns its table count."""
    if not path.is_file():
        raise BackupRefused(f"no backup file at {path}")
    connection = _Connection.from_url(url)
    pg_restore = _tool("pg_restore")
    with connection.connect() as conn:
        existing = _public_tables(conn)
    if existing:
        raise BackupRefused(
            f"the target database already has {len(existing)} tables ({existing[0]}, ...); restore into a new, "
            "empty database set up as docs/operations.md describes"
        )
    result = subprocess.run(  # noqa: S603 - fixed arguments, no shell
        [
            pg_restore,
            "--no-owner",
            f"--role={connection.user}",
            "--exit-on-error",
            "--single-transaction",
            "--dbname",
            connection.conninfo,
            str(path),
        ],
        env=connection.tool_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise BackupRefused(f"pg_restore failed, nothing was restored: {_first_line(result.stderr)}")
    with connection.connect() as conn:
        return len(_public_tables(conn))
