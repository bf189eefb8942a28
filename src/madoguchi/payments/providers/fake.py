"""The ``fake`` payment provider: an in-repo stand-in for a card provider, for the demo and the tests.

It behaves as a hosted-checkout provider does, and nothing more: ``create`` stores a payment in its own table
(``fake_models.FakePayment``) and answers the address of its hosted page (``/fake-pay/<ref>``, served by the
portal's simulator); the page settles it (succeed, decline, cancel) and the provider sends signed webhooks, which
the simulator hands to the same receiving function as any provider's webhook (``payments.webhooks.receive``).
Two switches of the page deliver the same event twice and a stale event after the final one, so the
deduplication and the forward-only state machine can be seen at work. GOV.UK Pay's own advice for automated
tests is to build a stub like this one.

Webhooks are signed like Stripe's: header ``Madoguchi-Fake-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of
"<t>.<raw body>">``, with a per-tenant secret derived from the app's secret key (HMAC over ``fake-pay:`` + the
tenant id), and refused outside ``WEBHOOK_TOLERANCE_SECONDS``. Decision 0044.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select

from madoguchi import jp
from madoguchi.config import PRODUCTION
from madoguchi.db import utcnow
from madoguchi.errors import Conflict
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
from madoguchi.payments.providers.fake_models import FakePayment

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from madoguchi.config import Settings
    from madoguchi.tenancy.models import Tenant

NAME = "fake"
SIGNATURE_HEADER = "Madoguchi-Fake-Signature"
#: Where the simulator's hosted page lives (the portal serves it, outside any municipality's address).
HOSTED_PAGE_PATH = "/fake-pay/"

#: What the hosted page's buttons do: the status the payment ends in, and the failure code of a decline.
SUCCEED, DECLINE, CANCEL = "succeed", "decline", "cancel"
OUTCOMES = {
    SUCCEED: (states.SUCCEEDED, None),
    DECLINE: (states.FAILED, "card_declined"),
    CANCEL: (states.CANCELED, None),
}
_EVENT_TYPES = {
    states.PROCESSING: "payment.processing",
    states.SUCCEEDED: "payment.succeeded",
    states.FAILED: "payment.failed",
    states.CANCELED: "payment.canceled",
    states.EXPIRED: "payment.expired",
}


def webhook_secret(secret_key: str, tenant_id: object) -> bytes:
    """The tenant's webhook secret: derived, never stored, different for every tenant."""
    return hmac.new(secret_key.encode(), f"fake-pay:{tenant_id}".encode(), hashlib.sha256).digest()


def sign(secret: bytes, raw_body: bytes, timestamp: int) -> str:
    digest = hmac.new(secret, str(timestamp).encode() + b"." + raw_body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


@dataclass(frozen=True)
class Webhook:
    """One signed delivery, as it would arrive over HTTP: the headers and the raw body."""

    headers: dict[str, str]
    raw_body: bytes


class FakeProvider:
    """The adapter (``base.PaymentProvider``) of the fake provider, for one tenant."""

    name = NAME

    def __init__(self, *, tenant: Tenant, settings: Settings, session: Session | None = None) -> None:
        if settings.env == PRODUCTION:
            # Its hosted page lets anyone "pay": a tenant file naming it in production must not take a fee.
            raise Conflict(
                "The fake payment provider is for the demo and the tests: this municipality's online payments need a "
                "real provider (payments.provider in its tenant file).",
                reason="fake_provider_in_production",
            )
        self.tenant = tenant
        self.settings = settings
        self._session = session
        self._secret = webhook_secret(settings.secret_key, tenant.id)

    # --- the store ------------------------------------------------------------------------------------

    @property
    def session(self) -> Session:
        if self._session is None:
            raise ProviderError("the fake provider's store needs a database session")
        return self._session

    def payment(self, ref: str) -> FakePayment:
        row = self.session.execute(
            select(FakePayment).where(FakePayment.ref == ref, FakePayment.tenant_id == self.tenant.id)
        ).scalar_one_or_none()
        if row is None:
            raise ProviderError(f"no such fake payment: {ref}")
        return row

    # --- the adapter interface ------------------------------------------------------------------------

    def create(
        self, *, amount_jpy: int, description: str, return_url: str, metadata: dict[str, str], idempotency_key: str
    ) -> CreatedPayment:
        row = self.session.execute(
            select(FakePayment).where(
                FakePayment.tenant_id == self.tenant.id, FakePayment.idempotency_key == idempotency_key
            )
        ).scalar_one_or_none()
        if row is None:
            now = utcnow()
            row = FakePayment(
                ref=f"fake_{secrets.token_urlsafe(24)}",
                tenant_id=self.tenant.id,
                amount_jpy=amount_jpy,
                description=description,
                return_url=return_url,
                payment_metadata=dict(metadata),
                idempotency_key=idempotency_key,
                status=states.REQUIRES_PAYMENT,
                created_at=now,
                updated_at=now,
            )
            self.session.add(row)
            self.session.flush()
        return CreatedPayment(provider_ref=row.ref, redirect_url=self.hosted_page_url(row.ref), status=row.status)

    def hosted_page_url(self, ref: str) -> str:
        return f"{self.settings.public_url.rstrip('/')}{HOSTED_PAGE_PATH}{ref}"

    def retrieve(self, provider_ref: str) -> ProviderPayment:
        row = self.payment(provider_ref)
        return ProviderPayment(
            provider_ref=row.ref,
            status=row.status,
            amount_jpy=row.amount_jpy,
            failure_code=row.failure_code,
            metadata=dict(row.payment_metadata),
        )

    def refund(self, provider_ref: str, *, amount_jpy: int, idempotency_key: str) -> ProviderRefund:
        row = self.payment(provider_ref)
        if row.status != states.SUCCEEDED or amount_jpy <= 0 or row.refunded_jpy + amount_jpy > row.amount_jpy:
            raise ProviderError("refund refused: more than the payment has left, or the payment is not paid")
        row.refunded_jpy += amount_jpy
        row.updated_at = utcnow()
        return ProviderRefund(
            provider_ref=f"{row.ref}_re_{idempotency_key[-12:]}", status="succeeded", amount_jpy=amount_jpy
        )

    def parse_webhook(self, headers: dict[str, str], raw_body: bytes) -> ProviderEvent:
        signature = next((v for k, v in headers.items() if k.lower() == SIGNATURE_HEADER.lower()), "")
        parts = dict(part.split("=", 1) for part in signature.split(",") if "=" in part)
        try:
            timestamp = int(parts.get("t", ""))
        except ValueError:
            raise SignatureError("no timestamp in the signature") from None
        expected = sign(self._secret, raw_body, timestamp).split("v1=", 1)[1]
        if not hmac.compare_digest(expected, parts.get("v1", "")):
            raise SignatureError("the signature does not match the body")
        if abs(time.time() - timestamp) > WEBHOOK_TOLERANCE_SECONDS:
            raise SignatureError("the signed timestamp is outside the tolerance")
        try:
            body = json.loads(raw_body)
            data = body["data"]
            return ProviderEvent(
                event_id=str(body["id"]),
                event_type=str(body["type"]),
                provider_ref=str(data["ref"]),
                status=data.get("status"),
                created_at=datetime.fromtimestamp(int(body["created"]), tz=UTC),
                amount_jpy=data.get("amount_jpy"),
                metadata={str(k): str(v) for k, v in (data.get("metadata") or {}).items()},
                raw=body,
                failure_code=data.get("failure_code"),
            )
        except (ValueError, KeyError, TypeError) as error:
            raise SignatureError(f"a signed body that is not an event: {error}") from None

    def settlement_report(self, day: date) -> list[SettlementRow]:
        """The charges that succeeded on ``day`` (JST), one row each (the fake settles the same day)."""
        start = datetime.combine(day, datetime.min.time(), tzinfo=jp.JAPAN).astimezone(UTC)
        rows = self.session.execute(
            select(FakePayment).where(
                FakePayment.tenant_id == self.tenant.id,
                FakePayment.succeeded_at >= start,
                FakePayment.succeeded_at < start + timedelta(days=1),
            )
        ).scalars()
        return [SettlementRow(provider_ref=r.ref, kind="charge", amount_jpy=r.amount_jpy, settled_on=day) for r in rows]

    # --- the hosted page ------------------------------------------------------------------------------

    def settle(self, ref: str, outcome: str, *, duplicate: bool = False, out_of_order: bool = False) -> list[Webhook]:
        """What the hosted page's button does: end the payment as ``outcome`` and answer the webhooks to deliver,
        in delivery order. ``duplicate``: the final event twice (same id). ``out_of_order``: the ``processing``
        event, which should have come first, after the final one. A payment already ended is not changed (the
        page shows it ended) and nothing is sent."""
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}")
        row = self.payment(ref)
        if row.status in states.ENDED:
            return []
        status, failure_code = OUTCOMES[outcome]
        now = utcnow()
        processing = self._event(row, states.PROCESSING)
        row.status, row.failure_code, row.updated_at = status, failure_code, now
        if status == states.SUCCEEDED:
            row.succeeded_at = now
        final = self._event(row, status)
        self.session.flush()
        deliveries = [final, final] if duplicate else [final]
        return [*deliveries, processing] if out_of_order else [processing, *deliveries]

    def _event(self, row: FakePayment, status: str) -> Webhook:
        row.events_sent += 1
        timestamp = int(time.time())
        body = {
            "id": f"evt_{row.ref}_{row.events_sent}",
            "type": _EVENT_TYPES[status],
            "created": timestamp,
            "data": {
                "ref": row.ref,
                "status": status,
                "amount_jpy": row.amount_jpy,
                "failure_code": row.failure_code if status == states.FAILED else None,
                "metadata": row.payment_metadata,
            },
        }
        raw = json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
        return Webhook(headers={SIGNATURE_HEADER: sign(self._secret, raw, timestamp)}, raw_body=raw)


def find_payment(session: Session, ref: str) -> FakePayment | None:
    """The hosted page's lookup: a payment by its reference alone (the page has no municipality)."""
    return session.execute(select(FakePayment).where(FakePayment.ref == ref)).scalar_one_or_none()


registry.register(NAME, FakeProvider, uses_session=True)
