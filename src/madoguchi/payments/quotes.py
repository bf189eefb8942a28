"""Quotes: what an application costs, line by line, for its channel, and the exemption (減免) if granted.

``quote_application`` stores the application's quote (``models.FeeQuote``), superseding the one before: at
submit (the ``quote_fee`` action), when a clerk fixes the fee (事後決済) and when a clerk grants an exemption.
The fee comes from the application's settings snapshot (the catalog's ``fee`` within its range, as the tenant
overrode it); the number of copies from the answers. Decision 0043.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from madoguchi.applications.models import Application
from madoguchi.audit import operations as audit
from madoguchi.db import utcnow
from madoguchi.payments import intents
from madoguchi.payments.models import FeeQuote
from madoguchi.tenancy.models import Tenant

FEE_LABEL = {"ja": "手数料", "en": "Fee"}


def channel_of(application: Application) -> str:
    """The fee channel of an application: the counter for counter filings, else online."""
    return "counter" if application.channel == "counter" else "online"


def fee_lines(settings: dict[str, Any], data: dict[str, Any], *, channel: str) -> list[dict[str, Any]]:
    """The 手数料 lines of an application (no surcharge, no exemption): the fee per copy × copies."""
    fee = settings.get("fee")
    unit_price = int(fee if isinstance(fee, int) else (fee or {}).get("default", 0) if isinstance(fee, dict) else 0)
    if unit_price <= 0:
        return []
    copies = int(data.get("copies") or 1)
    return [
        {
            "kind": "fee",
            "label": FEE_LABEL,
            "unit_price": unit_price,
            "quantity": copies,
            "persons": None,
            "amount": unit_price * copies,
        }
    ]


def quote_application(
    session: Session,
    tenant: Tenant,
    application: Application,
    *,
    actor: str,
    account_id: uuid.UUID | None = None,
    channel: str | None = None,
) -> FeeQuote:
    """Store the application's quote for ``channel`` (default: its own), superseding the current one."""
    channel = channel or channel_of(application)
    lines = fee_lines(application.settings_snapshot, application.data or {}, channel=channel)
    fee_jpy = sum(line["amount"] for line in lines)
    previous = intents.current_quote(session, application)
    now = utcnow()
    if previous is not None:
        previous.superseded_at = now
    quote = FeeQuote(
        tenant_id=tenant.id,
        application_id=application.id,
        channel=channel,
        items=lines,
        fee_jpy=fee_jpy,
        surcharge_jpy=0,
        total_jpy=fee_jpy,
        quoted_by_account_id=account_id,
        created_at=now,
    )
    session.add(quote)
    session.flush()
    audit.record(
        session,
        tenant.id,
        actor=actor,
        action="payment.quoted",
        object_type="application",
        object_id=application.id,
        data={"quote_id": str(quote.id), "channel": channel, "total_jpy": quote.total_jpy},
    )
    return quote
