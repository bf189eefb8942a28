"""Card sign-in test helpers: the app pointed at the card's provider (infra/card-idp, one per worker: the
``card_idp`` fixture), the demo municipalities (shiomi-town and sakuragaoka-city have card sign-in switched on in
their tenant files), and the protocol's caches emptied before each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from madoguchi.config import Settings
from madoguchi.db import Database
from madoguchi.identity.card import protocol
from madoguchi.tenancy.models import Tenant
from tests.factories import tenants
from tests.support.card_idp import CardIdp, with_card_idp

#: The redirect URI the tests send: the platform's callback on a loopback origin (never requested: the tests
#: read the provider's redirect to it).
REDIRECT_URI = "http://127.0.0.1:5000/card/callback"


@pytest.fixture
def settings(settings: Settings, card_idp: CardIdp) -> Settings:
    """The test settings with card sign-in pointed at this worker's provider."""
    return with_card_idp(settings, card_idp)


@pytest.fixture(autouse=True)
def fresh_provider_cache() -> Iterator[None]:
    """Each test fetches the provider's discovery document and keys itself (some restart their own provider)."""
    protocol.forget_providers()
    yield
    protocol.forget_providers()


@pytest.fixture
def in_app(app: Flask) -> Iterator[Flask]:
    """An application context: the protocol reads the platform's settings from the app."""
    with app.app_context():
        yield app


def by_slug(db: Database, slug: str) -> Tenant:
    return next(t for t in tenants(db) if t.slug == slug)


@pytest.fixture
def shiomi(db: Database, seeded: None) -> Tenant:
    return by_slug(db, "shiomi-town")


@pytest.fixture
def sakuragaoka(db: Database, seeded: None) -> Tenant:
    return by_slug(db, "sakuragaoka-city")
