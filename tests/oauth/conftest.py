"""Helpers for the OAuth tests: registered clients, signed-in residents, the code flow over HTTP."""

from __future__ import annotations

import base64
import re
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from madoguchi.db import Database
from madoguchi.identity.models import AccountKind, StaffRole
from madoguchi.identity.sessions import COOKIE_NAME, start_session
from madoguchi.oauth import operations
from madoguchi.oauth.models import OAuthClient
from madoguchi.tenancy.models import Tenant
from tests.factories import make_account, tenants

HTTPS = "https://localhost"
REDIRECT_URI = "https://vendor.example.jp/callback"


@dataclass
class RegisteredClient:
    row: OAuthClient
    secret: str | None
    tenant: Tenant

    @property
    def client_id(self) -> str:
        return self.row.client_id

    def basic_auth(self) -> dict[str, str]:
        raw = f"{self.client_id}:{self.secret}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode()}

    def auth(self) -> tuple[dict[str, str], dict[str, str]]:
        """(headers, form fields) authenticating this client: HTTP Basic, or client_id for a public one."""
        if self.secret is None:
            return {}, {"client_id": self.client_id}
        return self.basic_auth(), {}


@dataclass
class Resident:
    account_id: Any
    email: str
    cookie: str
    tenant: Tenant


@dataclass
class Pkce:
    verifier: str = field(default_factory=lambda: secrets.token_urlsafe(48))

    @property
    def challenge(self) -> str:
        return create_s256_code_challenge(self.verifier)


@pytest.fixture
def tenant_a(db: Database, seeded: None) -> Tenant:
    return tenants(db)[0]


@pytest.fixture
def tenant_b(db: Database, seeded: None) -> Tenant:
    return tenants(db)[1]


def register(
    db: Database,
    tenant: Tenant,
    *,
    name: str = "Kurashi Navi",
    redirect_uris: list[str] | None = None,
    grant_types: list[str] | None = None,
    scopes: list[str] | None = None,
    public: bool = False,
    homepage_url: str | None = "https://vendor.example.jp/",
) -> RegisteredClient:
    registration = operations.ClientRegistration(
        name=name,
        redirect_uris=[REDIRECT_URI] if redirect_uris is None else redirect_uris,
        grant_types=grant_types or ["authorization_code", "refresh_token"],
        scopes=scopes or [],
        public=public,
        homepage_url=homepage_url,
    )
    with db.transaction(tenant.id) as session:
        row, secret = operations.create_client(session, tenant.id, registration, actor="test")
    return RegisteredClient(row, secret, tenant)


@pytest.fixture
def vendor(db: Database, tenant_a: Tenant) -> RegisteredClient:
    """A confidential client of tenant A: code flow with refresh tokens, resident scopes."""
    return register(db, tenant_a)


def sign_in(
    db: Database, tenant: Tenant, *, kind: str = AccountKind.RESIDENT, roles: list[str] | None = None
) -> Resident:
    with db.transaction(tenant.id) as session:
        account = make_account(session, tenant, kind=kind, roles=roles)
        _, cookie = start_session(session, account, second_factor_done=True)
        return Resident(account.id, account.email, cookie, tenant)


@pytest.fixture
def resident(db: Database, tenant_a: Tenant) -> Resident:
    return sign_in(db, tenant_a)


@pytest.fixture
def admin_a(db: Database, tenant_a: Tenant) -> Resident:
    return sign_in(db, tenant_a, kind=AccountKind.STAFF, roles=[StaffRole.TENANT_ADMIN])


def browser(app: Any, person: Resident | None) -> Any:
    """A test client carrying the person's session cookie (sent over https only, like a browser)."""
    http = app.test_client()
    if person is not None:
        http.set_cookie(COOKIE_NAME, person.cookie, domain="localhost", secure=True, httponly=True)
    return http


def authorize_query(client: RegisteredClient, pkce: Pkce | None, **overrides: Any) -> str:
    params: dict[str, Any] = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": "applications:read applications:write",
        "state": "st-123",
    }
    if pkce is not None:
        params.update(code_challenge=pkce.challenge, code_challenge_method="S256")
    params.update(overrides)
    return "/oauth/authorize?" + urlencode({k: v for k, v in params.items() if v is not None})


def csrf_token_in(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def decide(http: Any, url: str, decision: str, page_html: str) -> Any:
    return http.post(
        url,
        data={"csrf_token": csrf_token_in(page_html), "decision": decision},
        base_url=HTTPS,
        headers={"Referer": HTTPS + url},
    )


def redirect_params(response: Any) -> dict[str, str]:
    assert response.status_code in (302, 303), response.status_code
    location = response.headers["Location"]
    assert location.startswith(REDIRECT_URI), location
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def obtain_code(app: Any, client: RegisteredClient, person: Resident, pkce: Pkce, **overrides: Any) -> str:
    """The whole front channel: consent page, approve, code at the redirect URI."""
    http = browser(app, person)
    url = authorize_query(client, pkce, **overrides)
    page = http.get(url, base_url=HTTPS)
    if page.status_code == 302:  # consent remembered
        return redirect_params(page)["code"]
    assert page.status_code == 200, page.get_data(as_text=True)
    params = redirect_params(decide(http, url, "approve", page.get_data(as_text=True)))
    assert params["state"] == overrides.get("state", "st-123")
    return params["code"]


def token_request(app: Any, client: RegisteredClient, **form: Any) -> Any:
    headers, auth_fields = client.auth()
    return app.test_client().post("/oauth/token", data={**auth_fields, **form}, headers=headers, base_url=HTTPS)


def exchange(app: Any, client: RegisteredClient, code: str, pkce: Pkce, **overrides: Any) -> Any:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": pkce.verifier,
    }
    form.update(overrides)
    return token_request(app, client, **{k: v for k, v in form.items() if v is not None})


def tokens_for(app: Any, client: RegisteredClient, person: Resident, **overrides: Any) -> dict[str, Any]:
    pkce = Pkce()
    code = obtain_code(app, client, person, pkce, **overrides)
    response = exchange(app, client, code, pkce)
    assert response.status_code == 200, response.json
    return response.json


def introspect(app: Any, client: RegisteredClient, token: str, **form: Any) -> dict[str, Any]:
    headers, auth_fields = client.auth()
    response = app.test_client().post(
        "/oauth/introspect", data={**auth_fields, "token": token, **form}, headers=headers, base_url=HTTPS
    )
    assert response.status_code == 200, response.json
    return response.json


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
