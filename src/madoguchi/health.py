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
    """An engine without a pool for the probe (SQLite: the app's own, which never waits on a server)."""
    engine = current_app.extensions.get(_PROBE_EXTENSION)
    if engine is None:
        app_engine = database().engine
        if app_engine.dialect.name != "postgresql":
            engine = app_engine
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
