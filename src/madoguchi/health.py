"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify
from sqlalchemy import text

from madoguchi.context import db_session
from madoguchi.errors import problem_response
from madoguchi.security import public

blp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


@blp.get("/healthz")
@public
def healthz() -> Response:
    """The process is up. Touches nothing else, so a slow database never restarts healthy web workers."""
    return jsonify(status="ok")


@blp.get("/readyz")
@public
def readyz() -> Response:
    """The database answers: send traffic here."""
    try:
        db_session().execute(text("select 1"))
    except Exception:
        log.warning("readiness check failed", exc_info=True)
        return problem_response(503, title="Service Unavailable", detail="The database is not reachable.")
    return jsonify(status="ready")
