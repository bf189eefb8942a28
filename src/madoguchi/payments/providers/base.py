"""The interface every payment provider adapter implements, and the values that cross it.

Shaped after the spec's adapter interface (after GOV.UK Pay and Stripe): ``create`` a payment and get the hosted
page to send the resident to, ``retrieve`` its state, ``refund`` (part of) it, ``parse_webhook`` (checks the
signature over the raw body and the timestamp, or raises ``SignatureError``) and ``settlement_report`` of a day.
Statuses crossing the interface are already ours (``payments.states``); each adapter maps its provider's own.
Amounts are whole yen. Calls that reach the provider raise ``ProviderError`` on failure (nothing is changed on
our side then: the caller's transaction rolls back or records the failure).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

#: Stripe's default tolerance for a webhook's signed timestamp: older events are refused (replays).
WEBHOOK_TOLERANCE_SECONDS = 300


class SignatureError(Exception):
    """A webhook whose signature does not verify, or whose timestamp is outside the tolerance."""


class ProviderError(Exception):
    """The provider refused a call or could not be reached."""


@dataclass(frozen=True)
class CreatedPayment:
    provider_ref: str
    redirect_url: str
    status: str


@dataclass(frozen=True)
class ProviderPayment:
    provider_ref: str
    status: str
    amount_jpy: int
    #: The provider's failure code (``card_declined``) when failed.
    failure_code: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ProviderRefund:
    provider_ref: str
    status: str  # succeeded | failed | pending
    amount_jpy: int


@dataclass(frozen=True)
class ProviderEvent:
    """A verified webhook: the provider's event id (deduplication), its type, and the payment it is about."""

    event_id: str
    event_type: str
    provider_ref: str
    #: Our status the event moves the payment to (None: an event that changes no status, e.g. a refund update).
    status: str | None
    created_at: datetime
    amount_jpy: int | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)
    #: The provider's failure code (``card_declined``) of a ``failed`` event, when it says.
    failure_code: str | None = None


@dataclass(frozen=True)
class SettlementRow:
    """One row of the provider's settlement report: a charge or a refund, by the payment it belongs to."""

    provider_ref: str
    kind: str  # charge | refund
    amount_jpy: int
    settled_on: date


class PaymentProvider(Protocol):
    name: str

    def create(
        self, *, amount_jpy: int, description: str, return_url: str, metadata: dict[str, str], idempotency_key: str
    ) -> CreatedPayment: ...

    def retrieve(self, provider_ref: str) -> ProviderPayment: ...

    def refund(self, provider_ref: str, *, amount_jpy: int, idempotency_key: str) -> ProviderRefund: ...

    def parse_webhook(self, headers: dict[str, str], raw_body: bytes) -> ProviderEvent: ...

    def settlement_report(self, day: date) -> list[SettlementRow]: ...
