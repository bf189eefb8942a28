"""API test helpers: sign a test client in as an account (a real server-side session, via its cookie)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import pytest
from flask.testing import FlaskClient

from madoguchi.db import Database
from madoguchi.identity.models import Account
from tests.world import HTTPS, client_of

__all__ = ["HTTPS"]


@pytest.fixture
def sign_in(app, db: Database) -> Callable[[Account], FlaskClient]:
    """A fresh test client carrying a live session of ``account`` (second factor done)."""
    return partial(client_of, app, db)
