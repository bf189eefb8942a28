"""Refunds (還付) of a fee already paid: requested by staff with a reason, approved by a supervisor (four eyes).

The 手数料条例 say 「既に納付した手数料は、還付しない」 unless the request could not be accepted (申請事項の不明,
法令の定め …) or the mayor finds a special reason. So ``not_issuable`` (we could not issue) is the reason a clerk
may give alone; every other reason (``duplicate``, ``overpaid``, ``other``) needs a comment saying why.

A refund may be partial. What is requested, in flight or refunded of one intent never exceeds what the intent
collected: requests are serialised on the intent's row (``FOR UPDATE`` on PostgreSQL) and the sum is checked again
when the supervisor approves. Approving an online payment's refund calls the provider that took it (through the
provider registry, with the refund's id as idempotency key: a retried approval never refunds twice); a payment a
clerk recorded (cash or terminal at the counter, 定額小為替 by post) is paid back in cash at the counter, so its
approved refund is recorded as paid out. Each step appends a ``PaymentEvent`` and an audit record; a refund that
succeeds writes the ``payment.refunded`` vendor event to the outbox. Decision 0046.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from madoguchi import outbox
from madoguchi.applications.models import Application
from madoguchi.audit import operations as audit
from madoguchi.config import Settings
from madoguchi.db import utcnow
from madoguchi.errors import Conflict, Forbidden, NotFound, SeparationOfDuties, ValidationFailed
from madoguchi.identity.actors import Actor
from madoguchi.payments import intents, states
from madoguchi.payments.intents import log_event
from madoguchi.payments.models import (
    RECORDED_MODES,
    REFUND_FAILED,
    REFUND_REASONS,
    REFUND_REJECTED,
    REFUND_REQUESTED,
    REFUND_SUBMITTED,
    REFUND_SUCCEEDED,
    PaymentIntent,
    Refund,
)
from madoguchi.payments.providers import registry
from madoguchi.payments.providers.base import ProviderError
from madoguchi.tenancy.models import Tenant

#: The reason a clerk may give without a comment: the request could not be accepted (申請を受理することができない).
DEFAULT_ALLOWED_REASON = "not_issuable"
#: Who approves (上長決裁).
APPROVER_ROLE = "supervisor"
#: Refunds that hold part of the paid amount: a rejected or failed one frees it again.
HOLDING = (REFUND_REQUESTED, REFUND_SUBMITTED, REFUND_SUCCEEDED)
#: The outbox topic of the vendor event (``notify.webhooks.EVENTS``).
PAYMENT_REFUNDED = "payment.refunded"
MAX_COMMENT = 2000
#: The reason codes, for the surfaces (which do not import models).
REASONS = REFUND_REASONS


@dataclass(frozen=True)
class IntentRefunds:
    """One intent of an application with its refunds: what the refund pages show."""

    intent: PaymentIntent
    refunds: list[Refund]
    refunded_jpy: int
    refundable_jpy: int


def ledger(session: Session, application: Application) -> list[IntentRefunds]:
    """Every intent of ``application`` with its refunds, oldest first."""
    rows = []
    for intent in intents.intents_of(session, application):
        of_intent = refunds_of(session, intent)
        refunded = sum(r.amount_jpy for r in of_intent if r.status == REFUND_SUCCEEDED)
        rows.append(IntentRefunds(intent, of_intent, refunded, refundable_jpy(session, intent)))
    return rows


def refunded_total(session: Session, application: Application) -> int:
    """What was refunded of the application's payments (succeeded refunds)."""
    return sum(row.refunded_jpy for row in ledger(session, application))


def refunds_of(session: Session, intent: PaymentIntent) -> list[Refund]:
    """Every refund of ``intent``, oldest first."""
    return list(
        session.execute(
            select(Refund)
            .where(Refund.tenant_id == intent.tenant_id, Refund.intent_id == intent.id)
            .order_by(Refund.created_at, Refund.id)
        ).scalars()
    )


def held_jpy(session: Session, intent: PaymentIntent, *, excluding: uuid.UUID | None = None) -> int:
    """What requested, in-flight and succeeded refunds of ``intent`` hold (``excluding`` one refund)."""
    query = select(func.coalesce(func.sum(Refund.amount_jpy), 0)).where(
        Refund.tenant_id == intent.tenant_id, Refund.intent_id == intent.id, Refund.status.in_(HOLDING)
    )
    if excluding is not None:
        query = query.where(Refund.id != excluding)
    return int(session.execute(query).scalar_one())


def refundable_jpy(session: Session, intent: PaymentIntent) -> int:
    """What may still be requested of ``intent``: 0 unless it succeeded."""
    if intent.status != states.SUCCEEDED:
        return 0
    return max(intent.amount_jpy - held_jpy(session, intent), 0)


def get_intent(session: Session, tenant: Tenant, intent_id: uuid.UUID, *, lock: bool = False) -> PaymentIntent:
    """The tenant's intent (404 for another tenant's), locked for update when ``lock``."""
    query = select(PaymentIntent).where(PaymentIntent.tenant_id == tenant.id, PaymentIntent.id == intent_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    intent = session.execute(query).scalar_one_or_none()
    if intent is None:
        raise NotFound("No such payment.")
    return intent


def get_refund(session: Session, tenant: Tenant, refund_id: uuid.UUID) -> Refund:
    """The tenant's refund (404 for another tenant's)."""
    refund = session.execute(
        select(Refund).where(Refund.tenant_id == tenant.id, Refund.id == refund_id)
    ).scalar_one_or_none()
    if refund is None:
        raise NotFound("No such refund.")
    return refund


def _check_request(session: Session, intent: PaymentIntent, amount_jpy: object, reason: str, comment: str) -> int:
    errors: dict[str, list[str]] = {}
    if reason not in REFUND_REASONS:
        errors["reason"] = [f"must be one of: {', '.join(REFUND_REASONS)}"]
    elif reason != DEFAULT_ALLOWED_REASON and not comment:
        errors["comment"] = ["say why: only a request that could not be issued is refunded without a comment"]
    if len(comment) > MAX_COMMENT:
        errors["comment"] = [f"at most {MAX_COMMENT} characters"]
    left = refundable_jpy(session, intent)
    amount = amount_jpy if isinstance(amount_jpy, int) and not isinstance(amount_jpy, bool) else None
    if amount is None or amount <= 0:
        errors["amount_jpy"] = ["must be a whole number of yen, more than 0"]
    elif amount > left:
        errors["amount_jpy"] = [f"at most {left} yen is left to refund of this payment"]
    if errors:
        raise ValidationFailed("The refund cannot be requested.", errors=errors)
    assert amount is not None
    return amount


def request_refund(
    session: Session,
    tenant: Tenant,
    intent_id: uuid.UUID,
    *,
    actor: Actor,
    amount_jpy: object,
    reason: str,
    comment: str | None = None,
) -> Refund:
    """A staff member asks to refund ``amount_jpy`` of a succeeded intent; a supervisor decides."""
    if not actor.is_staff or actor.account_id is None:
        raise Forbidden("Only staff may request a refund.")
    # Locked: two clerks requesting at once cannot together exceed what was paid.
    intent = get_intent(session, tenant, intent_id, lock=True)
    if intent.status != states.SUCCEEDED:
        raise Conflict("Only a payment that succeeded can be refunded.")
    comment = (comment or "").strip()
    amount = _check_request(session, intent, amount_jpy, reason, comment)
    refund = Refund(
        tenant_id=tenant.id,
        intent_id=intent.id,
        amount_jpy=amount,
        reason=reason,
        comment=comment or None,
        status=REFUND_REQUESTED,
        requested_by_account_id=actor.account_id,
        created_at=utcnow(),
    )
    session.add(refund)
    session.flush()
    log_event(session, intent, tenant_id=tenant.id, kind="refund_requested", provider=intent.provider,
              note=f"{amount} yen, {reason}")  # fmt: skip
    _audit(session, tenant, refund, actor, "payment.refund_requested", comment=refund.comment)
    return refund


def approve_refund(
    session: Session, tenant: Tenant, refund_id: uuid.UUID, *, actor: Actor, settings: Settings
) -> Refund:
    """A supervisor other than the requester approves: the provider refunds, or the cash is recorded paid out.

    The refund ends ``succeeded`` (cash, or the provider refunded at once), ``submitted`` (the provider will tell
    later) or ``failed`` (the provider refused: the amount is free to request again)."""
    refund = get_refund(session, tenant, refund_id)
    _check_approver(refund, actor)
    intent = get_intent(session, tenant, refund.intent_id, lock=True)
    if refund.status != REFUND_REQUESTED:
        raise Conflict("This refund was decided already.")
    if refund.amount_jpy > intent.amount_jpy - held_jpy(session, intent, excluding=refund.id):
        raise Conflict("The refunds of this payment would exceed what was paid.")
    now = utcnow()
    refund.approved_by_account_id = actor.account_id
    refund.decided_at = now
    log_event(session, intent, tenant_id=tenant.id, kind="refund_approved", provider=intent.provider,
              note=f"{refund.amount_jpy} yen")  # fmt: skip
    _audit(session, tenant, refund, actor, "payment.refund_approved")
    if intent.mode in RECORDED_MODES:
        # The municipality holds the money: the clerk pays it back in cash at the counter.
        _settle(session, tenant, refund, intent, REFUND_SUCCEEDED, actor=actor, note="paid out in cash")
        return refund
    refund.status = REFUND_SUBMITTED
    try:
        if intent.provider_ref is None:
            raise ProviderError("the payment has no reference at its provider")
        provider = registry.provider_for(intent.provider, tenant=tenant, settings=settings)
        answer = provider.refund(
            intent.provider_ref, amount_jpy=refund.amount_jpy, idempotency_key=f"refund-{refund.id}"
        )
    except ProviderError as refusal:
        _settle(session, tenant, refund, intent, REFUND_FAILED, actor=actor, note=str(refusal)[:500])
        return refund
    refund.provider_ref = answer.provider_ref
    if answer.status in (REFUND_SUCCEEDED, REFUND_FAILED):
        _settle(session, tenant, refund, intent, answer.status, actor=actor)
    return refund


def reject_refund(
    session: Session, tenant: Tenant, refund_id: uuid.UUID, *, actor: Actor, comment: str | None = None
) -> Refund:
    """A supervisor other than the requester turns the request down (the amount is free again)."""
    refund = get_refund(session, tenant, refund_id)
    _check_approver(refund, actor)
    intent = get_intent(session, tenant, refund.intent_id, lock=True)
    if refund.status != REFUND_REQUESTED:
        raise Conflict("This refund was decided already.")
    refund.status = REFUND_REJECTED
    refund.approved_by_account_id = actor.account_id
    refund.decided_at = utcnow()
    note = (comment or "").strip()[:MAX_COMMENT] or None
    log_event(session, intent, tenant_id=tenant.id, kind="refund_rejected", provider=intent.provider, note=note)
    _audit(session, tenant, refund, actor, "payment.refund_rejected", comment=note)
    return refund


def apply_provider_refund(
    session: Session, tenant: Tenant, refund: Refund, status: str, *, actor: Actor | None = None
) -> bool:
    """The provider's later word on a ``submitted`` refund (a webhook or a poll): True when it ended it."""
    if refund.status != REFUND_SUBMITTED or status not in (REFUND_SUCCEEDED, REFUND_FAILED):
        return False
    intent = get_intent(session, tenant, refund.intent_id)
    _settle(session, tenant, refund, intent, status, actor=actor)
    return True


def _check_approver(refund: Refund, actor: Actor) -> None:
    if not actor.is_staff or APPROVER_ROLE not in actor.staff_roles:
        raise Forbidden("Only a supervisor may decide a refund.")
    if actor.account_id is not None and actor.account_id == refund.requested_by_account_id:
        raise SeparationOfDuties("You requested this refund, so another supervisor must decide it (four eyes).")


def _settle(
    session: Session,
    tenant: Tenant,
    refund: Refund,
    intent: PaymentIntent,
    status: str,
    *,
    actor: Actor | None,
    note: str | None = None,
) -> None:
    """End ``refund`` as succeeded or failed: event, audit and, when succeeded, the vendor event."""
    actor = actor or Actor.system()
    refund.status = status
    if status == REFUND_SUCCEEDED:
        refund.succeeded_at = utcnow()
    log_event(session, intent, tenant_id=tenant.id, kind=f"refund_{status}", provider=intent.provider,
              note=note or f"{refund.amount_jpy} yen")  # fmt: skip
    action = "payment.refunded" if status == REFUND_SUCCEEDED else "payment.refund_failed"
    _audit(session, tenant, refund, actor, action, note=note)
    if status == REFUND_SUCCEEDED:
        application = session.execute(
            select(Application).where(Application.tenant_id == tenant.id, Application.id == intent.application_id)
        ).scalar_one()
        outbox.enqueue(
            session,
            PAYMENT_REFUNDED,
            {
                "application_id": str(application.id),
                "reference": application.reference,
                "intent_id": str(intent.id),
                "refund_id": str(refund.id),
                "amount_jpy": refund.amount_jpy,
                "status": status,
            },
        )


def _audit(session: Session, tenant: Tenant, refund: Refund, actor: Actor, action: str, **extra: object) -> None:
    audit.record(
        session,
        tenant.id,
        actor=actor.label,
        action=action,
        object_type="payment_refund",
        object_id=refund.id,
        data={
            "intent_id": str(refund.intent_id),
            "amount_jpy": refund.amount_jpy,
            "reason": refund.reason,
            "status": refund.status,
            **{key: value for key, value in extra.items() if value is not None},
        },
    )
