"""Fixtures for application tests: a town (tests/world.py) in each demo municipality."""

from __future__ import annotations

import pytest

from madoguchi.db import Database
from tests.world import Town, towns_by_slug

__all__ = ["Town"]


@pytest.fixture
def towns(db: Database, seeded: None) -> dict[str, Town]:
    """Keyed by slug: midorikawa-village (standard settings), sakuragaoka-city (auto-issue),
    shiomi-town (supervisor approval for residency certificates)."""
    return towns_by_slug(db)
