"""The lifecycle on the platform admin pages (/admin/): go live, invite a tenant admin (the link shown once), delete
(confirmed by typing the slug). Each is a confirmation page, then a POST with its CSRF token."""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select

from madoguchi.db import Database
from madoguchi.identity.models import StaffRole
from madoguchi.tenancy.models import Tenant, TenantInvitation
from tests.admin import conftest as admin_fixtures
from tests.admin.conftest import ADMIN
from tests.tenant_admin.conftest import HTTPS, Towns, csrf_of, field_error, signed_in

# Fixtures: the platform admin's browser, the two seeded towns, cheap password hashing (autouse).
platform_admin = admin_fixtures.platform_admin
towns = admin_fixtures.towns


def _post(http: FlaskClient, url: str, data: dict[str, Any]) -> Any:
    page = http.get(url)
    assert page.status_code == 200, page.status_code
    return http.post(url, data={"csrf_token": csrf_of(page.get_data(as_text=True)), **data}, headers={"Referer": HTTPS})


def _status(db: Database, tenant: Tenant) -> str:
    with db.transaction() as session:
        return session.get(Tenant, tenant.id).status


def test_the_list_offers_go_live_only_on_trial_and_invite_and_delete_on_every_tenant(
    platform_admin: FlaskClient, towns: Towns
) -> None:
    html = platform_admin.get(f"{ADMIN}/?lang=en").get_data(as_text=True)
    assert f"/admin/tenants/{towns.a.id}/go-live" in html  # midorikawa-village is on trial
    assert f"/admin/tenants/{towns.b.id}/go-live" not in html
    for tenant in (towns.a, towns.b):
        assert f"/admin/tenants/{tenant.id}/invite" in html and f"/admin/tenants/{tenant.id}/delete" in html


def test_going_live_is_confirmed_then_done(db: Database, platform_admin: FlaskClient, towns: Towns) -> None:
    url = f"{ADMIN}/tenants/{towns.a.id}/go-live?lang=en"
    confirm = platform_admin.get(url)
    assert confirm.status_code == 200 and "End the trial of" in confirm.get_data(as_text=True)
    assert _status(db, towns.a) == "trial"  # a GET changes nothing
    done = _post(platform_admin, url, {})
    assert done.status_code == 303 and _status(db, towns.a) == "live"
    assert "is live" in platform_admin.get(f"{ADMIN}/?lang=en").get_data(as_text=True)
    again = _post(platform_admin, url, {})
    assert again.status_code == 303 and _status(db, towns.a) == "live"
    assert "Nothing changed" in platform_admin.get(f"{ADMIN}/?lang=en").get_data(as_text=True)


def test_an_invitation_link_is_shown_once_and_a_bad_address_is_reported_beside_the_field(
    app: Any, db: Database, platform_admin: FlaskClient, towns: Towns
) -> None:
    url = f"{ADMIN}/tenants/{towns.b.id}/invite?lang=en"
    bad = _post(platform_admin, url, {"email": "not an address"})
    assert bad.status_code == 422
    assert "email address like" in (field_error(bad.get_data(as_text=True), "email") or "")
    sent = _post(platform_admin, url, {"email": "chief@sakuragaoka.example.jp", "display_name": "Chief"})
    assert sent.status_code == 200
    link = re.search(r'<code id="invitation-link">([^<]+)</code>', sent.get_data(as_text=True)).group(1)
    assert f"/{towns.b.slug}/invitation/" in link
    assert app.test_client().get(f"{HTTPS}/{towns.b.slug}/invitation/{link.rsplit('/', 1)[1]}").status_code == 200
    # Nowhere else on the admin pages.
    assert link not in platform_admin.get(f"{ADMIN}/?lang=en").get_data(as_text=True)
    with db.transaction(towns.b.id) as session:
        assert session.execute(select(TenantInvitation.email)).scalar_one() == "chief@sakuragaoka.example.jp"


def test_deleting_needs_the_typed_slug_and_then_the_tenant_answers_404(
    app: Any, db: Database, platform_admin: FlaskClient, towns: Towns
) -> None:
    url = f"{ADMIN}/tenants/{towns.b.id}/delete?lang=en"
    page = platform_admin.get(url).get_data(as_text=True)
    assert "30 days" in page and "audit trail is kept" in page
    wrong = _post(platform_admin, url, {"confirm_slug": "something-else"})
    assert wrong.status_code == 422
    assert field_error(wrong.get_data(as_text=True), "confirm_slug") == f"Type the slug {towns.b.slug} to confirm."
    assert _status(db, towns.b) == "live"
    done = _post(platform_admin, url, {"confirm_slug": towns.b.slug})
    assert done.status_code == 303 and _status(db, towns.b) == "deleted"
    assert app.test_client().get(f"{HTTPS}/{towns.b.slug}/").status_code == 404
    listing = platform_admin.get(f"{ADMIN}/?lang=en").get_data(as_text=True)
    assert "Deleted" in listing and f"/admin/tenants/{towns.b.id}/suspend" not in listing


def test_a_tenant_admin_cannot_reach_the_new_pages(app: Any, db: Database, towns: Towns) -> None:
    """Another tenant's admin (or the tenant's own) is sent to the platform login; nothing changes."""
    tenant_admin = signed_in(app, db, towns.b, StaffRole.TENANT_ADMIN)
    for action in ("go-live", "invite", "delete"):
        for tenant in (towns.a, towns.b):
            response = tenant_admin.http.get(f"{ADMIN}/tenants/{tenant.id}/{action}")
            assert response.status_code == 303 and response.headers["Location"].startswith("/admin/login")
            posted = tenant_admin.http.post(
                f"{ADMIN}/tenants/{tenant.id}/{action}", data={"confirm_slug": tenant.slug}, headers={"Referer": HTTPS}
            )
            assert posted.status_code in (303, 400)
    assert _status(db, towns.a) == "trial" and _status(db, towns.b) == "live"
