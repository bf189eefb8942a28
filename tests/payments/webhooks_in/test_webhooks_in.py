"""Webhooks in (``POST /api/v1/t/<tenant>/payments/webhooks/<provider>``): signature and timestamp checked over the
raw body, stored once, applied by the outbox worker, forward only, and never across tenants; and the
``payment.succeeded`` vendor event. The last test takes a webhook localstripe itself signed and sent."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from madoguchi.config import Settings
from madoguchi.db import Database, utcnow
from madoguchi.notify import webhooks as vendor_webhooks
from madoguchi.notify import worker
from madoguchi.outbox import OutboxMessage
from madoguchi.payments import states
from madoguchi.payments import webhooks as webhooks_in
from madoguchi.payments.models import PaymentEvent
from madoguchi.payments.providers.base import SignatureError
from madoguchi.payments.providers.stripe import StripeProvider
from tests.payments.webhooks_in.stripe_world import (
    WEBHOOK_SECRET,
    application_of,
    intent_row,
    set_ref,
    signed,
    stripe_event,
    stripe_intent,
    unpaid_intent,
)
from tests.support.localstripe import LocalStripe
from tests.world import Town

SAKURA, SHIOMI = "sakuragaoka-city", "shiomi-town"


def url(town: Town, provider: str = "stripe") -> str:
    return f"/api/v1/t/{town.tenant.slug}/payments/webhooks/{provider}"


def deliver(client: FlaskClient, town: Town, event: dict[str, Any], **signing: Any) -> Any:
    headers, body = signed(event, **signing)
    return client.post(url(town), data=body, headers=headers)


def events_of(db: Database, town: Town, **where: Any) -> list[PaymentEvent]:
    with db.transaction(town.tenant.id) as session:
        rows = list(
            session.execute(select(PaymentEvent).filter_by(tenant_id=town.tenant.id, **where).order_by(PaymentEvent.at))
            .scalars()
            .all()
        )
        session.expunge_all()
        return rows


def messages(db: Database, town: Town, topic: str) -> list[OutboxMessage]:
    with db.transaction(town.tenant.id) as session:
        rows = list(session.execute(select(OutboxMessage).filter_by(tenant_id=town.tenant.id, topic=topic)).scalars())
        session.expunge_all()
        return rows


def run_worker(db: Database, settings: Settings, app: Flask) -> None:
    worker.run_once(db, worker.default_handlers(settings), app=app)


def test_a_signed_webhook_is_stored_answered_at_once_and_applied_by_the_worker(
    client: FlaskClient, db: Database, towns: dict[str, Town], settings: Settings, app: Flask
) -> None:
    town = towns[SAKURA]
    intent_id, ref = unpaid_intent(db, town)
    answer = deliver(client, town, stripe_event("payment_intent.succeeded", ref, tenant_id=town.tenant.id))
    assert (answer.status_code, answer.get_json()) == (200, {"status": "accepted"})
    assert intent_row(db, town, intent_id).status == states.REQUIRES_PAYMENT  # applied later, not in the request
    [stored] = events_of(db, town, kind="webhook")
    assert (stored.intent_id, stored.signature_ok, stored.processed_at) == (intent_id, True, None)
    assert [m.payload["event_id"] for m in messages(db, town, webhooks_in.TOPIC)] == [str(stored.id)]

    run_worker(db, settings, app)
    intent = intent_row(db, town, intent_id)
    assert intent.status == states.SUCCEEDED and intent.succeeded_at is not None
    assert events_of(db, town, kind="webhook")[0].processed_at is not None
    # The vendor event: ids, reference, amount and status, nothing personal.
    [announced] = messages(db, town, "payment.succeeded")
    application = application_of(db, town, intent_id)
    assert announced.payload == {
        "application_id": str(application.id), "reference": application.reference, "intent_id": str(intent_id),
        "amount_jpy": 300, "status": "succeeded",
    }  # fmt: skip


def test_the_vendor_event_body_of_a_payment(db: Database, towns: dict[str, Town]) -> None:
    town = towns[SAKURA]
    intent_id = stripe_intent(db, town, amount=600)
    application = application_of(db, town, intent_id)
    message = OutboxMessage(
        tenant_id=town.tenant.id, topic="payment.succeeded", created_at=utcnow(),
        payload={"application_id": str(application.id), "reference": application.reference,
                 "intent_id": str(intent_id), "amount_jpy": 600, "status": "succeeded"},
    )  # fmt: skip
    with db.transaction(town.tenant.id) as session:
        body = json.loads(vendor_webhooks.event_body(session, town.tenant, message))
    assert "payment.succeeded" in vendor_webhooks.EVENTS
    assert body["type"] == "payment.succeeded"
    assert body["data"] == {
        "tenant": SAKURA, "application_id": str(application.id), "reference": application.reference,
        "intent_id": str(intent_id), "amount_jpy": 600, "status": "succeeded",
    }  # fmt: skip


@pytest.mark.parametrize(
    "signing",
    [
        pytest.param({"secret": "whsec_forged"}, id="another-secret"),
        pytest.param({"at": int(time.time()) - 301}, id="older-than-300-s"),
    ],
)
def test_a_forged_or_old_webhook_is_a_400_problem_and_changes_nothing(
    client: FlaskClient,
    db: Database,
    towns: dict[str, Town],
    signing: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    town = towns[SAKURA]
    intent_id, ref = unpaid_intent(db, town)
    with caplog.at_level(logging.WARNING, logger="madoguchi.payments.webhooks"):
        answer = deliver(client, town, stripe_event("payment_intent.succeeded", ref), **signing)
    assert answer.status_code == 400
    assert answer.content_type == "application/problem+json"
    assert answer.get_json()["type"].endswith("webhook-refused")
    assert intent_row(db, town, intent_id).status == states.REQUIRES_PAYMENT
    assert events_of(db, town, kind="webhook") == []
    assert messages(db, town, webhooks_in.TOPIC) == []
    assert "payment webhook refused for tenant sakuragaoka-city" in caplog.text


def test_a_body_changed_after_signing_is_refused(client: FlaskClient, db: Database, towns: dict[str, Town]) -> None:
    town = towns[SAKURA]
    headers, body = signed(stripe_event("payment_intent.succeeded", "pi_x", amount=300))
    answer = client.post(url(town), data=body.replace(b'"amount": 300', b'"amount": 30'), headers=headers)
    assert answer.status_code == 400
    assert events_of(db, town) == []


def test_the_same_event_twice_has_one_effect(
    client: FlaskClient, db: Database, towns: dict[str, Town], settings: Settings, app: Flask
) -> None:
    town = towns[SAKURA]
    _, ref = unpaid_intent(db, town)
    event = stripe_event("payment_intent.succeeded", ref)
    assert deliver(client, town, event).get_json() == {"status": "accepted"}
    assert deliver(client, town, event).get_json() == {"status": "duplicate"}
    run_worker(db, settings, app)
    assert deliver(client, town, event).get_json() == {"status": "duplicate"}  # after it was applied too
    run_worker(db, settings, app)
    webhook_events = events_of(db, town, kind="webhook")
    received = [e for e in webhook_events if e.provider_event_id is not None]
    moves = [e for e in webhook_events if e.provider_event_id is None]  # what the worker applied
    assert [e.provider_event_id for e in received] == [event["id"]]
    assert [(e.from_status, e.to_status) for e in moves] == [(states.REQUIRES_PAYMENT, states.SUCCEEDED)]
    assert len(messages(db, town, "payment.succeeded")) == 1


def test_a_late_failed_after_succeeded_is_ignored_and_logged(
    client: FlaskClient,
    db: Database,
    towns: dict[str, Town],
    settings: Settings,
    app: Flask,
    caplog: pytest.LogCaptureFixture,
) -> None:
    town = towns[SAKURA]
    intent_id, ref = unpaid_intent(db, town)
    deliver(client, town, stripe_event("payment_intent.succeeded", ref))
    run_worker(db, settings, app)
    deliver(client, town, stripe_event("payment_intent.payment_failed", ref))
    with caplog.at_level(logging.WARNING, logger="madoguchi.payments.webhooks"):
        run_worker(db, settings, app)
    assert intent_row(db, town, intent_id).status == states.SUCCEEDED
    [ignored] = events_of(db, town, intent_id=intent_id, kind="ignored")
    assert (ignored.from_status, ignored.to_status) == (states.SUCCEEDED, states.FAILED)
    logged = f"payment intent {intent_id} of tenant sakuragaoka-city is succeeded: webhook to failed ignored"
    assert logged in caplog.text


def test_out_of_order_processing_then_succeeded_and_succeeded_then_processing(
    client: FlaskClient, db: Database, towns: dict[str, Town], settings: Settings, app: Flask
) -> None:
    town = towns[SAKURA]
    first, second = stripe_intent(db, town), stripe_intent(db, town)
    for intent_id, order in ((first, ("processing", "succeeded")), (second, ("succeeded", "processing"))):
        ref = intent_row(db, town, intent_id).provider_ref
        assert ref is not None
        for kind in order:
            deliver(client, town, stripe_event(f"payment_intent.{kind}", ref))
            run_worker(db, settings, app)
    assert intent_row(db, town, first).status == intent_row(db, town, second).status == states.SUCCEEDED


def test_a_success_for_another_amount_is_stored_not_applied_and_logged_as_an_error(
    client: FlaskClient,
    db: Database,
    towns: dict[str, Town],
    settings: Settings,
    app: Flask,
    caplog: pytest.LogCaptureFixture,
) -> None:
    town = towns[SAKURA]
    intent_id, ref = unpaid_intent(db, town, amount=300)
    with caplog.at_level(logging.ERROR, logger="madoguchi.payments.webhooks"):
        answer = deliver(client, town, stripe_event("payment_intent.succeeded", ref, amount=30))
    assert answer.get_json() == {"status": "accepted"}
    run_worker(db, settings, app)
    assert intent_row(db, town, intent_id).status == states.REQUIRES_PAYMENT
    [stored] = events_of(db, town, kind="webhook")
    assert stored.note is not None and stored.note.startswith("amount mismatch: the provider says 30 yen")
    assert stored.processed_at is not None and messages(db, town, webhooks_in.TOPIC) == []
    assert "amount mismatch" in caplog.text


def test_tenant_a_webhook_cannot_touch_tenant_b_intent(
    client: FlaskClient, db: Database, towns: dict[str, Town], settings: Settings, app: Flask
) -> None:
    a, b = towns[SAKURA], towns[SHIOMI]
    theirs = stripe_intent(db, b)
    ref = intent_row(db, b, theirs).provider_ref
    assert ref is not None
    # Validly signed (one platform account at Stripe), about B's payment, sent to A's address: with B named in the
    # metadata, and without it.
    with_metadata = deliver(client, a, stripe_event("payment_intent.succeeded", ref, tenant_id=b.tenant.id))
    without = deliver(client, a, stripe_event("payment_intent.succeeded", ref))
    assert with_metadata.get_json() == without.get_json() == {"status": "unmatched"}
    run_worker(db, settings, app)
    assert intent_row(db, b, theirs).status == states.REQUIRES_PAYMENT
    assert events_of(db, b, kind="webhook") == []
    unmatched = events_of(db, a, kind="webhook")
    assert [e.intent_id for e in unmatched] == [None, None] and all(e.processed_at for e in unmatched)
    assert messages(db, a, webhooks_in.TOPIC) == []
    # B's own address: its metadata naming A is not B's either.
    assert deliver(client, b, stripe_event("payment_intent.succeeded", ref, tenant_id=a.tenant.id)).get_json() == {
        "status": "unmatched"
    }


def test_an_unknown_provider_or_municipality_is_404(client: FlaskClient, towns: dict[str, Town]) -> None:
    headers, body = signed(stripe_event("payment_intent.succeeded", "pi_x"))
    assert client.post(url(towns[SAKURA], "paypal"), data=body, headers=headers).status_code == 404
    assert client.post("/api/v1/t/atlantis/payments/webhooks/stripe", data=body, headers=headers).status_code == 404


def test_the_endpoint_needs_no_credentials_and_refuses_get(client: FlaskClient, towns: dict[str, Town]) -> None:
    assert client.get(url(towns[SAKURA])).status_code == 405


# -- a webhook as localstripe sends it ----------------------------------------------------------------------


class _Capture(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((dict(self.headers.items()), body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def capture(localstripe: LocalStripe) -> Iterator[list[tuple[dict[str, str], bytes]]]:
    """What localstripe POSTs to its registered webhook: captured on loopback, to replay to the app."""
    received: list[tuple[dict[str, str], bytes]] = []
    handler = type("Capture", (_Capture,), {"received": received})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    localstripe.register_webhook(
        "madoguchi-tests", url=f"http://127.0.0.1:{server.server_port}/hook", secret=WEBHOOK_SECRET,
        events=["payment_intent.succeeded", "payment_intent.payment_failed"],
    )  # fmt: skip
    try:
        yield received
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _delivered(received: list[tuple[dict[str, str], bytes]], ref: str) -> tuple[dict[str, str], bytes]:
    deadline = time.monotonic() + 10  # localstripe waits a second before it sends
    while time.monotonic() < deadline:
        for headers, body in list(received):
            if json.loads(body)["data"]["object"]["id"] == ref:
                return headers, body
        time.sleep(0.1)
    raise AssertionError(f"localstripe sent no webhook about {ref}")


def test_a_payment_at_localstripe_arrives_as_its_signed_webhook_and_succeeds_the_intent(
    client: FlaskClient,
    db: Database,
    towns: dict[str, Town],
    settings: Settings,
    app: Flask,
    localstripe: LocalStripe,
    capture: list[tuple[dict[str, str], bytes]],
) -> None:
    town = towns[SAKURA]
    intent_id = stripe_intent(db, town, ref="pending")
    created = StripeProvider(town.tenant, settings).create(
        amount_jpy=300, description="住民票の写し", return_url="/", metadata={"intent_id": str(intent_id)},
        idempotency_key=str(intent_id),
    )  # fmt: skip
    set_ref(db, town, intent_id, created.provider_ref)
    localstripe.pay(created.provider_ref)
    headers, body = _delivered(capture, created.provider_ref)
    assert headers["Stripe-Signature"].startswith("t=")

    answer = client.post(url(town), data=body, headers={"Stripe-Signature": headers["Stripe-Signature"],
                                                         "Content-Type": headers["Content-Type"]})  # fmt: skip
    assert answer.get_json() == {"status": "accepted"}
    run_worker(db, settings, app)
    assert intent_row(db, town, intent_id).status == states.SUCCEEDED
    # The same signed request again (a provider's retry) changes nothing more.
    again = client.post(url(town), data=body, headers={"Stripe-Signature": headers["Stripe-Signature"]})
    assert again.get_json() == {"status": "duplicate"}


def test_receive_called_directly_answers_its_outcome_and_raises_a_signature_error(
    db: Database, towns: dict[str, Town], settings: Settings
) -> None:
    # As the fake provider's simulator calls it: no HTTP, the caller's session.
    town = towns[SAKURA]
    _, ref = unpaid_intent(db, town)
    event = stripe_event("payment_intent.succeeded", ref)
    with db.transaction(town.tenant.id) as session:
        assert webhooks_in.receive(session, town.tenant, "stripe", *signed(event), settings=settings) == "accepted"
        assert webhooks_in.receive(session, town.tenant, "stripe", *signed(event), settings=settings) == "duplicate"
        with pytest.raises(SignatureError):
            webhooks_in.receive(session, town.tenant, "stripe", *signed(event, secret="whsec_x"), settings=settings)
