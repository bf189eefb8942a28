"""Signing in with the card through the pages, as a browser does (decision 0048): the app's test client on one
side, the real provider (``tests.support.card_idp``) on the other.

``start`` follows the sign-in button (the app answers with the provider's authorization URL and sets the binding
cookie); ``drive_card_login`` plays the holder at the provider; ``answer`` brings the provider's answer back to
``/card/callback`` in the same client (with its binding cookie).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from madoguchi.identity.card.protocol import BINDING_COOKIE
from tests.support.card_idp import drive_card_login

HTTPS = "https://localhost"


def page(slug: str, path: str) -> str:
    return f"{HTTPS}/{slug}{path}"


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def start(client: FlaskClient, slug: str, next_path: str | None = None) -> str:
    """The sign-in button: the provider's authorization URL (the binding cookie is now in ``client``)."""
    query = f"?{urlencode({'next': next_path})}" if next_path else ""
    response = client.get(page(slug, f"/card/sign-in{query}"))
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    assert client.get_cookie(BINDING_COOKIE, domain="localhost") is not None
    return response.headers["Location"]


def answer(client: FlaskClient, params: dict[str, str]) -> TestResponse:
    """The provider's redirect back to the platform's one callback."""
    return client.get(f"{HTTPS}/card/callback?{urlencode(params)}")


def sign_in(client: FlaskClient, slug: str, holder: str, next_path: str | None = None) -> TestResponse:
    """Press the button, read the card at the provider, come back: the callback's response."""
    return answer(client, drive_card_login(start(client, slug, next_path), holder))


def link(client: FlaskClient, slug: str, holder: str) -> TestResponse:
    """A signed-in resident links the card from the account page: the callback's response."""
    html = client.get(page(slug, "/account/identity")).get_data(as_text=True)
    response = client.post(
        page(slug, "/account/card/link"), data={"csrf_token": csrf_of(html)}, headers={"Referer": f"{HTTPS}/"}
    )
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    return answer(client, drive_card_login(response.headers["Location"], holder))


def open_account(client: FlaskClient, location: str, email: str, locale: str = "ja", **extra: Any) -> TestResponse:
    """The new-account form the callback led to, filled in and sent."""
    url = location if location.startswith("http") else HTTPS + location
    html = client.get(url).get_data(as_text=True)
    body = {"csrf_token": csrf_of(html), "email": email, "locale": locale, **extra}
    return client.post(url, data=body, headers={"Referer": f"{HTTPS}/"})


def outcome_of(location: str) -> str | None:
    """The ``outcome`` a redirect to the result page names."""
    parts = urlsplit(location)
    if not parts.path.endswith("/card/result"):
        return None
    return parse_qs(parts.query).get("outcome", [None])[0]
