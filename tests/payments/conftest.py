"""Fixtures of the payments tests (``ledger``: the stand-in provider and the helpers that build paid intents)."""

from __future__ import annotations

from tests.payments.ledger import provider, towns

__all__ = ["provider", "towns"]
