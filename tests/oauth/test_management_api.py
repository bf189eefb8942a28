"""The management API over HTTP: tenant admins register and revoke apps; residents see and withdraw consents."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from madoguchi.audit.models import AuditRecord
from madoguchi.audit.operations import verify
from madoguchi.db import Database
from madoguchi.identity.models import AccountKind, StaffRole
from madoguchi.oauth.models import OAuthClient, OAuthConsent, secret_hash
from tests.oauth.conftest import (
    HTTPS,
    Pkce,
    authorize_query,
    bearer,
    browser,
    introspect,
    register,
    sign_in,
    token_request,
    tokens_for,
)

NEW_APP = {
    "name": "Kosodate Helper",
    "redirect_uris": ["https://kosodate.example.jp/cb", "http://127.0.0.1:8765/cb"],
    "scopes": ["applications:read", "applications:write"],
    "homepage_url": "https://kosodate.example.jp/",
}


def _clients(db: Database) -> list[OAuthClient]:
    with db.transaction() as session:
        return list(session.execute(select(OAuthClient).order_by(OAuthClient.created_at)).scalars())


def _actions(db: Database, tenant_id) -> list[str]:
    with db.transaction(tenant_id) as session:
        return list(session.execute(select(AuditRecord.action).order_by(AuditRecord.seq)).scalars())


def _url(tenant, suffix: str = "") -> str:
    return f"/api/v1/t/{tenant.slug}/oauth-clients{suffix}"


# ------------------------------------------------------------------------------------- registration


def test_a_tenant_admin_registers_an_app_and_sees_the_secret_once(app, db, tenant_a, admin_a) -> None:
    http = browser(app, admin_a)
    response = http.post(_url(tenant_a), json=NEW_APP, base_url=HTTPS)
    assert response.status_code == 201, response.json
    body = response.json
    secret = body["client_secret"]
    assert len(secret) >= 43
    assert body["client_id"] and body["client_id"] != body["id"]
    assert body["grant_types"] == ["authorization_code", "refresh_token"]
    assert body["redirect_uris"] == NEW_APP["redirect_uris"]
    assert body["public"] is False and body["token_endpoint_auth_method"] == "client_secret_basic"

    (row,) = _clients(db)
    assert row.tenant_id == tenant_a.id
    assert row.client_secret_hash == secret_hash(secret)
    assert "client_secret" not in http.get(_url(tenant_a, f"/{body['id']}"), base_url=HTTPS).json
    listed = http.get(_url(tenant_a), base_url=HTTPS).json
    assert [c["client_id"] for c in listed] == [body["client_id"]]
    assert all("client_secret" not in c for c in listed)
    assert "oauth.client.created" in _actions(db, tenant_a.id)
    assert row.check_client_secret(secret)


def test_a_public_app_has_no_secret(app, db, tenant_a, admin_a) -> None:
    response = browser(app, admin_a).post(_url(tenant_a), json={**NEW_APP, "public": True}, base_url=HTTPS)
    assert response.status_code == 201
    assert response.json["client_secret"] is None
    assert response.json["token_endpoint_auth_method"] == "none"
    assert _clients(db)[0].client_secret_hash is None


def test_a_machine_app_with_client_credentials_gets_its_default_scopes(app, db, tenant_a, admin_a) -> None:
    body = {"name": "Webhook relay", "grant_types": ["client_credentials"]}
    response = browser(app, admin_a).post(_url(tenant_a), json=body, base_url=HTTPS)
    assert response.status_code == 201, response.json
    assert response.json["scopes"] == ["applications:read", "catalog:read", "webhooks:manage"]
    assert response.json["redirect_uris"] == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"scopes": ["applications:process"]}, "scopes"),
        ({"scopes": ["applications:read", "everything"]}, "scopes"),
        ({"scopes": ["webhooks:manage"]}, "scopes"),  # needs client_credentials
        ({"redirect_uris": ["http://kosodate.example.jp/cb"]}, "redirect_uris"),
        ({"redirect_uris": ["https://*.example.jp/cb"]}, "redirect_uris"),
        ({"redirect_uris": ["https://kosodate.example.jp/cb#frag"]}, "redirect_uris"),
        ({"redirect_uris": ["https://user:pw@kosodate.example.jp/cb"]}, "redirect_uris"),
        ({"redirect_uris": ["/relative/cb"]}, "redirect_uris"),
        ({"redirect_uris": ["myapp://cb"]}, "redirect_uris"),
        ({"redirect_uris": []}, "redirect_uris"),
        ({"grant_types": ["implicit"]}, "grant_types"),
        ({"grant_types": ["password"]}, "grant_types"),
        ({"grant_types": ["refresh_token"]}, "grant_types"),
        ({"public": True, "grant_types": ["client_credentials"], "redirect_uris": []}, "grant_types"),
        ({"name": "   "}, "name"),
        ({"name": ""}, "name"),
        ({"homepage_url": "javascript:alert(1)"}, "homepage_url"),
        ({"tenant_id": "00000000-0000-0000-0000-000000000000"}, "tenant_id"),
        ({"client_secret_hash": "x"}, "client_secret_hash"),
        ({"redirect_uris": "https://kosodate.example.jp/cb"}, "redirect_uris"),
    ],
)
def test_a_bad_registration_is_a_422_problem_and_creates_nothing(app, db, tenant_a, admin_a, change, field) -> None:
    response = browser(app, admin_a).post(_url(tenant_a), json={**NEW_APP, **change}, base_url=HTTPS)
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert field in response.json["errors"]
    assert _clients(db) == []
    assert "oauth.client.created" not in _actions(db, tenant_a.id)


@pytest.mark.parametrize("who", ["clerk", "supervisor", "resident"])
def test_only_the_tenant_admin_manages_apps(app, db, tenant_a, vendor, who) -> None:
    kind = AccountKind.RESIDENT if who == "resident" else AccountKind.STAFF
    person = sign_in(db, tenant_a, kind=kind, roles=[] if who == "resident" else [who])
    http = browser(app, person)
    assert http.get(_url(tenant_a), base_url=HTTPS).status_code == 403
    assert http.post(_url(tenant_a), json=NEW_APP, base_url=HTTPS).status_code == 403
    assert http.get(_url(tenant_a, f"/{vendor.row.id}"), base_url=HTTPS).status_code == 403
    assert http.delete(_url(tenant_a, f"/{vendor.row.id}"), base_url=HTTPS).status_code == 403
    assert len(_clients(db)) == 1 and _clients(db)[0].revoked_at is None


def test_a_token_never_manages_apps(app, db, tenant_a, vendor) -> None:
    machine = register(db, tenant_a, redirect_uris=[], grant_types=["client_credentials"])
    token = token_request(app, machine, grant_type="client_credentials").json["access_token"]
    http = app.test_client()
    assert http.get(_url(tenant_a), headers=bearer(token), base_url=HTTPS).status_code == 403
    assert http.post(_url(tenant_a), json=NEW_APP, headers=bearer(token), base_url=HTTPS).status_code == 403
    assert http.delete(_url(tenant_a, f"/{vendor.row.id}"), headers=bearer(token), base_url=HTTPS).status_code == 403
    assert len(_clients(db)) == 2


def test_anonymous_callers_get_401(app, tenant_a, vendor) -> None:
    http = app.test_client()
    assert http.get(_url(tenant_a), base_url=HTTPS).status_code == 401
    assert http.post(_url(tenant_a), json=NEW_APP, base_url=HTTPS).status_code == 401


def test_another_municipalitys_app_is_not_found_and_left_alone(app, db, tenant_a, tenant_b, vendor) -> None:
    admin_b = sign_in(db, tenant_b, kind=AccountKind.STAFF, roles=[StaffRole.TENANT_ADMIN])
    http = browser(app, admin_b)
    assert http.get(_url(tenant_b, f"/{vendor.row.id}"), base_url=HTTPS).status_code == 404
    assert http.delete(_url(tenant_b, f"/{vendor.row.id}"), base_url=HTTPS).status_code == 404
    assert http.get(_url(tenant_b), base_url=HTTPS).json == []
    # On A's URL, B's session is no credential at all.
    assert http.get(_url(tenant_a), base_url=HTTPS).status_code in (401, 404)
    assert http.delete(_url(tenant_a, f"/{vendor.row.id}"), base_url=HTTPS).status_code in (401, 404)
    assert _clients(db)[0].revoked_at is None


def test_deleting_an_app_revokes_it_and_every_token_it_holds(app, db, tenant_a, admin_a, vendor, resident) -> None:
    tokens = tokens_for(app, vendor, resident)
    http = browser(app, admin_a)
    response = http.delete(_url(tenant_a, f"/{vendor.row.id}"), base_url=HTTPS)
    assert response.status_code == 204
    assert http.get(_url(tenant_a, f"/{vendor.row.id}"), base_url=HTTPS).status_code == 404
    assert http.get(_url(tenant_a), base_url=HTTPS).json == []
    api = app.test_client().get(
        f"/api/v1/t/{tenant_a.slug}/me/consents", headers=bearer(tokens["access_token"]), base_url=HTTPS
    )
    assert api.status_code == 401
    refused = token_request(app, vendor, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert refused.status_code == 401 and refused.json["error"] == "invalid_client"
    with db.transaction(tenant_a.id) as session:
        assert session.execute(select(func.count()).select_from(OAuthConsent)).scalar_one() == 0
    assert "oauth.client.revoked" in _actions(db, tenant_a.id)
    with db.transaction(tenant_a.id) as session:
        assert verify(session, tenant_a.id).intact


def test_an_unknown_app_id_is_404(app, tenant_a, admin_a) -> None:
    http = browser(app, admin_a)
    assert http.get(_url(tenant_a, "/7d0f3c0e-1b1a-4a55-9a51-0d6d3d0f1b2c"), base_url=HTTPS).status_code == 404
    assert http.get(_url(tenant_a, "/not-a-uuid"), base_url=HTTPS).status_code == 404


# ----------------------------------------------------------------------------------------- consents


def _consents_url(tenant, suffix: str = "") -> str:
    return f"/api/v1/t/{tenant.slug}/me/consents{suffix}"


def test_a_resident_sees_the_apps_they_allowed(app, vendor, resident) -> None:
    tokens_for(app, vendor, resident, scope="applications:read")
    tokens_for(app, vendor, resident, scope="applications:read applications:write")
    response = browser(app, resident).get(_consents_url(resident.tenant), base_url=HTTPS)
    assert response.status_code == 200
    (consent,) = response.json
    assert consent["client_id"] == vendor.client_id
    assert consent["client_name"] == "Kurashi Navi"
    assert consent["homepage_url"] == "https://vendor.example.jp/"
    assert [s["scope"] for s in consent["scopes"]] == ["applications:read", "applications:write"]
    assert consent["scopes"][0]["description"]["ja"] == "あなたの申請とその状況を見る"


def test_withdrawing_a_consent_revokes_the_apps_tokens_for_that_resident(app, db, vendor, resident, tenant_a) -> None:
    mine = tokens_for(app, vendor, resident)
    neighbour = sign_in(db, tenant_a)
    theirs = tokens_for(app, vendor, neighbour)
    http = browser(app, resident)
    (consent,) = http.get(_consents_url(tenant_a), base_url=HTTPS).json
    assert http.delete(_consents_url(tenant_a, f"/{consent['id']}"), base_url=HTTPS).status_code == 204
    assert http.get(_consents_url(tenant_a), base_url=HTTPS).json == []
    assert introspect(app, vendor, mine["access_token"]) == {"active": False}
    assert introspect(app, vendor, mine["refresh_token"]) == {"active": False}
    assert introspect(app, vendor, theirs["access_token"])["active"] is True
    # The app must ask again.
    page = http.get(authorize_query(vendor, Pkce()), base_url=HTTPS)
    assert page.status_code == 200
    assert "oauth.consent.withdrawn" in _actions(db, tenant_a.id)


def test_a_resident_cannot_withdraw_someone_elses_consent(app, db, vendor, resident, tenant_a, tenant_b) -> None:
    tokens = tokens_for(app, vendor, resident)
    (consent,) = browser(app, resident).get(_consents_url(tenant_a), base_url=HTTPS).json
    neighbour = browser(app, sign_in(db, tenant_a))
    assert neighbour.delete(_consents_url(tenant_a, f"/{consent['id']}"), base_url=HTTPS).status_code == 404
    outsider = browser(app, sign_in(db, tenant_b))
    assert outsider.delete(_consents_url(tenant_b, f"/{consent['id']}"), base_url=HTTPS).status_code == 404
    assert outsider.get(_consents_url(tenant_b), base_url=HTTPS).json == []
    assert introspect(app, vendor, tokens["access_token"])["active"] is True


def test_an_app_cannot_read_or_withdraw_consents_with_its_token(app, vendor, resident) -> None:
    tokens = tokens_for(app, vendor, resident)
    (consent,) = browser(app, resident).get(_consents_url(resident.tenant), base_url=HTTPS).json
    http = app.test_client()
    headers = bearer(tokens["access_token"])
    assert http.get(_consents_url(resident.tenant), headers=headers, base_url=HTTPS).status_code == 403
    url = _consents_url(resident.tenant, f"/{consent['id']}")
    assert http.delete(url, headers=headers, base_url=HTTPS).status_code == 403
    assert introspect(app, vendor, tokens["access_token"])["active"] is True


def test_consents_need_a_signed_in_resident(app, tenant_a) -> None:
    http = app.test_client()
    assert http.get(_consents_url(tenant_a), base_url=HTTPS).status_code == 401
    response = http.delete(_consents_url(tenant_a, "/7d0f3c0e-1b1a-4a55-9a51-0d6d3d0f1b2c"), base_url=HTTPS)
    assert response.status_code == 401


def test_an_unknown_consent_is_404(app, resident) -> None:
    http = browser(app, resident)
    response = http.delete(_consents_url(resident.tenant, "/7d0f3c0e-1b1a-4a55-9a51-0d6d3d0f1b2c"), base_url=HTTPS)
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
