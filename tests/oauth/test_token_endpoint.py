"""The token endpoint over HTTP: code redemption with PKCE, code reuse and expiry, concurrent redemption,
refresh-token rotation and replay, client credentials, the grant allow-list, rate limits, metadata."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text, update

from madoguchi import create_app
from madoguchi.db import Database, utcnow
from madoguchi.oauth.grants import AuthorizationCodeGrant, RefreshTokenGrant
from madoguchi.oauth.models import OAuthAuthorizationCode, OAuthClient, OAuthToken, secret_hash
from tests.oauth.conftest import (
    HTTPS,
    REDIRECT_URI,
    Pkce,
    bearer,
    exchange,
    introspect,
    obtain_code,
    register,
    token_request,
    tokens_for,
)


def _api_status(app, tenant, access_token: str) -> int:
    """401 for a dead token; 403 for a live one (the consents API is for signed-in residents only)."""
    response = app.test_client().get(
        f"/api/v1/t/{tenant.slug}/me/consents", headers=bearer(access_token), base_url=HTTPS
    )
    return response.status_code


def _token_rows(db: Database) -> list[OAuthToken]:
    with db.transaction() as session:
        return list(session.execute(select(OAuthToken).order_by(OAuthToken.issued_at)).scalars())


# ------------------------------------------------------------------------------------ code redemption


def test_a_code_and_its_verifier_give_a_bearer_token_with_a_refresh_token(app, db, vendor, resident) -> None:
    pkce = Pkce()
    code = obtain_code(app, vendor, resident, pkce)
    response = exchange(app, vendor, code, pkce)
    assert response.status_code == 200
    body = response.json
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == "applications:read applications:write"
    assert body["access_token"] != body["refresh_token"]
    assert response.headers["Cache-Control"] == "no-store"
    assert _api_status(app, resident.tenant, body["access_token"]) == 403  # valid, just not for this endpoint

    (row,) = _token_rows(db)
    # Only hashes are stored, and the token carries its tenant, client and resident.
    assert row.access_token_hash == secret_hash(body["access_token"])
    assert row.refresh_token_hash == secret_hash(body["refresh_token"])
    assert body["access_token"] not in (row.access_token_hash, row.refresh_token_hash)
    assert (row.tenant_id, row.oauth_client_id, row.account_id) == (
        vendor.tenant.id,
        vendor.row.id,
        resident.account_id,
    )
    assert (row.refresh_expires_at - row.issued_at) >= timedelta(days=30) - timedelta(seconds=5)


def test_a_wrong_code_verifier_is_refused(app, db, vendor, resident) -> None:
    pkce = Pkce()
    code = obtain_code(app, vendor, resident, pkce)
    response = exchange(app, vendor, code, Pkce())
    assert response.status_code == 400
    assert response.json["error"] == "invalid_grant"
    assert _token_rows(db) == []


def test_a_missing_code_verifier_is_refused_even_for_a_confidential_client(app, db, vendor, resident) -> None:
    pkce = Pkce()
    code = obtain_code(app, vendor, resident, pkce)
    response = exchange(app, vendor, code, pkce, code_verifier=None)
    assert response.status_code == 400
    assert response.json["error"] == "invalid_request"
    assert _token_rows(db) == []


def test_a_public_client_redeems_with_pkce_and_no_secret(app, db, tenant_a, resident) -> None:
    native = register(db, tenant_a, public=True, redirect_uris=[REDIRECT_URI])
    assert native.secret is None
    body = tokens_for(app, native, resident)
    assert body["access_token"] and body["refresh_token"]


def test_the_redirect_uri_at_the_token_endpoint_must_be_the_same(app, db, vendor, resident) -> None:
    pkce = Pkce()
    code = obtain_code(app, vendor, resident, pkce)
    for other in (REDIRECT_URI + "/", None):
        response = exchange(app, vendor, code, pkce, redirect_uri=other)
        assert response.status_code == 400 and response.json["error"] == "invalid_grant"
    assert _token_rows(db) == []


def test_a_code_is_bound_to_its_client(app, db, vendor, resident, tenant_a) -> None:
    other = register(db, tenant_a, name="Other app")
    pkce = Pkce()
    code = obtain_code(app, vendor, resident, pkce)
    response = exchange(app, other, code, pkce)
    assert response.status_code == 400 and response.json["error"] == "invalid_grant"
    # The rightful client can still redeem it: a stranger's attempt neither burns nor revokes anything.
    assert exchange(app, vendor, code, pkce).status_code == 200


def test_reusing_a_code_is_refused_and_revokes_every_token_issued_from_it(app, db, vendor, resident) -> None:
    pkce = Pkce()
    code = obtain_code(app, vendor, resident, pkce)
    first = exchange(app, vendor, code, pkce).json
    refreshed = token_request(app, vendor, grant_type="refresh_token", refresh_token=first["refresh_token"]).json
    assert introspect(app, vendor, refreshed["access_token"])["active"] is True

    again = exchange(app, vendor, code, pkce)
    assert again.status_code == 400
    assert again.json["error"] == "invalid_grant"
    for token in (first["access_token"], first["refresh_token"], refreshed["access_token"], refreshed["refresh_token"]):
        assert introspect(app, vendor, token) == {"active": False}
    assert _api_status(app, resident.tenant, refreshed["access_token"]) == 401
    assert {row.revoked_reason for row in _token_rows(db)} == {"code_reuse"}


def test_an_expired_code_is_refused(app, db, vendor, resident) -> None:
    pkce = Pkce()
    code = obtain_code(app, vendor, resident, pkce)
    with db.transaction() as session:
        session.execute(update(OAuthAuthorizationCode).values(expires_at=utcnow() - timedelta(seconds=1)))
    response = exchange(app, vendor, code, pkce)
    assert response.status_code == 400
    assert response.json["error"] == "invalid_grant"
    assert _token_rows(db) == []


def test_a_code_lives_five_minutes(app, db, vendor, resident) -> None:
    obtain_code(app, vendor, resident, Pkce())
    with db.transaction() as session:
        row = session.execute(select(OAuthAuthorizationCode)).scalar_one()
    assert row.expires_at - row.created_at == timedelta(minutes=5)


@pytest.mark.commits  # threads, each with its own connection
def test_concurrent_redemptions_of_one_code_give_exactly_one_token(
    app, db, backend, vendor, resident, monkeypatch
) -> None:
    pkce = Pkce()
    code = obtain_code(app, vendor, resident, pkce)
    # Both requests read the (unused) code before either claims it: only the conditional UPDATE can decide.
    both_read = threading.Barrier(2, timeout=20)
    original = AuthorizationCodeGrant.query_authorization_code

    def read_then_wait(self, code_value, client):
        row = original(self, code_value, client)
        both_read.wait()
        return row

    monkeypatch.setattr(AuthorizationCodeGrant, "query_authorization_code", read_then_wait)
    responses = []

    def redeem() -> None:
        responses.append(exchange(app, vendor, code, pkce))

    threads = [threading.Thread(target=redeem) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(r.status_code for r in responses) == [200, 400]
    loser = next(r for r in responses if r.status_code == 400)
    assert loser.json["error"] == "invalid_grant"
    with db.transaction() as session:
        assert session.execute(select(func.count()).select_from(OAuthToken)).scalar_one() == 1


@pytest.mark.commits  # threads, each with its own connection
def test_concurrent_refreshes_with_one_refresh_token_give_one_new_token_and_revoke_the_family(
    app, db, backend, vendor, resident, monkeypatch
) -> None:
    first = tokens_for(app, vendor, resident)
    both_read = threading.Barrier(2, timeout=20)
    original = RefreshTokenGrant.authenticate_refresh_token

    def read_then_wait(self, refresh_token):
        row = original(self, refresh_token)
        both_read.wait()
        return row

    monkeypatch.setattr(RefreshTokenGrant, "authenticate_refresh_token", read_then_wait)
    responses = []

    def refresh() -> None:
        responses.append(token_request(app, vendor, grant_type="refresh_token", refresh_token=first["refresh_token"]))

    threads = [threading.Thread(target=refresh) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(r.status_code for r in responses) == [200, 400]
    assert len(_token_rows(db)) == 2  # the first token and exactly one rotation
    winner = next(r for r in responses if r.status_code == 200).json
    assert introspect(app, vendor, winner["refresh_token"]) == {"active": False}


# --------------------------------------------------------------------------------------------- refresh


def test_each_refresh_rotates_the_refresh_token(app, db, vendor, resident) -> None:
    first = tokens_for(app, vendor, resident)
    second = token_request(app, vendor, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert second.status_code == 200
    second = second.json
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    third = token_request(app, vendor, grant_type="refresh_token", refresh_token=second["refresh_token"]).json
    assert third["refresh_token"] not in (first["refresh_token"], second["refresh_token"])
    rows = _token_rows(db)
    assert len({row.family_id for row in rows}) == 1
    assert [row.parent_id for row in rows] == [None, rows[0].id, rows[1].id]
    # The family keeps its first expiry: rotation never extends a grant.
    assert len({row.refresh_expires_at for row in rows}) == 1


def test_replaying_a_used_refresh_token_revokes_the_whole_family(app, db, vendor, resident) -> None:
    first = tokens_for(app, vendor, resident)
    second = token_request(app, vendor, grant_type="refresh_token", refresh_token=first["refresh_token"]).json

    replay = token_request(app, vendor, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert replay.status_code == 400
    assert replay.json["error"] == "invalid_grant"
    # The legitimate holder's newest tokens are gone too: the family is revoked.
    assert introspect(app, vendor, second["access_token"]) == {"active": False}
    assert introspect(app, vendor, second["refresh_token"]) == {"active": False}
    assert _api_status(app, resident.tenant, second["access_token"]) == 401
    after = token_request(app, vendor, grant_type="refresh_token", refresh_token=second["refresh_token"])
    assert after.status_code == 400 and after.json["error"] == "invalid_grant"
    assert {row.revoked_reason for row in _token_rows(db)} == {"refresh_replay"}
    # Another authorization of the same resident is a different family and is untouched.


def test_another_family_survives_a_replay(app, db, vendor, resident) -> None:
    mine = tokens_for(app, vendor, resident)
    other = tokens_for(app, vendor, resident)
    token_request(app, vendor, grant_type="refresh_token", refresh_token=mine["refresh_token"])
    token_request(app, vendor, grant_type="refresh_token", refresh_token=mine["refresh_token"])
    assert introspect(app, vendor, other["access_token"])["active"] is True


def test_a_refresh_may_narrow_the_scope_but_not_widen_it(app, db, vendor, resident) -> None:
    first = tokens_for(app, vendor, resident, scope="applications:read")
    wider = token_request(
        app, vendor, grant_type="refresh_token", refresh_token=first["refresh_token"], scope="applications:write"
    )
    assert wider.status_code == 400 and wider.json["error"] == "invalid_scope"
    same = token_request(app, vendor, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert same.status_code == 200 and same.json["scope"] == "applications:read"


def test_a_refresh_token_is_bound_to_its_client(app, db, vendor, resident, tenant_a) -> None:
    other = register(db, tenant_a, name="Other app")
    first = tokens_for(app, vendor, resident)
    stolen = token_request(app, other, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert stolen.status_code == 400 and stolen.json["error"] == "invalid_grant"
    assert introspect(app, vendor, first["refresh_token"])["active"] is True


def test_a_disabled_account_can_no_longer_refresh(app, db, vendor, resident) -> None:
    from madoguchi.identity.models import Account

    first = tokens_for(app, vendor, resident)
    with db.transaction(resident.tenant.id) as session:
        session.execute(update(Account).where(Account.id == resident.account_id).values(disabled=True))
    response = token_request(app, vendor, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert response.status_code == 400 and response.json["error"] == "invalid_grant"
    assert _api_status(app, resident.tenant, first["access_token"]) == 401


# ---------------------------------------------------------------------------------- client credentials


def test_client_credentials_give_a_tenant_token_without_a_resident_or_refresh_token(app, db, tenant_a) -> None:
    machine = register(db, tenant_a, redirect_uris=[], grant_types=["client_credentials"])
    response = token_request(app, machine, grant_type="client_credentials")
    assert response.status_code == 200
    body = response.json
    assert "refresh_token" not in body
    assert set(body["scope"].split()) == {"catalog:read", "applications:read", "webhooks:manage"}
    (row,) = _token_rows(db)
    assert row.account_id is None and row.tenant_id == tenant_a.id
    info = introspect(app, machine, body["access_token"])
    assert info["active"] is True and "sub" not in info


@pytest.mark.parametrize("scope", ["applications:process", "applications:write", "catalog:read nonsense"])
def test_client_credentials_refuse_scopes_outside_the_grant(app, db, tenant_a, scope) -> None:
    machine = register(db, tenant_a, redirect_uris=[], grant_types=["client_credentials"])
    response = token_request(app, machine, grant_type="client_credentials", scope=scope)
    assert response.status_code == 400
    assert response.json["error"] == "invalid_scope"
    assert _token_rows(db) == []


def test_a_public_client_cannot_use_client_credentials(app, db, tenant_a) -> None:
    native = register(db, tenant_a, public=True)
    response = token_request(app, native, grant_type="client_credentials")
    assert response.status_code == 401
    assert response.json["error"] == "invalid_client"
    assert _token_rows(db) == []


def test_a_client_may_only_use_the_grants_it_was_registered_for(app, db, vendor) -> None:
    response = token_request(app, vendor, grant_type="client_credentials")
    assert response.status_code == 400
    assert response.json["error"] == "unauthorized_client"
    assert _token_rows(db) == []


@pytest.mark.parametrize("grant_type", ["password", "implicit", "urn:ietf:params:oauth:grant-type:device_code"])
def test_password_and_implicit_grants_are_unsupported(app, db, vendor, resident, grant_type) -> None:
    response = token_request(app, vendor, grant_type=grant_type, username=resident.email, password="secret")
    assert response.status_code == 400
    assert response.json["error"] == "unsupported_grant_type"
    assert _token_rows(db) == []


def test_a_wrong_client_secret_is_invalid_client(app, db, vendor) -> None:
    vendor.secret = "not-the-secret"
    response = token_request(app, vendor, grant_type="refresh_token", refresh_token="x")
    assert response.status_code == 401
    assert response.json["error"] == "invalid_client"
    assert response.headers["WWW-Authenticate"].startswith("Basic")


def test_a_client_of_a_suspended_municipality_gets_no_token(app, db, tenant_a) -> None:
    from madoguchi.tenancy.models import Tenant

    machine = register(db, tenant_a, redirect_uris=[], grant_types=["client_credentials"])
    with db.transaction() as session:
        session.execute(update(Tenant).where(Tenant.id == tenant_a.id).values(status="suspended"))
    response = token_request(app, machine, grant_type="client_credentials")
    assert response.status_code == 401 and response.json["error"] == "invalid_client"


# ------------------------------------------------------------------------------------ rate limit, metadata


def test_the_token_endpoint_is_rate_limited_per_client_with_retry_after(settings, seeded, db, tenant_a) -> None:
    app = create_app(replace(settings, oauth_token_rate_limit="3/minute"))
    app.config["TESTING"] = True
    try:
        machine = register(db, tenant_a, redirect_uris=[], grant_types=["client_credentials"])
        statuses = [token_request(app, machine, grant_type="client_credentials").status_code for _ in range(3)]
        assert statuses == [200, 200, 200]
        limited = token_request(app, machine, grant_type="client_credentials")
        assert limited.status_code == 429
        assert int(limited.headers["Retry-After"]) > 0
        assert limited.json["error"] == "temporarily_unavailable"
        # Per IP as well: another client from the same address is limited too.
        other = register(db, tenant_a, redirect_uris=[], grant_types=["client_credentials"])
        assert token_request(app, other, grant_type="client_credentials").status_code == 429
        assert len(_token_rows(db)) == 3
    finally:
        from madoguchi.context import database

        with app.app_context():
            database().dispose()


def test_metadata_describes_the_server_per_rfc_8414(app) -> None:
    from authlib.oauth2 import rfc8414, rfc9207

    response = app.test_client().get("/.well-known/oauth-authorization-server", base_url=HTTPS)
    assert response.status_code == 200
    body = response.json
    issuer = app.config["MADOGUCHI"].public_url.rstrip("/")
    assert body["issuer"] == issuer
    assert body["authorization_endpoint"] == issuer + "/oauth/authorize"
    assert body["token_endpoint"] == issuer + "/oauth/token"
    assert body["revocation_endpoint"] == issuer + "/oauth/revoke"
    assert body["introspection_endpoint"] == issuer + "/oauth/introspect"
    assert body["code_challenge_methods_supported"] == ["S256"]
    assert set(body["grant_types_supported"]) == {"authorization_code", "client_credentials", "refresh_token"}
    assert body["response_types_supported"] == ["code"]
    assert "applications:process" not in body["scopes_supported"]
    assert set(body["token_endpoint_auth_methods_supported"]) == {"client_secret_basic", "client_secret_post", "none"}
    rfc8414.AuthorizationServerMetadata(body).validate(metadata_classes=[rfc9207.AuthorizationServerMetadata])


def test_client_secrets_are_stored_hashed(db, vendor) -> None:
    with db.transaction() as session:
        row = session.execute(select(OAuthClient).where(OAuthClient.id == vendor.row.id)).scalar_one()
        raw = session.execute(text("select client_secret_hash from oauth_clients")).scalar_one()
    assert raw == secret_hash(vendor.secret) != vendor.secret
    assert row.check_client_secret(vendor.secret) and not row.check_client_secret(vendor.secret + "x")


def test_plain_http_from_a_non_loopback_host_is_refused_in_the_oauth_error_format(app, vendor) -> None:
    headers, _ = vendor.auth()
    response = app.test_client().post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers=headers, base_url="http://madoguchi.example"
    )
    assert response.status_code == 400
    assert response.json["error"] == "insecure_transport"
