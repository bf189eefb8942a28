"""Fixtures of the Stripe adapter and webhooks-in tests: settings pointing the ``stripe`` provider at localstripe
(the ``localstripe`` fixture of tests/payments/conftest.py), and the towns (helpers: ``stripe_world``)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from madoguchi.config import Settings
from madoguchi.db import Database
from tests.payments.webhooks_in.stripe_world import WEBHOOK_SECRET
from tests.support.localstripe import API_KEY, LocalStripe
from tests.world import Town, towns_by_slug


@pytest.fixture
def settings(settings: Settings, localstripe: LocalStripe) -> Settings:
    return replace(
        settings, stripe_api_key=API_KEY, stripe_api_base=localstripe.api_base, stripe_webhook_secret=WEBHOOK_SECRET
    )


@pytest.fixture
def towns(db: Database, seeded: None) -> dict[str, Town]:
    return towns_by_slug(db)
