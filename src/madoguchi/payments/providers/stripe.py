"""The Stripe adapter: PaymentIntents in yen through the ``stripe`` library (cards; konbini and PayPay are further
payment method types of the same PaymentIntent), webhooks checked with Stripe's own signature verification.

Stripe's API is reached at ``Settings.stripe_api_base`` (empty: Stripe itself); the tests point it at localstripe
on loopback, which implements PaymentIntents, refunds and balance transactions but not Checkout Sessions. So the
adapter creates a PaymentIntent and the resident pays on a page that mounts Stripe.js's Payment Element (the card
fields live in Stripe's iframe: Madoguchi never sees a card number); ``redirect_url`` names that page, and the
page gets the intent's client secret from ``client_secret``. Decision 0045.

The yen is a zero-decimal currency at Stripe: amounts cross unchanged. Every call that reaches Stripe raises
``ProviderError`` on failure, with Stripe's message, and changes nothing on our side.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import stripe

from madoguchi.config import Settings
from madoguchi.payments import states
from madoguchi.payments.providers import registry
from madoguchi.payments.providers.base import (
    WEBHOOK_TOLERANCE_SECONDS,
    CreatedPayment,
    ProviderError,
    ProviderEvent,
    ProviderPayment,
    ProviderRefund,
    SettlementRow,
    SignatureError,
)
from madoguchi.tenancy.models import Tenant

if TYPE_CHECKING:  # the library's request shapes, for the type checker only
    from stripe._requestor_options import BaseAddresses
    from stripe.params import BalanceTransactionListParams

NAME = "stripe"
CURRENCY = "jpy"
#: The settlement day is a day in Japan (収入日計 is kept in JST).
JST = timezone(timedelta(hours=9), "JST")
#: Stripe pages lists by at most 100.
_PAGE = 100
#: Retries of a call that failed on the network (Stripe's client retries with the same idempotency key).
_NETWORK_RETRIES = 2

#: Stripe's PaymentIntent statuses as ours. ``requires_payment_method`` is ours ``requires_payment`` until an
#: attempt failed (then Stripe keeps the intent open for another card; we end it as ``failed`` and the resident
#: starts a new one: decision 0044). ``requires_capture`` does not happen with automatic capture.
_STATUSES = {
    "requires_payment_method": states.REQUIRES_PAYMENT,
    "requires_confirmation": states.REQUIRES_PAYMENT,
    "requires_action": states.REQUIRES_PAYMENT,
    "processing": states.PROCESSING,
    "requires_capture": states.PROCESSING,
    "succeeded": states.SUCCEEDED,
    "canceled": states.CANCELED,
}

#: Webhook event types and the status they move the payment to (None: an event that moves no status).
_EVENT_STATUSES = {
    "payment_intent.processing": states.PROCESSING,
    "payment_intent.succeeded": states.SUCCEEDED,
    "payment_intent.payment_failed": states.FAILED,
    "payment_intent.canceled": states.CANCELED,
}

_REFUND_STATUSES = {"succeeded": "succeeded", "failed": "failed", "canceled": "failed"}

#: Stripe.js served by Stripe itself.
STRIPE_JS_ORIGIN = "https://js.stripe.com"
#: What Stripe's own Stripe.js reaches beyond its origin (Stripe's security guide, "Content Security Policy"):
#: its API, and the 3-D Secure pages it frames. A fake Stripe.js (localstripe) talks to its own origin only.
_STRIPE_JS_REACHES = {"connect-src": ("https://api.stripe.com",), "frame-src": ("https://hooks.stripe.com",)}


def browser_sources(js_url: str) -> dict[str, tuple[str, ...]]:
    """The Content-Security-Policy sources the card payment page adds for Stripe.js loaded from ``js_url``: its
    origin for scripts, frames (the Payment Element's iframe) and connections, and what Stripe's own Stripe.js
    reaches besides. Decision 0045."""
    parts = urlsplit(js_url)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise ValueError(f"not a URL of Stripe.js: {js_url!r}")
    origin = f"{parts.scheme}://{parts.netloc}"
    reaches = _STRIPE_JS_REACHES if origin == STRIPE_JS_ORIGIN else {}
    return {d: (origin, *reaches.get(d, ())) for d in ("script-src", "frame-src", "connect-src")}


def _header(headers: dict[str, str], name: str) -> str | None:
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), None)


def _id_of(value: Any) -> str | None:
    """An expandable field's id: Stripe sends the id, localstripe (and an ``expand``) the whole object."""
    if value is None or isinstance(value, str):
        return value
    return str(value["id"])


def _as_dict(obj: Any) -> dict[str, Any]:
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


def payment_status(intent: dict[str, Any]) -> str:
    """Our status of a Stripe PaymentIntent (a dict as the API returns it)."""
    stripe_status = intent["status"]
    if stripe_status == "requires_payment_method" and intent.get("last_payment_error"):
        return states.FAILED  # an attempt was declined
    try:
        return _STATUSES[stripe_status]
    except KeyError:
        raise ProviderError(f"unknown Stripe PaymentIntent status {stripe_status!r}") from None


class StripeProvider:
    """``PaymentProvider`` over Stripe's PaymentIntents for one tenant (its id and slug go into the metadata)."""

    name = NAME

    def __init__(self, tenant: Tenant, settings: Settings) -> None:
        self.tenant = tenant
        self.webhook_secret = settings.stripe_webhook_secret
        self._api_key = settings.stripe_api_key
        self._api_base = settings.stripe_api_base.rstrip("/")

    def _client(self) -> stripe.StripeClient:
        if not self._api_key:
            raise ProviderError("Stripe is not configured (MADOGUCHI_STRIPE_API_KEY is empty)")
        base: BaseAddresses = {"api": self._api_base} if self._api_base else {}
        return stripe.StripeClient(self._api_key, base_addresses=base, max_network_retries=_NETWORK_RETRIES)

    # -- payments -------------------------------------------------------------------------------------

    def create(
        self, *, amount_jpy: int, description: str, return_url: str, metadata: dict[str, str], idempotency_key: str
    ) -> CreatedPayment:
        """A PaymentIntent for ``amount_jpy``. The idempotency key goes to Stripe too: a retry after a lost answer
        gets the same PaymentIntent. The description travels in the metadata (localstripe refuses the field, and
        the metadata is what reconciliation reads anyway); ``return_url`` is where the pay page sends the resident
        back, so it stays ours, not Stripe's."""
        tagged = {**metadata, "tenant_id": str(self.tenant.id), "tenant": self.tenant.slug}
        tagged["description"] = description[:500]
        try:
            intent = self._client().v1.payment_intents.create(
                params={"amount": amount_jpy, "currency": CURRENCY, "metadata": tagged},
                options={"idempotency_key": idempotency_key},
            )
        except stripe.StripeError as error:
            raise ProviderError(f"Stripe refused the payment: {error.user_message or error}") from error
        intent_id = metadata.get("intent_id", "")
        return CreatedPayment(
            provider_ref=intent.id,
            redirect_url=f"/{self.tenant.slug}/payments/{intent_id}/stripe" if intent_id else return_url,
            status=payment_status(_as_dict(intent)),
        )

    def client_secret(self, provider_ref: str) -> str:
        """The PaymentIntent's client secret, for the pay page's Stripe.js (never stored, never logged)."""
        try:
            return str(self._client().v1.payment_intents.retrieve(provider_ref).client_secret)
        except stripe.StripeError as error:
            raise ProviderError(f"Stripe could not find the payment: {error.user_message or error}") from error

    def retrieve(self, provider_ref: str) -> ProviderPayment:
        try:
            intent = _as_dict(self._client().v1.payment_intents.retrieve(provider_ref))
        except stripe.StripeError as error:
            raise ProviderError(f"Stripe could not find the payment: {error.user_message or error}") from error
        error_info = intent.get("last_payment_error") or {}
        return ProviderPayment(
            provider_ref=intent["id"],
            status=payment_status(intent),
            amount_jpy=int(intent["amount"]),
            failure_code=error_info.get("code") if error_info else None,
            metadata={str(k): str(v) for k, v in (intent.get("metadata") or {}).items()},
        )

    def refund(self, provider_ref: str, *, amount_jpy: int, idempotency_key: str) -> ProviderRefund:
        try:
            refund = self._client().v1.refunds.create(
                params={"payment_intent": provider_ref, "amount": amount_jpy},
                options={"idempotency_key": idempotency_key},
            )
        except stripe.StripeError as error:
            raise ProviderError(f"Stripe refused the refund: {error.user_message or error}") from error
        return ProviderRefund(
            provider_ref=refund.id,
            status=_REFUND_STATUSES.get(str(refund.status), "pending"),
            amount_jpy=int(refund.amount),
        )

    # -- webhooks -------------------------------------------------------------------------------------

    def parse_webhook(self, headers: dict[str, str], raw_body: bytes) -> ProviderEvent:
        """The event, after Stripe's check of the ``Stripe-Signature`` header over the raw body (HMAC-SHA256 with
        the endpoint's secret, timestamp within ``WEBHOOK_TOLERANCE_SECONDS``); ``SignatureError`` otherwise."""
        if not self.webhook_secret:
            raise SignatureError("Stripe webhooks are not configured (MADOGUCHI_STRIPE_WEBHOOK_SECRET is empty)")
        signature = _header(headers, "Stripe-Signature")
        if not signature:
            raise SignatureError("no Stripe-Signature header")
        try:
            event = stripe.Webhook.construct_event(
                raw_body, signature, self.webhook_secret, tolerance=WEBHOOK_TOLERANCE_SECONDS
            )
        except stripe.SignatureVerificationError as error:
            raise SignatureError(str(error)) from None
        except ValueError as error:  # a signed body that is not JSON
            raise SignatureError(f"unreadable body: {error}") from None
        body = _as_dict(event)
        obj = body.get("data", {}).get("object", {}) or {}
        if obj.get("object") == "payment_intent":
            ref, amount = obj.get("id"), obj.get("amount")
        else:  # a charge or a refund: about the PaymentIntent it belongs to
            ref, amount = _id_of(obj.get("payment_intent")), None
        event_type = str(body.get("type", ""))
        return ProviderEvent(
            event_id=str(body["id"]),
            event_type=event_type,
            provider_ref=str(ref or ""),
            status=_EVENT_STATUSES.get(event_type),
            created_at=datetime.fromtimestamp(int(body.get("created") or 0), UTC),
            amount_jpy=int(amount) if amount is not None else None,
            metadata={str(k): str(v) for k, v in (obj.get("metadata") or {}).items()},
            raw=body,
            failure_code=(obj.get("last_payment_error") or {}).get("code") or obj.get("failure_code"),
        )

    # -- settlement -----------------------------------------------------------------------------------

    def settlement_report(self, day: date) -> list[SettlementRow]:
        """The day's (JST) charges and refunds from Stripe's balance transactions, by PaymentIntent.

        Balance transactions come newest first; the pages are read until one is older than the day. (The
        ``created`` filter would save reading the later days, but localstripe refuses it, so the window is
        applied here: the same rows either way.) Only this tenant's payments are kept (the metadata names it)."""
        start = datetime.combine(day, time(0), JST)
        end = start + timedelta(days=1)
        client = self._client()
        rows: list[SettlementRow] = []
        params: BalanceTransactionListParams = {"limit": _PAGE}
        try:
            while True:
                page = client.v1.balance_transactions.list(params=params)
                items = [_as_dict(txn) for txn in page.data]
                for txn in items:
                    created = datetime.fromtimestamp(int(txn["created"]), UTC)
                    if created < start or created >= end or txn.get("type") not in ("charge", "refund", "payment"):
                        continue
                    row = self._settlement_row(client, txn, day)
                    if row is not None:
                        rows.append(row)
                older = [t for t in items if datetime.fromtimestamp(int(t["created"]), UTC) < start]
                if older or not page.has_more or not items:
                    break
                params = {"limit": _PAGE, "starting_after": items[-1]["id"]}
        except stripe.StripeError as error:
            raise ProviderError(f"Stripe's balance could not be read: {error.user_message or error}") from error
        return rows

    def _settlement_row(self, client: stripe.StripeClient, txn: dict[str, Any], day: date) -> SettlementRow | None:
        source = _id_of(txn.get("source")) or ""
        if source.startswith("re_"):
            refund = _as_dict(client.v1.refunds.retrieve(source))
            charge_id = _id_of(refund.get("charge"))
            kind = "refund"
        else:
            charge_id, kind = source, "charge"
        if not charge_id:
            return None
        charge = _as_dict(client.v1.charges.retrieve(charge_id))
        payment_intent = _id_of(charge.get("payment_intent"))
        tenant_id = (charge.get("metadata") or {}).get("tenant_id")
        if payment_intent is None:
            return None
        if tenant_id is None:  # the charge's metadata is the PaymentIntent's at Stripe; localstripe leaves it empty
            intent_metadata = _as_dict(client.v1.payment_intents.retrieve(payment_intent)).get("metadata") or {}
            tenant_id = intent_metadata.get("tenant_id")
        if tenant_id != str(self.tenant.id):
            return None
        return SettlementRow(provider_ref=payment_intent, kind=kind, amount_jpy=abs(int(txn["amount"])), settled_on=day)


def stripe_provider(tenant: Tenant, settings: Settings) -> StripeProvider:
    return StripeProvider(tenant, settings)


registry.register(NAME, stripe_provider)
