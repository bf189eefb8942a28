"""Where a sign-in leads (issue 11): staff to the console, residents to the portal; a safe ``next`` wins."""

from __future__ import annotations

from madoguchi.db import Database
from tests.identity.conftest import (
    PASSWORD,
    Clock,
    Towns,
    add_account,
    fresh_ip,
    next_code,
    page,
    post_form,
    staff_account,
)


def _sign_in(app, tenant, account, query: str = "", *, clock: Clock | None = None) -> str:
    """The page the login form finally sends ``account`` to (through the code step for staff)."""
    client = app.test_client()
    response = post_form(
        client, page(tenant, f"/login{query}"), {"email": account.email, "password": PASSWORD}, **fresh_ip()
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    location = response.headers["Location"]
    if "/login/second-factor" in location:
        if clock is not None:
            clock.now += 30
        second = page(tenant, location.split(f"/{tenant.slug}", 1)[1])
        response = post_form(client, second, {"code": next_code(account)}, **fresh_ip())
        assert response.status_code == 303, response.get_data(as_text=True)
        location = response.headers["Location"]
    return str(location)


def test_staff_land_in_the_console_and_residents_on_the_portal(app, db: Database, towns: Towns, clock: Clock) -> None:
    for roles in (("clerk",), ("clerk", "supervisor"), ("tenant_admin",)):
        staff = staff_account(db, towns.a, *roles)
        assert _sign_in(app, towns.a, staff, clock=clock) == f"/{towns.a.slug}/console/", roles
    assert _sign_in(app, towns.a, add_account(db, towns.a)) == f"/{towns.a.slug}/"


def test_a_safe_next_wins_and_an_unsafe_one_is_ignored(app, db: Database, towns: Towns, clock: Clock) -> None:
    clerk = staff_account(db, towns.a, "clerk")
    wanted = f"/{towns.a.slug}/applications/"
    assert _sign_in(app, towns.a, clerk, f"?next={wanted}", clock=clock) == wanted
    assert _sign_in(app, towns.a, clerk, "?next=//evil.example/", clock=clock) == f"/{towns.a.slug}/console/"
    resident = add_account(db, towns.a)
    assert _sign_in(app, towns.a, resident, f"?next=/{towns.a.slug}/procedures/") == f"/{towns.a.slug}/procedures/"
