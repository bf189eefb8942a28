"""Fixtures for payment tests: a town (tests/world.py) in each demo municipality."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from madoguchi.db import Database
from tests.world import Town, towns_by_slug


@pytest.fixture
def towns(db: Database, seeded: None) -> dict[str, Town]:
    return towns_by_slug(db)


@pytest.fixture
def in_app(app: Flask) -> Iterator[Flask]:
    """Inside the app's context: the webhook receiver reads the app's settings (its secret key) from it."""
    with app.app_context():
        yield app
