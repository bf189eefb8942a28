"""Fixtures of the Stripe adapter and webhooks-in tests: localstripe on loopback (one per test session and
worker), settings pointing the ``stripe`` provider at it, and the towns (helpers: ``stripe_world``).

localstripe must fail, not skip, when ``MADOGUCHI_REQUIRE_STRIPE=1`` (CI) and it cannot start.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from madoguchi.config import Settings
from madoguchi.db import Database
from tests.payments.webhooks_in.stripe_world import WEBHOOK_SECRET
from tests.support.localstripe import API_KEY, LocalStripe, required, unavailable_reason
from tests.world import Town, towns_by_slug


@pytest.fixture(scope="session")
def localstripe() -> Iterator[LocalStripe]:
    reason = unavailable_reason()
    if reason is None:
        try:
            server = LocalStripe().start()
        except RuntimeError as error:
            reason = str(error)
    if reason is not None:
        if required():
            pytest.fail(f"localstripe is required (MADOGUCHI_REQUIRE_STRIPE=1) but cannot start: {reason}")
        pytest.skip(f"localstripe unavailable: {reason}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def settings(settings: Settings, localstripe: LocalStripe) -> Settings:
    return replace(
        settings, stripe_api_key=API_KEY, stripe_api_base=localstripe.api_base, stripe_webhook_secret=WEBHOOK_SECRET
    )


@pytest.fixture
def towns(db: Database, seeded: None) -> dict[str, Town]:
    return towns_by_slug(db)
