"""The webhooks API: who may subscribe, what is refused, tenant and vendor isolation, the delivery log."""

from __future__ import annotations

import base64
import json
import socket
import uuid
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from madoguchi import outbox
from madoguchi.audit.models import AuditRecord
from madoguchi.crypto import Sealer
from madoguchi.notify import webhook_transport, webhooks
from madoguchi.notify.models import WebhookDelivery, WebhookSubscription
from madoguchi.oauth import operations as oauth_operations
from madoguchi.oauth.models import OAuthClient
from tests.notify.conftest import HTTPS, drain, submit_application, subscribe

#: The outbox worker sends on threads of its own, so these tests commit for real.
pytestmark = pytest.mark.commits

PUBLIC_URL = "https://hooks.vendor.example/madoguchi"
PUBLIC_ADDRESS = "93.184.216.34"


@pytest.fixture(autouse=True)
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """No real DNS or network in tests: names resolve to what a test puts here (unknown names do not resolve),
    and connections are refused."""
    table = {"hooks.vendor.example": [PUBLIC_ADDRESS], "intranet.vendor.example": ["10.20.30.40"]}

    def resolve(host: str, port: int) -> list:
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        import ipaddress

        return [ipaddress.ip_address(a) for a in table[host]]

    def no_network(target, headers, body):
        raise ConnectionRefusedError(f"no network in tests ({target.host})")

    monkeypatch.setattr(webhook_transport, "resolve_host", resolve)
    monkeypatch.setattr(webhook_transport, "post", no_network)
    return table


def _post_json(client, path: str, body: object):
    """POST as JSON with ASCII escapes, so that a lone surrogate arrives as a client could send it."""
    return client.post(path, data=json.dumps(body), content_type="application/json", base_url=HTTPS)


def _count(db, tenant_id) -> int:
    with db.transaction(tenant_id) as session:
        return session.execute(select(func.count()).select_from(WebhookSubscription)).scalar_one()


def test_tenant_admin_subscribes_and_the_secret_is_shown_once_and_stored_sealed(db, towns, sign_in, settings) -> None:
    town, _ = towns
    admin = sign_in(town.admin)
    created = subscribe(admin, town, PUBLIC_URL, ["application.submitted", "document.issued"], description="基幹連携")
    secret = created["secret"]
    assert secret.startswith("whsec_") and len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert created["events"] == ["application.submitted", "document.issued"]
    assert created["client_id"] is None and created["url"] == PUBLIC_URL

    shown = admin.get(f"{town.hooks}/{created['id']}", base_url=HTTPS)
    assert shown.status_code == 200 and "secret" not in shown.get_json()
    listed = admin.get(town.hooks, base_url=HTTPS).get_json()
    assert [s["id"] for s in listed] == [created["id"]] and "secret" not in listed[0]

    with db.transaction(town.tenant.id) as session:
        row = session.execute(select(WebhookSubscription)).scalar_one()
        audit_actions = list(session.execute(select(AuditRecord.action)).scalars())
    assert secret.encode() not in row.secret_sealed
    assert Sealer(settings.data_key).open(town.tenant.id, row.secret_sealed) == secret
    assert "webhook.subscribe" in audit_actions


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://hooks.vendor.example/madoguchi", "https"),
        ("https://10.0.0.5/hook", "private"),
        ("https://192.168.1.10/hook", "private"),
        ("https://127.0.0.1/hook", "loopback"),
        ("https://[::1]/hook", "loopback"),
        ("https://[::ffff:127.0.0.1]/hook", "loopback"),
        ("https://169.254.169.254/latest/meta-data", "link-local"),
        ("https://[fe80::1]/hook", "link-local"),
        ("https://[fd12:3456::1]/hook", "private"),
        ("https://100.64.0.1/hook", "carrier-grade NAT"),
        ("https://0.0.0.0/hook", "unspecified"),
        ("https://224.0.0.1/hook", "multicast"),
        ("https://240.0.0.1/hook", "reserved"),
        ("https://intranet.vendor.example/hook", "private"),
        ("https://nowhere.vendor.example/hook", "does not resolve"),
        ("https://user:password@hooks.vendor.example/hook", "credentials"),
        ("https://hooks.vendor.example/hook#part", "fragment"),
        ("https://hooks.vendor.example:99999/hook", "valid URL"),
        ("https://hooks.vendor.example/a b", "control characters"),
        ("ftp://hooks.vendor.example/hook", "https"),
        ("not a url", "control characters"),
        ("https:///hook", "host"),
        ("https://93.184.216.34:0/hook", "port"),
        ("https://93.184.216.34/\ud800", "Unicode"),
    ],
)
def test_unacceptable_urls_are_422_with_a_field_error_and_nothing_is_stored(db, towns, sign_in, url, reason) -> None:
    town, _ = towns
    response = _post_json(sign_in(town.admin), town.hooks, {"url": url, "events": ["application.submitted"]})
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    errors = response.get_json()["errors"]
    assert list(errors) == ["url"] and reason in errors["url"][0]
    assert _count(db, town.tenant.id) == 0


@pytest.mark.parametrize(
    "body",
    [
        {"url": PUBLIC_URL, "events": ["application.deleted"]},
        {"url": PUBLIC_URL, "events": []},
        {"url": PUBLIC_URL},
        {"events": ["application.submitted"]},
        {"url": PUBLIC_URL, "events": ["application.submitted"], "description": "nul\x00byte"},
        {"url": PUBLIC_URL, "events": "application.submitted"},
        {"url": PUBLIC_URL, "events": ["application.submitted"], "description": "\ud800"},
        {"url": PUBLIC_URL, "events": ["application.submitted"], "secret": "whsec_mine"},
    ],
)
def test_bad_subscription_bodies_are_422_and_nothing_is_stored(db, towns, sign_in, body) -> None:
    town, _ = towns
    response = _post_json(sign_in(town.admin), town.hooks, body)
    assert response.status_code == 422 and response.mimetype == "application/problem+json"
    assert response.get_json()["errors"]
    assert _count(db, town.tenant.id) == 0


def test_private_targets_are_accepted_only_when_the_setting_allows_them(db, towns, sign_in, allow_private) -> None:
    town, _ = towns
    admin = sign_in(town.admin)
    subscribe(admin, town, "http://127.0.0.1:8999/hook")
    subscribe(admin, town, "https://intranet.vendor.example/hook")
    # Even then: never link-local (cloud metadata), multicast or unspecified.
    for url in ("http://169.254.169.254/latest", "http://224.0.0.1/", "http://0.0.0.0/"):
        response = admin.post(town.hooks, json={"url": url, "events": ["application.submitted"]}, base_url=HTTPS)
        assert response.status_code == 422, url
    assert _count(db, town.tenant.id) == 2


def test_callers_without_webhooks_manage_get_403_and_nothing_is_stored(db, towns, sign_in) -> None:
    town, _ = towns
    admin = sign_in(town.admin)
    existing = subscribe(admin, town, PUBLIC_URL)
    for account in (town.clerk, town.resident_account):
        client = sign_in(account)
        posted = client.post(town.hooks, json={"url": PUBLIC_URL, "events": ["document.issued"]}, base_url=HTTPS)
        assert posted.status_code == 403 and posted.mimetype == "application/problem+json"
        assert client.get(town.hooks, base_url=HTTPS).status_code == 403
        assert client.delete(f"{town.hooks}/{existing['id']}", base_url=HTTPS).status_code == 403
        assert client.get(f"{town.hooks}/{existing['id']}/deliveries", base_url=HTTPS).status_code == 403
    assert _count(db, town.tenant.id) == 1


def test_anonymous_callers_get_401(towns, client) -> None:
    town, _ = towns
    response = client.post(town.hooks, json={"url": PUBLIC_URL, "events": ["application.submitted"]}, base_url=HTTPS)
    assert response.status_code == 401
    assert client.get(town.hooks, base_url=HTTPS).status_code == 401


def test_admin_of_another_tenant_gets_404_everywhere_and_nothing_changes(db, towns, sign_in, settings) -> None:
    town_a, town_b = towns
    created = subscribe(sign_in(town_a.admin), town_a, PUBLIC_URL, ["application.state_changed"])
    sub_id = created["id"]
    with db.transaction(town_a.tenant.id) as session:
        outbox.enqueue(
            session,
            "application.state_changed",
            {
                "application_id": uuid.uuid4(),
                "reference": "RC-X",
                "service_key": "residency-certificate",
                "from": "submitted",
                "to": "in_review",
            },
        )
    drain(db, settings)  # the delivery fails (no network in tests): it exists, pending a retry
    with db.transaction(town_a.tenant.id) as session:
        delivery = session.execute(select(WebhookDelivery)).scalar_one()
        before = (delivery.status, delivery.attempts, delivery.job_id)

    intruder = sign_in(town_b.admin)
    body = {"url": PUBLIC_URL, "events": ["application.submitted"]}
    # Tenant A's URLs with tenant B's session: the session means nothing there (401), nothing is revealed.
    assert intruder.get(town_a.hooks, base_url=HTTPS).status_code in (401, 404)
    assert intruder.post(town_a.hooks, json=body, base_url=HTTPS).status_code in (401, 404)
    path = f"{town_a.hooks}/{sub_id}"
    assert intruder.get(path, base_url=HTTPS).status_code in (401, 404)
    assert intruder.delete(path, base_url=HTTPS).status_code in (401, 404)
    # Tenant A's ids under tenant B's own URLs: 404, as if nothing were there.
    path = f"{town_b.hooks}/{sub_id}"
    assert intruder.get(path, base_url=HTTPS).status_code == 404
    assert intruder.delete(path, base_url=HTTPS).status_code == 404
    assert intruder.get(f"{path}/deliveries", base_url=HTTPS).status_code == 404
    replay = intruder.post(f"{path}/deliveries/{delivery.id}/replay", base_url=HTTPS)
    assert replay.status_code == 404 and replay.mimetype == "application/problem+json"
    assert intruder.get(town_b.hooks, base_url=HTTPS).get_json() == []

    with db.transaction(town_a.tenant.id) as session:
        row = session.execute(select(WebhookSubscription)).scalar_one()
        delivery = session.execute(select(WebhookDelivery)).scalar_one()
    assert row.deleted_at is None
    assert (delivery.status, delivery.attempts, delivery.job_id) == before
    assert _count(db, town_b.tenant.id) == 0


def test_deleting_hides_the_subscription_and_keeps_nothing_pending(db, towns, sign_in, settings) -> None:
    town, _ = towns
    admin = sign_in(town.admin)
    created = subscribe(admin, town, PUBLIC_URL)
    submit_application(db, town)
    from madoguchi.notify import worker

    worker.run_once(db, settings=settings)  # fan-out only: the delivery waits for the next pass
    deleted = admin.delete(f"{town.hooks}/{created['id']}", base_url=HTTPS)
    assert deleted.status_code == 204
    assert admin.get(f"{town.hooks}/{created['id']}", base_url=HTTPS).status_code == 404
    assert admin.get(town.hooks, base_url=HTTPS).get_json() == []
    assert admin.delete(f"{town.hooks}/{created['id']}", base_url=HTTPS).status_code == 404
    drain(db, settings)
    with db.transaction(town.tenant.id) as session:
        delivery = session.execute(select(WebhookDelivery)).scalar_one()
        actions = list(session.execute(select(AuditRecord.action)).scalars())
    assert delivery.status == "cancelled" and delivery.attempts == 0
    assert "webhook.unsubscribe" in actions


def test_delivery_log_is_paged_by_cursor_in_both_orders(db, towns, sign_in, settings) -> None:
    town, _ = towns
    admin = sign_in(town.admin)
    created = subscribe(admin, town, PUBLIC_URL, ["application.state_changed"])
    with db.transaction(town.tenant.id) as session:
        for n in range(5):
            outbox.enqueue(
                session,
                "application.state_changed",
                {
                    "application_id": uuid.uuid4(),
                    "reference": f"RC-{n}",
                    "service_key": "residency-certificate",
                    "from": "submitted",
                    "to": "in_review",
                },
            )
    from madoguchi.notify import worker

    worker.run_once(db, settings=settings)  # fan-out: five pending deliveries
    log_url = f"{town.hooks}/{created['id']}/deliveries"

    def walk(order: str) -> list[str]:
        seen: list[str] = []
        cursor = None
        while True:
            query = {"limit": 2, "order": order, **({"after": cursor} if cursor else {})}
            page = admin.get(log_url, query_string=query, base_url=HTTPS)
            assert page.status_code == 200
            body = page.get_json()
            assert len(body["items"]) <= 2
            seen += [item["id"] for item in body["items"]]
            cursor = body["next_cursor"]
            if cursor is None:
                return seen

    oldest_first = walk("oldest")
    assert len(oldest_first) == 5 == len(set(oldest_first))
    assert walk("newest") == list(reversed(oldest_first))
    first = admin.get(log_url, base_url=HTTPS).get_json()["items"][0]
    assert first["id"] == oldest_first[-1]  # newest first by default
    assert first["status"] == "pending" and first["attempts"] == 0 and first["event"] == "application.state_changed"

    for bad in ({"after": "not-a-cursor"}, {"limit": 0}, {"limit": 101}, {"order": "random"}):
        response = admin.get(log_url, query_string=bad, base_url=HTTPS)
        assert response.status_code == 422 and response.mimetype == "application/problem+json", bad


def test_idempotency_key_makes_a_retried_subscription_one_row(db, towns, sign_in) -> None:
    town, _ = towns
    admin = sign_in(town.admin)
    body = {"url": PUBLIC_URL, "events": ["application.submitted"]}
    first = admin.post(town.hooks, json=body, headers={"Idempotency-Key": "k-1"}, base_url=HTTPS)
    again = admin.post(town.hooks, json=body, headers={"Idempotency-Key": "k-1"}, base_url=HTTPS)
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == {k: v for k, v in first.get_json().items() if k != "secret"}
    assert _count(db, town.tenant.id) == 1


def test_a_replayed_subscription_never_returns_the_signing_secret_and_it_is_not_stored(db, towns, sign_in) -> None:
    from madoguchi.idempotency_keys import IdempotencyKey

    town, _ = towns
    admin = sign_in(town.admin)
    body = {"url": PUBLIC_URL, "events": ["application.submitted"]}
    first = admin.post(town.hooks, json=body, headers={"Idempotency-Key": "k-secret"}, base_url=HTTPS)
    secret = first.get_json()["secret"]
    assert secret.startswith("whsec_")
    replay = admin.post(town.hooks, json=body, headers={"Idempotency-Key": "k-secret"}, base_url=HTTPS)
    assert replay.status_code == 201
    assert "secret" not in replay.get_json()
    assert secret not in replay.get_data(as_text=True)
    with db.transaction(town.tenant.id) as session:
        stored = session.execute(select(IdempotencyKey.response_body)).scalars().all()
    assert stored and all("whsec_" not in (text or "") for text in stored)


# ------------------------------------------------------------------ vendor apps (client-credentials tokens)


@dataclass
class VendorApp:
    row: OAuthClient
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def _vendor_app(app, db, tenant, name: str, scope: str) -> VendorApp:
    """A vendor app registered by the municipality, with a token from the real /oauth/token endpoint."""
    registration = oauth_operations.ClientRegistration(
        name=name, redirect_uris=[], grant_types=["client_credentials"], scopes=[]
    )
    with db.transaction(tenant.id) as session:
        row, secret = oauth_operations.create_client(session, tenant.id, registration, actor="test")
    basic = base64.b64encode(f"{row.client_id}:{secret}".encode()).decode()
    response = app.test_client().post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": scope},
        headers={"Authorization": f"Basic {basic}"},
        base_url=HTTPS,
    )
    assert response.status_code == 200, response.get_json()
    return VendorApp(row, response.get_json()["access_token"])


@pytest.fixture
def vendors(app, db, towns) -> dict[str, VendorApp]:
    """Two vendor apps of town A that may manage webhooks, one that may only read, and one of town B."""
    town_a, town_b = towns
    return {
        "app-1": _vendor_app(app, db, town_a.tenant, "Kurashi Navi", "webhooks:manage"),
        "app-2": _vendor_app(app, db, town_a.tenant, "Hoiku Finder", "webhooks:manage catalog:read"),
        "reader": _vendor_app(app, db, town_a.tenant, "Catalog Reader", "catalog:read applications:read"),
        "app-b": _vendor_app(app, db, town_b.tenant, "Sakura Connect", "webhooks:manage"),
    }


def test_a_vendor_app_sees_and_manages_only_its_own_subscriptions(db, towns, client, sign_in, vendors) -> None:
    town, _ = towns
    app_1, app_2 = vendors["app-1"], vendors["app-2"]
    body = {"url": PUBLIC_URL, "events": ["application.submitted"]}
    created = client.post(town.hooks, json=body, headers=app_1.headers, base_url=HTTPS)
    assert created.status_code == 201 and created.get_json()["secret"].startswith("whsec_")
    mine = created.get_json()
    theirs = client.post(town.hooks, json=body, headers=app_2.headers, base_url=HTTPS).get_json()
    assert mine["client_id"] == str(app_1.row.id)

    listed = client.get(town.hooks, headers=app_1.headers, base_url=HTTPS).get_json()
    assert [s["id"] for s in listed] == [mine["id"]]
    other = f"{town.hooks}/{theirs['id']}"
    assert client.get(other, headers=app_1.headers, base_url=HTTPS).status_code == 404
    assert client.delete(other, headers=app_1.headers, base_url=HTTPS).status_code == 404
    assert client.get(f"{other}/deliveries", headers=app_1.headers, base_url=HTTPS).status_code == 404
    # The tenant admin's session sees both apps' subscriptions.
    all_of_them = sign_in(town.admin).get(town.hooks, base_url=HTTPS).get_json()
    assert {s["id"] for s in all_of_them} == {mine["id"], theirs["id"]}
    assert _count(db, town.tenant.id) == 2


def test_a_token_without_the_scope_gets_403_and_a_token_of_another_tenant_404(db, towns, client, vendors) -> None:
    town, _ = towns
    reader, intruder, owner = vendors["reader"], vendors["app-b"], vendors["app-1"]
    body = {"url": PUBLIC_URL, "events": ["application.submitted"]}
    assert client.post(town.hooks, json=body, headers=reader.headers, base_url=HTTPS).status_code == 403
    assert client.post(town.hooks, json=body, headers=intruder.headers, base_url=HTTPS).status_code == 404
    nonsense = {"Authorization": "Bearer nonsense"}
    assert client.get(town.hooks, headers=nonsense, base_url=HTTPS).status_code == 401
    assert _count(db, town.tenant.id) == 0

    mine = client.post(town.hooks, json=body, headers=owner.headers, base_url=HTTPS).get_json()
    item = f"{town.hooks}/{mine['id']}"
    for method, path in (
        ("get", item),
        ("delete", item),
        ("get", f"{item}/deliveries"),
        ("post", f"{item}/deliveries/{uuid.uuid4()}/replay"),
    ):
        response = getattr(client, method)(path, headers=intruder.headers, base_url=HTTPS)
        assert response.status_code == 404, (method, path)
        assert getattr(client, method)(path, headers=reader.headers, base_url=HTTPS).status_code == 403
    assert client.get(item, headers=owner.headers, base_url=HTTPS).status_code == 200
    assert _count(db, town.tenant.id) == 1


def test_a_revoked_vendor_app_gets_no_more_events(db, towns, client, sign_in, vendors, settings, fake_dns) -> None:
    town, _ = towns
    body = {"url": PUBLIC_URL, "events": ["application.submitted"]}
    assert client.post(town.hooks, json=body, headers=vendors["app-1"].headers, base_url=HTTPS).status_code == 201
    with db.transaction(town.tenant.id) as session:
        row = session.get(OAuthClient, vendors["app-1"].row.id)
        oauth_operations.revoke_client(session, row, actor="test")
    submit_application(db, town)
    drain(db, settings)
    with db.transaction(town.tenant.id) as session:
        assert session.execute(select(WebhookDelivery)).scalars().all() == []


def test_subscriptions_per_owner_are_limited(db, towns, sign_in, monkeypatch) -> None:
    town, _ = towns
    monkeypatch.setattr(webhooks, "MAX_SUBSCRIPTIONS", 3)
    admin = sign_in(town.admin)
    created = [subscribe(admin, town, PUBLIC_URL) for _ in range(3)]
    refused = admin.post(town.hooks, json={"url": PUBLIC_URL, "events": ["document.issued"]}, base_url=HTTPS)
    assert refused.status_code == 409 and refused.mimetype == "application/problem+json"
    assert _count(db, town.tenant.id) == 3
    assert admin.delete(f"{town.hooks}/{created[0]['id']}", base_url=HTTPS).status_code == 204
    subscribe(admin, town, PUBLIC_URL)  # room again
