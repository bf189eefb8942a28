"""API test helpers: sign a test client in as an account (a real server-side session, via its cookie)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask.testing import FlaskClient

from madoguchi.db import Database
from madoguchi.identity.models import Account
from madoguchi.identity.sessions import COOKIE_NAME, start_session

HTTPS = "https://localhost"


@pytest.fixture
def sign_in(app, db: Database) -> Callable[[Account], FlaskClient]:
    """A fresh test client carrying a live session of ``account`` (second factor done)."""

    def make(account: Account) -> FlaskClient:
        with app.test_request_context(base_url=HTTPS), db.transaction(account.tenant_id) as session:
            _, token = start_session(session, account, second_factor_done=True)
        client = app.test_client()
        client.set_cookie(COOKIE_NAME, token, domain="localhost", secure=True, httponly=True)
        return client

    return make
