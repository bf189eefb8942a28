"""The authorization endpoint over HTTP: PKCE, exact redirect URIs, grants and scopes, the consent page."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select

from madoguchi.db import Database
from madoguchi.identity.models import AccountKind, StaffRole
from madoguchi.identity.principal import SCOPE_DESCRIPTIONS
from madoguchi.oauth.models import OAuthAuthorizationCode, OAuthConsent
from tests.oauth.conftest import (
    HTTPS,
    REDIRECT_URI,
    Pkce,
    authorize_query,
    browser,
    decide,
    obtain_code,
    redirect_params,
    register,
    sign_in,
)


def _codes(db: Database) -> int:
    with db.transaction() as session:
        return session.execute(select(func.count()).select_from(OAuthAuthorizationCode)).scalar_one()


def _consents(db: Database, tenant_id) -> int:
    with db.transaction(tenant_id) as session:
        return session.execute(select(func.count()).select_from(OAuthConsent)).scalar_one()


def _page(app, resident, url):
    http = browser(app, resident)
    return http, http.get(url, base_url=HTTPS)


# ------------------------------------------------------------------------------------------------- PKCE


def test_a_request_without_pkce_is_refused_with_invalid_request(app, db, vendor, resident) -> None:
    _, response = _page(app, resident, authorize_query(vendor, None))
    params = redirect_params(response)
    assert params["error"] == "invalid_request"
    assert params["state"] == "st-123"
    assert "code" not in params
    assert _codes(db) == 0


def test_plain_pkce_is_refused_with_invalid_request(app, db, vendor, resident) -> None:
    pkce = Pkce()
    url = authorize_query(vendor, None, code_challenge=pkce.verifier, code_challenge_method="plain")
    _, response = _page(app, resident, url)
    assert redirect_params(response)["error"] == "invalid_request"
    assert _codes(db) == 0


def test_a_challenge_without_method_is_refused_rather_than_taken_as_plain(app, db, vendor, resident) -> None:
    url = authorize_query(vendor, None, code_challenge=Pkce().challenge)
    _, response = _page(app, resident, url)
    assert redirect_params(response)["error"] == "invalid_request"


def test_a_public_client_needs_pkce_too(app, db, tenant_a, resident) -> None:
    native = register(db, tenant_a, public=True, redirect_uris=["http://127.0.0.1:8765/callback"])
    url = authorize_query(native, None, redirect_uri="http://127.0.0.1:8765/callback")
    _, response = _page(app, resident, url)
    assert response.status_code == 302
    assert parse_qs(urlsplit(response.headers["Location"]).query)["error"] == ["invalid_request"]


# ------------------------------------------------------------------------------------------ redirect URIs


@pytest.mark.parametrize(
    "redirect_uri",
    [
        REDIRECT_URI + "/",  # trailing slash
        "https://VENDOR.example.jp/callback",  # host case
        "https://vendor.example.jp/Callback",  # path case
        REDIRECT_URI + "?next=/evil",  # extra query
        "https://vendor.example.jp:8443/callback",  # another port
        "http://vendor.example.jp/callback",  # another scheme
        "https://vendor.example.jp/callback/../evil",  # path tricks
        "https://vendor.example.jp.evil.example/callback",  # prefix match
        "https://evil.example/callback",  # unregistered
        "https://例え.jp/callback",  # non-ASCII, which authlib's own error message can't carry
    ],
)
def test_a_redirect_uri_that_is_not_exactly_registered_gets_an_error_page_not_a_redirect(
    app, db, vendor, resident, redirect_uri
) -> None:
    _, response = _page(app, resident, authorize_query(vendor, Pkce(), redirect_uri=redirect_uri))
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert response.mimetype == "text/html"
    assert "invalid_request" in response.get_data(as_text=True)
    assert _codes(db) == 0


def test_a_missing_redirect_uri_is_an_error_page(app, db, vendor, resident) -> None:
    _, response = _page(app, resident, authorize_query(vendor, Pkce(), redirect_uri=None))
    assert response.status_code == 400
    assert "Location" not in response.headers


def test_an_unknown_client_is_an_error_page(app, resident) -> None:
    http = browser(app, resident)
    response = http.get(
        f"/oauth/authorize?response_type=code&client_id=nobody&redirect_uri={REDIRECT_URI}", base_url=HTTPS
    )
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "invalid_client" in response.get_data(as_text=True)


# -------------------------------------------------------------------------------------- grants, scopes


def test_implicit_grant_is_unsupported(app, db, vendor, resident) -> None:
    _, response = _page(app, resident, authorize_query(vendor, Pkce(), response_type="token"))
    params = redirect_params(response)
    assert params["error"] == "unsupported_response_type"
    assert "access_token" not in response.headers["Location"]
    assert _codes(db) == 0


def test_implicit_grant_with_an_unregistered_redirect_uri_is_not_redirected(app, vendor, resident) -> None:
    url = authorize_query(vendor, Pkce(), response_type="token", redirect_uri="https://evil.example/cb")
    _, response = _page(app, resident, url)
    assert response.status_code == 400
    assert "Location" not in response.headers


def test_a_client_without_the_code_grant_cannot_use_the_authorization_endpoint(app, db, tenant_a, resident) -> None:
    machine = register(db, tenant_a, redirect_uris=[], grant_types=["client_credentials"])
    _, response = _page(app, resident, authorize_query(machine, Pkce()))
    assert response.status_code == 400
    assert "Location" not in response.headers


@pytest.mark.parametrize(
    "scope",
    ["applications:process", "applications:read applications:process", "webhooks:manage", "catalog:read admin"],
)
def test_a_scope_outside_the_client_and_grant_is_refused(app, db, vendor, resident, scope) -> None:
    _, response = _page(app, resident, authorize_query(vendor, Pkce(), scope=scope))
    assert redirect_params(response)["error"] == "invalid_scope"
    assert _codes(db) == 0


def test_a_scope_the_client_is_not_registered_for_is_refused(app, db, tenant_a, resident) -> None:
    reader = register(db, tenant_a, scopes=["applications:read"])
    _, response = _page(app, resident, authorize_query(reader, Pkce(), scope="applications:write"))
    assert redirect_params(response)["error"] == "invalid_scope"


# ------------------------------------------------------------------------------------------ consent page


@pytest.mark.parametrize("locale", ["ja", "en"])
def test_the_consent_page_names_the_municipality_the_vendor_and_each_scope(app, vendor, resident, locale) -> None:
    scopes = ["catalog:read", "applications:read", "applications:write"]
    _, response = _page(app, resident, authorize_query(vendor, Pkce(), scope=" ".join(scopes), lang=locale))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    tenant = resident.tenant
    assert tenant.name(locale) in html
    assert "Kurashi Navi" in html
    assert 'href="https://vendor.example.jp/"' in html
    for scope in scopes:
        assert SCOPE_DESCRIPTIONS[scope][locale] in html
    assert SCOPE_DESCRIPTIONS["applications:process"][locale] not in html
    assert 'value="approve"' in html and 'value="deny"' in html
    assert "vendor.example.jp" in html  # where the resident goes next
    assert f'<html lang="{locale}">' in html
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"


def test_the_language_switch_keeps_the_authorization_request(app, vendor, resident) -> None:
    _, response = _page(app, resident, authorize_query(vendor, Pkce(), lang="ja"))
    match = re.search(r'href="(/oauth/authorize\?[^"]*)" lang="en"', response.get_data(as_text=True))
    assert match
    query = parse_qs(urlsplit(html.unescape(match.group(1))).query)
    assert query["lang"] == ["en"]
    assert query["client_id"] == [vendor.client_id] and query["state"] == ["st-123"] and query["code_challenge"]


def test_approving_returns_a_code_with_state_and_issuer(app, db, vendor, resident) -> None:
    http, page = _page(app, resident, url := authorize_query(vendor, Pkce()))
    response = decide(http, url, "approve", page.get_data(as_text=True))
    params = redirect_params(response)
    assert params["code"] and params["state"] == "st-123"
    assert params["iss"] == app.config["MADOGUCHI"].public_url.rstrip("/")
    with db.transaction() as session:
        row = session.execute(select(OAuthAuthorizationCode)).scalar_one()
    assert row.code_hash != params["code"] and len(row.code_hash) == 64
    assert (row.expires_at - row.created_at).total_seconds() == 300
    assert row.redirect_uri == REDIRECT_URI and row.code_challenge_method == "S256"
    assert row.account_id == resident.account_id and row.scope == "applications:read applications:write"


def test_denying_redirects_with_access_denied_and_remembers_nothing(app, db, vendor, resident) -> None:
    http, page = _page(app, resident, url := authorize_query(vendor, Pkce()))
    params = redirect_params(decide(http, url, "deny", page.get_data(as_text=True)))
    assert params["error"] == "access_denied"
    assert params["state"] == "st-123"
    assert "code" not in params
    assert _codes(db) == 0
    assert _consents(db, vendor.tenant.id) == 0


def test_the_decision_needs_the_csrf_token(app, db, vendor, resident) -> None:
    http, _ = _page(app, resident, url := authorize_query(vendor, Pkce()))
    response = http.post(url, data={"decision": "approve"}, base_url=HTTPS, headers={"Referer": HTTPS + url})
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert _codes(db) == 0


def test_a_remembered_consent_skips_the_page_only_for_a_subset_of_scopes(app, db, vendor, resident) -> None:
    obtain_code(app, vendor, resident, Pkce(), scope="applications:read applications:write")
    # A subset: straight back with a code.
    _, again = _page(app, resident, authorize_query(vendor, Pkce(), scope="applications:read"))
    assert again.status_code == 302 and redirect_params(again)["code"]
    # Something new: the page again, naming the new scope.
    _, wider = _page(app, resident, authorize_query(vendor, Pkce(), scope="applications:read catalog:read"))
    assert wider.status_code == 200
    assert SCOPE_DESCRIPTIONS["catalog:read"]["ja"] in wider.get_data(as_text=True)
    # prompt=consent always asks.
    _, prompted = _page(app, resident, authorize_query(vendor, Pkce(), scope="applications:read", prompt="consent"))
    assert prompted.status_code == 200


# ------------------------------------------------------------------------------------ who may consent


def test_without_a_session_the_resident_is_sent_to_the_clients_municipality_login(app, vendor) -> None:
    url = authorize_query(vendor, Pkce())
    response = app.test_client().get(url, base_url=HTTPS)
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == f"/{vendor.tenant.slug}/login"
    assert parse_qs(location.query)["next"] == [url]


def test_a_resident_of_another_municipality_cannot_consent_to_the_client(app, db, vendor, tenant_b) -> None:
    outsider = sign_in(db, tenant_b)
    http = browser(app, outsider)
    url = authorize_query(vendor, Pkce())
    page = http.get(url, base_url=HTTPS)
    assert page.status_code == 302
    assert urlsplit(page.headers["Location"]).path == f"/{vendor.tenant.slug}/login"
    # Even a forged decision gets nothing.
    response = http.post(url, data={"decision": "approve"}, base_url=HTTPS, headers={"Referer": HTTPS + url})
    assert "code=" not in response.headers.get("Location", "")
    assert _codes(db) == 0
    assert _consents(db, vendor.tenant.id) == 0


def test_staff_cannot_consent_to_an_app(app, db, vendor, tenant_a) -> None:
    clerk = sign_in(db, tenant_a, kind=AccountKind.STAFF, roles=[StaffRole.CLERK])
    _, response = _page(app, clerk, authorize_query(vendor, Pkce()))
    assert response.status_code == 403
    assert "Location" not in response.headers
    assert _codes(db) == 0


def test_a_revoked_client_is_refused_at_the_authorization_endpoint(app, db, vendor, resident) -> None:
    from madoguchi.oauth import operations

    with db.transaction(vendor.tenant.id) as session:
        operations.revoke_client(session, session.merge(vendor.row), actor="test")
    _, response = _page(app, resident, authorize_query(vendor, Pkce()))
    assert response.status_code == 400
    assert "invalid_client" in response.get_data(as_text=True)
