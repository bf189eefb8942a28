"""A throwaway PostgreSQL server for tests and local development.

``ThrowawayPostgres`` runs ``initdb`` into a temp folder, starts ``postgres`` on a free loopback port
and sets up the roles the application expects on PostgreSQL (docs/decisions/0001-tenant-isolation.md):

* ``madoguchi_owner`` owns the database and its ``public`` schema; migrations connect as this role.
* ``madoguchi_app`` is what the application connects as: no superuser, no BYPASSRLS, owns nothing, may
  not create objects in ``public``; it gets table and sequence privileges through default privileges
  of the owner (the app's migrations narrow them per table where needed), so row-level security applies.

``initdb``/``postgres`` refuse to run as root, so as root the server runs as the ``postgres`` system user
(override with ``MADOGUCHI_PG_OS_USER``); otherwise as the current user. Binaries are looked up in
``MADOGUCHI_PG_BINDIR``, then ``pg_config --bindir``, then ``PATH``, then ``/usr/lib/postgresql/*/bin``.

Run ``python -m tests.support.postgres`` (or ``infra/dev-postgres.sh``) for a server in the foreground.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import glob
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import psycopg
from psycopg import sql

DATABASE = "madoguchi"
OWNER_ROLE = "madoguchi_owner"
APP_ROLE = "madoguchi_app"
SUPERUSER = "postgres"
HOST = "127.0.0.1"
START_TIMEOUT_SECONDS = 30.0

_SERVER_BINARIES = ("initdb", "pg_ctl", "postgres")
_DATABASE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
# Speed over durability: the data is thrown away anyway.
_SERVER_SETTINGS = {
    "listen_addresses": f"'{HOST}'",
    "max_connections": "100",
    "shared_buffers": "64MB",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}


class PostgresError(RuntimeError):
    """The throwaway server could not be found, started or set up."""


def find_bindir() -> Path | None:
    """The folder holding ``initdb``, ``pg_ctl`` and ``postgres``, or None when there is none."""
    explicit = os.environ.get("MADOGUCHI_PG_BINDIR")
    if explicit:
        # An explicit setting is authoritative: silently using another version would hide a mistake.
        return Path(explicit) if _has_server_binaries(Path(explicit)) else None
    for candidate in _candidate_bindirs():
        if _has_server_binaries(candidate):
            return candidate
    return None


def _candidate_bindirs() -> Iterator[Path]:
    pg_config = shutil.which("pg_config")
    if pg_config:
        # Debian's pg_config comes with libpq-dev and may name a bindir without a server in it.
        try:
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            out = ""
        if out:
            yield Path(out)
    initdb = shutil.which("initdb")
    if initdb:
        yield Path(os.path.realpath(initdb)).parent
        yield Path(initdb).parent
    versioned = [Path(p) for p in _glob_dirs("/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin")]
    yield from sorted(versioned, key=_version_key, reverse=True)


def _glob_dirs(*patterns: str) -> list[str]:
    return [path for pattern in patterns for path in glob.glob(pattern)]


def _version_key(bindir: Path) -> tuple[int, ...]:
    match = re.search(r"(\d+(?:\.\d+)*)", str(bindir.parent.name if bindir.name == "bin" else bindir))
    return tuple(int(part) for part in match.group(1).split(".")) if match else ()


def _has_server_binaries(bindir: Path) -> bool:
    return all(os.access(bindir / name, os.X_OK) and (bindir / name).is_file() for name in _SERVER_BINARIES)


def _server_os_user() -> pwd.struct_passwd | None:
    """The unprivileged account to run the server as when we are root (None: run as ourselves)."""
    if os.geteuid() != 0:
        return None
    name = os.environ.get("MADOGUCHI_PG_OS_USER", "postgres")
    try:
        return pwd.getpwnam(name)
    except KeyError:
        raise PostgresError(
            f"running as root, and the system user {name!r} that PostgreSQL should run as does not exist "
            "(set MADOGUCHI_PG_OS_USER to another unprivileged user)"
        ) from None


def _has_c_utf8_locale() -> bool:
    try:
        out = subprocess.run(["locale", "-a"], capture_output=True, text=True, timeout=10, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return any(line.strip().lower().replace("-", "") == "c.utf8" for line in out.splitlines())


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _others_can_traverse(path: Path) -> bool:
    return all(os.stat(p).st_mode & stat.S_IXOTH for p in (path, *path.parents))


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return f"(no log: {exc})"
    return "\n".join(text.splitlines()[-lines:]) or "(log is empty)"


def _is_postmaster_of(pid: int, data: Path) -> bool:
    """Whether ``pid`` still is the server of ``data`` (so a reused pid is never signalled)."""
    if not Path("/proc/self").exists():  # no procfs (macOS): trust postmaster.pid
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()  # empty for a zombie
    except OSError:
        return False
    return str(data).encode() in cmdline


def _wait_or_kill(pid: int, data: Path, seconds: float = 5.0) -> None:
    """The postmaster is not our child, so poll until it is gone; SIGKILL it if it lingers."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _is_postmaster_of(pid, data):
            return
        time.sleep(0.05)
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGKILL)


def _url(driver: str, user: str, password: str, port: int, dbname: str) -> str:
    # Passwords are hex and role/database names are plain identifiers, so nothing needs quoting.
    return f"{driver}://{user}:{password}@{HOST}:{port}/{dbname}"


class ThrowawayPostgres:
    """A private PostgreSQL server in a temp folder, with the ``madoguchi`` database and roles set up.

    Use as a context manager (``with ThrowawayPostgres() as pg: ...``) or call ``start()``/``stop()``.
    ``stop()`` is also registered with ``atexit`` so an aborted test run does not leave a server behind.
    """

    def __init__(self) -> None:
        self._bindir: Path | None = None
        self._os_user: pwd.struct_passwd | None = None
        self._base: Path | None = None
        self._port: int | None = None
        self._server_version: int | None = None
        self._passwords = {
            SUPERUSER: secrets.token_hex(16),
            OWNER_ROLE: secrets.token_hex(16),
            APP_ROLE: secrets.token_hex(16),
        }

    # -- discovery ------------------------------------------------------------------------------------------

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """Why no server can be started on this machine, or None when one can."""
        if find_bindir() is None:
            where = os.environ.get("MADOGUCHI_PG_BINDIR")
            if where:
                return f"MADOGUCHI_PG_BINDIR={where} does not contain {', '.join(_SERVER_BINARIES)}"
            return (
                "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found in MADOGUCHI_PG_BINDIR, "
                "pg_config --bindir, PATH or /usr/lib/postgresql/*/bin"
            )
        try:
            _server_os_user()
        except PostgresError as exc:
            return str(exc)
        return None

    @classmethod
    def available(cls) -> bool:
        """Whether the PostgreSQL server binaries (and, as root, an unprivileged user) are there."""
        return cls.unavailable_reason() is None

    # -- lifecycle ------------------------------------------------------------------------------------------

    def __enter__(self) -> ThrowawayPostgres:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> ThrowawayPostgres:
        """Create the cluster, start the server and set up the ``madoguchi`` database; returns self."""
        if self._base is not None:
            raise PostgresError("this server is already started")
        bindir = find_bindir()
        if bindir is None:
            raise PostgresError(self.unavailable_reason() or "PostgreSQL binaries not found")
        self._bindir = bindir
        self._os_user = _server_os_user()
        self._base = self._make_base_dir()
        atexit.register(self.stop)
        try:
            self._initdb()
            self._start_server()
            self._create_roles()
            self._set_up_database(DATABASE)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the server at once and delete its folder. Safe to call more than once."""
        atexit.unregister(self.stop)
        base, self._base = self._base, None
        self._port = None
        if base is None:
            return
        try:
            data = base / "data"
            pid = self._postmaster_pid(data)
            if pid is not None and _is_postmaster_of(pid, data):
                try:
                    self._run(
                        [self._bin("pg_ctl"), "stop", "-D", str(data), "-m", "immediate", "-w", "-t", "15"],
                        cwd=base,
                        timeout=30,
                    )
                except Exception:
                    # SIGQUIT is what "-m immediate" sends; then make sure it is gone before deleting its files.
                    with contextlib.suppress(OSError):
                        os.kill(pid, signal.SIGQUIT)
                _wait_or_kill(pid, data)
        finally:
            shutil.rmtree(base, ignore_errors=True)

    # -- what tests use -------------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._require_started()[1]

    @property
    def data_dir(self) -> Path:
        """The cluster's data directory (inside the temp folder that ``stop()`` deletes)."""
        return self._require_started()[0] / "data"

    @property
    def base_dir(self) -> Path:
        """The temp folder holding the data directory, the socket folder and ``postgres.log``."""
        return self._require_started()[0]

    @property
    def log_file(self) -> Path:
        return self._require_started()[0] / "postgres.log"

    @property
    def server_version(self) -> int:
        """As libpq reports it, e.g. 150008 for 15.8."""
        self._require_started()
        assert self._server_version is not None
        return self._server_version

    @property
    def superuser_url(self) -> str:
        """SQLAlchemy URL of the superuser on the ``madoguchi`` database (setup only; superusers bypass RLS)."""
        return self.url(SUPERUSER)

    @property
    def owner_url(self) -> str:
        """SQLAlchemy URL of ``madoguchi_owner`` (``MADOGUCHI_MIGRATION_DATABASE_URL``)."""
        return self.url(OWNER_ROLE)

    @property
    def app_url(self) -> str:
        """SQLAlchemy URL of ``madoguchi_app`` (``MADOGUCHI_DATABASE_URL``)."""
        return self.url(APP_ROLE)

    def url(self, role: str, dbname: str = DATABASE, driver: str = "postgresql+psycopg") -> str:
        """URL for one of the three roles; ``driver="postgresql"`` gives a libpq URL for ``psycopg.connect``."""
        if role not in self._passwords:
            raise ValueError(f"unknown role {role!r}; expected one of {sorted(self._passwords)}")
        return _url(driver, role, self._passwords[role], self.port, dbname)

    def conninfo(self, role: str, dbname: str = DATABASE) -> str:
        """libpq connection string for ``psycopg.connect`` (it does not understand ``postgresql+psycopg``)."""
        return self.url(role, dbname, driver="postgresql")

    def create_database(self, name: str) -> tuple[str, str]:
        """Another database set up like ``madoguchi`` (same roles); returns ``(owner_url, app_url)``."""
        if not _DATABASE_NAME.fullmatch(name):
            raise ValueError(f"database name {name!r} must match {_DATABASE_NAME.pattern}")
        self._require_started()
        self._set_up_database(name)
        return self.url(OWNER_ROLE, name), self.url(APP_ROLE, name)

    def restart(self, mode: str = "fast") -> None:
        """Restart the server as an operator would (``pg_ctl restart -m fast|immediate``) and wait until it
        accepts connections again, on the same port. Every open connection is cut (fault tests)."""
        if mode not in ("smart", "fast", "immediate"):
            raise ValueError(f"unknown shutdown mode {mode!r}")
        base, _port = self._require_started()
        self._run(
            [
                self._bin("pg_ctl"),
                "restart",
                "-D",
                str(base / "data"),
                "-m",
                mode,
                "-l",
                str(base / "postgres.log"),
                "-w",
                "-t",
                str(int(START_TIMEOUT_SECONDS)),
            ],
            cwd=base,
            timeout=START_TIMEOUT_SECONDS + 15,
        )
        self._wait_until_accepting(time.monotonic() + START_TIMEOUT_SECONDS, base / "postgres.log")

    # -- internals ------------------------------------------------------------------------------------------

    def _require_started(self) -> tuple[Path, int]:
        if self._base is None or self._port is None:
            raise PostgresError("the server is not running; call start() first")
        return self._base, self._port

    def _bin(self, name: str) -> str:
        assert self._bindir is not None
        return str(self._bindir / name)

    def _make_base_dir(self) -> Path:
        parent = Path(tempfile.gettempdir())
        # The server user must reach the folder, and a unix socket path is limited to ~107 bytes.
        if len(str(parent)) > 60 or (self._os_user is not None and not _others_can_traverse(parent)):
            parent = Path("/tmp")  # noqa: S108 - a private mkdtemp folder inside it
        base = Path(tempfile.mkdtemp(prefix="madoguchi-pg-", dir=parent))
        (base / "socket").mkdir(mode=0o700)
        if self._os_user is not None:
            for path in (base, base / "socket"):
                os.chown(path, self._os_user.pw_uid, self._os_user.pw_gid)
        return base

    @staticmethod
    def _env(home: Path) -> dict[str, str]:
        # PG* variables (PGDATA, PGPORT, PGHOST...) of the caller must not steer the throwaway server.
        env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
        env["HOME"] = str(home)
        return env

    def _run(self, args: list[str], *, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run a server binary as the server's OS user; raise PostgresError with its output if it fails."""
        as_user: dict[str, object] = {}
        if self._os_user is not None:
            as_user = {"user": self._os_user.pw_uid, "group": self._os_user.pw_gid, "extra_groups": []}
        result = subprocess.run(
            args,
            cwd=cwd,
            env=self._env(cwd),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            **as_user,
        )
        if result.returncode != 0:
            raise PostgresError(
                f"{Path(args[0]).name} exited with {result.returncode}\n{result.stdout}{result.stderr}".rstrip()
            )
        return result

    def _initdb(self) -> None:
        assert self._base is not None
        pwfile = self._base / "superuser-password"
        pwfile.write_text(self._passwords[SUPERUSER] + "\n", encoding="utf-8")
        if self._os_user is not None:
            os.chown(pwfile, self._os_user.pw_uid, self._os_user.pw_gid)
        pwfile.chmod(0o600)
        locale = ["--locale=C.UTF-8"] if _has_c_utf8_locale() else ["--no-locale"]
        try:
            self._run(
                [
                    self._bin("initdb"),
                    "-D",
                    str(self._base / "data"),
                    "-U",
                    SUPERUSER,
                    "-A",
                    "scram-sha-256",
                    f"--pwfile={pwfile}",
                    "--encoding=UTF8",
                    *locale,
                    "--no-sync",
                ],
                cwd=self._base,
                timeout=120,
            )
        finally:
            pwfile.unlink(missing_ok=True)
        settings = {**_SERVER_SETTINGS, "unix_socket_directories": f"'{self._base / 'socket'}'"}
        with (self._base / "data" / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write("\n# madoguchi throwaway server (tests/support/postgres.py)\n")
            conf.writelines(f"{name} = {value}\n" for name, value in settings.items())

    def _start_server(self) -> None:
        assert self._base is not None
        log = self._base / "postgres.log"
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        for attempt in range(3):
            port = _free_port()  # another process may grab it before the server binds: retry then
            try:
                self._run(
                    [
                        self._bin("pg_ctl"),
                        "start",
                        "-D",
                        str(self._base / "data"),
                        "-l",
                        str(log),
                        "-o",
                        f"-p {port}",
                        "-w",
                        "-t",
                        str(int(START_TIMEOUT_SECONDS)),
                    ],
                    cwd=self._base,
                    timeout=START_TIMEOUT_SECONDS + 15,
                )
            except (PostgresError, subprocess.TimeoutExpired) as exc:
                log_tail = _tail(log)
                if attempt < 2 and "could not bind" in log_tail and "Address already in use" in log_tail:
                    continue
                raise PostgresError(f"PostgreSQL did not start: {exc}\n--- {log} (tail) ---\n{log_tail}") from exc
            self._port = port
            break
        self._wait_until_accepting(deadline, log)

    def _wait_until_accepting(self, deadline: float, log: Path) -> None:
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            try:
                with psycopg.connect(self.conninfo(SUPERUSER, "postgres"), connect_timeout=5) as conn:
                    self._server_version = conn.info.server_version
                    return
            except psycopg.OperationalError as exc:
                last_error = exc
                time.sleep(0.1)
        raise PostgresError(
            f"PostgreSQL did not accept connections within {START_TIMEOUT_SECONDS:.0f} s: {last_error}\n"
            f"--- {log} (tail) ---\n{_tail(log)}"
        )

    def _superuser_connection(self, dbname: str) -> psycopg.Connection:
        return psycopg.connect(self.conninfo(SUPERUSER, dbname), autocommit=True, connect_timeout=10)

    def _create_roles(self) -> None:
        owner, app = sql.Identifier(OWNER_ROLE), sql.Identifier(APP_ROLE)
        with self._superuser_connection("postgres") as conn:
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS PASSWORD {}").format(
                    owner, sql.Literal(self._passwords[OWNER_ROLE])
                )
            )
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS PASSWORD {}").format(
                    app, sql.Literal(self._passwords[APP_ROLE])
                )
            )

    def _set_up_database(self, name: str) -> None:
        db, owner, app = sql.Identifier(name), sql.Identifier(OWNER_ROLE), sql.Identifier(APP_ROLE)
        with self._superuser_connection("postgres") as conn:
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {} ENCODING 'UTF8'").format(db, owner))
            conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(db))
            conn.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(db, app))
        with self._superuser_connection(name) as conn:
            for statement in (
                "ALTER SCHEMA public OWNER TO {owner}",
                "REVOKE ALL ON SCHEMA public FROM PUBLIC",
                "GRANT USAGE, CREATE ON SCHEMA public TO {owner}",
                "GRANT USAGE ON SCHEMA public TO {app}",
                "ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public"
                " GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {app}",
                "ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {app}",
            ):
                conn.execute(sql.SQL(statement).format(owner=owner, app=app))

    @staticmethod
    def _postmaster_pid(data: Path) -> int | None:
        try:
            first_line = (data / "postmaster.pid").read_text(encoding="ascii").split("\n", 1)[0]
            return int(first_line)
        except (OSError, ValueError):
            return None


def main(argv: list[str] | None = None) -> int:
    """Start a server, print the URLs as ``export`` lines, and keep it running until Ctrl-C."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.support.postgres",
        description="Run a throwaway PostgreSQL server set up for Madoguchi until Ctrl-C; its data is deleted.",
    )
    parser.parse_args(argv)
    reason = ThrowawayPostgres.unavailable_reason()
    if reason is not None:
        print(f"cannot start PostgreSQL: {reason}", file=sys.stderr)
        return 2

    def stop_on_sigterm(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop_on_sigterm)
    server = ThrowawayPostgres()
    began = time.monotonic()
    try:
        server.start()
        version = server.server_version
        print(
            f"# PostgreSQL {version // 10000}.{version % 10000} on {HOST}:{server.port}, data in {server.data_dir} "
            f"(started in {time.monotonic() - began:.1f} s; deleted on exit)"
        )
        print(f"export MADOGUCHI_DATABASE_URL={server.app_url}")
        print(f"export MADOGUCHI_MIGRATION_DATABASE_URL={server.owner_url}")
        print(f"# superuser (setup only): {server.superuser_url}")
        print("# Ctrl-C stops the server.", flush=True)
        while True:
            signal.pause()
    except KeyboardInterrupt:
        print("\n# stopping", file=sys.stderr)
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
