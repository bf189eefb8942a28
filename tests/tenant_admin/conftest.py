"""Helpers for the tenant admin pages: signed-in browsers (sessions started directly), forms posted with CSRF."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
from flask.testing import FlaskClient

from madoguchi.db import Database
from madoguchi.identity.models import AccountKind, StaffRole
from madoguchi.identity.sessions import COOKIE_NAME, start_session
from madoguchi.tenancy.models import Tenant
from tests.factories import make_account
from tests.identity import conftest as identity_fixtures
from tests.identity.conftest import Towns

HTTPS = "https://localhost"

# The identity tests' fixtures: the two seeded towns, and cheap password hashing (autouse).
towns = identity_fixtures.towns


@dataclass
class Person:
    account_id: Any
    email: str
    tenant: Tenant
    http: FlaskClient


def signed_in(app: Any, db: Database, tenant: Tenant, *roles: str, kind: str = AccountKind.STAFF) -> Person:
    """A browser with a complete session (second factor passed) of a new account of ``tenant``."""
    with db.transaction(tenant.id) as session:
        account = make_account(session, tenant, kind=kind, roles=list(roles))
        _, cookie = start_session(session, account, second_factor_done=True)
        person = Person(account.id, account.email, tenant, app.test_client())
    person.http.set_cookie(COOKIE_NAME, cookie, domain="localhost", secure=True, httponly=True)
    return person


@pytest.fixture
def admin_a(app: Any, db: Database, towns: Towns) -> Person:
    return signed_in(app, db, towns.a, StaffRole.TENANT_ADMIN)


@pytest.fixture
def admin_b(app: Any, db: Database, towns: Towns) -> Person:
    return signed_in(app, db, towns.b, StaffRole.TENANT_ADMIN)


def admin_url(tenant: Tenant, path: str = "/") -> str:
    return f"{HTTPS}/{tenant.slug}/console/admin{path}"


def get(person: Person, url: str, **kwargs: Any) -> Any:
    return person.http.get(url, **kwargs)


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def post(person: Person, url: str, data: dict[str, Any], *, form_url: str | None = None, **kwargs: Any) -> Any:
    """Submit a form as a browser does: the page's CSRF token and a same-origin Referer."""
    page = person.http.get(form_url or url)
    assert page.status_code == 200, (page.status_code, form_url or url)
    body = {"csrf_token": csrf_of(page.get_data(as_text=True)), **data}
    return person.http.post(url, data=body, headers={"Referer": f"{HTTPS}/"}, **kwargs)


def error_summary_links(html: str) -> list[str]:
    """The field ids the error summary links to."""
    summary = re.search(r'<div class="error-summary".*?</div>', html, re.S)
    return re.findall(r'href="#([^"]+)"', summary.group(0)) if summary else []


def field_error(html: str, field_id: str) -> str | None:
    """The error message shown beside a field (without the "Error:" prefix for screen readers)."""
    match = re.search(rf'<p class="error" id="{re.escape(field_id)}-error">(.*?)</p>', html, re.S)
    if match is None:
        return None
    without_prefix = re.sub(r'<span class="visually-hidden">.*?</span>', "", match.group(1), flags=re.S)
    return re.sub(r"<[^>]+>", "", without_prefix).strip()
