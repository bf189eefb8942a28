"""Staff accounts on the tenant admin pages: create (one-time password shown once), change roles, disable."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from madoguchi.db import Database
from madoguchi.identity.models import Account, AccountKind, StaffRole
from madoguchi.identity.passwords import verify_password
from madoguchi.tenancy.models import Tenant
from tests.tenant_admin.conftest import (
    HTTPS,
    Person,
    Towns,
    admin_url,
    error_summary_links,
    field_error,
    post,
    signed_in,
)


def _staff(db: Database, tenant: Tenant) -> dict[str, Account]:
    with db.transaction(tenant.id) as session:
        rows = session.execute(select(Account).where(Account.kind == AccountKind.STAFF)).scalars()
        return {account.email: account for account in rows}


def _account(db: Database, person: Person) -> Account:
    with db.transaction(person.tenant.id) as session:
        return session.execute(select(Account).where(Account.id == person.account_id)).scalar_one()


def test_creating_a_staff_account_shows_its_one_time_password_once(db: Database, admin_b: Person, towns: Towns) -> None:
    url = admin_url(towns.b, "/staff/new?lang=en")
    response = post(
        admin_b, url, {"email": "Hanako@Example.JP", "display_name": "山田 花子", "roles": ["clerk", "supervisor"]}
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    password = re.search(r'<code class="secret" id="initial-password">([^<]+)</code>', html).group(1)
    account = _staff(db, towns.b)["Hanako@example.jp"]
    assert account.roles == ["clerk", "supervisor"] and verify_password(account.password_hash, password)
    listing = admin_b.http.get(admin_url(towns.b, "/staff")).get_data(as_text=True)
    assert "山田 花子" in listing and password not in listing


def test_bad_staff_input_is_shown_beside_each_field_and_stores_nothing(
    db: Database, admin_b: Person, towns: Towns
) -> None:
    before = set(_staff(db, towns.b))
    response = post(admin_b, admin_url(towns.b, "/staff/new?lang=en"), {"email": "not-an-address", "display_name": ""})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert error_summary_links(html) == ["email", "display_name", "roles"]
    assert field_error(html, "email") == "Enter an email address like name@example.jp."
    assert field_error(html, "roles") == "Choose at least one role."
    assert set(_staff(db, towns.b)) == before


def test_an_address_in_use_is_refused_beside_the_email(db: Database, admin_b: Person, towns: Towns) -> None:
    response = post(
        admin_b,
        admin_url(towns.b, "/staff/new?lang=en"),
        {"email": admin_b.email, "display_name": "X", "roles": ["clerk"]},
    )
    assert response.status_code == 422
    assert field_error(response.get_data(as_text=True), "email") == (
        "There is already an account with this email address."
    )


def test_changing_roles_and_disabling_a_clerk(app: Any, db: Database, admin_b: Person, towns: Towns) -> None:
    clerk = signed_in(app, db, towns.b, StaffRole.CLERK)
    url = admin_url(towns.b, f"/staff/{clerk.account_id}")
    response = post(admin_b, url, {"action": "roles", "roles": ["clerk", "supervisor"]})
    assert response.status_code == 303
    assert _account(db, clerk).roles == ["clerk", "supervisor"]
    response = post(admin_b, url, {"action": "disable"})
    assert response.status_code == 303
    assert _account(db, clerk).disabled
    assert clerk.http.get(f"{HTTPS}/{towns.b.slug}/").status_code == 200  # the public page, signed out
    assert clerk.http.get(admin_url(towns.b)).status_code == 303  # the session ended


def test_the_last_active_tenant_admin_cannot_lose_the_role(db: Database, admin_b: Person, towns: Towns) -> None:
    url = admin_url(towns.b, f"/staff/{admin_b.account_id}?lang=en")
    response = post(admin_b, url, {"action": "roles", "roles": ["clerk"]})
    assert response.status_code == 422
    message = field_error(response.get_data(as_text=True), "roles") or ""
    assert message.startswith("The municipality needs at least one active tenant admin")
    assert _account(db, admin_b).roles == [StaffRole.TENANT_ADMIN]


def test_a_second_admin_cannot_demote_the_first_if_it_is_the_last_one_left(
    app: Any, db: Database, admin_b: Person, towns: Towns
) -> None:
    other = signed_in(app, db, towns.b, StaffRole.TENANT_ADMIN)
    response = post(other, admin_url(towns.b, f"/staff/{admin_b.account_id}"), {"action": "disable"})
    assert response.status_code == 303  # two admins: one may go
    assert _account(db, admin_b).disabled
    assert admin_b.http.get(admin_url(towns.b, "/staff")).status_code == 303  # signed out: to the login
    response = post(
        other, admin_url(towns.b, f"/staff/{other.account_id}?lang=en"), {"action": "roles", "roles": ["clerk"]}
    )
    assert response.status_code == 422


def test_the_disable_button_is_not_offered_on_ones_own_account(admin_b: Person, towns: Towns) -> None:
    html = admin_b.http.get(admin_url(towns.b, f"/staff/{admin_b.account_id}")).get_data(as_text=True)
    assert 'value="disable"' not in html


def test_a_staff_change_without_csrf_token_is_refused(app: Any, db: Database, admin_b: Person, towns: Towns) -> None:
    clerk = signed_in(app, db, towns.b, StaffRole.CLERK)
    response = admin_b.http.post(
        admin_url(towns.b, f"/staff/{clerk.account_id}"), data={"action": "disable"}, headers={"Referer": f"{HTTPS}/"}
    )
    assert response.status_code == 400
    assert not _account(db, clerk).disabled
