"""Money the municipality already holds, recorded by a clerk: cash or a card terminal at the counter, and 定額小為替
(fixed-amount postal money orders) mailed with a postal request. Decision 0047.

Each recording is one ``PaymentIntent`` in a recorded mode (``counter_cash``, ``counter_terminal``,
``postal_order``), born ``succeeded`` through ``intents.create_intent``, so the amount due, the ``fee_settled``
guard and whatever waits for the fee see it at once. The rules:

* Only the municipality's clerks and supervisors record, only on a submitted application that is still open (or
  issued: a village that hands the certificate over and takes the fee at once), and only while something is due.
  The application row is locked while recording, so two clerks (or two tabs) never both take the same fee.
* Never more than is due: at the counter the clerk gives change, so what is recorded is what is applied. A 定額小為替
  may not exceed the amount due (地方自治法施行令 156条): the excess is refused unless the clerk records that it was
  returned to the sender.
* A 定額小為替 is one of the 12 legal denominations and is valid for 6 months from its issue date (民法 140・143条:
  through the same day 6 months later, or that month's last day): an order older than that on the day it was
  received is flagged and not counted; it is kept in the record so the clerk can send it back.
* An idempotency key (the API's ``Idempotency-Key``, the console form's hidden key) names one recording: the same
  key again (a double click, a retry) answers with what was recorded and records nothing more.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from madoguchi import jp
from madoguchi.applications import repository
from madoguchi.applications.models import Application
from madoguchi.audit import operations as audit
from madoguchi.errors import Conflict, Forbidden, ValidationFailed
from madoguchi.identity.actors import Actor
from madoguchi.payments import intents
from madoguchi.payments.models import COUNTER_CASH, COUNTER_TERMINAL, POSTAL_ORDER, PaymentIntent, PostalOrder
from madoguchi.tenancy.models import Tenant

#: The 12 denominations of 定額小為替 (yen).
DENOMINATIONS = (50, 100, 150, 200, 250, 300, 350, 400, 450, 500, 750, 1000)
#: A 定額小為替 is cashable for this many months after its issue date.
VALIDITY_MONTHS = 6
#: Orders in one envelope: far above any real request, low enough to refuse a typo of 1000.
MAX_ORDERS = 100
MAX_NUMBER_LENGTH = 30
MAX_RECEIPT_LENGTH = 100
MAX_KEY_LENGTH = 150

#: Counter modes as the tenant file names them (``payments.counter_modes``) → the intent's mode.
COUNTER_MODES = {"cash": COUNTER_CASH, "terminal": COUNTER_TERMINAL}
#: What a clerk records when the tenant file says nothing (or has no ``payments`` section: fees at its counter).
DEFAULT_COUNTER_MODES = ("cash", "terminal")
#: The provider of what a clerk recorded.
PROVIDER = "counter"
RECORDING_ROLES = frozenset({"clerk", "supervisor"})
#: Ended states in which money may still be taken: the certificate was handed over and the fee is taken with it.
PAYABLE_ENDED_STATES = ("issued",)


@dataclass(frozen=True)
class OrderInput:
    """One 定額小為替 as the clerk read it off the paper."""

    face_value: int
    issued_on: date
    number: str | None = None


def counter_modes(tenant: Tenant) -> tuple[str, ...]:
    """The counter modes ``tenant`` records (``cash``, ``terminal``), as its tenant file lists them."""
    listed = ((tenant.profile or {}).get("payments") or {}).get("counter_modes")
    return tuple(m for m in listed if m in COUNTER_MODES) if listed else DEFAULT_COUNTER_MODES


def valid_until(issued_on: date) -> date:
    """The last day a 定額小為替 issued on ``issued_on`` is cashable: the same day ``VALIDITY_MONTHS`` later, or the
    last day of that month when it has no such day (issued 8月31日 → 2月28日 or 29日)."""
    month0 = issued_on.month - 1 + VALIDITY_MONTHS
    year, month = issued_on.year + month0 // 12, month0 % 12 + 1
    return date(year, month, min(issued_on.day, calendar.monthrange(year, month)[1]))


def is_expired(issued_on: date, received_on: date) -> bool:
    """Whether an order issued on ``issued_on`` was no longer cashable on the day it was received."""
    return received_on > valid_until(issued_on)


# ------------------------------------------------------------------------------------------------ cash, terminal


def record_counter_payment(
    session: Session,
    tenant: Tenant,
    application: Application,
    *,
    actor: Actor,
    mode: str,
    idempotency_key: str,
    amount_jpy: int | None = None,
    receipt_number: str | None = None,
) -> tuple[PaymentIntent, bool]:
    """Record cash or a terminal payment taken at the counter: the succeeded intent and whether it is new.

    ``amount_jpy`` defaults to the amount due; more than that is refused (the clerk gave change). The receipt
    number (領収書番号, the terminal's slip) is the intent's note."""
    _check_actor(actor)
    key = _key("counter", idempotency_key)
    # Locked before the key is looked up: the same key arriving twice at once waits here and then finds the first.
    locked = _locked(session, tenant, application)
    replay = _by_key(session, tenant, locked, key)
    if replay is not None:
        return replay, False
    errors: dict[str, list[str]] = {}
    if mode not in counter_modes(tenant):
        errors["mode"] = [f"must be one of: {', '.join(counter_modes(tenant))}"]
    receipt = (receipt_number or "").strip() or None
    if receipt is not None and len(receipt) > MAX_RECEIPT_LENGTH:
        errors["receipt_number"] = [f"at most {MAX_RECEIPT_LENGTH} characters"]
    _check_payable(session, locked)
    due = intents.amount_due(session, locked)
    amount = due if amount_jpy is None else amount_jpy
    if amount <= 0:
        errors["amount_jpy"] = ["must be more than 0 yen"]
    elif amount > due:
        errors["amount_jpy"] = [f"more than the amount due ({due} yen)"]
    if errors:
        raise ValidationFailed("The payment was not recorded.", errors=errors, amount_due_jpy=due)
    return _recorded(session, tenant, locked, actor, mode=COUNTER_MODES[mode], amount=amount, key=key, note=receipt)


# ----------------------------------------------------------------------------------------------------- 定額小為替


def record_postal_orders(
    session: Session,
    tenant: Tenant,
    application: Application,
    *,
    actor: Actor,
    orders: list[OrderInput],
    received_on: date,
    idempotency_key: str,
    excess_returned: bool = False,
) -> tuple[PostalOrder, bool]:
    """Record the 定額小為替 a postal request came with: the record and whether it is new.

    Orders past their validity on ``received_on`` are flagged and not counted. What the valid ones add up to is
    applied to the amount due (a ``postal_order`` intent, none when nothing counts); any excess is refused
    (422 on ``excess_returned``) unless the clerk records that it was returned."""
    _check_actor(actor)
    key = _key("postal", idempotency_key)
    locked = _locked(session, tenant, application)
    replay = _by_key(session, tenant, locked, key)
    if replay is not None:
        return _record_of(session, tenant, replay), False
    errors = _order_errors(orders, received_on)
    if errors:
        raise ValidationFailed("The postal money orders were not recorded.", errors=errors)
    rows: list[dict[str, Any]] = [
        {
            "face_value": o.face_value,
            "issued_on": o.issued_on.isoformat(),
            "number": (o.number or "").strip() or None,
            "expired": is_expired(o.issued_on, received_on),
        }
        for o in orders
    ]
    same = _same_record(session, tenant, locked, rows, received_on)
    if same is not None:  # nothing counted the first time (no intent, no key): the same envelope is one record
        return same, False
    _check_payable(session, locked)
    counted = sum(r["face_value"] for r in rows if not r["expired"])
    due = intents.amount_due(session, locked)
    excess = max(counted - due, 0)
    if excess and not excess_returned:
        message = f"the orders exceed the amount due ({due} yen) by {excess} yen: return the excess, or remove orders"
        raise ValidationFailed(
            "The postal money orders were not recorded.",
            errors={"excess_returned": [message]},
            amount_due_jpy=due,
            excess_jpy=excess,
        )
    applied = counted - excess
    expired = sum(1 for r in rows if r["expired"])
    note = f"定額小為替 {len(rows)}枚" + (f" (期限切れ {expired}枚)" if expired else "")
    intent = None
    if applied:
        intent, _created = _recorded(
            session, tenant, locked, actor, mode=POSTAL_ORDER, amount=applied, key=key, note=note
        )
    record = PostalOrder(
        tenant_id=tenant.id,
        application_id=locked.id,
        intent_id=intent.id if intent is not None else None,
        orders=rows,
        total_jpy=sum(r["face_value"] for r in rows),
        excess_jpy=excess,
        excess_returned=bool(excess),
        expired_count=expired,
        received_on=received_on,
        received_by_account_id=actor.account_id,
    )
    session.add(record)
    session.flush()
    audit.record(
        session,
        tenant.id,
        actor=actor.label,
        action="payment.postal_orders_recorded",
        object_type="application",
        object_id=locked.id,
        data={
            "postal_order_id": str(record.id),
            "count": len(rows),
            "total_jpy": record.total_jpy,
            "applied_jpy": applied,
            "excess_jpy": excess,
            "expired_count": expired,
        },
    )
    return record, True


def postal_orders_of(session: Session, application: Application) -> list[PostalOrder]:
    """The application's recorded 定額小為替, oldest first."""
    return list(
        session.execute(
            select(PostalOrder)
            .where(PostalOrder.tenant_id == application.tenant_id, PostalOrder.application_id == application.id)
            .order_by(PostalOrder.created_at, PostalOrder.id)
        ).scalars()
    )


# ------------------------------------------------------------------------------------------------------ helpers


def _check_actor(actor: Actor) -> None:
    if not actor.staff_roles & RECORDING_ROLES:
        raise Forbidden("Only the municipality's clerks and supervisors record payments.")


def _recorded(
    session: Session,
    tenant: Tenant,
    application: Application,
    actor: Actor,
    *,
    mode: str,
    amount: int,
    key: str,
    note: str | None,
) -> tuple[PaymentIntent, bool]:
    """The succeeded intent of what the clerk recorded, against the current quote."""
    return intents.create_intent(
        session, tenant, application, mode=mode, provider=PROVIDER, amount_jpy=amount, idempotency_key=key,
        actor=actor.label, actor_account_id=actor.account_id, quote=intents.current_quote(session, application),
        note=note,
    )  # fmt: skip


def _key(prefix: str, idempotency_key: str) -> str:
    key = (idempotency_key or "").strip()
    if not key or len(key) > MAX_KEY_LENGTH:
        raise ValidationFailed(
            "A payment is recorded with an idempotency key.",
            errors={"idempotency_key": [f"1 to {MAX_KEY_LENGTH} characters"]},
        )
    # Namespaced: a key of the counter never names an online intent, nor the other way round.
    return f"{prefix}:{key}"


def _by_key(session: Session, tenant: Tenant, application: Application, key: str) -> PaymentIntent | None:
    """The intent ``key`` already recorded on this application (a replay), or None; 409 for another application."""
    found = session.execute(
        select(PaymentIntent).where(PaymentIntent.tenant_id == tenant.id, PaymentIntent.idempotency_key == key)
    ).scalar_one_or_none()
    if found is not None and found.application_id != application.id:
        raise Conflict("This idempotency key was used for another payment.")
    return found


def _locked(session: Session, tenant: Tenant, application: Application) -> Application:
    """The application, locked until the transaction ends: recordings of one application run one after another."""
    return repository.get(session, tenant.id, application.id, lock=True)


def _check_payable(session: Session, locked: Application) -> None:
    """409 unless money may be taken for the application now."""
    workflow = locked.workflow
    if locked.state == workflow.initial:
        raise Conflict("A draft is not paid for: it is quoted when it is submitted.")
    if workflow.is_terminal(locked.state) and locked.state not in PAYABLE_ENDED_STATES:
        raise Conflict("The application has ended: no fee is taken for it.")
    if intents.amount_due(session, locked) <= 0:
        raise Conflict("Nothing is due on this application.", amount_due_jpy=0)


def _order_errors(orders: list[OrderInput], received_on: date) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if not orders:
        errors["orders"] = ["list at least one postal money order"]
    elif len(orders) > MAX_ORDERS:
        errors["orders"] = [f"at most {MAX_ORDERS} orders"]
    if received_on > jp.today():
        errors["received_on"] = ["must not be in the future"]
    seen: set[str] = set()
    for index, order in enumerate(orders[:MAX_ORDERS]):
        where = f"orders/{index}"  # the API's flat error paths (errors._flatten_webargs_messages)
        if order.face_value not in DENOMINATIONS:
            errors[f"{where}/face_value"] = [f"not a denomination of 定額小為替 ({', '.join(map(str, DENOMINATIONS))})"]
        if order.issued_on > received_on:
            errors[f"{where}/issued_on"] = ["after the day the order was received"]
        number = (order.number or "").strip()
        if len(number) > MAX_NUMBER_LENGTH:
            errors[f"{where}/number"] = [f"at most {MAX_NUMBER_LENGTH} characters"]
        elif number and number in seen:
            errors[f"{where}/number"] = ["the same order is listed twice"]
        if number:
            seen.add(number)
    return errors


def _record_of(session: Session, tenant: Tenant, intent: PaymentIntent) -> PostalOrder:
    return session.execute(
        select(PostalOrder).where(PostalOrder.tenant_id == tenant.id, PostalOrder.intent_id == intent.id)
    ).scalar_one()


def _same_record(
    session: Session, tenant: Tenant, application: Application, rows: list[dict[str, Any]], received_on: date
) -> PostalOrder | None:
    """A record of exactly these orders received that day with nothing counted (so no intent carries its key)."""
    for record in session.execute(
        select(PostalOrder).where(
            PostalOrder.tenant_id == tenant.id,
            PostalOrder.application_id == application.id,
            PostalOrder.received_on == received_on,
            PostalOrder.intent_id.is_(None),
        )
    ).scalars():
        if record.orders == rows:
            return record
    return None
