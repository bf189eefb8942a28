"""Per-request state: the database session of this request and the tenant it runs in.

One session per request, bound to the request's tenant once resolution has found it, committed once at
the boundary when the response is a success and rolled back otherwise (operations only flush).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from flask import Flask, Response, current_app, g, request
from sqlalchemy.orm import Session
from werkzeug.local import LocalProxy

from madoguchi.db import Database, bind_tenant, set_sqlite_begin_immediate
from madoguchi.errors import (
    DATABASE_UNAVAILABLE_DETAIL,
    first_line,
    is_database_unavailable,
    service_unavailable_response,
)

if TYPE_CHECKING:
    # Types only: tenancy's resolution sets the tenant through this module, so a run-time import of the tenancy
    # package would be a cycle (docs/decisions/0016-layers.md).
    from madoguchi.tenancy.models import Tenant

_DB_EXTENSION = "madoguchi.database"
log = logging.getLogger(__name__)


#: Paths whose reads stay in deferred SQLite transactions (see ``db.set_sqlite_begin_immediate``).
_MACHINE_PATHS = ("/api/", "/.well-known/", "/healthz")
#: The OAuth protocol endpoints keep deferred transactions: a code or refresh token is spent by a
#: conditional UPDATE that decides between concurrent redemptions (tests/oauth/test_token_endpoint.py).
_DEFERRED_PROTOCOL_PATHS = ("/oauth/token", "/oauth/revoke", "/oauth/introspect")


_View = TypeVar("_View", bound=Callable[..., Any])
_RECORDS_READS = "_madoguchi_records_reads"


def records_reads(view: _View) -> _View:
    """Mark an API read (a GET) that writes a staff-read record: on SQLite it must take the write lock first.

    Put it above the other decorators of the view (or of a MethodView's ``get``).
    """
    setattr(view, _RECORDS_READS, True)
    return view


def _writes_on_read(endpoint: str | None) -> bool:
    view = current_app.view_functions.get(endpoint or "")
    view_class = getattr(view, "view_class", None)
    if view_class is not None:
        # A MethodView: the handler of this method (HEAD is answered by ``get``).
        view = getattr(view_class, "get" if request.method == "HEAD" else request.method.lower(), None)
    return bool(getattr(view, _RECORDS_READS, False))


def _choose_sqlite_transaction_mode(endpoint: str | None, _values: dict[str, Any] | None) -> None:
    """Writes, and every page request (a page view may write after reading), take SQLite's lock up front.

    So do API reads that record who read personal data: a deferred transaction that has read and then
    inserts fails at once when another connection committed in between (see ``db.set_sqlite_begin_immediate``).
    """
    read_only = (
        request.method in ("GET", "HEAD", "OPTIONS")
        and request.path.startswith(_MACHINE_PATHS)
        and not _writes_on_read(endpoint)
    )
    set_sqlite_begin_immediate(not (read_only or request.path.startswith(_DEFERRED_PROTOCOL_PATHS)))


def init_app(app: Flask, database: Database) -> None:
    app.extensions[_DB_EXTENSION] = database
    # A URL value preprocessor runs before tenant resolution, the first thing that reads the database.
    app.url_value_preprocessor(_choose_sqlite_transaction_mode)
    app.after_request(_commit_on_success)
    app.teardown_request(_close_session)


def database() -> Database:
    return cast(Database, current_app.extensions[_DB_EXTENSION])


def db_session() -> Session:
    """This request's session (created on first use), bound to the current tenant if one is resolved."""
    session = g.get("_db_session")
    if session is None:
        tenant = g.get("tenant")
        db = database()
        session = g._db_session = db.new_session(tenant.id if tenant else None)
        db.begin(session)  # its first use: begun here, where a dead pooled connection can still be replaced
    return session


def set_current_tenant(tenant: Tenant) -> None:
    """Make ``tenant`` the request's. Set before the session's first statement (a tenant resolved from the cache),
    the transaction begins in it with one ``set_config``; set later, ``bind_tenant`` sets it once more."""
    g.tenant = tenant
    bind_tenant(db_session(), tenant.id)


def _current_tenant() -> Tenant:
    tenant = g.get("tenant")
    if tenant is None:
        raise RuntimeError("no tenant resolved for this request")
    return tenant


current_tenant: Tenant = cast("Tenant", LocalProxy(_current_tenant))


def _commit_on_success(response: Response) -> Response:
    session = g.get("_db_session")
    if session is None:
        return response
    try:
        if response.status_code < 400:
            session.commit()
            g.request_committed = True
        else:
            session.rollback()
    except Exception as error:
        # Lost the database at the very end (a restart, a timeout on commit): nothing is committed, and the
        # answer is the same 503 as anywhere else, never a 500 from an after_request hook.
        if not is_database_unavailable(error):
            raise
        log.warning("commit failed, database unavailable on %s %s: %s", request.method, request.path, first_line(error))
        with contextlib.suppress(Exception):
            session.rollback()
        return service_unavailable_response(DATABASE_UNAVAILABLE_DETAIL)
    return response


def request_committed() -> bool:
    """Whether this request's work was committed (by ``_commit_on_success``)."""
    return bool(g.get("request_committed"))


def _close_session(_exc: BaseException | None) -> None:
    session = g.pop("_db_session", None)
    if session is not None:
        try:
            session.close()  # rolls back anything not committed
        except Exception as error:
            if not is_database_unavailable(error):
                raise
            log.warning("closing a session on a lost connection: %s", first_line(error))
