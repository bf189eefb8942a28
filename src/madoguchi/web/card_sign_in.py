"""What the pages of card sign-in share (decision 0048): starting a request at the card's provider (the redirect,
with the cookie that binds it to this browser), the platform's one redirect URI, how the provider and an identity
level are named on a page.

The sign-in pages (``accounts``) start a ``sign_in`` request and take the provider's answer; the resident's account
page (``portal``) starts a ``link`` request. Both go through here, so the redirect URI and the cookie are the same
whichever page began.
"""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

from flask import after_this_request, current_app, redirect, request
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from madoguchi.config import Settings
from madoguchi.context import db_session
from madoguchi.identity.card import protocol
from madoguchi.identity.card.models import CardPurpose
from madoguchi.identity.models import Account, AccountKind, IdentityAssurance
from madoguchi.tenancy.models import Tenant

#: The purposes of a request at the provider, for the pages that start one.
SIGN_IN = CardPurpose.SIGN_IN.value
LINK = CardPurpose.LINK.value


def settings() -> Settings:
    return current_app.config["MADOGUCHI"]


def redirect_uri() -> str:
    """``<base>/card/callback``: the configured base (as the provider sees this site), else the request's host."""
    base = settings().card_oidc_redirect_base or request.host_url
    return base.rstrip("/") + protocol.CALLBACK_PATH


def start(tenant: Tenant, *, purpose: str, account_id: uuid.UUID | None, return_to: str | None) -> Response:
    """Store the request (``protocol.begin``) and send the browser to the provider with the binding cookie set."""
    location, binding = protocol.begin(
        db_session(), tenant, purpose=purpose, account_id=account_id, return_to=return_to, redirect_uri=redirect_uri()
    )
    response = redirect(location, code=303)
    set_binding_cookie(response, binding)
    return response


def is_resident(account: Account) -> bool:
    """Only residents sign in with the card: a staff account never does (decision 0048)."""
    return account.kind == AccountKind.RESIDENT


def set_binding_cookie(response: Response, value: str) -> None:
    # ``__Host-``: Secure, Path=/ and no Domain, like the session cookie (identity.sessions); browsers take a Secure
    # cookie from http://localhost too, which is how the demo and the browser tests run. SameSite=Lax: the cookie
    # comes back on the provider's top-level redirect to the callback.
    response.set_cookie(
        protocol.BINDING_COOKIE,
        value,
        max_age=protocol.AUTHORIZATION_TTL_SECONDS,
        secure=True,
        httponly=True,
        samesite="Lax",
        path="/",
    )


def clear_binding_cookie_on_response() -> None:
    """The request is finished (or refused): the browser forgets its binding."""

    @after_this_request
    def _clear(response: Response) -> Response:
        response.delete_cookie(protocol.BINDING_COOKIE, secure=True, httponly=True, samesite="Lax", path="/")
        return response


def presented_binding() -> str | None:
    return request.cookies.get(protocol.BINDING_COOKIE) or None


def provider_name(issuer: str | None) -> str:
    """The provider as people read it: the configured name for the platform's issuer, else the issuer's host."""
    if not issuer:
        return ""
    configured = settings()
    if configured.card_oidc_provider_name and issuer == configured.card_oidc_issuer:
        return configured.card_oidc_provider_name
    return urlsplit(issuer).hostname or issuer


def level_in_words(level: str | None) -> str:
    """An identity level as a resident or a clerk reads it."""
    if level == IdentityAssurance.CARD:
        return _("Verified with the My Number Card")
    if level == IdentityAssurance.VERIFIED:
        return _("Verified (by letter or at the counter)")
    return _("Email address confirmed only (not verified)")


def method_in_words(method: str) -> str:
    """How an account was verified (``identity_evidence.method``)."""
    return {
        "card": _("My Number Card"),
        "letter": _("Code by letter"),
        "counter": _("At the counter"),
    }.get(method, method)
