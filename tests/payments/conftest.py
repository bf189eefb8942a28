"""Payments test helpers: a town (tests/world.py) in each demo municipality; a municipality that collects its fees
through Madoguchi, a resident with a submitted residency certificate (quoted at submit), its clerk and supervisor,
and the other municipality's clerk; localstripe on loopback for the Stripe tests (one per test session and worker:
it must fail, not skip, when ``MADOGUCHI_REQUIRE_STRIPE=1`` (CI) and it cannot start)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask

from madoguchi.applications import operations
from madoguchi.applications.models import Application
from madoguchi.db import Database
from madoguchi.identity.actors import Actor
from madoguchi.identity.models import Account, AccountKind
from madoguchi.payments import intents
from madoguchi.tenancy.models import Tenant
from tests.api.conftest import HTTPS, sign_in  # noqa: F401 - the fixture, for these tests
from tests.factories import make_account, tenants
from tests.payments.ledger import provider  # noqa: F401 - the stand-in provider fixture (refunds, reconcile)
from tests.support.localstripe import LocalStripe, required, unavailable_reason
from tests.world import RESIDENCY, Town, family, towns_by_slug

#: The tenant file's ``payments`` section as the quotes part writes it (set on the profile until it lands).
PAYMENTS = {"provider": "fake", "online": "prepay", "counter_modes": ["cash", "terminal"]}


@dataclass
class Desk:
    db: Database
    tenant: Tenant
    other: Tenant
    resident_account: Account
    clerk_account: Account
    supervisor_account: Account
    foreign_clerk_account: Account
    #: The fee of one copy of a residency certificate at this tenant (its override of the catalog's default).
    fee: int = 0

    @property
    def clerk(self) -> Actor:
        return Actor.of(self.clerk_account)

    def submitted(self, **data: Any) -> uuid.UUID:
        """A residency certificate the resident filed and submitted: quoted at submit."""
        with self.db.transaction(self.tenant.id) as session:
            tenant = session.get(Tenant, self.tenant.id)  # not merge: a stale copy would undo a profile change
            assert tenant is not None
            actor = Actor.of(session.merge(self.resident_account))
            application = operations.create_draft(
                session, tenant, actor, "residency-certificate", {**RESIDENCY, **data}
            )
            operations.submit(session, tenant, actor, application.id)
            return application.id

    def due(self, application_id: uuid.UUID) -> int:
        with self.db.transaction(self.tenant.id) as session:
            return intents.amount_due(session, session.get(Application, application_id))


def collecting(db: Database, tenant: Tenant, config: dict[str, Any] | None = PAYMENTS) -> Tenant:
    """``tenant`` with ``payments`` settings on its profile (None: without), as provisioning would copy them."""
    with db.transaction(tenant.id) as session:
        row = session.get(Tenant, tenant.id)
        assert row is not None
        profile = {k: v for k, v in (row.profile or {}).items() if k != "payments"}
        row.profile = {**profile, **({"payments": config} if config else {})}
        session.flush()
        session.expunge(row)
        return row


@pytest.fixture
def desk(db: Database, seeded: None) -> Desk:
    """midorikawa-village collecting its fees (cash and terminal at the counter), shiomi-town as the other."""
    found = {t.slug: t for t in tenants(db)}
    tenant = collecting(db, found["midorikawa-village"])
    other = found["shiomi-town"]
    with db.transaction(tenant.id) as session:
        parent, _child = family(session, tenant, family_name="髙橋", given_name="一郎")
        resident_account = make_account(session, tenant, person=parent)
        clerk = make_account(session, tenant, kind=AccountKind.STAFF, roles=["clerk"])
        supervisor = make_account(session, tenant, kind=AccountKind.STAFF, roles=["clerk", "supervisor"])
    with db.transaction(other.id) as session:
        foreign = make_account(session, other, kind=AccountKind.STAFF, roles=["clerk", "supervisor"])
    desk = Desk(db, tenant, other, resident_account, clerk, supervisor, foreign)
    desk.fee = desk.due(desk.submitted())
    assert desk.fee > 0
    return desk


def split(amount: int) -> list[int]:
    """``amount`` in 定額小為替, largest first (every multiple of 50 can be made of the 12 denominations)."""
    values: list[int] = []
    for value in (1000, 750, 500, 450, 400, 350, 300, 250, 200, 150, 100, 50):
        while amount >= value:
            values.append(value)
            amount -= value
    assert amount == 0
    return values


@pytest.fixture
def towns(db: Database, seeded: None) -> dict[str, Town]:
    return towns_by_slug(db)


@pytest.fixture
def in_app(app: Flask) -> Iterator[Flask]:
    """Inside the app's context: the webhook receiver reads the app's settings (its secret key) from it."""
    with app.app_context():
        yield app


@pytest.fixture(scope="session")
def localstripe() -> Iterator[LocalStripe]:
    reason = unavailable_reason()
    if reason is None:
        try:
            server = LocalStripe().start()
        except RuntimeError as error:
            reason = str(error)
    if reason is not None:
        if required():
            pytest.fail(f"localstripe is required (MADOGUCHI_REQUIRE_STRIPE=1) but cannot start: {reason}")
        pytest.skip(f"localstripe unavailable: {reason}")
    try:
        yield server
    finally:
        server.stop()
