"""Who reaches the tenant admin pages: a tenant admin of this municipality, fully signed in; nobody else."""

from __future__ import annotations

from typing import Any

import pytest

from madoguchi.db import Database
from madoguchi.identity.models import AccountKind, StaffRole
from tests.tenant_admin.conftest import HTTPS, Person, Towns, admin_url, signed_in

PAGES = [
    "/",
    "/staff",
    "/staff/new",
    "/procedures",
    "/procedures/residency-certificate",
    "/apps",
    "/apps/new",
    "/registry",
    "/kpis",
    "/calendar",
    "/allocation-rules",
]


@pytest.mark.parametrize("path", PAGES)
def test_each_page_is_served_to_the_tenant_admin_in_both_languages(admin_b: Person, towns: Towns, path: str) -> None:
    for lang, word in (("ja", "管理"), ("en", "Administration")):
        response = admin_b.http.get(admin_url(towns.b, f"{path}?lang={lang}"))
        assert response.status_code == 200, (path, lang)
        assert word in response.get_data(as_text=True)
        assert response.headers["Cache-Control"].startswith("no-store")


def test_a_clerk_and_a_supervisor_get_403_and_a_resident_too(app: Any, db: Database, towns: Towns) -> None:
    for person in (
        signed_in(app, db, towns.b, StaffRole.CLERK),
        signed_in(app, db, towns.b, StaffRole.CLERK, StaffRole.SUPERVISOR),
        signed_in(app, db, towns.b, kind=AccountKind.RESIDENT),
    ):
        for path in PAGES:
            assert person.http.get(admin_url(towns.b, path)).status_code == 403, path


def test_another_towns_admin_and_a_visitor_are_sent_to_this_towns_login(
    app: Any, admin_a: Person, towns: Towns
) -> None:
    for http in (admin_a.http, app.test_client()):
        for path in PAGES:
            response = http.get(admin_url(towns.b, path))
            assert response.status_code == 303
            location = response.headers["Location"]
            assert location.startswith(f"/{towns.b.slug}/login?next=")
            assert admin_a.email not in location


def test_ids_of_another_town_are_404(app: Any, db: Database, admin_a: Person, admin_b: Person, towns: Towns) -> None:
    response = admin_a.http.get(admin_url(towns.a, f"/staff/{admin_b.account_id}"))
    assert response.status_code == 404
    assert admin_b.email not in response.get_data(as_text=True)


def test_a_session_still_waiting_for_its_second_factor_is_not_enough(app: Any, db: Database, towns: Towns) -> None:
    from madoguchi.identity.sessions import COOKIE_NAME, start_session
    from tests.factories import make_account

    with db.transaction(towns.b.id) as session:
        account = make_account(session, towns.b, kind=AccountKind.STAFF, roles=[StaffRole.TENANT_ADMIN])
        _, cookie = start_session(session, account, pending=True)
    http = app.test_client()
    http.set_cookie(COOKIE_NAME, cookie, domain="localhost", secure=True, httponly=True)
    response = http.get(admin_url(towns.b, "/procedures"))
    assert response.status_code == 303 and "/login" in response.headers["Location"]


def test_a_suspended_town_answers_403_on_its_admin_pages(app: Any, db: Database, admin_b: Person, towns: Towns) -> None:
    from madoguchi.platform import provisioning as tenancy

    with db.transaction() as session:
        tenancy.suspend_tenant(session, towns.b.id, actor="test")
    assert admin_b.http.get(admin_url(towns.b, "/procedures")).status_code == 403
    assert admin_b.http.get(f"{HTTPS}/api/v1/t/{towns.b.slug}/procedures").status_code == 403
