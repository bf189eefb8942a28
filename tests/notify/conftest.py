"""Webhook test helpers: tenants with a resident and staff, signed-in clients, a real HTTP receiver."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from flask.testing import FlaskClient

from madoguchi.config import Settings
from madoguchi.db import Database
from madoguchi.identity.actors import Actor
from madoguchi.identity.models import Account, AccountKind
from madoguchi.notify import worker
from madoguchi.tenancy.models import Tenant
from tests.factories import make_account, make_household, make_person, tenants
from tests.world import RESIDENCY, client_of

HTTPS = "https://localhost"


@dataclass
class Town:
    tenant: Tenant
    admin: Account
    clerk: Account
    resident_account: Account
    resident: Actor

    @property
    def slug(self) -> str:
        return self.tenant.slug

    @property
    def hooks(self) -> str:
        return f"/api/v1/t/{self.tenant.slug}/webhooks"


def _town(db: Database, tenant: Tenant) -> Town:
    with db.transaction(tenant.id) as session:
        person = make_person(session, tenant, make_household(session, tenant))
        resident_account = make_account(session, tenant, person=person)
        return Town(
            tenant=tenant,
            admin=make_account(session, tenant, kind=AccountKind.STAFF, roles=["tenant_admin"]),
            clerk=make_account(session, tenant, kind=AccountKind.STAFF, roles=["clerk"]),
            resident_account=resident_account,
            resident=Actor.of(resident_account),
        )


@pytest.fixture
def towns(db: Database, seeded: None) -> tuple[Town, Town]:
    """Town A (midorikawa-village) and town B (sakuragaoka-city)."""
    first, second = tenants(db)[:2]
    return _town(db, first), _town(db, second)


@pytest.fixture
def sign_in(app, db: Database) -> Callable[[Account], FlaskClient]:
    """A fresh test client carrying a live session of ``account`` (second factor done)."""
    return partial(client_of, app, db)


@pytest.fixture
def allow_private(app, settings: Settings) -> Settings:
    """Loopback receivers and plain http allowed, for the API and for the worker (the returned settings)."""
    relaxed = replace(settings, webhooks_allow_private=True)
    app.config["MADOGUCHI"] = relaxed
    return relaxed


def drain(db: Database, settings: Settings) -> None:
    """Run the outbox worker until a pass delivers nothing (fan-out, then the deliveries it enqueued)."""
    for _ in range(10):
        if not worker.run_once(db, settings=settings):
            return
    raise AssertionError("the outbox did not drain")


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: str

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """An HTTP endpoint on 127.0.0.1 that records what it receives and answers ``status``."""

    port: int
    status: int = 200
    received: list[Received] = field(default_factory=list)
    extra_headers: dict[str, str] = field(default_factory=dict)
    #: Seconds it takes before answering each request.
    delay: float = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/madoguchi?source=test"


class _QuietServer(ThreadingHTTPServer):
    """A client that went away before the answer (a worker killed mid-send) is no error worth a traceback."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(port=0)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode()
            state.received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            time.sleep(state.delay)
            self.send_response(state.status)
            for name, value in state.extra_headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = _QuietServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, name="webhook-receiver", daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def submit_application(db: Database, town: Town) -> Any:
    """A resident of ``town`` files and submits a residency certificate request; returns the application id."""
    from madoguchi.applications import operations as ops

    with db.transaction(town.tenant.id) as session:
        application = ops.create_draft(session, town.tenant, town.resident, "residency-certificate", RESIDENCY)
        ops.submit(session, town.tenant, town.resident, application.id)
        return application.id


def subscribe(client: FlaskClient, town: Town, url: str, events: list[str] | None = None, **extra: Any) -> Any:
    response = client.post(
        town.hooks, json={"url": url, "events": events or ["application.submitted"], **extra}, base_url=HTTPS
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()
