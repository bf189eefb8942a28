"""Identity test helpers: accounts with passwords, signing in over HTTP, CSRF tokens, a TOTP clock, the outbox."""

from __future__ import annotations

import itertools
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pyotp
import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from madoguchi.audit.models import AuditRecord
from madoguchi.crypto import Sealer
from madoguchi.db import Database, utcnow
from madoguchi.identity import totp
from madoguchi.identity.models import Account, AccountKind, IdentityAssurance, WebSession
from madoguchi.identity.passwords import hash_password
from madoguchi.identity.sessions import COOKIE_NAME, hash_token
from madoguchi.outbox import OutboxMessage
from madoguchi.tenancy.models import Tenant
from tests.conftest import DATA_KEY
from tests.factories import tenants

HTTPS = "https://localhost"
PASSWORD = "correct horse battery staple"
_ips = itertools.count(1)


def api(tenant: Tenant | str, path: str) -> str:
    slug = tenant if isinstance(tenant, str) else tenant.slug
    return f"{HTTPS}/api/v1/t/{slug}{path}"


def page(tenant: Tenant | str, path: str) -> str:
    slug = tenant if isinstance(tenant, str) else tenant.slug
    return f"{HTTPS}/{slug}{path}"


def fresh_ip() -> dict[str, Any]:
    """A distinct client address, so the per-IP limit of one test step does not spill into the next."""
    n = next(_ips)
    return {"environ_base": {"REMOTE_ADDR": f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"}}


@dataclass
class Towns:
    a: Tenant
    b: Tenant


@pytest.fixture
def towns(db: Database, seeded: None) -> Towns:
    """a: midorikawa-village (pages in Japanese only), b: sakuragaoka-city (Japanese and English)."""
    found = tenants(db)
    return Towns(found[0], found[1])


def add_account(
    db: Database,
    tenant: Tenant,
    *,
    kind: str = AccountKind.RESIDENT,
    roles: list[str] | None = None,
    email: str | None = None,
    password: str = PASSWORD,
    person_id: uuid.UUID | None = None,
    totp_secret: str | None = None,
    disabled: bool = False,
) -> Account:
    with db.transaction(tenant.id) as session:
        account = Account(
            tenant_id=tenant.id,
            email=email or f"user-{uuid.uuid4().hex[:8]}@example.jp",
            display_name="Test user",
            kind=str(kind),
            roles=roles or [],
            identity_assurance=IdentityAssurance.VERIFIED if person_id else IdentityAssurance.EMAIL,
            person_id=person_id,
            password_hash=hash_password(password),
            disabled=disabled,
        )
        session.add(account)
        session.flush()
        if totp_secret:
            account.totp_secret_encrypted = Sealer(DATA_KEY).seal(account.id, totp_secret)
            account.totp_enabled_at = utcnow()
    return account


#: The authenticator key of each staff account made here, and the last time step ``signed_in`` used with it.
_authenticators: dict[uuid.UUID, list[Any]] = {}
_NEW_KEY = object()


def staff_account(db: Database, tenant: Tenant, *roles: str, totp_secret: Any = _NEW_KEY, **kwargs: Any) -> Account:
    """A staff account with an authenticator set up (every staff role needs one), unless ``totp_secret=None``."""
    secret = pyotp.random_base32() if totp_secret is _NEW_KEY else totp_secret
    roles = roles or ("clerk",)
    account = add_account(db, tenant, kind=AccountKind.STAFF, roles=list(roles), totp_secret=secret, **kwargs)
    if secret:
        _authenticators[account.id] = [secret, None]
    return account


def next_code(account: Account) -> str:
    """A code of the account's authenticator from a time step not used yet (a code is good once)."""
    secret, last = _authenticators[account.id]
    now = int(totp.clock() // 30)
    step = now if last is None or last < now else last + 1
    if step > now + totp.VALID_WINDOW:
        raise AssertionError("signed in too often within one time step: move the clock fixture on")
    _authenticators[account.id][1] = step
    return pyotp.TOTP(secret).at(step * 30)


def load_account(db: Database, account: Account) -> Account:
    with db.transaction(account.tenant_id) as session:
        return session.execute(select(Account).where(Account.id == account.id)).scalar_one()


def login(
    client: FlaskClient,
    tenant: Tenant,
    email: str,
    password: str = PASSWORD,
    totp_code: str | None = None,
    *,
    ip: dict[str, Any] | None = None,
):
    body: dict[str, Any] = {"email": email, "password": password}
    if totp_code is not None:
        body["totp_code"] = totp_code
    return client.post(api(tenant, "/session"), json=body, **(ip or fresh_ip()))


def signed_in(app, tenant: Tenant, account: Account, **kwargs: Any) -> FlaskClient:
    """A client signed in through the API, with an authenticator code for staff who have one."""
    if account.id in _authenticators and "totp_code" not in kwargs:
        kwargs["totp_code"] = next_code(account)
    client = app.test_client()
    response = login(client, tenant, account.email, **kwargs)
    assert response.status_code == 201, response.json
    return client


def session_token(client: FlaskClient) -> str | None:
    cookie = client.get_cookie(COOKIE_NAME, domain="localhost")
    return cookie.value if cookie else None


def session_row(db: Database, token: str) -> WebSession:
    with db.transaction() as session:
        return session.execute(select(WebSession).where(WebSession.token_hash == hash_token(token))).scalar_one()


def csrf_token(client: FlaskClient, url: str) -> str:
    response = client.get(url)
    match = re.search(r'name="csrf_token" value="([^"]+)"', response.get_data(as_text=True))
    assert match, f"no CSRF token on {url} ({response.status_code})"
    return match.group(1)


def post_form(client: FlaskClient, url: str, data: dict[str, str], *, form_url: str | None = None, **kwargs: Any):
    """Submit an HTML form the way a browser does: with the page's CSRF token and a same-origin Referer."""
    token = csrf_token(client, form_url or url)
    headers = {"Referer": f"{HTTPS}/"}
    return client.post(url, data={"csrf_token": token, **data}, headers=headers, **kwargs)


def outbox(db: Database, tenant: Tenant, topic: str | None = None) -> list[OutboxMessage]:
    with db.transaction(tenant.id) as session:
        stmt = select(OutboxMessage).order_by(OutboxMessage.created_at)
        if topic:
            stmt = stmt.where(OutboxMessage.topic == topic)
        return list(session.execute(stmt).scalars())


def secret_of(message: OutboxMessage, name: str) -> str:
    """A one-time link an outbox message carries sealed (``madoguchi.outbox``), read as the worker reads it."""
    from madoguchi.crypto import Sealer
    from madoguchi.outbox import open_secrets

    return open_secrets(message, Sealer(DATA_KEY))[name]


def audit_actions(db: Database, tenant: Tenant) -> list[AuditRecord]:
    with db.transaction(tenant.id) as session:
        return list(session.execute(select(AuditRecord).order_by(AuditRecord.seq)).scalars())


def problem(response) -> dict[str, Any]:
    assert response.mimetype == "application/problem+json", (response.status_code, response.get_data(as_text=True))
    return response.json


class Clock:
    """The TOTP clock, moved by hand: each ``code`` is taken from a new 30-second step."""

    def __init__(self) -> None:
        self.now = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now

    def code(self, secret: str) -> str:
        self.now += 30
        return pyotp.TOTP(secret).at(self.now)

    def current(self, secret: str) -> str:
        return pyotp.TOTP(secret).at(self.now)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(totp, "clock", fake)
    return fake


@pytest.fixture
def later(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """``later(minutes=31)`` moves the identity clocks (sessions, operations, throttling) forward by that much."""
    import madoguchi.identity.operations.identity_letters as letters_module
    import madoguchi.identity.operations.password_reset as password_reset_module
    import madoguchi.identity.operations.platform_admins as platform_admins_module
    import madoguchi.identity.operations.registration as registration_module
    import madoguchi.identity.operations.sign_in as sign_in_module
    import madoguchi.identity.operations.totp_enrollment as totp_enrollment_module
    import madoguchi.identity.sessions as sessions_module
    import madoguchi.identity.throttling as throttling_module

    operations_modules = (
        letters_module,
        password_reset_module,
        platform_admins_module,
        sign_in_module,
        registration_module,
        totp_enrollment_module,
    )

    def move(**delta: float) -> None:
        shifted = utcnow() + timedelta(**delta)
        for module in (sessions_module, *operations_modules, throttling_module):
            monkeypatch.setattr(module, "utcnow", lambda: shifted)

    yield move
