"""The floor of bench/http_paths.py: a bare Flask app doing each path's database work, without the project.

Served by gunicorn with the same settings as the project (``infra/gunicorn.conf.py``), connected as the same
non-owner role, so row-level security applies to it too. Each gthread worker thread keeps one psycopg
connection of its own (no pool, no ORM), the least a Python web app can do per request:

- ``GET /ping``: ``SELECT 1``;
- ``GET /read/<tenant>/<application>``: one transaction: ``set_config`` of the tenant as the app does, then
  one application read by primary key (the columns an answer shows, not the settings snapshot);
- ``POST /insert/<tenant>``: one transaction: ``set_config`` of the tenant, then one application row inserted
  (with its settings snapshot written as the project writes one, ``INSERT ... ON CONFLICT DO NOTHING``: an empty
  one here, already there after the first request).

``BENCH_FLOOR_DATABASE_URL`` is the libpq URL of the app role; ``BENCH_FLOOR_SERVICE_VERSION`` the procedure
version an inserted row refers to.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import threading
import uuid

import psycopg
from flask import Flask, Response

_READ = (
    "select id, reference, service_key, state, channel, data, prefill_sources, assignee_account_id,"
    " created_at, updated_at, submitted_at, decided_at, due_on, lock_version from applications where id = %s"
)
#: The hash of an empty settings snapshot (the project's ``snapshots.snapshot_hash({})``; the floor stays bare).
_SNAPSHOT = hashlib.sha256(b"{}").hexdigest()
_INSERT_SNAPSHOT = (
    "insert into settings_snapshots (tenant_id, hash, content, created_at) values (%s, %s, '{}', now())"
    " on conflict do nothing"
)
_INSERT = (
    "insert into applications (id, tenant_id, reference, service_key, service_version_id, state, channel,"
    " data, prefill_sources, settings_snapshot_hash, decision, created_at, updated_at, lock_version)"
    " values (%s, %s, %s, 'residency-certificate', %s, 'draft', 'online', %s, '{}', %s, '{}', now(), now(), 1)"
)
_SET_TENANT = "select set_config('app.tenant_id', %s, true)"


def create_app() -> Flask:
    app = Flask(__name__)
    url = os.environ["BENCH_FLOOR_DATABASE_URL"]
    service_version = os.environ["BENCH_FLOOR_SERVICE_VERSION"]
    local = threading.local()

    def connection() -> psycopg.Connection:
        conn = getattr(local, "conn", None)
        if conn is None or conn.closed:
            conn = local.conn = psycopg.connect(url)
        return conn

    def answer(body: object, status: int = 200) -> Response:
        return Response(json.dumps(body, default=str), status=status, mimetype="application/json")

    @app.get("/ping")
    def ping() -> Response:
        with connection().transaction() as tx:
            value = tx.connection.execute("select 1").fetchone()
        return answer({"ping": value[0] if value else None})

    @app.get("/read/<uuid:tenant>/<uuid:application>")
    def read(tenant: uuid.UUID, application: uuid.UUID) -> Response:
        conn = connection()
        with conn.transaction(), conn.cursor() as cur:
            cur.execute(_SET_TENANT, (str(tenant),))
            cur.execute(_READ, (application,))
            row = cur.fetchone()
            names = [column.name for column in cur.description or ()]
        if row is None:
            return answer({"title": "Not Found"}, 404)
        return answer(dict(zip(names, row, strict=True)))

    @app.post("/insert/<uuid:tenant>")
    def insert(tenant: uuid.UUID) -> Response:
        conn = connection()
        new_id = uuid.uuid4()
        data = json.dumps({"purpose": "employment", "copies": 1})
        with conn.transaction(), conn.cursor() as cur:
            cur.execute(_SET_TENANT, (str(tenant),))
            cur.execute(_INSERT_SNAPSHOT, (tenant, _SNAPSHOT))
            cur.execute(_INSERT, (new_id, tenant, f"F{secrets.token_hex(9)}", service_version, data, _SNAPSHOT))
        return answer({"id": str(new_id)}, 201)

    return app
