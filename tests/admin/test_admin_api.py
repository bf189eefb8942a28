"""The platform admin API (/api/v1/admin): who may call it, creating a tenant (validated, nothing created on a
refusal), reading it with an ETag, going live, suspending (403 everywhere, logins refused) and resuming, inviting
the first tenant admin, and deleting (404 everywhere). Every change is audited in the tenant's chain."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from madoguchi.audit import operations as audit
from madoguchi.audit.models import AuditRecord
from madoguchi.crypto import Sealer
from madoguchi.db import Database, utcnow
from madoguchi.identity import operations as identity
from madoguchi.identity.models import AccountKind, PlatformAdmin, PlatformApiToken, StaffRole, WebSession
from madoguchi.identity.passwords import hash_password
from madoguchi.identity.sessions import COOKIE_NAME, start_platform_session
from madoguchi.outbox import OutboxMessage, open_secrets
from madoguchi.tenancy.models import Tenant, TenantInvitation
from tests.conftest import DATA_KEY
from tests.factories import many_tenants
from tests.identity.conftest import PASSWORD, Towns, add_account, fresh_ip, login, next_code, staff_account
from tests.oauth.conftest import HTTPS, REDIRECT_URI, Pkce, register, sign_in, token_request

ADMIN_API = f"{HTTPS}/api/v1/admin"

NEW_TOWN = {
    "slug": "hanamizuki-town",
    "name_ja": "花水木町",
    "name_en": "Hanamizuki Town",
    "local_government_code": "131016",  # Chiyoda's code: valid, and not used by the fixtures
    "prefecture_code": "13",
    "locales": ["ja", "en"],
    "default_locale": "ja",
    "services": ["residency-certificate", "tax-certificate"],
}


class Operator:
    """A platform admin calling the API with a platform token."""

    def __init__(self, app: Any, admin_id: uuid.UUID, token: str) -> None:
        self.http: FlaskClient = app.test_client()
        self.admin_id = admin_id
        self.token = token

    def headers(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", **extra}

    def get(self, path: str, **extra: str) -> Any:
        return self.http.get(f"{ADMIN_API}{path}", headers=self.headers(**extra))

    def post(self, path: str, body: dict[str, Any] | None = None, **extra: str) -> Any:
        return self.http.post(f"{ADMIN_API}{path}", json=body, headers=self.headers(**extra))

    def delete(self, path: str, **extra: str) -> Any:
        return self.http.delete(f"{ADMIN_API}{path}", headers=self.headers(**extra))


def new_platform_admin(db: Database) -> PlatformAdmin:
    with db.transaction() as session:
        admin = PlatformAdmin(
            email=f"ops-{uuid.uuid4().hex[:6]}@example.jp", display_name="Ops", password_hash=hash_password("x" * 20)
        )
        session.add(admin)
        session.flush()
    return admin


@pytest.fixture
def operator(app: Any, db: Database, seeded: None) -> Operator:
    admin = new_platform_admin(db)
    with db.transaction() as session:
        _, token = identity.create_platform_token(session, admin, name="test", lifetime=timedelta(days=1))
    return Operator(app, admin.id, token)


def _tenant(db: Database, slug: str) -> Tenant | None:
    with db.transaction() as session:
        return session.execute(select(Tenant).where(Tenant.slug == slug)).scalar_one_or_none()


def _tenant_count(db: Database) -> int:
    with db.transaction() as session:
        return session.execute(select(func.count()).select_from(Tenant)).scalar_one()


def _audit(db: Database, tenant: Tenant) -> list[AuditRecord]:
    with db.transaction(tenant.id) as session:
        return list(session.execute(select(AuditRecord).order_by(AuditRecord.seq)).scalars())


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    assert response.mimetype == "application/problem+json"
    return response.json


# --- Who may call it ---------------------------------------------------------------------------------


def test_without_credentials_or_with_a_bad_token_the_admin_api_is_401(app: Any, operator: Operator) -> None:
    http = app.test_client()
    assert _problem(http.get(f"{ADMIN_API}/tenants"), 401)["type"].endswith("unauthenticated")
    for token in ("mdgp_not-a-real-token", "some-oauth-looking-token"):
        response = http.get(f"{ADMIN_API}/tenants", headers={"Authorization": f"Bearer {token}"})
        _problem(response, 401)
    assert _problem(http.post(f"{ADMIN_API}/tenants", json=NEW_TOWN), 401)


def test_an_expired_or_revoked_platform_token_is_401(app: Any, db: Database, operator: Operator) -> None:
    admin = new_platform_admin(db)
    with db.transaction() as session:
        _, expired_token = identity.create_platform_token(session, admin, name="old", lifetime=timedelta(0))
        revoked, revoked_token = identity.create_platform_token(session, admin, name="gone", lifetime=timedelta(1))
        revoked.revoked_at = utcnow()
    for token in (expired_token, revoked_token):
        response = app.test_client().get(f"{ADMIN_API}/tenants", headers={"Authorization": f"Bearer {token}"})
        _problem(response, 401)


def test_the_token_is_stored_only_as_a_hash(db: Database, operator: Operator) -> None:
    with db.transaction() as session:
        rows = list(session.execute(select(PlatformApiToken)).scalars())
    assert rows and all(operator.token not in (row.token_hash, row.name) for row in rows)
    assert operator.token.startswith("mdgp_")


def test_a_signed_in_platform_admin_session_may_use_the_api(app: Any, db: Database, seeded: None) -> None:
    admin = new_platform_admin(db)
    with db.transaction() as session:
        _, cookie = start_platform_session(session, admin, second_factor_done=True)
    http = app.test_client()
    http.set_cookie(COOKIE_NAME, cookie, domain="localhost", secure=True, httponly=True)
    response = http.get(f"{ADMIN_API}/tenants")
    assert response.status_code == 200
    assert {t["slug"] for t in response.json["items"]} >= {"midorikawa-village", "sakuragaoka-city"}


def test_tenant_credentials_never_reach_the_admin_api_and_change_nothing(
    app: Any, db: Database, operator: Operator, towns: Towns
) -> None:
    """Every endpoint, with a resident's, a clerk's and a tenant admin's session, and vendor tokens: 403."""
    callers: dict[str, FlaskClient] = {}
    for name, kind, roles in (
        ("resident", AccountKind.RESIDENT, None),
        ("clerk", AccountKind.STAFF, [StaffRole.CLERK]),
        ("tenant admin", AccountKind.STAFF, [StaffRole.TENANT_ADMIN]),
    ):
        http = app.test_client()
        http.set_cookie(COOKIE_NAME, sign_in(db, towns.b, kind=kind, roles=roles).cookie, domain="localhost")
        callers[name] = http
    machine = register(db, towns.b, grant_types=["client_credentials"], redirect_uris=[], scopes=["catalog:read"])
    issued = token_request(app, machine, grant_type="client_credentials", scope="catalog:read")
    assert issued.status_code == 200
    target = towns.a  # another tenant than the caller's, and the caller's own
    before = _tenant_count(db)
    calls = [
        ("GET", "/tenants", None),
        ("GET", "/tenants?limit=5&after=not-a-cursor", None),  # refused before the query string is looked at
        ("POST", "/tenants", NEW_TOWN),
        ("GET", f"/tenants/{target.id}", None),
        ("POST", f"/tenants/{target.id}/go-live", None),
        ("POST", f"/tenants/{target.id}/suspend", None),
        ("POST", f"/tenants/{towns.b.id}/suspend", None),
        ("POST", f"/tenants/{target.id}/resume", None),
        ("POST", f"/tenants/{target.id}/invitations", {"email": "x@example.jp"}),
        ("DELETE", f"/tenants/{target.id}", None),
    ]
    wrong = []
    for caller, http in [*callers.items(), ("vendor token", app.test_client())]:
        headers = {"Authorization": f"Bearer {issued.json['access_token']}"} if caller == "vendor token" else {}
        for method, path, body in calls:
            response = http.open(f"{ADMIN_API}{path}", method=method, json=body, headers=headers)
            if response.status_code != 403 or response.mimetype != "application/problem+json":
                wrong.append(f"{caller}: {method} {path} -> {response.status_code}")
    assert wrong == []
    assert _tenant_count(db) == before
    assert _tenant(db, towns.a.slug).status == "trial" and _tenant(db, towns.b.slug).status == "live"


# --- Create and read ---------------------------------------------------------------------------------


def test_a_wrong_check_digit_is_a_422_on_the_code_and_creates_nothing(
    app: Any, db: Database, operator: Operator
) -> None:
    before = _tenant_count(db)
    problem = _problem(operator.post("/tenants", {**NEW_TOWN, "local_government_code": "131017"}), 422)
    assert list(problem["errors"]) == ["local_government_code"]
    assert "check digit" in problem["errors"]["local_government_code"][0]
    assert problem["reasons"] == {"local_government_code": ["code_invalid"]}
    assert _tenant_count(db) == before and _tenant(db, "hanamizuki-town") is None
    assert app.test_client().get(f"{HTTPS}/hanamizuki-town/").status_code == 404


def test_every_bad_field_is_reported_at_once(db: Database, operator: Operator, towns: Towns) -> None:
    bad = {
        **NEW_TOWN,
        "slug": "admin",
        "name_ja": "",
        "local_government_code": towns.a.local_government_code,
        "locales": ["en"],
        "default_locale": "ja",
        "services": ["no-such-procedure"],
    }
    problem = _problem(operator.post("/tenants", bad), 422)
    assert problem["reasons"] == {
        "slug": ["slug_invalid"],
        "name_ja": ["name_missing"],
        "local_government_code": ["code_taken"],
        "prefecture_code": ["prefecture_mismatch"],
        "default_locale": ["default_locale_invalid"],
        "services": ["service_unknown"],
    }
    missing = _problem(operator.post("/tenants", {"slug": "x-town"}), 422)
    assert {"name_ja", "name_en", "local_government_code"} <= set(missing["errors"])
    assert _tenant(db, "x-town") is None


def test_control_characters_are_refused_before_they_reach_the_database(db: Database, operator: Operator) -> None:
    problem = _problem(operator.post("/tenants", {**NEW_TOWN, "name_en": "Hanamizuki\x00Town"}), 422)
    assert problem["reasons"] == {"name_en": ["name_invalid"]}
    assert _tenant(db, "hanamizuki-town") is None


def test_creating_a_tenant_serves_its_portal_and_catalog_at_once_and_audits_it(
    app: Any, db: Database, operator: Operator
) -> None:
    # Full-width digits, as typed with a Japanese input method, count as ASCII.
    response = operator.post("/tenants", {**NEW_TOWN, "local_government_code": "１３１０１６", "prefecture_code": None})
    assert response.status_code == 201, response.json
    body = response.json
    assert body["slug"] == "hanamizuki-town" and body["status"] == "trial"
    assert body["local_government_code"] == "131016" and body["prefecture"]["en"] == "Tokyo"
    assert body["services"] == ["residency-certificate", "tax-certificate"]
    assert response.headers["Location"].endswith(f"/api/v1/admin/tenants/{body['id']}")
    assert response.headers["ETag"]

    visitor = app.test_client()
    assert visitor.get(f"{HTTPS}/hanamizuki-town/").status_code == 200
    procedures = visitor.get(f"{HTTPS}/api/v1/t/hanamizuki-town/procedures")
    assert procedures.status_code == 200
    assert [p["key"] for p in procedures.json] == ["residency-certificate", "tax-certificate"]

    tenant = _tenant(db, "hanamizuki-town")
    records = _audit(db, tenant)
    assert [r.action for r in records] == ["tenant.create"]
    assert records[0].actor == f"platform_admin:{operator.admin_id}"
    with db.transaction(tenant.id) as session:
        assert audit.verify(session, tenant.id).intact

    again = operator.get(f"/tenants/{body['id']}")
    assert again.status_code == 200 and again.json == body and again.headers["ETag"] == response.headers["ETag"]
    assert _problem(operator.post("/tenants", NEW_TOWN), 422)["reasons"]["slug"] == ["slug_taken"]


def test_an_unknown_tenant_is_404(operator: Operator) -> None:
    missing = uuid.uuid4()
    _problem(operator.get(f"/tenants/{missing}"), 404)
    _problem(operator.post(f"/tenants/{missing}/suspend"), 404)
    _problem(operator.delete(f"/tenants/{missing}"), 404)


def test_the_list_includes_every_status(operator: Operator, towns: Towns) -> None:
    page = operator.get("/tenants").json
    assert page["next_cursor"] is None
    statuses = {t["slug"]: t["status"] for t in page["items"]}
    assert statuses[towns.a.slug] == "trial" and statuses[towns.b.slug] == "live"


def test_paging_through_the_list_gets_every_municipality_exactly_once(
    db: Database, operator: Operator, towns: Towns
) -> None:
    with db.transaction() as session:
        many_tenants(session, 2_510, statuses=("live", "suspended", "deleted"))
    seen: list[str] = []
    cursor = None
    while True:
        page = operator.get("/tenants?limit=100" + (f"&after={cursor}" if cursor else "")).json
        assert len(page["items"]) <= 100
        seen += [t["local_government_code"] for t in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == _tenant_count(db) == 3 + 2_510
    assert seen == sorted(seen)
    assert len(operator.get("/tenants").json["items"]) == 20  # the default page


@pytest.mark.parametrize("query", ["after=not-a-cursor", "after=eyJhIjogMX0", "limit=0", "limit=101", "limit=x"])
def test_a_bad_cursor_or_limit_is_a_422_problem(operator: Operator, query: str) -> None:
    assert set(_problem(operator.get(f"/tenants?{query}"), 422)["errors"]) == {query.partition("=")[0]}


# --- Status changes ----------------------------------------------------------------------------------


def test_a_trial_tenant_goes_live_once_and_a_stale_if_match_changes_nothing(
    db: Database, operator: Operator, towns: Towns
) -> None:
    read = operator.get(f"/tenants/{towns.a.id}")
    etag = read.headers["ETag"]
    operator.post(f"/tenants/{towns.a.id}/suspend")  # someone else changes it meanwhile
    operator.post(f"/tenants/{towns.a.id}/resume")
    _problem(operator.post(f"/tenants/{towns.a.id}/go-live", **{"If-Match": etag}), 412)
    assert _tenant(db, towns.a.slug).status == "trial"

    fresh = operator.get(f"/tenants/{towns.a.id}").headers["ETag"]
    response = operator.post(f"/tenants/{towns.a.id}/go-live", **{"If-Match": fresh})
    assert response.status_code == 200 and response.json["status"] == "live"
    assert response.headers["ETag"] != fresh
    assert _tenant(db, towns.a.slug).status == "live"
    assert _problem(operator.post(f"/tenants/{towns.a.id}/go-live"), 409)
    assert [r.action for r in _audit(db, towns.a)][-3:] == ["tenant.suspend", "tenant.resume", "tenant.go_live"]


def test_a_suspended_tenant_answers_403_everywhere_refuses_logins_and_comes_back_on_resume(
    app: Any, db: Database, operator: Operator, towns: Towns
) -> None:
    tenant = towns.b
    clerk = staff_account(db, tenant, StaffRole.CLERK)
    resident = add_account(db, tenant)
    vendor = register(db, tenant)
    machine = register(db, tenant, grant_types=["client_credentials"], redirect_uris=[], scopes=["catalog:read"])
    signed_in_clerk = app.test_client()
    assert login(signed_in_clerk, tenant, clerk.email, totp_code=next_code(clerk)).status_code == 201

    assert operator.post(f"/tenants/{tenant.id}/suspend").json["status"] == "suspended"
    _problem(operator.post(f"/tenants/{tenant.id}/suspend"), 409)
    visitor = app.test_client()
    pages = [
        f"{HTTPS}/{tenant.slug}/",
        f"{HTTPS}/{tenant.slug}/login",
        f"{HTTPS}/{tenant.slug}/console/",
        f"{HTTPS}/{tenant.slug}/console/admin/",
    ]
    for url in pages:
        assert visitor.get(url).status_code == 403, url
        assert signed_in_clerk.get(url).status_code == 403, url
    for url in ("/procedures", "/procedures/residency-certificate", "/me", "/applications/"):
        assert _problem(visitor.get(f"{HTTPS}/api/v1/t/{tenant.slug}{url}"), 403)["type"].endswith("tenant-suspended")
        assert signed_in_clerk.get(f"{HTTPS}/api/v1/t/{tenant.slug}{url}").status_code == 403
    # Logins refused: the API sign-in, the web sign-in form, OAuth (authorize and token).
    assert login(app.test_client(), tenant, resident.email, ip=fresh_ip()).status_code == 403
    form = visitor.post(f"{HTTPS}/{tenant.slug}/login", data={"email": resident.email, "password": PASSWORD})
    assert form.status_code == 403
    authorize_url = (
        f"{HTTPS}/oauth/authorize?response_type=code&client_id={vendor.client_id}"
        f"&redirect_uri={REDIRECT_URI}&scope=catalog:read&code_challenge={Pkce().challenge}&code_challenge_method=S256"
    )
    authorize = visitor.get(authorize_url)
    assert authorize.status_code == 400 and "Location" not in authorize.headers
    token = token_request(app, machine, grant_type="client_credentials", scope="catalog:read")
    assert token.status_code == 401 and token.json["error"] == "invalid_client"
    # The public list leaves it out; the admin list shows it.
    assert tenant.slug not in [t["slug"] for t in visitor.get(f"{HTTPS}/api/v1/tenants").json]

    assert operator.post(f"/tenants/{tenant.id}/resume").json["status"] == "live"
    assert visitor.get(f"{HTTPS}/{tenant.slug}/").status_code == 200
    assert visitor.get(f"{HTTPS}/api/v1/t/{tenant.slug}/procedures").status_code == 200
    assert login(app.test_client(), tenant, resident.email, ip=fresh_ip()).status_code == 201
    resumed = visitor.get(authorize_url)
    assert resumed.status_code == 302 and f"/{tenant.slug}/login" in resumed.headers["Location"]  # on to sign-in
    assert token_request(app, machine, grant_type="client_credentials", scope="catalog:read").status_code == 200
    actions = [r.action for r in _audit(db, tenant)]
    while_suspended = actions[actions.index("tenant.suspend") + 1 : actions.index("tenant.resume")]
    assert not [a for a in while_suspended if a == "login.succeeded" or a.endswith("issued")], while_suspended
    assert "login.succeeded" in actions[actions.index("tenant.resume") :]


# --- Invitations -------------------------------------------------------------------------------------


def test_an_invitation_link_is_shown_once_emailed_and_stored_hashed(
    app: Any, db: Database, operator: Operator, towns: Towns
) -> None:
    response = operator.post(f"/tenants/{towns.a.id}/invitations", {"email": "Chief@Midorikawa.Example.JP"})
    assert response.status_code == 201, response.json
    body = response.json
    assert body["email"] == "Chief@midorikawa.example.jp"
    url = body["url"]
    assert url.startswith(f"http://127.0.0.1:8000/{towns.a.slug}/invitation/")
    token = url.rsplit("/", 1)[1]
    with db.transaction(towns.a.id) as session:
        invitation = session.execute(select(TenantInvitation)).scalar_one()
        messages = list(session.execute(select(OutboxMessage)).scalars())
    assert invitation.token_hash != token and token not in invitation.token_hash
    assert invitation.expires_at - invitation.created_at == timedelta(hours=72)
    [mail] = [m for m in messages if m.topic == "notify.account"]
    assert mail.payload["template"] == "account.invitation" and token not in json.dumps(mail.payload)
    assert open_secrets(mail, Sealer(DATA_KEY))["invitation_url"] == url
    assert mail.payload["to"] == "Chief@midorikawa.example.jp"
    assert [r.action for r in _audit(db, towns.a)][-1] == "tenant.admin_invited"
    assert app.test_client().get(f"{HTTPS}/{towns.a.slug}/invitation/{token}").status_code == 200
    # A second invitation to the same address replaces the first: the first link stops working.
    second = operator.post(f"/tenants/{towns.a.id}/invitations", {"email": "Chief@midorikawa.example.jp"})
    assert second.status_code == 201 and second.json["url"] != url
    assert app.test_client().get(f"{HTTPS}/{towns.a.slug}/invitation/{token}").status_code == 400
    # The link belongs to its tenant: the same token under another tenant's address is refused.
    other = second.json["url"].rsplit("/", 1)[1]
    assert app.test_client().get(f"{HTTPS}/{towns.b.slug}/invitation/{other}").status_code == 400
    assert app.test_client().get(f"{HTTPS}/{towns.a.slug}/invitation/{other}").status_code == 200


def test_an_invitation_needs_a_real_address_and_a_new_one(operator: Operator, db: Database, towns: Towns) -> None:
    assert _problem(operator.post(f"/tenants/{towns.a.id}/invitations", {"email": "nope"}), 422)["errors"]["email"]
    taken = staff_account(db, towns.a, StaffRole.CLERK)
    problem = _problem(operator.post(f"/tenants/{towns.a.id}/invitations", {"email": taken.email}), 409)
    assert problem["errors"]["email"]
    with db.transaction(towns.a.id) as session:
        assert session.execute(select(TenantInvitation)).first() is None


# --- Delete ------------------------------------------------------------------------------------------


def test_a_deleted_tenant_is_404_everywhere_its_sessions_end_and_only_the_admin_api_sees_it(
    app: Any, db: Database, operator: Operator, towns: Towns
) -> None:
    tenant = towns.b
    clerk = staff_account(db, tenant, StaffRole.CLERK)
    browser = app.test_client()
    assert login(browser, tenant, clerk.email, totp_code=next_code(clerk)).status_code == 201
    response = operator.delete(f"/tenants/{tenant.id}")
    assert response.status_code == 200
    assert response.json["status"] == "deleted" and response.json["deleted_at"] and response.json["purge_due_at"]
    for url in (
        f"{HTTPS}/{tenant.slug}/",
        f"{HTTPS}/{tenant.slug}/login",
        f"{HTTPS}/api/v1/t/{tenant.slug}/procedures",
    ):
        assert app.test_client().get(url).status_code == 404, url
        assert browser.get(url).status_code == 404, url
    assert login(app.test_client(), tenant, clerk.email, ip=fresh_ip()).status_code == 404
    with db.transaction() as session:
        live = session.execute(
            select(WebSession).where(WebSession.tenant_id == tenant.id, WebSession.revoked_at.is_(None))
        ).all()
    assert live == []
    assert operator.get(f"/tenants/{tenant.id}").json["status"] == "deleted"
    for path in ("go-live", "suspend", "resume"):
        _problem(operator.post(f"/tenants/{tenant.id}/{path}"), 409)
    _problem(operator.delete(f"/tenants/{tenant.id}"), 409)
    assert [r.action for r in _audit(db, tenant)][-1] == "tenant.delete"


def test_a_deleted_tenant_is_left_out_of_the_public_lists(app: Any, operator: Operator, towns: Towns) -> None:
    assert operator.delete(f"/tenants/{towns.b.id}").status_code == 200
    visitor = app.test_client()
    assert towns.b.slug not in [t["slug"] for t in visitor.get(f"{HTTPS}/api/v1/tenants").json]
    assert towns.b.name_ja not in visitor.get(f"{HTTPS}/").get_data(as_text=True)


def test_the_openapi_document_describes_the_admin_api(app: Any) -> None:
    spec = app.test_client().get("/api/v1/openapi.json").json
    paths = spec["paths"]
    assert set(paths["/api/v1/admin/tenants"]) >= {"get", "post"}
    assert "delete" in paths["/api/v1/admin/tenants/{tenant_id}"]
    for action in ("go-live", "suspend", "resume", "invitations"):
        operation = paths[f"/api/v1/admin/tenants/{{tenant_id}}/{action}"]["post"]
        assert {"401", "403", "404"} <= set(operation["responses"])
    assert "422" in paths["/api/v1/admin/tenants"]["post"]["responses"]
