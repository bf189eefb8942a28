"""The OpenID Connect relying party for the card's provider: authorization code flow with PKCE, ``state`` and
``nonce``, the ID token's signature and claims checked against the provider's discovery document and JWKS (fetched
again, at most once a minute, when a token names a key it does not know: the provider rotated its keys).

Built on authlib (its OAuth 2 client and JOSE); nothing here parses or verifies a JWT by hand. Decision 0048.

Contract (lead): ``begin`` and ``complete`` are the only entry points the web layer uses.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from flask import current_app
from sqlalchemy.orm import Session

from madoguchi.errors import DomainError
from madoguchi.identity.card.models import CardAuthorization
from madoguchi.tenancy.models import Tenant

#: How long a started sign-in waits for the provider's answer.
AUTHORIZATION_TTL_SECONDS = 600
#: The redirect URI's path: one for the whole platform (the ``state`` names the tenant), so the provider needs one
#: registered redirect URI, not one per municipality.
CALLBACK_PATH = "/card/callback"
#: The cookie that binds a started sign-in to the browser that started it (SameSite=Lax: it comes back on the
#: provider's top-level redirect).
BINDING_COOKIE = "__Host-madoguchi-card"


@dataclass(frozen=True)
class CardIdentity:
    """What the provider verified of the card holder: the subject and the card's 基本4情報, as given."""

    issuer: str
    subject: str
    #: The name as on the card (exact code points; family and given name separated by a space).
    name: str
    birth_date: date
    #: ``male``, ``female`` or ``""`` (not given).
    sex: str
    #: The address as one string (OIDC ``address.formatted``), plus its prefecture and municipality where given.
    address: str
    prefecture: str
    municipality: str
    authenticated_at: datetime | None
    acr: str | None

    def to_json(self) -> dict[str, Any]:
        """A plain dict (dates as ISO 8601) to seal while a new resident finishes their account."""
        return {
            "issuer": self.issuer,
            "subject": self.subject,
            "name": self.name,
            "birth_date": self.birth_date.isoformat(),
            "sex": self.sex,
            "address": self.address,
            "prefecture": self.prefecture,
            "municipality": self.municipality,
            "authenticated_at": self.authenticated_at.isoformat() if self.authenticated_at else None,
            "acr": self.acr,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CardIdentity:
        authenticated_at = data.get("authenticated_at")
        return cls(
            issuer=data["issuer"],
            subject=data["subject"],
            name=data["name"],
            birth_date=date.fromisoformat(data["birth_date"]),
            sex=data.get("sex") or "",
            address=data.get("address") or "",
            prefecture=data.get("prefecture") or "",
            municipality=data.get("municipality") or "",
            authenticated_at=datetime.fromisoformat(authenticated_at) if authenticated_at else None,
            acr=data.get("acr"),
        )


class CardSignInFailed(DomainError):
    """The provider's answer could not be accepted. ``reason`` says why, for the log and the tests (the resident
    sees a plain message and a way to try again): ``state``, ``binding``, ``expired_request``, ``replay``,
    ``provider_error``, ``token``, ``issuer``, ``audience``, ``nonce``, ``expired_token``, ``signature``,
    ``claims``, ``unavailable``, ``disabled``."""

    status, slug, title = 400, "card-sign-in-failed", "Signing in with the card did not succeed"

    def __init__(self, reason: str, detail: str | None = None) -> None:
        super().__init__(detail or "Signing in with the card did not succeed.", reason=reason)
        self.reason = reason


def is_configured() -> bool:
    """The platform has a card provider configured (``card_oidc_issuer`` and the client's credentials)."""
    raise NotImplementedError


def is_enabled_for(tenant: Tenant) -> bool:
    """Configured for the platform and switched on in the tenant's file (``card_sign_in: {enabled: true}``)."""
    raise NotImplementedError


def begin(
    session: Session,
    tenant: Tenant,
    *,
    purpose: str,
    account_id: uuid.UUID | None,
    return_to: str | None,
    redirect_uri: str,
) -> tuple[str, str]:
    """Start an authorization request: store a ``CardAuthorization`` and return (the provider's authorization URL
    to redirect the browser to, the binding cookie's value to set on it)."""
    raise NotImplementedError


def tenant_slug_of_state(state: str) -> str | None:
    """The tenant slug the ``state`` parameter carries (``<slug>.<random>``), or None if malformed."""
    raise NotImplementedError


def complete(
    session: Session,
    tenant: Tenant,
    *,
    params: Mapping[str, str],
    browser_binding: str | None,
    redirect_uri: str,
) -> tuple[CardAuthorization, CardIdentity]:
    """Finish the request the answer (``params``: the callback's query) belongs to: check state, binding and
    expiry, mark it used (a replay is refused), exchange the code with its PKCE verifier, check the ID token
    (signature by the provider's current keys, ``iss``, ``aud``, ``azp``, ``exp``, ``iat``, ``nonce``), read the
    userinfo (its ``sub`` must be the token's) and return the verified identity. Raises ``CardSignInFailed``."""
    raise NotImplementedError


def subject_hash(issuer: str, subject: str) -> str:
    """The keyed hash under which a card's subject is stored (HMAC-SHA256, key derived from the platform secret)."""
    # Minimal version for the operations' branch (the protocol's helper owns this function; the lead merges).
    secret = current_app.config["MADOGUCHI"].secret_key
    key = hmac.new(secret.encode(), b"madoguchi card subject", hashlib.sha256).digest()
    return hmac.new(key, f"{issuer}\0{subject}".encode(), hashlib.sha256).hexdigest()
