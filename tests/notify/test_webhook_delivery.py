"""Webhook delivery through the outbox worker, to a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import time
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from standardwebhooks.webhooks import Webhook

from madoguchi import outbox
from madoguchi.db import utcnow
from madoguchi.notify import webhook_transport, webhooks, worker
from madoguchi.notify.models import WebhookDelivery
from madoguchi.outbox import OutboxMessage
from tests.notify.conftest import HTTPS, drain, submit_application, subscribe

#: The outbox worker sends on threads of its own, so these tests commit for real.
pytestmark = pytest.mark.commits

SUBMITTED = "application.submitted"
PERSONAL_WORDS = ("髙橋", "一郎", "タカハシ", "name", "address", "birth")


def _independent_signature(secret: str, headers: dict[str, str], body: str) -> str:
    """Standard Webhooks signing, written out again from the spec (not our code, not the library)."""
    key = base64.b64decode(secret.split("_", 1)[1])
    content = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.{body}".encode()
    return "v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()


def _deliveries(db, town) -> list[WebhookDelivery]:
    with db.transaction(town.tenant.id) as session:
        return list(session.execute(select(WebhookDelivery).order_by(WebhookDelivery.created_at)).scalars())


def _jobs(db, town) -> list[OutboxMessage]:
    with db.transaction(town.tenant.id) as session:
        stmt = select(OutboxMessage).where(OutboxMessage.topic == webhooks.DELIVER_TOPIC)
        return list(session.execute(stmt.order_by(OutboxMessage.created_at)).scalars())


def _make_due(db, town) -> None:
    """Skip the backoff wait: every pending job of the town becomes due now."""
    with db.transaction(town.tenant.id) as session:
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.processed_at.is_(None))
            .values(available_at=utcnow() - timedelta(seconds=1))
        )


def test_receiver_gets_a_signed_application_submitted_after_run_once(
    db, towns, sign_in, allow_private, receiver, monkeypatch
) -> None:
    town, _ = towns
    created = subscribe(sign_in(town.admin), town, receiver.url)
    application_id = submit_application(db, town)
    # `madoguchi worker` reads its settings from the environment, as here.
    monkeypatch.setenv("MADOGUCHI_DATA_KEY", allow_private.data_key)
    monkeypatch.setenv("MADOGUCHI_WEBHOOKS_ALLOW_PRIVATE", "1")
    worker.run_once(db)  # fan-out
    worker.run_once(db)  # delivery

    assert len(receiver.received) == 1
    hit = receiver.received[0]
    assert hit.path == "/hooks/madoguchi?source=test"
    assert hit.headers["content-type"] == "application/json"
    assert abs(int(hit.headers["webhook-timestamp"]) - time.time()) < 60
    # The library of the Standard Webhooks authors accepts it, and so does a separate implementation.
    payload = Webhook(created["secret"]).verify(hit.body, hit.headers)
    assert hit.headers["webhook-signature"] == _independent_signature(created["secret"], hit.headers, hit.body)
    with db.transaction(town.tenant.id) as session:
        event = session.execute(select(OutboxMessage).where(OutboxMessage.topic == SUBMITTED)).scalar_one()
    assert hit.headers["webhook-id"] == str(event.id)

    assert payload["type"] == "application.submitted"
    assert payload["timestamp"].endswith("Z")
    data = payload["data"]
    assert data["application_id"] == str(application_id)
    assert data["tenant"] == town.slug and data["service_key"] == "residency-certificate"
    assert data["reference"].startswith("RC-")
    assert (data["from_state"], data["to_state"]) == ("draft", "submitted")
    assert not any(word in hit.body for word in PERSONAL_WORDS)

    (delivery,) = _deliveries(db, town)
    assert delivery.status == "delivered" and delivery.attempts == 1 and delivery.last_status_code == 200
    assert delivery.delivered_at is not None and delivery.last_error is None
    log = sign_in(town.admin).get(f"{town.hooks}/{created['id']}/deliveries", base_url=HTTPS).get_json()
    assert log["items"][0]["webhook_id"] == str(event.id) and log["items"][0]["status"] == "delivered"


def test_a_tampered_body_or_another_secret_fails_verification(db, towns, sign_in, allow_private, receiver) -> None:
    town, _ = towns
    created = subscribe(sign_in(town.admin), town, receiver.url)
    submit_application(db, town)
    drain(db, allow_private)
    hit = receiver.received[0]
    from standardwebhooks.webhooks import WebhookVerificationError

    with pytest.raises(WebhookVerificationError):
        Webhook(created["secret"]).verify(hit.body.replace("submitted", "approved"), hit.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(webhook_transport.new_secret()).verify(hit.body, hit.headers)


def test_failing_receiver_is_retried_with_backoff_and_logged_then_succeeds(
    db, towns, sign_in, allow_private, receiver
) -> None:
    town, _ = towns
    admin = sign_in(town.admin)
    created = subscribe(admin, town, receiver.url)
    submit_application(db, town)
    receiver.status = 500
    started = utcnow()
    drain(db, allow_private)

    (delivery,) = _deliveries(db, town)
    (job,) = _jobs(db, town)
    assert delivery.status == "pending" and delivery.attempts == 1
    assert delivery.last_status_code == 500 and delivery.last_error == "HTTP 500"
    # First retry after worker.backoff(1) = 30 s; the log says when.
    assert job.processed_at is None and job.attempts == 1
    assert started + worker.backoff(1) <= job.available_at <= utcnow() + worker.backoff(1)
    assert delivery.next_attempt_at == job.available_at
    logged = admin.get(f"{town.hooks}/{created['id']}/deliveries", base_url=HTTPS).get_json()["items"][0]
    assert (logged["status"], logged["attempts"], logged["last_status_code"]) == ("pending", 1, 500)
    assert logged["next_attempt_at"] is not None

    drain(db, allow_private)  # not due yet: nothing is sent
    assert len(receiver.received) == 1

    receiver.status = 204
    _make_due(db, town)
    drain(db, allow_private)
    (delivery,) = _deliveries(db, town)
    assert delivery.status == "delivered" and delivery.attempts == 2 and delivery.last_status_code == 204
    assert delivery.last_error is None and delivery.next_attempt_at is None
    first, second = receiver.received
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == str(delivery.message_id)
    assert first.body == second.body
    Webhook(created["secret"]).verify(second.body, second.headers)


def test_redirects_are_not_followed(db, towns, sign_in, allow_private, receiver) -> None:
    town, _ = towns
    subscribe(sign_in(town.admin), town, receiver.url)
    receiver.status = 307
    receiver.extra_headers = {"Location": "http://169.254.169.254/latest/meta-data"}
    submit_application(db, town)
    drain(db, allow_private)
    (delivery,) = _deliveries(db, town)
    assert len(receiver.received) == 1
    assert delivery.status == "pending" and delivery.last_status_code == 307
    assert "redirects are not followed" in delivery.last_error


def test_gives_up_after_the_last_attempt_then_replay_sends_the_same_message(
    db, towns, sign_in, allow_private, receiver
) -> None:
    town, _ = towns
    admin = sign_in(town.admin)
    created = subscribe(admin, town, receiver.url)
    submit_application(db, town)
    receiver.status = 503
    worker.run_once(db, settings=allow_private)  # fan-out
    with db.transaction(town.tenant.id) as session:  # as if it had failed MAX_ATTEMPTS - 1 times already
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.topic == webhooks.DELIVER_TOPIC)
            .values(attempts=worker.MAX_ATTEMPTS - 1)
        )
    drain(db, allow_private)
    (delivery,) = _deliveries(db, town)
    assert delivery.status == "failed" and delivery.next_attempt_at is None and delivery.last_status_code == 503
    (job,) = _jobs(db, town)
    assert job.processed_at is not None

    receiver.status = 200
    replay_url = f"{town.hooks}/{created['id']}/deliveries/{delivery.id}/replay"
    replayed = admin.post(replay_url, base_url=HTTPS)
    assert replayed.status_code == 202 and replayed.get_json()["status"] == "pending"
    # A pending delivery is retried by itself: replaying it again is a conflict, and changes nothing.
    again = admin.post(replay_url, base_url=HTTPS)
    assert again.status_code == 409 and again.mimetype == "application/problem+json"
    assert len(_jobs(db, town)) == 2

    drain(db, allow_private)
    (delivery,) = _deliveries(db, town)
    assert delivery.status == "delivered" and delivery.attempts == 2
    failed, sent = receiver.received
    assert sent.headers["webhook-id"] == failed.headers["webhook-id"] == str(delivery.message_id)
    assert sent.body == failed.body
    Webhook(created["secret"]).verify(sent.body, sent.headers)

    # A delivered event may be replayed too (the receiver deduplicates on webhook-id).
    assert admin.post(replay_url, base_url=HTTPS).status_code == 202
    drain(db, allow_private)
    assert len(receiver.received) == 3 and receiver.received[2].headers["webhook-id"] == str(delivery.message_id)


def test_one_event_is_delivered_once_per_subscription(db, towns, sign_in, allow_private, receiver) -> None:
    town, _ = towns
    admin = sign_in(town.admin)
    subscribe(admin, town, receiver.url)
    subscribe(admin, town, receiver.url, ["application.state_changed"])  # not this event
    submit_application(db, town)
    worker.run_once(db, settings=allow_private)
    with db.transaction(town.tenant.id) as session:
        event = session.execute(select(OutboxMessage).where(OutboxMessage.topic == SUBMITTED)).scalar_one()
        # The fan-out runs again for the same message (say, a crashed worker's batch): nothing new.
        webhooks.fan_out(session, town.tenant, event)
        (delivery,) = session.execute(select(WebhookDelivery)).scalars()
        # A second job for the same delivery (not the one in charge) does nothing either.
        stray = outbox.enqueue(session, webhooks.DELIVER_TOPIC, {"delivery_id": str(delivery.id)})
    assert len(_deliveries(db, town)) == 1
    drain(db, allow_private)
    assert len(receiver.received) == 1
    with db.transaction(town.tenant.id) as session:
        assert session.get(OutboxMessage, stray.id).processed_at is not None
        # And the database itself refuses a second delivery row for the pair.
        session.add(
            WebhookDelivery(
                tenant_id=town.tenant.id,
                subscription_id=delivery.subscription_id,
                message_id=delivery.message_id,
                event=delivery.event,
                body=delivery.body,
            )
        )
        with pytest.raises(IntegrityError):
            session.flush()
        session.rollback()


def test_subscriptions_get_only_their_events_with_states_and_documents(
    db, towns, sign_in, allow_private, receiver
) -> None:
    from madoguchi.applications import operations as ops
    from madoguchi.identity.actors import Actor

    town, _ = towns
    created = subscribe(sign_in(town.admin), town, receiver.url, ["application.state_changed", "document.issued"])
    application_id = submit_application(db, town)
    clerk = Actor.of(town.clerk)
    for name in ("start_review", "approve", "issue"):
        with db.transaction(town.tenant.id) as session:
            ops.transition(session, town.tenant, clerk, application_id, name)
    drain(db, allow_private)

    bodies = [Webhook(created["secret"]).verify(hit.body, hit.headers) for hit in receiver.received]
    changes = [
        (b["data"]["from_state"], b["data"]["to_state"]) for b in bodies if b["type"] == "application.state_changed"
    ]
    assert changes == [("submitted", "in_review"), ("in_review", "approved"), ("approved", "issued")]
    (issued,) = [b for b in bodies if b["type"] == "document.issued"]
    assert issued["data"]["application_id"] == str(application_id)
    assert issued["data"]["document_kind"] == "residency_certificate"
    assert issued["data"]["reference"].startswith("RC-") and issued["data"]["document_id"]
    assert not any(b["type"] == "application.submitted" for b in bodies)
    assert len({hit.headers["webhook-id"] for hit in receiver.received}) == len(receiver.received) == 4
    assert not any(word in hit.body for hit in receiver.received for word in ("髙橋", "一郎", "千代田"))


def test_dns_that_now_points_at_a_private_address_is_refused_at_delivery(
    db, towns, sign_in, settings, monkeypatch
) -> None:
    town, _ = towns
    dns = {"hooks.vendor.example": "93.184.216.34"}
    monkeypatch.setattr(webhook_transport, "resolve_host", lambda host, port: [ipaddress.ip_address(dns[host])])
    connections: list[object] = []
    monkeypatch.setattr(webhook_transport, "post", lambda target, headers, body, **_: connections.append(target) or 200)
    subscribe(sign_in(town.admin), town, "https://hooks.vendor.example/madoguchi")
    submit_application(db, town)
    dns["hooks.vendor.example"] = "10.0.0.7"  # DNS rebinding after the subscription was checked
    drain(db, settings)

    assert connections == []
    (delivery,) = _deliveries(db, town)
    assert delivery.status == "pending" and delivery.attempts == 1 and delivery.last_status_code is None
    assert delivery.last_error == "blocked: the URL resolves to a private address (10.0.0.7)"

    dns["hooks.vendor.example"] = "93.184.216.34"
    _make_due(db, town)
    drain(db, settings)
    (target,) = connections
    # The connection goes to the address that was just checked, not to a second lookup's answer.
    assert target.addresses == (ipaddress.ip_address("93.184.216.34"),) and target.host == "hooks.vendor.example"
    assert _deliveries(db, town)[0].status == "delivered"


def test_the_connection_goes_to_the_checked_address_with_the_host_name_kept(
    db, towns, sign_in, allow_private, receiver, monkeypatch
) -> None:
    town, _ = towns
    monkeypatch.setattr(webhook_transport, "resolve_host", lambda host, port: [ipaddress.ip_address("127.0.0.1")])
    subscribe(sign_in(town.admin), town, f"http://hooks.vendor.example:{receiver.port}/in/受付?from=窓口")
    submit_application(db, town)
    drain(db, allow_private)
    (hit,) = receiver.received
    assert hit.path == "/in/%E5%8F%97%E4%BB%98?from=%E7%AA%93%E5%8F%A3"
    assert hit.headers["host"] == f"hooks.vendor.example:{receiver.port}"


def test_an_unanswering_receiver_times_out_and_is_retried(db, towns, sign_in, allow_private, monkeypatch) -> None:
    import socket

    town, _ = towns
    silent = socket.create_server(("127.0.0.1", 0))  # accepts connections, never answers
    try:
        quick = replace(allow_private, webhook_read_timeout_seconds=0.5)
        subscribe(sign_in(town.admin), town, f"http://127.0.0.1:{silent.getsockname()[1]}/hook")
        submit_application(db, town)
        started = time.monotonic()
        drain(db, quick)
        assert time.monotonic() - started < 5
    finally:
        silent.close()
    (delivery,) = _deliveries(db, town)
    assert delivery.status == "pending" and delivery.attempts == 1
    assert "timed out" in delivery.last_error.lower() or "timeout" in delivery.last_error.lower()


def test_a_vendor_app_hears_only_of_applications_whose_resident_consented_to_it(
    db, towns, sign_in, allow_private, receiver
) -> None:
    """Issue 12: the webhooks:manage scope lets a vendor app subscribe, not watch residents who never chose it."""
    from madoguchi.oauth import operations as oauth_operations
    from madoguchi.oauth.models import OAuthConsent

    town, _ = towns
    registration = oauth_operations.ClientRegistration(
        name="Kurashi Navi", redirect_uris=[], grant_types=["client_credentials"], scopes=[]
    )
    with db.transaction(town.tenant.id) as session:
        vendor, _secret = oauth_operations.create_client(session, town.tenant.id, registration, actor="test")
        webhooks.subscribe(
            session,
            town.tenant,
            actor=f"client:{vendor.id}",
            client_id=vendor.id,
            url=receiver.url,
            events=["application.submitted"],
            description=None,
            settings=allow_private,
        )
    municipality = subscribe(sign_in(town.admin), town, receiver.url)
    never_consented = submit_application(db, town)
    drain(db, allow_private)
    heard = {(hit.headers["webhook-id"], hit.body) for hit in receiver.received}
    assert len(heard) == 1  # the municipality's own subscription only
    (only,) = receiver.received
    assert Webhook(municipality["secret"]).verify(only.body, only.headers)["data"]["application_id"] == str(
        never_consented
    )

    with db.transaction(town.tenant.id) as session:
        session.add(
            OAuthConsent(
                tenant_id=town.tenant.id,
                account_id=town.resident_account.id,
                oauth_client_id=vendor.id,
                scopes=["applications:read"],
            )
        )
    consented = submit_application(db, town)
    drain(db, allow_private)
    about = [hit.body for hit in receiver.received[1:]]
    assert len(about) == 2 and all(str(consented) in body for body in about)  # the municipality and the vendor
    assert not any(str(never_consented) in body for body in about)
