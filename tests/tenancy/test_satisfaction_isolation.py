"""The satisfaction routes across municipalities (decision 0049): a resident's session, ids and answers of one
municipality find nothing at another, a supervisor of one reads nothing of another, and nothing of the other
changes.

``SATISFACTION_ROUTES`` lists every route of the URL map that has to do with satisfaction: a new one fails
``test_every_satisfaction_route_is_in_this_matrix`` until a case here tries it from another municipality.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import inspect, select

from madoguchi.applications import operations
from madoguchi.db import Base, Database, TenantScoped
from madoguchi.identity.actors import Actor
from madoguchi.tenancy.models import Tenant
from tests.identity.conftest import signed_in, staff_account
from tests.portal.conftest import HTTPS, Towns, csrf_in, towns, url
from tests.world import RESIDENCY

__all__ = ["towns"]

#: Every satisfaction route and the test below that tries it from another municipality.
SATISFACTION_ROUTES = {
    "/<tenant>/applications/<uuid:application_id>/satisfaction": "test_an_answer_is_not_given_across_municipalities",
    "/<tenant>/console/satisfaction/": "test_the_staff_page_reads_only_its_own_municipality",
}


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


def _submitted(db: Database, tenant: Tenant, account: Any) -> uuid.UUID:
    with db.transaction(tenant.id) as session:
        actor = Actor.of(account)
        draft = operations.create_draft(session, tenant, actor, "residency-certificate", RESIDENCY)
        operations.submit(session, tenant, actor, draft.id)
        return draft.id


def _answer(client: Any, tenant: Tenant, application_id: uuid.UUID, token: str, comment: str) -> Any:
    return client.post(
        url(tenant, f"/applications/{application_id}/satisfaction"),
        data={"csrf_token": token, "journey": "submitted", "score": "1", "comment": comment},
        headers={"Referer": f"{HTTPS}/"},
    )


def test_every_satisfaction_route_is_in_this_matrix(app) -> None:
    found = {rule.rule for rule in app.url_map.iter_rules() if "satisfaction" in rule.rule}
    assert found == set(SATISFACTION_ROUTES)
    for test in set(SATISFACTION_ROUTES.values()):
        assert test in globals(), test


def test_an_answer_is_not_given_across_municipalities(app, db: Database, towns: Towns) -> None:
    a, b = towns.a, towns.b
    of_a, of_b = _submitted(db, a.tenant, a.resident), _submitted(db, b.tenant, b.resident)
    before_a, before_b = _snapshot(db, a.tenant), _snapshot(db, b.tenant)
    token_b = csrf_in(b.client.get(url(b.tenant, "/applications/")).get_data(as_text=True))
    token_a = csrf_in(a.client.get(url(a.tenant, "/applications/")).get_data(as_text=True))
    # B's resident, at B's address, with A's application id: not there.
    assert _answer(b.client, b.tenant, of_a, token_b, "from b").status_code == 404
    # B's resident at A's address (B's own application id too): not signed in there.
    for application_id in (of_a, of_b):
        response = _answer(b.client, a.tenant, application_id, token_b, "from b at a")
        assert response.status_code == 303 and "/login" in response.headers["Location"]
    # A's resident with B's application id at A's address: not there either.
    assert _answer(a.client, a.tenant, of_b, token_a, "from a").status_code == 404
    assert _snapshot(db, a.tenant) == before_a
    assert _snapshot(db, b.tenant) == before_b
    # Each answers their own: one row in each, none in the other.
    assert _answer(a.client, a.tenant, of_a, token_a, "a's own").status_code == 303
    assert _answer(b.client, b.tenant, of_b, token_b, "b's own").status_code == 303
    assert "a's own" not in _snapshot(db, b.tenant) and "b's own" not in _snapshot(db, a.tenant)


def test_the_staff_page_reads_only_its_own_municipality(app, db: Database, towns: Towns) -> None:
    a, b = towns.a, towns.b
    of_a = _submitted(db, a.tenant, a.resident)
    token_a = csrf_in(a.client.get(url(a.tenant, "/applications/")).get_data(as_text=True))
    assert _answer(a.client, a.tenant, of_a, token_a, "only for midorikawa").status_code == 303
    supervisor_a = signed_in(app, a.tenant, staff_account(db, a.tenant, "supervisor"))
    supervisor_b = signed_in(app, b.tenant, staff_account(db, b.tenant, "supervisor", "tenant_admin"))
    assert "only for midorikawa" in supervisor_a.get(url(a.tenant, "/console/satisfaction/")).get_data(as_text=True)
    at_b = supervisor_b.get(url(b.tenant, "/console/satisfaction/"))
    assert at_b.status_code == 200 and "only for midorikawa" not in at_b.get_data(as_text=True)
    # A procedure filter naming A's procedure at B still reads B's rows only.
    filtered = supervisor_b.get(url(b.tenant, "/console/satisfaction/?procedure=residency-certificate"))
    assert "only for midorikawa" not in filtered.get_data(as_text=True)
    across = supervisor_b.get(url(a.tenant, "/console/satisfaction/"))
    assert across.status_code == 303 and "/login" in across.headers["Location"]
