"""Cookie-authenticated API writes refuse another site's form post (issue 12, point 10: cross-site request forgery).

The API has no CSRF token. Before the guard, a page on another site could post a form to
``/api/v1/t/<tenant>/applications/<id>/submit`` and the resident's browser would send the session cookie
along (SameSite=Lax was the only obstacle): the draft was submitted in their name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from flask.testing import FlaskClient

from madoguchi.applications import operations as applications
from madoguchi.applications.models import Application
from madoguchi.db import Database
from madoguchi.identity.actors import Actor
from madoguchi.identity.sessions import start_session
from madoguchi.tenancy.models import Tenant
from tests.api.conftest import HTTPS
from tests.factories import make_account, make_household, make_person, tenants
from tests.oauth.conftest import Resident, bearer, register, tokens_for
from tests.world import RESIDENCY

EVIL = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"}
SAME_SITE_FETCH = {"Origin": HTTPS, "Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors"}


@dataclass
class Victim:
    tenant: Tenant
    account_id: Any
    email: str
    cookie: str
    draft_id: Any

    def url(self, path: str) -> str:
        return f"{HTTPS}/api/v1/t/{self.tenant.slug}/applications{path}"


@pytest.fixture
def victim(app, db: Database, seeded: None) -> Victim:
    tenant = tenants(db)[0]
    with app.test_request_context(base_url=HTTPS), db.transaction(tenant.id) as session:
        person = make_person(session, tenant, make_household(session, tenant))
        account = make_account(session, tenant, person=person)
        draft = applications.create_draft(session, tenant, Actor.of(account), "residency-certificate", RESIDENCY)
        _, cookie = start_session(session, account)
        return Victim(tenant, account.id, account.email, cookie, draft.id)


def _browser(app, victim: Victim) -> FlaskClient:
    client = app.test_client()
    client.set_cookie("__Host-madoguchi-session", victim.cookie, domain="localhost", secure=True, httponly=True)
    return client


def _state(db: Database, victim: Victim) -> str:
    with db.transaction(victim.tenant.id) as session:
        return session.get(Application, victim.draft_id).state


def _refused(response) -> None:
    assert response.status_code == 403, (response.status_code, response.get_data(as_text=True))
    assert response.mimetype == "application/problem+json"
    assert response.json["type"] == "urn:madoguchi:problem:cross-origin-refused"


def test_another_sites_form_post_with_the_session_cookie_is_refused_and_changes_nothing(
    app, db: Database, victim: Victim
) -> None:
    browser = _browser(app, victim)
    form = {"data": "x", "content_type": "application/x-www-form-urlencoded"}
    _refused(browser.post(victim.url(f"/{victim.draft_id}/submit"), headers=EVIL, **form))
    # Only Origin (an older browser), or only fetch metadata: refused all the same.
    _refused(browser.post(victim.url(f"/{victim.draft_id}/submit"), headers={"Origin": "null"}, **form))
    _refused(browser.post(victim.url(f"/{victim.draft_id}/submit"), headers={"Sec-Fetch-Site": "same-site"}, **form))
    # A form body without either header is no API call from this site either.
    _refused(browser.post(victim.url(f"/{victim.draft_id}/submit"), **form))
    _refused(browser.post(victim.url("/"), headers=EVIL, json={"procedure": "residency-certificate", "data": {}}))
    assert _state(db, victim) == "draft"
    with db.transaction(victim.tenant.id) as session:
        assert session.query(Application).count() == 1


def test_the_sites_own_fetch_and_non_browser_clients_still_write(app, db: Database, victim: Victim) -> None:
    browser = _browser(app, victim)
    created = browser.post(
        victim.url("/"), headers=SAME_SITE_FETCH, json={"procedure": "residency-certificate", "data": RESIDENCY}
    )
    assert created.status_code == 201, created.json
    submitted = browser.post(victim.url(f"/{victim.draft_id}/submit"), headers=SAME_SITE_FETCH)
    assert submitted.status_code == 200 and submitted.json["state"] == "submitted"
    # A script or CLI with the cookie and no browser headers, JSON body: allowed.
    plain = browser.post(victim.url("/"), json={"procedure": "residency-certificate", "data": RESIDENCY})
    assert plain.status_code == 201


def test_bearer_token_calls_are_not_affected(app, db: Database, victim: Victim) -> None:
    """A vendor's server calls with a token (and may well send an Origin of its own): no cookie rules apply."""
    vendor = register(db, victim.tenant)
    token = tokens_for(app, vendor, Resident(victim.account_id, victim.email, victim.cookie, victim.tenant))
    browser = _browser(app, victim)  # even with the resident's cookie in the same jar
    response = browser.post(victim.url(f"/{victim.draft_id}/submit"), headers={**EVIL, **bearer(token["access_token"])})
    assert response.status_code == 200, response.json
    assert _state(db, victim) == "submitted"


def test_reads_are_not_affected(app, victim: Victim) -> None:
    response = _browser(app, victim).get(victim.url("/"), headers=EVIL)
    assert response.status_code == 200
