"""Satisfaction tests reuse the portal's towns: a verified resident signed in at each of two municipalities."""

from __future__ import annotations

from tests.portal.conftest import towns

__all__ = ["towns"]
