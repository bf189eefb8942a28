"""Console test helpers: a municipality with a household in the register, a resident, staff, and a
clerk of another municipality; test clients signed in as each; forms posted the way a browser does."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from madoguchi.applications import operations
from madoguchi.applications.models import Application
from madoguchi.db import Database
from madoguchi.identity.actors import Actor
from madoguchi.identity.models import Account, AccountKind
from madoguchi.registry.models import Person
from madoguchi.tenancy.models import Tenant
from tests.api.conftest import HTTPS, sign_in  # noqa: F401 - the fixture, for these tests
from tests.factories import make_account, tenants
from tests.world import RESIDENCY, family


@dataclass
class Office:
    tenant: Tenant
    other: Tenant
    parent: Person
    child: Person
    resident_account: Account
    clerk_account: Account
    supervisor_account: Account
    resident: FlaskClient
    clerk: FlaskClient
    supervisor: FlaskClient
    foreign_clerk: FlaskClient
    db: Database

    def url(self, path: str = "/", slug: str | None = None) -> str:
        return f"{HTTPS}/{slug or self.tenant.slug}/console{path}"

    def submitted(self, **data: Any) -> uuid.UUID:
        """A residency certificate the resident filed and submitted (the way the API does it)."""
        with self.db.transaction(self.tenant.id) as session:
            tenant = session.merge(self.tenant)
            actor = Actor.of(session.merge(self.resident_account))
            application = operations.create_draft(
                session, tenant, actor, "residency-certificate", {**RESIDENCY, **data}
            )
            operations.submit(session, tenant, actor, application.id)
            return application.id

    def application(self, application_id: uuid.UUID) -> Application:
        with self.db.transaction(self.tenant.id) as session:
            found = session.execute(select(Application).where(Application.id == application_id)).scalar_one()
            session.expunge(found)
            return found


@pytest.fixture
def office(db: Database, seeded: None, sign_in) -> Office:  # noqa: F811
    """midorikawa-village (clerks approve without a supervisor) and shiomi-town as the other municipality."""
    found = {t.slug: t for t in tenants(db)}
    tenant, other = found["midorikawa-village"], found["shiomi-town"]
    with db.transaction(tenant.id) as session:
        parent, child = family(session, tenant, family_name_kana="ミドリカワ", given_name_kana="タロウ")
        resident_account = make_account(session, tenant, person=parent)
        clerk = make_account(session, tenant, kind=AccountKind.STAFF, roles=["clerk"])
        clerk.display_name = "窓口 花子"
        supervisor = make_account(session, tenant, kind=AccountKind.STAFF, roles=["clerk", "supervisor"])
        supervisor.display_name = "係長 次郎"
    with db.transaction(other.id) as session:
        foreign = make_account(session, other, kind=AccountKind.STAFF, roles=["clerk", "supervisor"])
    return Office(
        tenant,
        other,
        parent,
        child,
        resident_account,
        clerk,
        supervisor,
        sign_in(resident_account),
        sign_in(clerk),
        sign_in(supervisor),
        sign_in(foreign),
        db,
    )


def csrf_token(client: FlaskClient, url: str) -> str:
    response = client.get(url)
    match = re.search(r'name="csrf_token" value="([^"]+)"', response.get_data(as_text=True))
    assert match, f"no CSRF token on {url} ({response.status_code})"
    return match.group(1)


def post_form(client: FlaskClient, url: str, data: dict[str, Any], *, form_url: str) -> Any:
    """Post like a browser: the page's CSRF token, a same-origin Referer, HTML accepted."""
    token = csrf_token(client, form_url)
    headers = {"Referer": f"{HTTPS}/", "Accept": "text/html"}
    return client.post(url, data={"csrf_token": token, **data}, headers=headers)


def version_on(page_html: str) -> str:
    match = re.search(r'name="version" value="(\d+)"', page_html)
    assert match, "no version field on the page"
    return match.group(1)
