"""Portal test helpers: a household in two municipalities, residents signed in over HTTP, form posting."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from madoguchi.applications.models import Application
from madoguchi.db import Database
from madoguchi.identity.models import Account
from madoguchi.registry.models import Person
from madoguchi.tenancy.models import Tenant
from tests.factories import tenants
from tests.identity.conftest import HTTPS, add_account, signed_in, staff_account
from tests.world import family


@dataclass
class Town:
    tenant: Tenant
    person: Person
    resident: Account
    client: FlaskClient


@dataclass
class Towns:
    a: Town
    b: Town


def _town(app: Any, db: Database, tenant: Tenant) -> Town:
    with db.transaction(tenant.id) as session:
        person, _child = family(session, tenant, child_born=date(2020, 8, 3))
    account = add_account(db, tenant, person_id=person.id)
    return Town(tenant, person, account, signed_in(app, tenant, account))


@pytest.fixture
def towns(app: Any, db: Database, seeded: None) -> Towns:
    """a: midorikawa-village, b: sakuragaoka-city; each with a verified resident signed in."""
    found = tenants(db)
    return Towns(_town(app, db, found[0]), _town(app, db, found[1]))


def url(tenant: Tenant, path: str) -> str:
    return f"{HTTPS}/{tenant.slug}{path}"


def csrf_in(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def submit(client: FlaskClient, form_url: str, data: dict[str, Any], *, action: str | None = None, **kwargs: Any):
    """Post a page's form as a browser does: the page's CSRF token and lock version, a same-origin Referer."""
    html = client.get(form_url).get_data(as_text=True)
    body: dict[str, Any] = {"csrf_token": csrf_in(html), **data}
    version = re.search(r'name="version" value="(\d+)"', html)
    if version and "version" not in body:
        body["version"] = version.group(1)
    return client.post(action or form_url, data=body, headers={"Referer": f"{HTTPS}/"}, **kwargs)


def start(client: FlaskClient, tenant: Tenant, key: str) -> str:
    """Start an application from the procedure page; returns the first form page's URL."""
    response = submit(client, url(tenant, f"/procedures/{key}"), {}, action=url(tenant, f"/procedures/{key}/start"))
    assert response.status_code == 303, response.get_data(as_text=True)
    return (
        HTTPS + response.headers["Location"]
        if response.headers["Location"].startswith("/")
        else response.headers["Location"]
    )


def load(db: Database, tenant: Tenant, application_id: Any) -> Application:
    with db.transaction(tenant.id) as session:
        stmt = select(Application).where(Application.id == uuid.UUID(str(application_id)))
        return session.execute(stmt).scalar_one()


def application_id_of(form_url: str) -> str:
    match = re.search(r"/applications/([0-9a-f-]{36})/", form_url)
    assert match
    return match.group(1)


__all__ = ["staff_account"]
