"""RFC 7009 revocation and RFC 7662 introspection over HTTP, and bearer tokens on the API."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from madoguchi.db import utcnow
from madoguchi.identity.models import Account
from madoguchi.oauth.models import OAuthToken
from tests.oauth.conftest import HTTPS, bearer, introspect, register, sign_in, token_request, tokens_for


def _revoke(app, client, token: str, **form):
    headers, auth_fields = client.auth()
    return app.test_client().post(
        "/oauth/revoke", data={**auth_fields, "token": token, **form}, headers=headers, base_url=HTTPS
    )


def _consents_api(app, tenant, token: str) -> int:
    return (
        app.test_client().get(f"/api/v1/t/{tenant.slug}/me/consents", headers=bearer(token), base_url=HTTPS).status_code
    )


# ---------------------------------------------------------------------------------------- revocation


def test_revoking_an_access_token_ends_it_at_once(app, vendor, resident) -> None:
    tokens = tokens_for(app, vendor, resident)
    response = _revoke(app, vendor, tokens["access_token"], token_type_hint="access_token")
    assert response.status_code == 200
    assert introspect(app, vendor, tokens["access_token"]) == {"active": False}
    assert _consents_api(app, resident.tenant, tokens["access_token"]) == 401


def test_revoking_a_refresh_token_ends_every_token_of_its_grant(app, vendor, resident) -> None:
    first = tokens_for(app, vendor, resident)
    second = token_request(app, vendor, grant_type="refresh_token", refresh_token=first["refresh_token"]).json
    assert _revoke(app, vendor, second["refresh_token"]).status_code == 200
    for token in (first["access_token"], second["access_token"], second["refresh_token"]):
        assert introspect(app, vendor, token) == {"active": False}
    refused = token_request(app, vendor, grant_type="refresh_token", refresh_token=second["refresh_token"])
    assert refused.status_code == 400 and refused.json["error"] == "invalid_grant"


def test_a_public_client_can_revoke_its_own_tokens(app, db, tenant_a, resident) -> None:
    native = register(db, tenant_a, public=True)
    tokens = tokens_for(app, native, resident)
    assert _revoke(app, native, tokens["refresh_token"]).status_code == 200
    assert introspect(app, native, tokens["access_token"]) == {"active": False}


def test_revoking_an_unknown_token_is_a_quiet_success(app, vendor) -> None:
    assert _revoke(app, vendor, "no-such-token").status_code == 200


def test_a_client_cannot_revoke_another_clients_token(app, db, vendor, resident, tenant_a) -> None:
    other = register(db, tenant_a, name="Other app")
    tokens = tokens_for(app, vendor, resident)
    response = _revoke(app, other, tokens["access_token"])
    assert response.status_code == 400
    assert introspect(app, vendor, tokens["access_token"])["active"] is True


def test_revocation_needs_client_authentication(app, vendor, resident) -> None:
    tokens = tokens_for(app, vendor, resident)
    response = app.test_client().post("/oauth/revoke", data={"token": tokens["access_token"]}, base_url=HTTPS)
    assert response.status_code == 401
    assert response.json["error"] == "invalid_client"
    assert introspect(app, vendor, tokens["access_token"])["active"] is True


# -------------------------------------------------------------------------------------- introspection


def test_introspection_describes_an_active_token_to_its_client(app, vendor, resident) -> None:
    tokens = tokens_for(app, vendor, resident)
    info = introspect(app, vendor, tokens["access_token"])
    assert info["active"] is True
    assert info["client_id"] == vendor.client_id
    assert info["scope"] == "applications:read applications:write"
    assert info["sub"] == str(resident.account_id)
    assert info["token_type"] == "Bearer"
    assert info["tenant"] == resident.tenant.slug
    assert info["exp"] - info["iat"] == 3600
    refresh = introspect(app, vendor, tokens["refresh_token"], token_type_hint="refresh_token")
    assert refresh["active"] is True and "token_type" not in refresh


def test_introspection_of_an_unknown_or_expired_token_is_inactive(app, db, vendor, resident) -> None:
    tokens = tokens_for(app, vendor, resident)
    assert introspect(app, vendor, "made-up") == {"active": False}
    with db.transaction() as session:
        session.execute(update(OAuthToken).values(access_expires_at=utcnow() - timedelta(seconds=1)))
    assert introspect(app, vendor, tokens["access_token"]) == {"active": False}
    assert _consents_api(app, resident.tenant, tokens["access_token"]) == 401
    assert introspect(app, vendor, tokens["refresh_token"])["active"] is True  # refresh lives on


def test_a_client_of_another_municipality_learns_nothing(app, db, vendor, resident, tenant_b) -> None:
    foreign = register(db, tenant_b, name="Foreign app")
    tokens = tokens_for(app, vendor, resident)
    assert introspect(app, foreign, tokens["access_token"]) == {"active": False}
    assert introspect(app, foreign, tokens["refresh_token"]) == {"active": False}


def test_an_authenticated_client_of_the_same_municipality_may_introspect(app, db, vendor, resident, tenant_a) -> None:
    resource_server = register(
        db, tenant_a, name="Resource server", redirect_uris=[], grant_types=["client_credentials"]
    )
    tokens = tokens_for(app, vendor, resident)
    assert introspect(app, resource_server, tokens["access_token"])["active"] is True


def test_a_public_client_may_introspect_only_its_own_tokens(app, db, vendor, resident, tenant_a) -> None:
    native = register(db, tenant_a, public=True, name="Native app")
    theirs = tokens_for(app, vendor, resident)
    own = tokens_for(app, native, resident)
    assert introspect(app, native, theirs["access_token"]) == {"active": False}
    assert introspect(app, native, own["access_token"])["active"] is True


def test_introspection_needs_client_authentication(app, vendor, resident) -> None:
    tokens = tokens_for(app, vendor, resident)
    response = app.test_client().post("/oauth/introspect", data={"token": tokens["access_token"]}, base_url=HTTPS)
    assert response.status_code == 401
    assert response.json["error"] == "invalid_client"


def test_a_token_of_a_disabled_account_is_inactive_and_refused_by_the_api(app, db, vendor, resident) -> None:
    tokens = tokens_for(app, vendor, resident)
    with db.transaction(resident.tenant.id) as session:
        session.execute(update(Account).where(Account.id == resident.account_id).values(disabled=True))
    assert introspect(app, vendor, tokens["access_token"]) == {"active": False}
    assert _consents_api(app, resident.tenant, tokens["access_token"]) == 401


# ------------------------------------------------------------------------------------ tokens on the API


def test_a_token_of_municipality_a_on_municipality_bs_api_is_not_found(app, db, vendor, resident, tenant_b) -> None:
    tokens = tokens_for(app, vendor, resident)
    assert _consents_api(app, resident.tenant, tokens["access_token"]) == 403
    response = app.test_client().get(
        f"/api/v1/t/{tenant_b.slug}/me/consents", headers=bearer(tokens["access_token"]), base_url=HTTPS
    )
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"


def test_a_client_credentials_token_of_a_on_bs_api_is_not_found(app, db, tenant_a, tenant_b) -> None:
    machine = register(db, tenant_a, redirect_uris=[], grant_types=["client_credentials"])
    token = token_request(app, machine, grant_type="client_credentials").json["access_token"]
    assert _consents_api(app, tenant_a, token) == 403
    assert _consents_api(app, tenant_b, token) == 404


def test_a_made_up_bearer_token_is_401(app, tenant_a) -> None:
    assert _consents_api(app, tenant_a, "x" * 43) == 401
    assert _consents_api(app, tenant_a, "x" * 5000) == 401


def test_principal_from_bearer_describes_the_caller(app, db, vendor, resident, tenant_a) -> None:
    from madoguchi.oauth.resource import principal_from_bearer

    tokens = tokens_for(app, vendor, resident)
    machine = register(db, tenant_a, redirect_uris=[], grant_types=["client_credentials"], name="Machine")
    cc_token = token_request(app, machine, grant_type="client_credentials").json["access_token"]
    with app.test_request_context("/", base_url=HTTPS):
        person = principal_from_bearer(tokens["access_token"])
        assert person is not None
        assert person.method == "token" and person.tenant_id == tenant_a.id
        assert person.account is not None and person.account.id == resident.account_id
        assert person.client_id == vendor.row.id and person.client_name == "Kurashi Navi"
        assert person.scopes == frozenset({"applications:read", "applications:write"})
        assert person.credential_id is not None
        vendor_only = principal_from_bearer(cc_token)
        assert vendor_only is not None and vendor_only.account is None and vendor_only.client_name == "Machine"
        assert principal_from_bearer("nope") is None


def test_a_staff_session_is_not_a_resident_for_consents(app, db, tenant_a) -> None:
    from madoguchi.identity.models import AccountKind, StaffRole
    from tests.oauth.conftest import browser

    clerk = sign_in(db, tenant_a, kind=AccountKind.STAFF, roles=[StaffRole.CLERK])
    response = browser(app, clerk).get(f"/api/v1/t/{tenant_a.slug}/me/consents", base_url=HTTPS)
    assert response.status_code == 403
