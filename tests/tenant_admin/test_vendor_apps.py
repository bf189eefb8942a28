"""Vendor apps on the tenant admin pages: register (the secret shown once), refuse bad registrations, revoke."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from madoguchi.db import Database
from madoguchi.oauth.models import OAuthClient, secret_hash
from madoguchi.tenancy.models import Tenant
from tests.tenant_admin.conftest import HTTPS, Person, Towns, admin_url, error_summary_links, field_error, post

GOOD = {
    "name": "くらしナビ",
    "homepage_url": "https://vendor.example.jp/",
    "kinds": ["residents"],
    "redirect_uris": "https://vendor.example.jp/callback\r\nhttps://vendor.example.jp/other",
    "scopes": ["catalog:read", "applications:read", "applications:write"],
}


def _clients(db: Database, tenant: Tenant) -> list[OAuthClient]:
    with db.transaction(tenant.id) as session:
        return list(session.execute(select(OAuthClient).order_by(OAuthClient.created_at)).scalars())


def _register(person: Person, **overrides: Any) -> Any:
    return post(person, admin_url(person.tenant, "/apps/new?lang=en"), {**GOOD, **overrides})


def test_registering_an_app_shows_its_secret_once(db: Database, admin_b: Person, towns: Towns) -> None:
    response = _register(admin_b)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    secret = re.search(r'id="client-secret">([0-9a-f]+)<', html).group(1)
    [client] = _clients(db, towns.b)
    assert client.name == "くらしナビ" and client.client_secret_hash == secret_hash(secret)
    assert client.redirect_uris == ["https://vendor.example.jp/callback", "https://vendor.example.jp/other"]
    assert client.grant_types == ["authorization_code", "refresh_token"]
    assert client.client_id in html
    listing = admin_b.http.get(admin_url(towns.b, "/apps")).get_data(as_text=True)
    assert client.client_id in listing and secret not in listing


def test_an_app_for_the_municipality_uses_client_credentials(db: Database, admin_b: Person, towns: Towns) -> None:
    response = _register(admin_b, kinds=["system"], redirect_uris="", scopes=["catalog:read", "webhooks:manage"])
    assert response.status_code == 200
    [client] = _clients(db, towns.b)
    assert client.grant_types == ["client_credentials"] and client.scopes == ["catalog:read", "webhooks:manage"]


def test_a_bad_registration_is_shown_beside_each_field_and_registers_nothing(
    db: Database, admin_b: Person, towns: Towns
) -> None:
    response = _register(
        admin_b,
        name="",
        redirect_uris="http://vendor.example.jp/callback",
        homepage_url="ftp://x",
        scopes=["webhooks:manage"],
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert error_summary_links(html) == ["name", "redirect_uris", "scopes", "homepage_url"]
    assert field_error(html, "redirect_uris").startswith("Enter each redirect URI on its own line")
    assert _clients(db, towns.b) == []


def test_no_kind_and_no_permission_are_refused(db: Database, admin_b: Person, towns: Towns) -> None:
    response = post(admin_b, admin_url(towns.b, "/apps/new?lang=en"), {"name": "X", "redirect_uris": ""})
    assert response.status_code == 422
    assert error_summary_links(response.get_data(as_text=True)) == ["kinds", "scopes"]
    assert _clients(db, towns.b) == []


def test_revoking_an_app(db: Database, admin_b: Person, towns: Towns) -> None:
    _register(admin_b)
    [client] = _clients(db, towns.b)
    response = post(admin_b, admin_url(towns.b, f"/apps/{client.id}/revoke"), {}, form_url=admin_url(towns.b, "/apps"))
    assert response.status_code == 303
    [client] = _clients(db, towns.b)
    assert client.revoked_at is not None
    assert client.client_id not in admin_b.http.get(admin_url(towns.b, "/apps")).get_data(as_text=True)


def test_an_app_of_another_town_is_404_and_stays(db: Database, admin_a: Person, admin_b: Person, towns: Towns) -> None:
    _register(admin_b)
    [client] = _clients(db, towns.b)
    response = post(admin_a, admin_url(towns.a, f"/apps/{client.id}/revoke"), {}, form_url=admin_url(towns.a, "/apps"))
    assert response.status_code == 404
    assert _clients(db, towns.b)[0].revoked_at is None


def test_registering_without_csrf_token_is_refused(db: Database, admin_b: Person, towns: Towns) -> None:
    response = admin_b.http.post(admin_url(towns.b, "/apps/new"), data=GOOD, headers={"Referer": f"{HTTPS}/"})
    assert response.status_code == 400
    assert _clients(db, towns.b) == []
