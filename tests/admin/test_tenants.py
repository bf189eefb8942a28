"""The platform admin's tenants pages: list with status, create (validated), suspend and resume (audited)."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select

from madoguchi.audit.models import AuditRecord
from madoguchi.catalog.models import TenantService
from madoguchi.db import Database
from madoguchi.identity.models import StaffRole
from madoguchi.tenancy.models import Tenant
from tests.admin.conftest import ADMIN
from tests.tenant_admin.conftest import HTTPS, Towns, csrf_of, error_summary_links, field_error, signed_in

NEW_TOWN = {
    "slug": "hanamizuki-town",
    "name_ja": "花水木町",
    "name_en": "Hanamizuki Town",
    "local_government_code": "131016",  # a valid code (Chiyoda's): the fixtures do not use it
    "prefecture_code": "13",
    "locales": ["ja", "en"],
    "default_locale": "ja",
    "services": ["residency-certificate", "tax-certificate"],
}


def _post(http: FlaskClient, url: str, data: dict[str, Any], *, form_url: str | None = None) -> Any:
    page = http.get(form_url or url)
    assert page.status_code == 200, page.status_code
    body = {"csrf_token": csrf_of(page.get_data(as_text=True)), **data}
    return http.post(url, data=body, headers={"Referer": f"{HTTPS}/"})


def _tenant(db: Database, slug: str) -> Tenant | None:
    with db.transaction() as session:
        return session.execute(select(Tenant).where(Tenant.slug == slug)).scalar_one_or_none()


def _audit(db: Database, tenant: Tenant) -> list[str]:
    with db.transaction(tenant.id) as session:
        return list(session.execute(select(AuditRecord.action).order_by(AuditRecord.seq)).scalars())


def test_the_list_shows_every_tenant_with_its_code_and_status(platform_admin: FlaskClient, towns: Towns) -> None:
    response = platform_admin.get(f"{ADMIN}/?lang=en")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    for tenant in (towns.a, towns.b):
        assert tenant.name_en in html and tenant.local_government_code in html
    assert "Trial" in html and "Live" in html  # midorikawa-village is on trial


def test_creating_a_tenant_enables_its_procedures_and_audits_it(
    app: Any, db: Database, platform_admin: FlaskClient
) -> None:
    response = _post(platform_admin, f"{ADMIN}/tenants/new", NEW_TOWN)
    assert response.status_code == 303 and response.headers["Location"] == "/admin/"
    tenant = _tenant(db, "hanamizuki-town")
    assert tenant is not None and tenant.status == "trial" and tenant.name_en == "Hanamizuki Town"
    assert tenant.profile["prefecture"] == {"code": "13", "ja": "東京都", "en": "Tokyo"}
    with db.transaction(tenant.id) as session:
        keys = sorted(session.execute(select(TenantService.service_key)).scalars())
    assert keys == ["residency-certificate", "tax-certificate"]
    assert _audit(db, tenant) == ["tenant.create"]
    procedures = app.test_client().get(f"{HTTPS}/api/v1/t/hanamizuki-town/procedures").json
    assert [p["key"] for p in procedures] == keys
    assert "花水木町" in platform_admin.get(f"{ADMIN}/").get_data(as_text=True)


def test_a_wrong_check_digit_is_shown_beside_the_code_and_creates_nothing(
    db: Database, platform_admin: FlaskClient
) -> None:
    url = f"{ADMIN}/tenants/new?lang=en"
    response = _post(platform_admin, url, {**NEW_TOWN, "local_government_code": "131017"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "check digit" in (field_error(html, "local_government_code") or "")
    assert error_summary_links(html) == ["local_government_code"]
    assert 'value="hanamizuki-town"' in html  # what was typed is kept
    assert _tenant(db, "hanamizuki-town") is None


def test_every_bad_field_is_reported_at_once(db: Database, platform_admin: FlaskClient, towns: Towns) -> None:
    bad = {
        **NEW_TOWN,
        "slug": "Admin Town",
        "name_ja": "",
        "local_government_code": towns.a.local_government_code,
        "prefecture_code": "47",
        "locales": ["en"],
        "default_locale": "ja",
        "services": ["no-such-procedure"],
    }
    response = _post(platform_admin, f"{ADMIN}/tenants/new?lang=en", bad)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert error_summary_links(html) == [
        "slug",
        "name_ja",
        "local_government_code",
        "prefecture_code",
        "default_locale",
        "services",
    ]
    assert field_error(html, "local_government_code") == (
        "Another municipality already has this local government code."
    )
    assert _tenant(db, "admin-town") is None


def test_a_taken_slug_is_refused(db: Database, platform_admin: FlaskClient, towns: Towns) -> None:
    response = _post(platform_admin, f"{ADMIN}/tenants/new?lang=en", {**NEW_TOWN, "slug": towns.a.slug})
    assert response.status_code == 422
    assert field_error(response.get_data(as_text=True), "slug") == "Another municipality already uses this slug."


def test_suspending_makes_the_tenant_answer_403_and_resuming_restores_its_status(
    app: Any, db: Database, platform_admin: FlaskClient, towns: Towns
) -> None:
    tenant = towns.a  # on trial
    confirm = platform_admin.get(f"{ADMIN}/tenants/{tenant.id}/suspend?lang=en")
    assert confirm.status_code == 200 and "Suspend" in confirm.get_data(as_text=True)
    assert _tenant(db, tenant.slug).status == "trial"  # a GET changes nothing

    response = _post(platform_admin, f"{ADMIN}/tenants/{tenant.id}/suspend", {})
    assert response.status_code == 303
    assert _tenant(db, tenant.slug).status == "suspended"
    visitor = app.test_client()
    assert visitor.get(f"{HTTPS}/{tenant.slug}/").status_code == 403
    assert visitor.get(f"{HTTPS}/api/v1/t/{tenant.slug}/procedures").status_code == 403
    assert "status-suspended" in platform_admin.get(f"{ADMIN}/").get_data(as_text=True)

    response = _post(platform_admin, f"{ADMIN}/tenants/{tenant.id}/resume", {})
    assert response.status_code == 303
    assert _tenant(db, tenant.slug).status == "trial"
    assert visitor.get(f"{HTTPS}/{tenant.slug}/").status_code == 200
    assert _audit(db, tenant)[-2:] == ["tenant.suspend", "tenant.resume"]


def test_an_unknown_tenant_id_is_404(platform_admin: FlaskClient) -> None:
    assert platform_admin.get(f"{ADMIN}/tenants/00000000-0000-0000-0000-000000000000/suspend").status_code == 404


def test_a_post_without_csrf_token_is_refused_and_changes_nothing(
    db: Database, platform_admin: FlaskClient, towns: Towns
) -> None:
    response = platform_admin.post(f"{ADMIN}/tenants/{towns.b.id}/suspend", headers={"Referer": f"{HTTPS}/"})
    assert response.status_code == 400
    assert _tenant(db, towns.b.slug).status == "live"
    response = platform_admin.post(f"{ADMIN}/tenants/new", data=NEW_TOWN, headers={"Referer": f"{HTTPS}/"})
    assert response.status_code == 400
    assert _tenant(db, "hanamizuki-town") is None


def test_a_tenant_admin_or_a_visitor_is_sent_to_the_platform_login(app: Any, db: Database, towns: Towns) -> None:
    tenant_admin = signed_in(app, db, towns.b, StaffRole.TENANT_ADMIN)
    for http in (tenant_admin.http, app.test_client()):
        for url in (f"{ADMIN}/", f"{ADMIN}/tenants/new", f"{ADMIN}/tenants/{towns.b.id}/suspend"):
            response = http.get(url)
            assert response.status_code == 303
            assert response.headers["Location"].startswith("/admin/login?next=")
    refused = tenant_admin.http.post(f"{ADMIN}/tenants/{towns.b.id}/suspend", headers={"Referer": f"{HTTPS}/"})
    assert refused.status_code in (303, 400)
    assert _tenant(db, towns.b.slug).status == "live"
