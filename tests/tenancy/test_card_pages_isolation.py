"""The card pages across municipalities (decision 0048): every card route tried with another municipality's
session, ids and requests. A request started at one municipality is never finished at another, a review of one is
not found at another, and nothing of the other changes.

``CARD_ROUTES`` lists every route of the URL map that has to do with the card: a new one fails
``test_every_card_route_is_in_this_matrix`` until a case here tries it from another municipality.
"""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import inspect, select

from madoguchi.config import Settings
from madoguchi.db import Base, Database, TenantScoped
from madoguchi.identity.card.models import CardMatchReview
from madoguchi.tenancy.models import Tenant
from madoguchi.tenancy.resolution import serving_tenants
from tests.factories import tenants
from tests.identity.conftest import add_account, signed_in, staff_account
from tests.support import card_pages
from tests.support.card_idp import SHIOMI_EXACT, SHIOMI_VARIANT, CardIdp, drive_card_login, seed_register
from tests.support.card_idp import with_card_idp as _with_card_idp
from tests.support.card_pages import HTTPS, answer, open_account, start

#: Every card route (rule, methods) and the test below that tries it from another municipality.
CARD_ROUTES = {
    "/<tenant>/card/sign-in": "test_a_request_started_at_one_municipality_is_not_finished_at_another",
    "/card/callback": "test_a_request_started_at_one_municipality_is_not_finished_at_another",
    "/<tenant>/card/new-account": "test_a_new_account_request_of_one_municipality_is_not_found_at_another",
    "/<tenant>/card/result": "test_a_new_account_request_of_one_municipality_is_not_found_at_another",
    "/<tenant>/account/card/link": "test_a_session_of_one_municipality_links_and_unlinks_nothing_at_another",
    "/<tenant>/account/card/unlink": "test_a_session_of_one_municipality_links_and_unlinks_nothing_at_another",
    "/<tenant>/console/card-reviews": "test_a_review_of_one_municipality_is_not_found_at_another",
    "/<tenant>/console/card-reviews/<uuid:review_id>": "test_a_review_of_one_municipality_is_not_found_at_another",
}


@pytest.fixture
def settings(settings: Settings, card_idp: CardIdp) -> Settings:
    return _with_card_idp(settings, card_idp)


@pytest.fixture
def towns(app, db: Database, seeded: None) -> tuple[Tenant, Tenant]:
    """shiomi-town (A) and sakuragaoka-city (B), both offering the card here; A's card holders in A's register."""
    found = {t.slug: t for t in tenants(db)}
    a, b = found["shiomi-town"], found["sakuragaoka-city"]
    with db.transaction(b.id) as session:
        row = session.get(Tenant, b.id)
        assert row is not None
        row.profile = {**(row.profile or {}), "card_sign_in": {"enabled": True}}
    with db.transaction(a.id) as session:
        seed_register(session, a, [SHIOMI_EXACT, SHIOMI_VARIANT])
    serving_tenants(app).forget()
    return a, b


def _snapshot(db: Database, tenant: Tenant) -> str:
    rows: dict[str, list[str]] = {}
    with db.transaction(tenant.id) as session:
        for mapper in sorted(Base.registry.mappers, key=lambda m: m.local_table.name):
            model = mapper.class_
            if not issubclass(model, TenantScoped):
                continue
            rows[mapper.local_table.name] = sorted(
                json.dumps({c.key: getattr(r, c.key) for c in inspect(model).column_attrs}, default=str, sort_keys=True)
                for r in session.execute(select(model)).scalars()
            )
    return json.dumps(rows, sort_keys=True)


def test_every_card_route_is_in_this_matrix(app) -> None:
    found = {rule.rule for rule in app.url_map.iter_rules() if "/card" in rule.rule}
    assert found == set(CARD_ROUTES)
    for test in set(CARD_ROUTES.values()):
        assert test in globals(), test


def test_a_request_started_at_one_municipality_is_not_finished_at_another(
    app, db: Database, towns: tuple[Tenant, Tenant]
) -> None:
    a, b = towns
    # The browser holds B's binding cookie; the provider's answer is to A's request (started in another browser).
    browser = app.test_client()
    start(browser, b.slug)
    before_b = _snapshot(db, b)
    other = app.test_client()
    params = drive_card_login(start(other, a.slug), SHIOMI_EXACT)
    refused = answer(browser, params)
    assert refused.status_code == 400
    # The state names A: B's cookie does not bind it, and rewriting the state to name B finds no request there.
    forged = {**params, "state": params["state"].replace(f"{a.slug}.", f"{b.slug}.", 1)}
    assert answer(other, forged).status_code == 400
    assert _snapshot(db, b) == before_b
    with db.transaction(a.id) as session:
        from madoguchi.identity.models import Account

        assert session.execute(select(Account)).scalars().all() == []


def test_a_new_account_request_of_one_municipality_is_not_found_at_another(
    app, db: Database, towns: tuple[Tenant, Tenant]
) -> None:
    a, b = towns
    client = app.test_client()
    callback = card_pages.sign_in(client, a.slug, SHIOMI_EXACT)
    location = callback.headers["Location"]
    assert location.startswith(f"/{a.slug}/card/new-account?a=")
    before_b = _snapshot(db, b)
    at_b = location.replace(f"/{a.slug}/", f"/{b.slug}/", 1)
    refused = open_account(client, HTTPS + at_b, "misaki@example.jp")
    assert refused.status_code == 400  # no such request at B: the plain page, nothing opened
    assert _snapshot(db, b) == before_b
    # The result page of B says nothing of A's resident; A's own request still works.
    assert client.get(f"{HTTPS}/{b.slug}/card/result?outcome=verified").status_code == 200
    assert open_account(client, HTTPS + location, "misaki@example.jp").status_code == 303


def test_a_session_of_one_municipality_links_and_unlinks_nothing_at_another(
    app, db: Database, towns: tuple[Tenant, Tenant]
) -> None:
    a, b = towns
    client = app.test_client()
    card_pages.sign_in(client, a.slug, SHIOMI_EXACT)  # leaves a pending sign-up; sign in with a password instead
    resident = signed_in(app, a, add_account(db, a))
    token = card_pages.csrf_of(resident.get(f"{HTTPS}/{a.slug}/account/identity").get_data(as_text=True))
    before_b = _snapshot(db, b)
    for path in ("/account/card/link", "/account/card/unlink"):
        response = resident.post(
            f"{HTTPS}/{b.slug}{path}", data={"csrf_token": token, "confirm": "yes"}, headers={"Referer": f"{HTTPS}/"}
        )
        assert response.status_code == 303 and "/login" in response.headers["Location"], path
    assert _snapshot(db, b) == before_b


def test_a_review_of_one_municipality_is_not_found_at_another(app, db: Database, towns: tuple[Tenant, Tenant]) -> None:
    a, b = towns
    client = app.test_client()
    callback = card_pages.sign_in(client, a.slug, SHIOMI_VARIANT)
    open_account(client, callback.headers["Location"], "kenta@example.jp")
    with db.transaction(a.id) as session:
        review = session.execute(select(CardMatchReview)).scalar_one()
    clerk_b = signed_in(app, b, staff_account(db, b, "clerk", "supervisor"))
    page_b = clerk_b.get(f"{HTTPS}/{b.slug}/console/card-reviews").get_data(as_text=True)
    assert "kenta@example.jp" not in page_b and "高橋" not in page_b
    token = card_pages.csrf_of(page_b)
    clerk_a = signed_in(app, a, staff_account(db, a, "clerk"))
    before_a = _snapshot(db, a)
    for decision in ("confirm", "reject"):
        response = clerk_b.post(
            f"{HTTPS}/{b.slug}/console/card-reviews/{review.id}",
            data={"csrf_token": token, "decision": decision},
            headers={"Referer": f"{HTTPS}/"},
        )
        assert response.status_code == 404
    # A's clerk session on B's URL is not signed in there.
    assert clerk_a.get(f"{HTTPS}/{b.slug}/console/card-reviews").status_code == 303
    unknown = clerk_b.post(
        f"{HTTPS}/{b.slug}/console/card-reviews/{uuid.uuid4()}",
        data={"csrf_token": token, "decision": "confirm"},
        headers={"Referer": f"{HTTPS}/"},
    )
    assert unknown.status_code == 404
    assert _snapshot(db, a) == before_a
