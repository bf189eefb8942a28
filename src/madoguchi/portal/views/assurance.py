"""What the portal tells a resident about identity levels (decision 0048): the level a procedure or an application
needs, in words, the resident's own, and how to get there (the card, a letter, the counter)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from flask import request
from flask_babel import gettext as _

from madoguchi.applications import assurance
from madoguchi.catalog.definitions.forms import form_field
from madoguchi.context import current_tenant
from madoguchi.identity.actors import Actor
from madoguchi.identity.models import IdentityAssurance
from madoguchi.web.i18n import localized

if TYPE_CHECKING:
    from madoguchi.identity.models import Account


def level_needed_text(level: str | None) -> str:
    """What a procedure needs, as a sentence."""
    if level == IdentityAssurance.CARD:
        return _("You need to confirm your identity with your My Number Card.")
    if level == IdentityAssurance.VERIFIED:
        return _("You need a verified identity (your account linked to your resident record).")
    return _("A confirmed email address is enough.")


def level_held_text(account: Account) -> str:
    """What the resident's account has, as a sentence."""
    level = account.identity_assurance if account.person_id is not None else IdentityAssurance.EMAIL.value
    if level == IdentityAssurance.CARD:
        return _("Your account is verified with your My Number Card.")
    if level == IdentityAssurance.VERIFIED:
        return _("Your account is verified by a letter or at the counter, not with the My Number Card.")
    return _("Your account has a confirmed email address only: it is not linked to your resident record.")


def condition_text(form: Mapping[str, Any], condition: Mapping[str, Any]) -> str:
    """A condition that raises the level, in words: the question's title, and the answer's where it is a choice."""
    schema = form_field(form, condition["field"]) or {}
    title = localized(schema.get("x-title")) or schema.get("title") or condition["field"]
    if schema.get("type") == "boolean" and condition["equals"] is True:
        return str(title)
    choice = localized((schema.get("x-enum-titles") or {}).get(condition["equals"])) or str(condition["equals"])
    return f"{title}: {choice}"


def raised_by(settings: Mapping[str, Any]) -> list[dict[str, str]]:
    """Each answer that raises the procedure's level, in words, with the level it needs (the procedure page)."""
    form = settings.get("form") or {}
    return [
        {"when": condition_text(form, condition), "needs": level_needed_text(condition["level"])}
        for condition in settings.get("identity_assurance_when") or ()
    ]


def _card_paths() -> dict[str, str]:
    # The contract's URLs (decision 0048); the card pages are another part of issue 19.
    root, slug = request.script_root, current_tenant.slug
    return {"sign_in": f"{root}/{slug}/card/sign-in", "link": f"{root}/{slug}/account/card/link"}


def identity_need(
    settings: Mapping[str, Any], data: Mapping[str, Any] | None, account: Account
) -> dict[str, Any] | None:
    """What the resident must do before submitting: ``None`` when their account meets the level the application
    needs (the procedure's, raised by the answers ``data``)."""
    required = assurance.required_assurance(settings, data)
    if Actor.of(account).meets(required):
        return None
    card_available = assurance.card_available(current_tenant)
    form = settings.get("form") or {}
    return {
        "required": required,
        "needed_text": level_needed_text(required),
        "held_text": level_held_text(account),
        "because": [condition_text(form, c) for c in assurance.raising_conditions(settings, data)],
        "ways": assurance.ways_to(required, card_available=card_available),
        "card_paths": _card_paths(),
        "contact": (current_tenant.profile or {}).get("contact") or {},
    }


def card_sign_in_path() -> str | None:
    """Where a visitor signs in with the card, where the municipality offers it."""
    return _card_paths()["sign_in"] if assurance.card_available(current_tenant) else None
