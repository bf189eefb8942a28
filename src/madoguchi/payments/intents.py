"""The core of payments every flow builds on: the current quote, what is paid, intents and their forward moves.

Everything here runs in the caller's transaction and never commits. Each change appends a ``PaymentEvent`` and an
audit record. ``move`` is the only way an intent's status changes: forward only (``states.may_move``); a move that
is not allowed is recorded as an ``ignored`` event and changes nothing (a late ``failed`` after ``succeeded``).
What should happen when an intent succeeds (issuing a certificate that waited for its fee, a vendor event) is
registered with ``on_succeeded`` by whoever owns it, so this module stays below them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from madoguchi.applications.models import Application
from madoguchi.audit import operations as audit
from madoguchi.db import utcnow
from madoguchi.errors import Conflict, ValidationFailed
from madoguchi.payments import states
from madoguchi.payments.models import (
    MODES,
    RECORDED_MODES,
    REFUND_SUCCEEDED,
    FeeQuote,
    PaymentEvent,
    PaymentIntent,
    Refund,
)
from madoguchi.tenancy.models import Tenant

#: How long a resident has to pay an online intent before it expires (tenant file ``payments.expires_after_hours``
#: overrides it).
DEFAULT_EXPIRY = timedelta(hours=72)

#: ``(session, tenant, application, intent)``, run in the transaction that moved the intent to ``succeeded``.
SucceededHandler = Callable[[Session, Tenant, Application, PaymentIntent], None]
_succeeded_handlers: list[SucceededHandler] = []


def on_succeeded(handler: SucceededHandler) -> SucceededHandler:
    """Register ``handler`` to run when any intent succeeds (e.g. issue what waited for the fee)."""
    _succeeded_handlers.append(handler)
    return handler


def current_quote_query(application: Application) -> Select[FeeQuote]:
    """The query of the application's quote in force (a reader may add columns to it)."""
    return (
        select(FeeQuote)
        .where(
            FeeQuote.tenant_id == application.tenant_id,
            FeeQuote.application_id == application.id,
            FeeQuote.superseded_at.is_(None),
        )
        .order_by(FeeQuote.created_at.desc())
        .limit(1)
    )


def current_quote(session: Session, application: Application) -> FeeQuote | None:
    """The application's quote in force (the newest not superseded), or None when none was made."""
    return session.execute(current_quote_query(application)).scalar_one_or_none()


def intents_of(session: Session, application: Application) -> list[PaymentIntent]:
    """Every intent of the application, oldest first."""
    return list(
        session.execute(
            select(PaymentIntent)
            .where(PaymentIntent.tenant_id == application.tenant_id, PaymentIntent.application_id == application.id)
            .order_by(PaymentIntent.created_at, PaymentIntent.id)
        ).scalars()
    )


def refunded_jpy(session: Session, intent: PaymentIntent) -> int:
    """What has been refunded of ``intent`` (succeeded refunds only)."""
    total = session.execute(
        select(func.coalesce(func.sum(Refund.amount_jpy), 0)).where(
            Refund.tenant_id == intent.tenant_id, Refund.intent_id == intent.id, Refund.status == REFUND_SUCCEEDED
        )
    ).scalar_one()
    return int(total)


def paid_jpy(session: Session, application: Application) -> int:
    """What the application's succeeded intents collected (refunds not subtracted: a refund follows a decision
    not to issue, and never reopens the fee)."""
    return sum(i.amount_jpy for i in intents_of(session, application) if i.status == states.SUCCEEDED)


def amount_due(session: Session, application: Application) -> int:
    """What is still to pay under the current quote (0 when none, exempt, or paid)."""
    quote = current_quote(session, application)
    if quote is None:
        return 0
    return max(quote.total_jpy - paid_jpy(session, application), 0)


def log_event(
    session: Session,
    intent: PaymentIntent | None,
    *,
    tenant_id: uuid.UUID,
    kind: str,
    provider: str,
    provider_event_id: str | None = None,
    provider_event_type: str | None = None,
    payload_sha256: str | None = None,
    signature_ok: bool | None = None,
    from_status: str | None = None,
    to_status: str | None = None,
    note: str | None = None,
    processed: bool = True,
) -> PaymentEvent:
    """Append one event (no commit). A ``provider_event_id`` seen before raises ``IntegrityError`` at flush: the
    caller (webhooks) treats that as a duplicate delivery."""
    event = PaymentEvent(
        tenant_id=tenant_id,
        intent_id=intent.id if intent is not None else None,
        kind=kind,
        provider=provider,
        provider_event_id=provider_event_id,
        provider_event_type=provider_event_type,
        payload_sha256=payload_sha256,
        signature_ok=signature_ok,
        from_status=from_status,
        to_status=to_status,
        note=note,
        processed_at=utcnow() if processed else None,
    )
    session.add(event)
    session.flush()
    return event


def create_intent(
    session: Session,
    tenant: Tenant,
    application: Application,
    *,
    mode: str,
    provider: str,
    amount_jpy: int,
    idempotency_key: str,
    actor: str,
    actor_account_id: uuid.UUID | None = None,
    quote: FeeQuote | None = None,
    purpose: str = "fee",
    expires_at: datetime | None = None,
    note: str | None = None,
) -> tuple[PaymentIntent, bool]:
    """The intent for ``idempotency_key``: the existing one (``created`` False) or a new one in
    ``requires_payment`` (recorded modes: born ``succeeded``, and the succeeded handlers run). The provider call
    (``create`` on the adapter) is the caller's, after this, with the intent's id in the metadata.

    The same key for another application or amount is refused (409): a key names one intent."""
    if mode not in MODES:
        raise ValueError(f"unknown payment mode {mode!r}")
    if amount_jpy <= 0:
        raise ValidationFailed("Nothing to pay.", errors={"amount_jpy": ["must be more than 0 yen"]})
    existing = session.execute(
        select(PaymentIntent).where(
            PaymentIntent.tenant_id == tenant.id, PaymentIntent.idempotency_key == idempotency_key
        )
    ).scalar_one_or_none()
    if existing is not None:
        if existing.application_id != application.id or existing.amount_jpy != amount_jpy or existing.mode != mode:
            raise Conflict("This idempotency key was used for another payment.")
        return existing, False
    recorded = mode in RECORDED_MODES
    now = utcnow()
    intent = PaymentIntent(
        tenant_id=tenant.id,
        application_id=application.id,
        quote_id=quote.id if quote is not None else None,
        amount_jpy=amount_jpy,
        purpose=purpose,
        mode=mode,
        provider=provider,
        status=states.REQUIRES_PAYMENT,
        idempotency_key=idempotency_key,
        created_at=now,
        updated_at=now,
        expires_at=None if recorded else (expires_at or now + DEFAULT_EXPIRY),
        created_by_account_id=actor_account_id,
        note=note,
    )
    try:
        with session.begin_nested():
            session.add(intent)
            session.flush()
    except IntegrityError:
        # A concurrent request claimed the key first: answer with its intent.
        winner = session.execute(
            select(PaymentIntent).where(
                PaymentIntent.tenant_id == tenant.id, PaymentIntent.idempotency_key == idempotency_key
            )
        ).scalar_one()
        return winner, False
    log_event(session, intent, tenant_id=tenant.id, kind="created", provider=provider,
              to_status=states.REQUIRES_PAYMENT, note=note)  # fmt: skip
    audit.record(
        session,
        tenant.id,
        actor=actor,
        action="payment.created",
        object_type="payment_intent",
        object_id=intent.id,
        data={"application_id": str(application.id), "mode": mode, "provider": provider, "amount_jpy": amount_jpy},
    )
    if recorded:
        move(session, tenant, intent, states.SUCCEEDED, kind="succeeded", actor=actor, note=note)
    return intent, True


def move(
    session: Session,
    tenant: Tenant,
    intent: PaymentIntent,
    new_status: str,
    *,
    kind: str,
    actor: str,
    provider_event_id: str | None = None,
    provider_event_type: str | None = None,
    payload_sha256: str | None = None,
    signature_ok: bool | None = None,
    note: str | None = None,
) -> bool:
    """Move ``intent`` to ``new_status`` if the state machine allows it (True), else log ``ignored`` (False).

    Either way one event is appended (with the provider's event id when given: a duplicate raises at flush).
    On ``succeeded`` the registered handlers run in this transaction."""
    current = intent.status
    if current == new_status or not states.may_move(current, new_status):
        log_event(session, intent, tenant_id=tenant.id, kind="ignored", provider=intent.provider,
                  provider_event_id=provider_event_id, provider_event_type=provider_event_type,
                  payload_sha256=payload_sha256, signature_ok=signature_ok, from_status=current,
                  to_status=new_status, note=note or f"{current} does not move to {new_status}")  # fmt: skip
        return False
    now = utcnow()
    intent.status = new_status
    intent.updated_at = now
    if new_status == states.SUCCEEDED:
        intent.succeeded_at = now
    if note and new_status in (states.FAILED, states.CANCELED):
        intent.note = note
    log_event(session, intent, tenant_id=tenant.id, kind=kind, provider=intent.provider,
              provider_event_id=provider_event_id, provider_event_type=provider_event_type,
              payload_sha256=payload_sha256, signature_ok=signature_ok, from_status=current,
              to_status=new_status, note=note)  # fmt: skip
    audit.record(
        session,
        tenant.id,
        actor=actor,
        action=f"payment.{new_status}",
        object_type="payment_intent",
        object_id=intent.id,
        data={"from": current, "to": new_status, "amount_jpy": intent.amount_jpy},
    )
    if new_status == states.SUCCEEDED:
        application = session.execute(
            select(Application).where(
                Application.tenant_id == intent.tenant_id, Application.id == intent.application_id
            )
        ).scalar_one()
        for handler in _succeeded_handlers:
            handler(session, tenant, application, intent)
    return True
