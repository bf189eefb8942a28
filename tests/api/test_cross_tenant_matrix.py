"""The cross-tenant matrix: every authenticated operation of the OpenAPI document, for every kind of caller.

1. Credentials of tenant A on tenant B's URLs (with ids of B's objects): 404, whatever the caller's role.
2. Credentials of tenant A on tenant A's URLs with ids of B's objects: 404.
Either way nothing of tenant B changes (a snapshot of every B row is compared before and after).

A new operation joins the matrix by itself; if it takes an id this file does not know, or needs a body
this file does not have, the test fails and says so, so nobody can add an endpoint without it.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from sqlalchemy import inspect, select

from madoguchi import models
from madoguchi.api.auth import reset_rate_limits
from madoguchi.applications import operations as applications
from madoguchi.childcare import rounds as allocation_rounds
from madoguchi.db import Base, Database, TenantScoped
from madoguchi.documents.backend import new_key
from madoguchi.documents.models import Attachment, IssuedDocument
from madoguchi.identity.actors import Actor
from madoguchi.identity.models import AccountKind, StaffRole
from madoguchi.identity.sessions import COOKIE_NAME
from madoguchi.notify.models import WebhookDelivery
from madoguchi.notify.webhooks import subscribe
from madoguchi.payments import intents as payment_intents
from madoguchi.payments import refunds as payment_refunds
from madoguchi.security import is_public_endpoint
from madoguchi.tenancy import closed_days
from madoguchi.tenancy.models import Tenant
from tests.factories import make_account, make_household, make_person, tenants
from tests.oauth.conftest import HTTPS, register, sign_in, token_request, tokens_for
from tests.world import RESIDENCY

#: A body that passes validation for operations that take one, so that only tenancy can refuse them.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("PUT", "/applications/{application_id}"): {"data": {}},
    ("POST", "/applications/{application_id}/transitions"): {"transition": "withdraw"},
    ("PUT", "/applications/{application_id}/assignee"): {"assignee_id": None},
    ("PUT", "/applications/{application_id}/person-concerned"): {"resident_code": "00000000001"},
    ("PUT", "/applications/{application_id}/evidence-review"): {"outcome": "accepted"},
    ("POST", "/applications/{application_id}/payments/counter"): {"mode": "cash"},
    ("POST", "/applications/{application_id}/postal-orders"): {
        "orders": [{"face_value": 300, "issued_on": "2026-11-02"}],
        "received_on": "2026-11-04",
    },
    ("POST", "/applications/{application_id}/fee-quote"): {"channel": "counter"},
    ("PATCH", "/staff/{account_id}"): {"disabled": True},
    ("POST", "/accounts/{account_id}/identity"): {"resident_code": "00000000001"},
    ("POST", "/documents/{document_id}/revocation"): {"reason": "issued in error"},
    ("POST", "/closed-days"): {"day": "2099-06-11", "reason": "matrix"},
    ("POST", "/childcare/rounds"): {
        "label_ja": "行列",
        "label_en": "matrix",
        "intake_month": "2099-04",
        "kind": "first",
        "seats": [],
    },
    ("PUT", "/childcare/rounds/{round_id}/seats"): {"seats": []},
    # The intent id is B's: under A's URL the application is not there first (404), whichever payment is named.
    ("POST", "/applications/{application_id}/refunds"): {
        "intent_id": str(uuid.UUID(int=1)),
        "amount_jpy": 100,
        "reason": "not_issuable",
    },
}
#: B's closed day (a path argument that is a date, not an id).
B_CLOSED_DAY = "2099-06-10"
#: Path arguments that name something every tenant has (a procedure key), not an object of one tenant: under
#: tenant A's URL they address A's own procedure, so they take no part in the "B's ids under A's URLs" test.
NAME_ARGUMENTS = {"key"}
HEADERS: dict[tuple[str, str], dict[str, str]] = {
    ("PUT", "/applications/{application_id}"): {"If-Match": '"1"'},
    ("POST", "/applications/{application_id}/payments/counter"): {"Idempotency-Key": "matrix-counter"},
    ("POST", "/applications/{application_id}/postal-orders"): {"Idempotency-Key": "matrix-postal"},
}


@dataclass
class World:
    tenant_a: Tenant
    tenant_b: Tenant
    callers: dict[str, dict[str, str]] = field(default_factory=dict)
    b_ids: dict[str, str] = field(default_factory=dict)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _cookie(cookie: str) -> dict[str, str]:
    # Not a Cookie header: the test client replaces that with its own (empty) jar.
    return {"X-Test-Session": cookie}


def _b_objects(app, db: Database, tenant: Tenant) -> dict[str, str]:
    """One object of every kind an operation can address, all in tenant B."""
    vendor = register(db, tenant, name="B Vendor")
    resident = sign_in(db, tenant)
    tokens_for(app, vendor, resident)  # leaves a consent of B's resident
    with db.transaction(tenant.id) as session:
        person = make_person(session, tenant, make_household(session, tenant))
        owner = make_account(session, tenant, person=person)
        clerk = make_account(session, tenant, kind=AccountKind.STAFF, roles=[StaffRole.CLERK])
        draft = applications.create_draft(session, tenant, Actor.of(owner), "residency-certificate", RESIDENCY)
        applications.submit(session, tenant, Actor.of(owner), draft.id)
        subscription, _secret = subscribe(
            session,
            tenant,
            url="http://127.0.0.1:9/in",
            events=["application.submitted"],
            client_id=None,
            description=None,
            actor="test",
            settings=replace(app.config["MADOGUCHI"], webhooks_allow_private=True),
        )
        delivery = WebhookDelivery(
            subscription_id=subscription.id,
            message_id=uuid.uuid4(),
            event="application.submitted",
            body="{}",
            status="delivered",
            attempts=1,
        )
        session.add(delivery)
        session.flush()
        consent_id = session.execute(select(models.oauth_models.OAuthConsent.id)).scalars().first()
        attachment = Attachment(
            application_id=draft.id,
            document_key="power_of_attorney",
            original_name="poa.pdf",
            content_type="application/pdf",
            size_bytes=1,
            sha256="0" * 64,
            storage_key=new_key(tenant.id, "attachments"),
        )
        document = IssuedDocument(
            application_id=draft.id,
            kind="residency_certificate",
            serial=f"{tenant.local_government_code}-MATRIX",
            content={},
            issued_by=tenant.name_ja,
        )
        session.add_all([attachment, document])
        session.flush()
        closed_days.add(session, tenant.id, B_CLOSED_DAY, "matrix", actor="test")
        # An allocation round, approved, so every step of it would be possible for B's own staff.
        round_ = allocation_rounds.create_round(
            session,
            tenant,
            Actor.of(clerk),
            label_ja="行列",
            label_en="matrix",
            intake_month="2099-04",
            kind="first",
            seats={},
        )
        # A payment of B's application, recorded at the counter, with a refund awaiting a supervisor.
        intent, _ = payment_intents.create_intent(session, tenant, draft, mode="counter_cash", provider="counter",
                                                  amount_jpy=300, idempotency_key="matrix", actor="test")  # fmt: skip
        refund = payment_refunds.request_refund(session, tenant, intent.id, actor=Actor.of(clerk), amount_jpy=100,
                                                reason="not_issuable")  # fmt: skip
        return {
            "refund_id": str(refund.id),
            "day": B_CLOSED_DAY,
            "key": "residency-certificate",
            "attachment_id": str(attachment.id),
            "document_id": str(document.id),
            "application_id": str(draft.id),
            "account_id": str(clerk.id),
            "client_id": str(vendor.row.id),
            "consent_id": str(consent_id),
            "subscription_id": str(subscription.id),
            "delivery_id": str(delivery.id),
            "round_id": str(round_.id),
        }


@pytest.fixture
def world(app, db: Database, seeded) -> World:
    tenant_a, tenant_b = tenants(db)[0], tenants(db)[1]
    world = World(tenant_a, tenant_b)
    resident = sign_in(db, tenant_a)
    world.callers["resident session"] = _cookie(resident.cookie)
    for role in (StaffRole.CLERK, StaffRole.SUPERVISOR, StaffRole.TENANT_ADMIN):
        world.callers[f"{role} session"] = _cookie(sign_in(db, tenant_a, kind=AccountKind.STAFF, roles=[role]).cookie)
    vendor = register(db, tenant_a, name="A Vendor")
    world.callers["vendor token for a resident"] = _bearer(tokens_for(app, vendor, resident)["access_token"])
    machine = register(
        db,
        tenant_a,
        name="A Service",
        grant_types=["client_credentials"],
        redirect_uris=[],
        scopes=["catalog:read", "applications:read", "webhooks:manage"],
    )
    issued = token_request(
        app, machine, grant_type="client_credentials", scope="catalog:read applications:read webhooks:manage"
    )
    assert issued.status_code == 200, issued.get_data(as_text=True)
    world.callers["vendor client-credentials token"] = _bearer(issued.json["access_token"])
    world.b_ids = _b_objects(app, db, tenant_b)
    return world


def _sample_argument(match: re.Match[str]) -> str:
    # a month (the open-data routes' <month:...>, public: they take no part in the matrix but must route)
    return {"{tenant}": "x", "{day}": B_CLOSED_DAY, "{month}": "2026-11"}.get(match.group(0)) or str(uuid.uuid4())


def _operations(app) -> list[tuple[str, str]]:
    """(method, path under /api/v1/t/{tenant}) of every authenticated tenant operation."""
    spec = app.test_client().get("/api/v1/openapi.json").json
    adapter = app.url_map.bind("localhost")
    found = []
    for path, item in spec["paths"].items():
        if not path.startswith("/api/v1/t/{tenant}"):
            continue
        for method in item:
            if method.upper() not in ("GET", "POST", "PUT", "PATCH", "DELETE"):
                continue
            sample = re.sub(r"\{[^}]+\}", _sample_argument, path)
            endpoint, _ = adapter.match(sample.replace("/x/", "/probe/"), method=method.upper())
            if not is_public_endpoint(app, endpoint):
                found.append((method.upper(), path.removeprefix("/api/v1/t/{tenant}")))
    return sorted(found)


def _snapshot(db: Database, tenant: Tenant) -> str:
    rows: dict[str, list[Any]] = {}
    with db.transaction(tenant.id) as session:
        for mapper in sorted(Base.registry.mappers, key=lambda m: m.local_table.name):
            model = mapper.class_
            if not (issubclass(model, TenantScoped) or "tenant_id" in mapper.local_table.c):
                continue
            stmt = select(model)
            if not issubclass(model, TenantScoped):
                stmt = stmt.where(model.tenant_id == tenant.id)
            rows[mapper.local_table.name] = sorted(
                json.dumps({c.key: getattr(r, c.key) for c in inspect(model).column_attrs}, default=str, sort_keys=True)
                for r in session.execute(stmt).scalars()
            )
    return json.dumps(rows, sort_keys=True)


def _url(tenant: Tenant, path: str, ids: dict[str, str]) -> str:
    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in ids:
            raise AssertionError(f"the matrix has no object for {{{name}}}: add one to _b_objects")
        return ids[name]

    return f"/api/v1/t/{tenant.slug}" + re.sub(r"\{([^}]+)\}", fill, path)


def _call(app, method: str, url: str, path: str, headers: dict[str, str]):
    body = BODIES.get((method, path))
    client = app.test_client()
    headers = dict(headers)
    session_cookie = headers.pop("X-Test-Session", None)
    if session_cookie:
        client.set_cookie(COOKIE_NAME, session_cookie, domain="localhost", secure=True, httponly=True)
    return client.open(
        url,
        method=method,
        json=body if body is not None else None,
        base_url=HTTPS,
        headers={**headers, **HEADERS.get((method, path), {})},
    )


def test_credentials_of_tenant_a_on_tenant_b_urls_are_404_and_b_is_unchanged(app, db: Database, world: World) -> None:
    operations = _operations(app)
    assert len(operations) >= 20
    before = _snapshot(db, world.tenant_b)
    wrong = []
    for method, path in operations:
        # Every call comes from one address: the per-address rate limit would answer 429 after a few hundred.
        reset_rate_limits(app)
        url = _url(world.tenant_b, path, world.b_ids)
        for caller, headers in world.callers.items():
            response = _call(app, method, url, path, headers)
            if response.status_code != 404:
                wrong.append(f"{caller}: {method} {path} -> {response.status_code}")
    assert wrong == []
    assert _snapshot(db, world.tenant_b) == before


def test_ids_of_tenant_b_under_tenant_a_urls_are_404_and_b_is_unchanged(app, db: Database, world: World) -> None:
    operations = [(m, p) for m, p in _operations(app) if set(re.findall(r"\{([^}]+)\}", p)) - NAME_ARGUMENTS]
    before = _snapshot(db, world.tenant_b)
    wrong = []
    looked_up: set[tuple[str, str]] = set()
    for method, path in operations:
        reset_rate_limits(app)
        url = _url(world.tenant_a, path, world.b_ids)
        for caller, headers in world.callers.items():
            response = _call(app, method, url, path, headers)
            if response.status_code == 404:
                looked_up.add((method, path))
            # 403 is acceptable only where the caller may not use the operation at all (scope or role):
            # then nothing was looked up. Any 2xx, 409, 412, 422... would mean B's object was reached.
            if response.status_code not in (404, 403):
                wrong.append(
                    f"{caller}: {method} {path} -> {response.status_code} {response.get_data(as_text=True)[:120]}"
                )
    assert wrong == []
    # Every operation was reached by at least one caller allowed to use it (not only refused for scope).
    assert sorted(set(operations) - looked_up) == []
    assert _snapshot(db, world.tenant_b) == before
