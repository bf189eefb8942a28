"""What an application's fee stands at, read for the surfaces: the short summary the application's API
representation carries, and the whole picture (quote, intents with their events, 定額小為替) for the console's
payment panel and ``GET …/applications/<id>/payments``. Reads only. Decision 0047.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from madoguchi.applications.models import Application
from madoguchi.payments import counter, intents, states
from madoguchi.payments.models import FeeQuote, PaymentEvent, PaymentIntent
from madoguchi.payments.quotes import payments_of
from madoguchi.tenancy.models import Tenant

#: ``status`` of a summary: no quote yet (a draft, or filed before fees were quoted); exempt (減免); nothing to pay
#: (a free procedure); still due; paid.
NOT_QUOTED, EXEMPT, FREE, DUE, PAID = "not_quoted", "exempt", "free", "due", "paid"


def summary(session: Session, tenant: Tenant, application: Application) -> dict[str, Any]:
    """The fee in short: total, paid, amount due, status, and whether the tenant collects through Madoguchi
    (``collected``: when false, ``fee_settled`` lets the issue through and the counter takes the fee as before)."""
    if application.state == application.workflow.initial:  # a draft is quoted at submit: nothing to read
        return _summary(tenant, None, 0)
    # One statement (it is on every application the API answers with): the quote in force and what was paid.
    paid = (
        select(func.coalesce(func.sum(PaymentIntent.amount_jpy), 0))
        .where(
            PaymentIntent.tenant_id == application.tenant_id,
            PaymentIntent.application_id == application.id,
            PaymentIntent.status == states.SUCCEEDED,
        )
        .scalar_subquery()
    )
    row = session.execute(intents.current_quote_query(application).add_columns(paid)).one_or_none()
    return _summary(tenant, row[0], int(row[1])) if row is not None else _summary(tenant, None, 0)


def _summary(tenant: Tenant, quote: FeeQuote | None, paid: int) -> dict[str, Any]:
    total = quote.total_jpy if quote is not None else 0
    due = max(total - paid, 0)
    if quote is None:
        status = NOT_QUOTED
    elif quote.exemption_code:
        status = EXEMPT
    elif total == 0:
        status = FREE
    else:
        status = DUE if due else PAID
    return {
        "status": status,
        "currency": "JPY",
        "total_jpy": total,
        "fee_jpy": quote.fee_jpy if quote is not None else 0,
        "surcharge_jpy": quote.surcharge_jpy if quote is not None else 0,
        "paid_jpy": paid,
        "amount_due_jpy": due,
        "exemption": quote.exemption_code if quote is not None else None,
        "collected": payments_of(tenant) is not None,
    }


def overview(session: Session, tenant: Tenant, application: Application, *, staff: bool) -> dict[str, Any]:
    """Everything about the application's fee, oldest first. ``staff``: with the clerks' notes (receipt numbers,
    exemption reasons) and who recorded what; a resident sees the amounts and the states."""
    quote = intents.current_quote(session, application)
    rows = intents.intents_of(session, application)
    paid = sum(i.amount_jpy for i in rows if i.status == states.SUCCEEDED)
    events = _events_by_intent(session, application, rows)
    return {
        **_summary(tenant, quote, paid),
        "quote": _quote(quote, staff=staff) if quote is not None else None,
        "intents": [_intent(i, events.get(i.id, []), staff=staff) for i in rows],
        "postal_orders": [
            {
                "id": p.id,
                "intent_id": p.intent_id,
                "orders": p.orders,
                "total_jpy": p.total_jpy,
                "excess_jpy": p.excess_jpy,
                "excess_returned": p.excess_returned,
                "expired_count": p.expired_count,
                "received_on": p.received_on,
                "received_by_account_id": p.received_by_account_id if staff else None,
                "created_at": p.created_at,
            }
            for p in counter.postal_orders_of(session, application)
        ],
    }


def present_intent(session: Session, intent: PaymentIntent, *, staff: bool) -> dict[str, Any]:
    """One intent with its events, as ``overview`` lists it."""
    events = session.execute(
        select(PaymentEvent)
        .where(PaymentEvent.tenant_id == intent.tenant_id, PaymentEvent.intent_id == intent.id)
        .order_by(PaymentEvent.at, PaymentEvent.id)
    ).scalars()
    return _intent(intent, list(events), staff=staff)


def _quote(quote: FeeQuote, *, staff: bool) -> dict[str, Any]:
    return {
        "id": quote.id,
        "channel": quote.channel,
        "items": quote.items,
        "fee_jpy": quote.fee_jpy,
        "surcharge_jpy": quote.surcharge_jpy,
        "total_jpy": quote.total_jpy,
        "exemption": quote.exemption_code,
        "exemption_reason": quote.exemption_reason if staff else None,
        "created_at": quote.created_at,
    }


def _intent(intent: PaymentIntent, events: list[PaymentEvent], *, staff: bool) -> dict[str, Any]:
    return {
        "id": intent.id,
        "amount_jpy": intent.amount_jpy,
        "purpose": intent.purpose,
        "mode": intent.mode,
        "provider": intent.provider,
        "status": intent.status,
        "created_at": intent.created_at,
        "updated_at": intent.updated_at,
        "expires_at": intent.expires_at,
        "succeeded_at": intent.succeeded_at,
        "note": intent.note if staff else None,
        "recorded_by_account_id": intent.created_by_account_id if staff else None,
        "events": [
            {"kind": e.kind, "from_status": e.from_status, "to_status": e.to_status, "at": e.at} for e in events
        ],
    }


def _events_by_intent(
    session: Session, application: Application, rows: list[PaymentIntent]
) -> dict[Any, list[PaymentEvent]]:
    if not rows:
        return {}
    found: dict[Any, list[PaymentEvent]] = {}
    for event in session.execute(
        select(PaymentEvent)
        .where(
            PaymentEvent.tenant_id == application.tenant_id,
            PaymentEvent.intent_id.in_([i.id for i in rows]),
        )
        .order_by(PaymentEvent.at, PaymentEvent.id)
    ).scalars():
        found.setdefault(event.intent_id, []).append(event)
    return found
