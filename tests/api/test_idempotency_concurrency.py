"""Idempotency-Key under concurrency on real PostgreSQL: the claim lives in the request's own transaction
(decision 0025).

Two requests with one key, each on its own connection: while the first runs (held on a row lock by another
transaction), the second answers 409 at once instead of waiting on the first's uncommitted claim; once the first has
committed, the key replays its answer; a first request that rolls back (its lock wait timed out: 503) leaves no claim,
so the retry runs at once.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from madoguchi import create_app
from madoguchi.config import Settings
from madoguchi.db import Database
from madoguchi.idempotency_keys import IdempotencyKey
from madoguchi.identity.sessions import COOKIE_NAME
from tests.conftest import Backend
from tests.documents.certificate_fixtures import HTTPS, World, submit, world
from tests.faults.test_database_faults import _database_name, _RowLock, _waiting_on_locks
from tests.support.postgres import ThrowawayPostgres

__all__ = ["world"]
pytestmark = [pytest.mark.commits, pytest.mark.postgres_only]


def _clerk_client(app: Any, world: World) -> FlaskClient:
    cookie = world.b.clerk.get_cookie(COOKIE_NAME, domain="localhost")
    assert cookie is not None
    client = app.test_client()
    client.set_cookie(cookie.key, cookie.value, domain="localhost", secure=True, httponly=True)
    return client


def _keys(db: Database, world: World, key: str) -> list[IdempotencyKey]:
    with db.transaction(world.b.tenant.id) as session:
        return list(session.execute(select(IdempotencyKey).where(IdempotencyKey.key == key)).scalars())


def _start_held_request(
    app: Any, world: World, postgres_server: ThrowawayPostgres, backend: Backend, key: str
) -> tuple[str, _RowLock, threading.Thread, list[Any]]:
    """A clerk's transition with ``key`` on an application another transaction holds locked: it claims the key,
    then waits for the row. Returns once it waits."""
    waiting = submit(world.b)
    url = world.b.api(f"/applications/{waiting['id']}/transitions")
    dbname = _database_name(backend)
    lock = _RowLock(postgres_server, dbname, world.b.tenant.id, waiting["id"])
    answers: list[Any] = []
    first = threading.Thread(
        target=lambda: answers.append(
            _clerk_client(app, world).post(
                url, json={"transition": "start_review"}, headers={"Idempotency-Key": key}, base_url=HTTPS
            )
        )
    )
    first.start()
    deadline = time.monotonic() + 5
    while not _waiting_on_locks(postgres_server, dbname) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _waiting_on_locks(postgres_server, dbname), "the first request never waited on the row lock"
    return url, lock, first, answers


def test_a_second_request_with_a_key_still_in_flight_is_409_at_once_and_replays_once_the_first_committed(
    app: Any, world: World, db: Database, backend: Backend, postgres_server: ThrowawayPostgres
) -> None:
    key = "held-1"
    url, lock, first, answers = _start_held_request(app, world, postgres_server, backend, key)
    try:
        began = time.monotonic()
        second = _clerk_client(app, world).post(
            url, json={"transition": "start_review"}, headers={"Idempotency-Key": key}, base_url=HTTPS
        )
        waited = time.monotonic() - began
    finally:
        lock.release()
    first.join(timeout=10)
    assert second.status_code == 409, second.json
    assert waited < 1.0, f"the second request waited {waited:.2f} s for the first's claim"
    other_body = _clerk_client(app, world).post(
        url, json={"transition": "approve"}, headers={"Idempotency-Key": key}, base_url=HTTPS
    )
    (done,) = answers
    assert done.status_code == 200 and done.json["state"] == "in_review", done.json
    replay = _clerk_client(app, world).post(
        url, json={"transition": "start_review"}, headers={"Idempotency-Key": key}, base_url=HTTPS
    )
    assert replay.status_code == 200 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json == done.json
    assert other_body.status_code in (409, 422)  # 422 once committed; 409 if it raced the commit
    assert [row.status for row in _keys(db, world, key)] == ["completed"]


def test_a_request_that_rolls_back_leaves_no_claim_and_its_retry_runs_at_once(
    settings: Settings, world: World, db: Database, backend: Backend, postgres_server: ThrowawayPostgres
) -> None:
    app = create_app(replace(settings, db_pool_size=3, db_lock_timeout_seconds=0.5))
    key = "rolled-back-1"
    url, lock, first, answers = _start_held_request(app, world, postgres_server, backend, key)
    try:
        first.join(timeout=10)
    finally:
        lock.release()
    (timed_out,) = answers
    assert timed_out.status_code == 503, timed_out.json  # lock_timeout: the transaction rolled back
    assert _keys(db, world, key) == []
    retry = _clerk_client(app, world).post(
        url, json={"transition": "start_review"}, headers={"Idempotency-Key": key}, base_url=HTTPS
    )
    assert retry.status_code == 200 and retry.json["state"] == "in_review", retry.json
    assert "Idempotent-Replayed" not in retry.headers
    assert [row.status for row in _keys(db, world, key)] == ["completed"]
