"""Staff accounts managed by the municipality's tenant admin: list, create, change roles, disable."""

from __future__ import annotations

import uuid

import pyotp
import pytest
from sqlalchemy import func, select

from madoguchi.db import Database
from madoguchi.identity.models import Account
from tests.identity.conftest import (
    Clock,
    Towns,
    add_account,
    api,
    audit_actions,
    load_account,
    login,
    next_code,
    problem,
    signed_in,
    staff_account,
)


@pytest.fixture
def admin_client(app, db: Database, towns: Towns, clock: Clock):
    secret = pyotp.random_base32()
    admin = staff_account(db, towns.a, "tenant_admin", totp_secret=secret, email="admin@example.jp")
    client = signed_in(app, towns.a, admin, totp_code=clock.code(secret))
    client.account = admin
    return client


def _count(db: Database, tenant) -> int:
    with db.transaction(tenant.id) as session:
        return session.execute(select(func.count()).select_from(Account)).scalar_one()


def test_a_tenant_admin_creates_staff_with_a_one_time_password(app, admin_client, db: Database, towns: Towns) -> None:
    response = admin_client.post(
        api(towns.a, "/staff"),
        json={"email": "Clerk@Example.JP", "display_name": "窓口 太郎", "roles": ["supervisor", "clerk"]},
    )
    assert response.status_code == 201, response.json
    body = response.json
    assert body["email"] == "Clerk@example.jp" and body["roles"] == ["clerk", "supervisor"]
    assert body["disabled"] is False and body["totp_enabled"] is False
    password = body["initial_password"]
    assert password and len(password) >= 20
    assert login(app.test_client(), towns.a, "Clerk@example.jp", password).status_code == 201
    listed = admin_client.get(api(towns.a, "/staff")).json
    assert [s["email"] for s in listed] == ["Clerk@example.jp", "admin@example.jp"]
    assert all("initial_password" not in s for s in listed)
    assert admin_client.get(api(towns.a, f"/staff/{body['id']}")).json["email"] == "Clerk@example.jp"
    created = [r for r in audit_actions(db, towns.a) if r.action == "staff.created"]
    assert created[0].actor == f"account:{admin_client.account.id}" and password not in str(created[0].data)


def test_a_chosen_password_must_follow_the_policy(admin_client, db: Database, towns: Towns) -> None:
    before = _count(db, towns.a)
    weak = admin_client.post(
        api(towns.a, "/staff"),
        json={"email": "c@example.jp", "display_name": "C", "roles": ["clerk"], "password": "123456789012"},
    )
    assert weak.status_code == 422 and "password" in problem(weak)["errors"]
    chosen = admin_client.post(
        api(towns.a, "/staff"),
        json={"email": "c@example.jp", "display_name": "C", "roles": ["clerk"], "password": "a long chosen passphrase"},
    )
    assert chosen.status_code == 201 and chosen.json["initial_password"] is None
    assert _count(db, towns.a) == before + 1


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"email": "c@example.jp", "display_name": "C", "roles": []},
        {"email": "c@example.jp", "display_name": "C", "roles": ["mayor"]},
        {"email": "c@example.jp", "display_name": "C"},
        {"email": "nope", "display_name": "C", "roles": ["clerk"]},
        {"email": "c@example.jp", "display_name": "C", "roles": ["clerk"], "tenant_id": str(uuid.uuid4())},
        {"email": "c@example.jp", "display_name": "C", "roles": "clerk"},
    ],
)
def test_bad_staff_input_is_a_422_problem_and_creates_nothing(admin_client, db: Database, towns: Towns, body) -> None:
    before = _count(db, towns.a)
    response = admin_client.post(api(towns.a, "/staff"), json=body)
    assert response.status_code == 422 and problem(response)["errors"]
    assert _count(db, towns.a) == before


def test_an_address_in_use_is_a_409(admin_client, db: Database, towns: Towns) -> None:
    resident = add_account(db, towns.a)
    response = admin_client.post(
        api(towns.a, "/staff"), json={"email": resident.email, "display_name": "C", "roles": ["clerk"]}
    )
    assert response.status_code == 409 and problem(response)
    assert load_account(db, resident).kind == "resident"


def test_only_tenant_admins_manage_staff(app, db: Database, towns: Towns) -> None:
    target = staff_account(db, towns.a, "clerk")
    for caller in (staff_account(db, towns.a, "clerk", "supervisor"), add_account(db, towns.a)):
        client = signed_in(app, towns.a, caller)
        assert client.get(api(towns.a, "/staff")).status_code == 403
        assert client.get(api(towns.a, f"/staff/{target.id}")).status_code == 403
        created = client.post(
            api(towns.a, "/staff"), json={"email": "x@example.jp", "display_name": "X", "roles": ["clerk"]}
        )
        assert created.status_code == 403 and problem(created)
        patched = client.patch(api(towns.a, f"/staff/{target.id}"), json={"roles": ["tenant_admin"]})
        assert patched.status_code == 403
    assert load_account(db, target).roles == ["clerk"]


def test_changing_roles_takes_effect_and_is_audited(app, admin_client, db: Database, towns: Towns) -> None:
    clerk = staff_account(db, towns.a, "clerk")
    clerk_client = signed_in(app, towns.a, clerk)
    response = admin_client.patch(api(towns.a, f"/staff/{clerk.id}"), json={"roles": ["clerk", "supervisor"]})
    assert response.status_code == 200 and response.json["roles"] == ["clerk", "supervisor"]
    assert clerk_client.get(api(towns.a, "/me")).json["roles"] == ["clerk", "supervisor"]
    changed = [r for r in audit_actions(db, towns.a) if r.action == "staff.roles_changed"]
    assert changed[-1].data == {"before": ["clerk"], "after": ["clerk", "supervisor"]}


def test_disabling_ends_all_sessions_at_once(app, admin_client, db: Database, towns: Towns, clock) -> None:
    clerk = staff_account(db, towns.a, "clerk")
    phone, desk = signed_in(app, towns.a, clerk), signed_in(app, towns.a, clerk)
    response = admin_client.patch(api(towns.a, f"/staff/{clerk.id}"), json={"disabled": True})
    assert response.status_code == 200 and response.json["disabled"] is True
    assert phone.get(api(towns.a, "/me")).status_code == 401
    assert desk.get(api(towns.a, "/me")).status_code == 401
    assert login(app.test_client(), towns.a, clerk.email).status_code == 401
    assert "staff.disabled" in [r.action for r in audit_actions(db, towns.a)]
    enabled = admin_client.patch(api(towns.a, f"/staff/{clerk.id}"), json={"disabled": False})
    assert enabled.status_code == 200
    clock.now += 30
    assert login(app.test_client(), towns.a, clerk.email, totp_code=next_code(clerk)).status_code == 201
    # The sessions that ended stay ended.
    assert phone.get(api(towns.a, "/me")).status_code == 401


def test_the_last_tenant_admin_cannot_remove_their_own_admin_role(admin_client, db: Database, towns: Towns) -> None:
    me = admin_client.account
    demote = admin_client.patch(api(towns.a, f"/staff/{me.id}"), json={"roles": ["clerk"]})
    assert demote.status_code == 409 and problem(demote)
    disable = admin_client.patch(api(towns.a, f"/staff/{me.id}"), json={"disabled": True})
    assert disable.status_code == 409
    assert load_account(db, me).roles == ["tenant_admin"] and not load_account(db, me).disabled
    # With a second admin, stepping down is fine.
    other = staff_account(db, towns.a, "tenant_admin")
    assert (
        admin_client.patch(api(towns.a, f"/staff/{me.id}"), json={"roles": ["clerk", "tenant_admin"]}).status_code
        == 200
    )
    assert admin_client.patch(api(towns.a, f"/staff/{other.id}"), json={"roles": ["supervisor"]}).status_code == 200
    assert admin_client.patch(api(towns.a, f"/staff/{me.id}"), json={"roles": ["clerk"]}).status_code == 409


@pytest.mark.parametrize(
    "body", [{}, {"roles": []}, {"roles": ["mayor"]}, {"disabled": "sometimes"}, {"email": "x@example.jp"}]
)
def test_bad_patches_are_422_and_change_nothing(admin_client, db: Database, towns: Towns, body) -> None:
    clerk = staff_account(db, towns.a, "clerk")
    response = admin_client.patch(api(towns.a, f"/staff/{clerk.id}"), json=body)
    assert response.status_code == 422 and problem(response)
    after = load_account(db, clerk)
    assert after.roles == ["clerk"] and after.disabled is False and after.email == clerk.email


def test_unknown_and_resident_ids_are_404(admin_client, db: Database, towns: Towns) -> None:
    resident = add_account(db, towns.a)
    for target in (uuid.uuid4(), resident.id):
        assert admin_client.get(api(towns.a, f"/staff/{target}")).status_code == 404
        assert admin_client.patch(api(towns.a, f"/staff/{target}"), json={"disabled": True}).status_code == 404
    assert admin_client.get(api(towns.a, "/staff/not-a-uuid")).status_code == 404
    assert load_account(db, resident).disabled is False


def test_a_tenant_admin_of_another_municipality_sees_nothing_here(
    app, admin_client, db: Database, towns: Towns
) -> None:
    theirs = staff_account(db, towns.b, "clerk")
    # A's admin, with B's ids on A's URLs: as if they did not exist.
    assert admin_client.get(api(towns.a, f"/staff/{theirs.id}")).status_code == 404
    assert admin_client.patch(api(towns.a, f"/staff/{theirs.id}"), json={"disabled": True}).status_code == 404
    # A's admin on B's URLs: 404 for everything.
    assert admin_client.get(api(towns.b, "/staff")).status_code == 404
    assert admin_client.get(api(towns.b, f"/staff/{theirs.id}")).status_code == 404
    assert admin_client.patch(api(towns.b, f"/staff/{theirs.id}"), json={"disabled": True}).status_code == 404
    created = admin_client.post(
        api(towns.b, "/staff"), json={"email": "x@example.jp", "display_name": "X", "roles": ["clerk"]}
    )
    assert created.status_code == 404
    after = load_account(db, theirs)
    assert after.disabled is False and after.roles == ["clerk"]
    assert _count(db, towns.b) == 1
    listed = admin_client.get(api(towns.a, "/staff")).json
    assert str(theirs.id) not in [s["id"] for s in listed]
