"""The Stripe adapter's contract, against localstripe (a stateful Stripe API on loopback): create, retrieve as a
resident pays or is declined, refund, the day's settlement, and the webhook signature check (300 s tolerance)."""

from __future__ import annotations

import time
import uuid
from dataclasses import replace
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from madoguchi.config import Settings
from madoguchi.errors import Conflict
from madoguchi.payments import states
from madoguchi.payments.providers import registry
from madoguchi.payments.providers.base import WEBHOOK_TOLERANCE_SECONDS, ProviderError, SignatureError
from madoguchi.payments.providers.stripe import JST, StripeProvider
from tests.payments.webhooks_in.stripe_world import WEBHOOK_SECRET, signed, stripe_event
from tests.support.localstripe import API_KEY, LocalStripe

DECLINED_CARD = "4000000000000341"


@pytest.fixture
def stripe_settings(localstripe: LocalStripe) -> Settings:
    return Settings(stripe_api_key=API_KEY, stripe_api_base=localstripe.api_base, stripe_webhook_secret=WEBHOOK_SECRET)


def a_tenant(slug: str = "sakuragaoka-city") -> Any:
    # The adapter reads the tenant's id and slug only: no database needed for the contract.
    return SimpleNamespace(id=uuid.uuid4(), slug=slug)


@pytest.fixture
def provider(stripe_settings: Settings) -> StripeProvider:
    return StripeProvider(a_tenant(), stripe_settings)


def create(provider: StripeProvider, amount: int = 300, intent_id: str = "") -> str:
    created = provider.create(
        amount_jpy=amount,
        description="住民票の写し 1通 (髙橋 𠮷)",
        return_url="/sakuragaoka-city/payments/return",
        metadata={"intent_id": intent_id or str(uuid.uuid4())},
        idempotency_key=str(uuid.uuid4()),
    )
    assert created.status == states.REQUIRES_PAYMENT
    return created.provider_ref


def test_the_registry_builds_the_stripe_adapter_for_a_tenant(stripe_settings: Settings) -> None:
    tenant = a_tenant()
    adapter = registry.provider_for("stripe", tenant=tenant, settings=stripe_settings)
    assert isinstance(adapter, StripeProvider) and adapter.tenant is tenant
    with pytest.raises(Conflict):
        registry.provider_for("paypal-of-nowhere", tenant=tenant, settings=stripe_settings)


def test_a_created_payment_is_a_yen_payment_intent_tagged_with_the_tenant_and_our_intent(
    provider: StripeProvider,
) -> None:
    ref = create(provider, 300, intent_id="our-intent")
    assert ref.startswith("pi_")
    payment = provider.retrieve(ref)
    assert (payment.status, payment.amount_jpy) == (states.REQUIRES_PAYMENT, 300)  # yen: no decimals at Stripe
    assert payment.metadata["tenant_id"] == str(provider.tenant.id)
    assert payment.metadata["intent_id"] == "our-intent"
    assert payment.metadata["description"] == "住民票の写し 1通 (髙橋 𠮷)"


def test_the_pay_page_is_ours_and_gets_the_client_secret_from_the_adapter(provider: StripeProvider) -> None:
    created = provider.create(amount_jpy=300, description="x", return_url="/r", metadata={"intent_id": "i-1"},
                              idempotency_key="k")  # fmt: skip
    assert created.redirect_url == "/sakuragaoka-city/payments/i-1/stripe"
    assert provider.client_secret(created.provider_ref).startswith(created.provider_ref + "_secret_")


def test_a_paid_intent_is_retrieved_succeeded(provider: StripeProvider, localstripe: LocalStripe) -> None:
    ref = create(provider)
    assert localstripe.pay(ref)["status"] == "succeeded"
    assert provider.retrieve(ref).status == states.SUCCEEDED


def test_a_declined_card_is_retrieved_failed_with_the_providers_code(
    provider: StripeProvider, localstripe: LocalStripe
) -> None:
    ref = create(provider)
    assert localstripe.pay(ref, DECLINED_CARD)["error"]["code"] == "card_declined"
    payment = provider.retrieve(ref)
    assert (payment.status, payment.failure_code) == (states.FAILED, "card_declined")


def test_a_partial_refund_and_then_the_rest_and_no_more(provider: StripeProvider, localstripe: LocalStripe) -> None:
    ref = create(provider, 900)
    localstripe.pay(ref)
    first = provider.refund(ref, amount_jpy=300, idempotency_key=str(uuid.uuid4()))
    assert (first.status, first.amount_jpy) == ("succeeded", 300) and first.provider_ref.startswith("re_")
    rest = provider.refund(ref, amount_jpy=600, idempotency_key=str(uuid.uuid4()))
    assert rest.amount_jpy == 600


def test_refunding_an_unpaid_payment_is_a_provider_error(provider: StripeProvider, localstripe: LocalStripe) -> None:
    ref = create(provider)
    localstripe.pay(ref, DECLINED_CARD)
    with pytest.raises(ProviderError, match="refund"):
        provider.refund(ref, amount_jpy=300, idempotency_key=str(uuid.uuid4()))


def test_an_unknown_payment_and_a_wrong_key_are_provider_errors(
    provider: StripeProvider, stripe_settings: Settings
) -> None:
    with pytest.raises(ProviderError):
        provider.retrieve("pi_doesnotexist0")
    unconfigured = StripeProvider(a_tenant(), replace(stripe_settings, stripe_api_key=""))
    with pytest.raises(ProviderError, match="not configured"):
        unconfigured.retrieve("pi_anything")


def test_the_settlement_report_lists_the_days_charges_and_refunds_of_this_tenant_only(
    provider: StripeProvider, stripe_settings: Settings, localstripe: LocalStripe
) -> None:
    paid, refunded, declined = create(provider, 300), create(provider, 600), create(provider, 450)
    localstripe.pay(paid)
    localstripe.pay(refunded)
    localstripe.pay(declined, DECLINED_CARD)
    provider.refund(refunded, amount_jpy=200, idempotency_key=str(uuid.uuid4()))
    other_tenant = StripeProvider(a_tenant("shiomi-town"), stripe_settings)
    theirs = create(other_tenant, 1000)
    localstripe.pay(theirs)

    today = datetime.now(JST).date()
    rows = {(row.provider_ref, row.kind, row.amount_jpy) for row in provider.settlement_report(today)}
    assert rows == {(paid, "charge", 300), (refunded, "charge", 600), (refunded, "refund", 200)}
    assert {(r.provider_ref, r.kind) for r in other_tenant.settlement_report(today)} == {(theirs, "charge")}
    assert provider.settlement_report(today - timedelta(days=1)) == []


def test_a_webhook_signed_with_the_endpoint_secret_is_parsed(provider: StripeProvider) -> None:
    event = stripe_event("payment_intent.succeeded", "pi_abc", tenant_id=provider.tenant.id, amount=300)
    headers, body = signed(event)
    parsed = provider.parse_webhook({k.lower(): v for k, v in headers.items()}, body)
    assert (parsed.event_id, parsed.provider_ref, parsed.status, parsed.amount_jpy) == (
        event["id"], "pi_abc", states.SUCCEEDED, 300,
    )  # fmt: skip
    assert parsed.metadata["tenant_id"] == str(provider.tenant.id)


@pytest.mark.parametrize(
    ("event_type", "status"),
    [
        ("payment_intent.processing", states.PROCESSING),
        ("payment_intent.payment_failed", states.FAILED),
        ("payment_intent.canceled", states.CANCELED),
        ("payment_intent.created", None),
    ],
)
def test_event_types_map_to_our_statuses(provider: StripeProvider, event_type: str, status: str | None) -> None:
    headers, body = signed(stripe_event(event_type, "pi_abc"))
    assert provider.parse_webhook(headers, body).status == status


def test_a_charge_refunded_event_is_about_its_payment_intent_and_moves_no_status(provider: StripeProvider) -> None:
    event = stripe_event("charge.refunded", "ch_1")
    event["data"]["object"] = {"id": "ch_1", "object": "charge", "payment_intent": "pi_abc", "amount": 300}
    parsed = provider.parse_webhook(*signed(event))
    assert (parsed.provider_ref, parsed.status) == ("pi_abc", None)


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda h, b: (h, b.replace(b'"amount": 300', b'"amount": 3')), id="body-changed"),
        pytest.param(lambda h, b: signed(stripe_event("payment_intent.succeeded", "pi_abc"), secret="whsec_other"),
                     id="other-secret"),
        pytest.param(lambda h, b: ({}, b), id="no-signature"),
        pytest.param(lambda h, b: ({"Stripe-Signature": "t=1,v1=zz"}, b), id="garbage"),
    ],
)  # fmt: skip
def test_a_forged_webhook_is_refused(provider: StripeProvider, tamper: Any) -> None:
    headers, body = tamper(*signed(stripe_event("payment_intent.succeeded", "pi_abc")))
    with pytest.raises(SignatureError):
        provider.parse_webhook(headers, body)


def test_a_webhook_older_than_the_tolerance_is_refused_and_one_just_within_it_is_not(
    provider: StripeProvider,
) -> None:
    event = stripe_event("payment_intent.succeeded", "pi_abc")
    now = int(time.time())
    with pytest.raises(SignatureError, match="tolerance"):
        provider.parse_webhook(*signed(event, at=now - WEBHOOK_TOLERANCE_SECONDS - 5))
    assert provider.parse_webhook(*signed(event, at=now - WEBHOOK_TOLERANCE_SECONDS + 30)).status == states.SUCCEEDED


def test_without_a_webhook_secret_every_webhook_is_refused(stripe_settings: Settings) -> None:
    unconfigured = StripeProvider(a_tenant(), replace(stripe_settings, stripe_webhook_secret=""))
    with pytest.raises(SignatureError, match="not configured"):
        unconfigured.parse_webhook(*signed(stripe_event("payment_intent.succeeded", "pi_abc")))
