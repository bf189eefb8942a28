"""Helpers for the platform admin pages: a signed-in platform admin's browser."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from flask.testing import FlaskClient

from madoguchi.db import Database
from madoguchi.identity.models import PlatformAdmin
from madoguchi.identity.passwords import hash_password
from madoguchi.identity.sessions import COOKIE_NAME, start_platform_session
from tests.tenant_admin.conftest import HTTPS, Towns, towns  # noqa: F401 - fixtures

ADMIN = f"{HTTPS}/admin"


@pytest.fixture
def platform_admin(app: Any, db: Database, seeded: None) -> FlaskClient:
    with db.transaction() as session:
        admin = PlatformAdmin(
            email=f"ops-{uuid.uuid4().hex[:6]}@example.jp", display_name="Ops", password_hash=hash_password("x" * 20)
        )
        session.add(admin)
        session.flush()
        _, cookie = start_platform_session(session, admin, second_factor_done=True)
    http = app.test_client()
    http.set_cookie(COOKIE_NAME, cookie, domain="localhost", secure=True, httponly=True)
    return http
