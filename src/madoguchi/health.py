"""Liveness and readiness probes for load balancers and orchestrators.

``/healthz`` says the process is up and touches nothing else: no session, no pool, no tenant lookup, so a
database outage or a pool held by slow requests never makes the load balancer replace healthy web tasks.
``/readyz`` asks the database itself over a connection of its own (not from the request pool) with a short
limit on connecting and on the query, and answers 503 problem+json when it does not answer in time.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import Blueprint, Response, current_app, jsonify
from sqlalchemy import text

from madoguchi.context import database
from madoguchi.errors import first_line, problem_response
from madoguchi.security import public

blp = Blueprint("health", __name__)
log = logging.getLogger(__name__)

#: Seconds /readyz allows for connecting and for its query.
READINESS_TIMEOUT_SECONDS = 2
_PROBE_EXTENSION = "madoguchi.readiness_probe"


@blp.get("/healthz")
@public
def healthz() -> Response:
    """The process is up. Touches nothing else, so a slow database never restarts healthy web workers."""
    return jsonify(status="ok")


@blp.get("/readyz")
@public
def readyz() -> Response:
    """The database answers within a couple of seconds: send traffic here."""
    try:
        with _probe_engine().connect() as connection:
            connection.execute(text("select 1"))
    except Exception as error:
        log.warning("readiness check failed: %s", first_line(error))
        return problem_response(
            503,
            title="Service Unavailable",
            detail="The database is not reachable.",
            headers={"Retry-After": str(READINESS_TIMEOUT_SECONDS)},
        )
    return jsonify(status="ready")


def _probe_engine() -> sa.Engine:
    """An engine without a pool for the probe.

    SQLite: a plain engine on the same file, not the app's, whose transactions begin IMMEDIATE (a write lock): the
    probe's ``select 1`` must not queue behind a writer, and a plain reader never does (WAL). An in-memory database
    exists only inside the app's engine, so there the probe uses that one.
    """
    engine = current_app.extensions.get(_PROBE_EXTENSION)
    if engine is None:
        app_engine = database().engine
        if app_engine.dialect.name != "postgresql":
            in_memory = app_engine.url.database in (None, "", ":memory:")
            engine = app_engine if in_memory else sa.create_engine(app_engine.url, poolclass=sa.pool.NullPool)
        else:
            engine = sa.create_engine(
                app_engine.url,
                poolclass=sa.pool.NullPool,
                connect_args={
                    "connect_timeout": READINESS_TIMEOUT_SECONDS,
                    "options": f"-c statement_timeout={READINESS_TIMEOUT_SECONDS * 1000}",
                },
            )
        current_app.extensions[_PROBE_EXTENSION] = engine
    return engine
