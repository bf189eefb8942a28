"""The identity level an application needs, and the ways a resident can reach it (decision 0048).

A procedure names its level (``identity_assurance``) and may raise it for what is asked
(``identity_assurance_when``: 個人番号 on a 住民票 needs the card). Both come from the application's settings
snapshot, so an application keeps the rule it was started under; snapshots from before the conditions existed
have only the level, and mean just that.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import has_app_context

from madoguchi.applications import forms
from madoguchi.catalog.definitions.vocabulary import IDENTITY_ASSURANCE_LEVELS
from madoguchi.identity.card import protocol
from madoguchi.identity.models import IdentityAssurance
from madoguchi.tenancy.models import Tenant

#: How a resident reaches a level: the card (signing in with the マイナンバーカード), a letter sent to the registered
#: address, or the counter. The card is the only way to ``card``.
CARD, LETTER, COUNTER = "card", "letter", "counter"


def _rank(level: str | None) -> int:
    return IDENTITY_ASSURANCE_LEVELS.index(level) if level in IDENTITY_ASSURANCE_LEVELS else -1


def _holds(condition: Mapping[str, Any], data: Mapping[str, Any] | None) -> bool:
    return bool(forms.resolve(data or {}, condition["field"], None) == condition["equals"])


def raising_conditions(settings: Mapping[str, Any], data: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    """The conditions the answers meet that raise the level above the procedure's own."""
    base = _rank(settings.get("identity_assurance"))
    conditions = settings.get("identity_assurance_when") or ()
    return [condition for condition in conditions if _holds(condition, data) and _rank(condition["level"]) > base]


def required_assurance(settings: Mapping[str, Any], data: Mapping[str, Any] | None) -> str | None:
    """The level this application needs: the procedure's, raised by each condition the answers meet.

    ``None`` when the procedure names none (nothing is needed)."""
    level: str | None = settings.get("identity_assurance")
    for condition in raising_conditions(settings, data):
        if _rank(condition["level"]) > _rank(level):
            level = condition["level"]
    return level


def ways_to(level: str | None, *, card_available: bool) -> list[str]:
    """How an account can reach ``level``: ``card`` only where the municipality switched card sign-in on."""
    if level == IdentityAssurance.CARD:
        return [CARD] if card_available else []
    if level == IdentityAssurance.VERIFIED:
        return [*([CARD] if card_available else []), LETTER, COUNTER]
    return []


def card_available(tenant: Tenant) -> bool:
    """Whether residents of ``tenant`` can sign in with the card (configured for the platform, switched on here).

    The platform's settings are the app's: outside one (a command calling the operations) no card way is offered."""
    return has_app_context() and protocol.is_enabled_for(tenant)
