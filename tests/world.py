"""The test world in one place: the towns tests build on the seeded tenants, and shared request bodies.

The seeded tenants (``seeded`` fixture) are the shipped municipalities; ``tenants(db)`` lists them by slug:
midorikawa-village (standard settings, pages in Japanese only), sakuragaoka-city (auto-issue, Japanese and
English), shiomi-town (supervisor approval for residency certificates). A town adds people to one of them:
a household in the register, residents and staff, and test clients signed in as them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from madoguchi.db import Database
from madoguchi.identity.actors import Actor
from madoguchi.identity.models import Account
from madoguchi.identity.sessions import COOKIE_NAME, start_session
from madoguchi.registry.models import Person
from madoguchi.tenancy.models import Tenant
from tests.factories import make_household, make_person, make_tax, resident, staff, tenants

HTTPS = "https://localhost"

#: The answers of a residency certificate (住民票の写し) request for oneself: the body of the API's
#: ``data`` and of ``operations.create_draft``.
RESIDENCY: dict[str, Any] = {
    "requester": {"relationship": "self"},
    "scope": "self",
    "purpose": "employment",
    "copies": 1,
    "delivery": "electronic",
}


#: The person concerned (本人) as someone filing for them names them: nothing of the applicant's own entry is prefilled.
PRINCIPAL: dict[str, Any] = {
    "name": "髙橋　一郎",
    "name_kana": "タカハシ　イチロウ",
    "birth_date": "1985-04-02",
    "address": "東京都千代田区一丁目1番1号",
}


def residency_by_agent(agent_name: str, principal: dict[str, Any] = PRINCIPAL) -> dict[str, Any]:
    """A residency certificate requested by an agent (代理人) under their own account for ``principal``, which
    asks for a letter of attorney."""
    agent = {"name": agent_name, "address": "東京都千代田区一丁目1番1号", "phone": "03-1234-5678"}
    return {**RESIDENCY, "applicant": dict(principal), "requester": {"relationship": "agent", "agent": agent}}


def family(
    session: Session, tenant: Tenant, *, child_born: date = date(2024, 8, 3), **parent: Any
) -> tuple[Person, Person]:
    """A household in ``tenant``'s register: its head (``parent`` overrides) and a small daughter, 陽葵."""
    household = make_household(session, tenant)
    head = make_person(session, tenant, household, **parent)
    child = make_person(
        session,
        tenant,
        household,
        given_name="陽葵",
        given_name_kana="ヒマリ",
        birth_date=child_born,
        sex="female",
        relation_to_head="子",
    )
    return head, child


def client_of(app: Flask, db: Database, account: Account) -> FlaskClient:
    """A fresh test client carrying a live session of ``account`` (second factor done)."""
    with app.test_request_context(base_url=HTTPS), db.transaction(account.tenant_id) as session:
        _, token = start_session(session, account, second_factor_done=True)
    client = app.test_client()
    client.set_cookie(COOKIE_NAME, token, domain="localhost", secure=True, httponly=True)
    return client


@dataclass
class Town:
    """One tenant with a household (parent + child), a verified resident, an unverified one, and staff."""

    tenant: Tenant
    parent: Person
    child: Person
    resident: Actor
    unverified: Actor
    clerk: Actor
    supervisor: Actor


def build_town(db: Database, tenant: Tenant) -> Town:
    with db.transaction(tenant.id) as session:
        parent, child = family(session, tenant)
        make_tax(session, tenant, parent, fiscal_year=2025)
        return Town(
            tenant=tenant,
            parent=parent,
            child=child,
            resident=resident(session, tenant, parent),
            unverified=resident(session, tenant, verified=False),
            clerk=staff(session, tenant, "clerk"),
            supervisor=staff(session, tenant, "clerk", "supervisor"),
        )


def towns_by_slug(db: Database) -> dict[str, Town]:
    """A town in every seeded tenant, keyed by slug."""
    return {tenant.slug: build_town(db, tenant) for tenant in tenants(db)}
