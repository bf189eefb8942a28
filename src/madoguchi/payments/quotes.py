"""Quotes: what an application costs, line by line, for its channel, and the exemption (減免) if granted.

``quote_application`` stores the application's quote (``models.FeeQuote``), superseding the one before: at
submit (the ``quote_fee`` action), when a clerk fixes the fee (事後決済) and when a clerk grants an exemption.
``preview`` prices the same way without storing anything (the portal's review page before submit, the counter
filing). Decision 0043.

* The fee comes from the application's settings snapshot: ``fee_by_channel`` (the catalog's fee per channel
  within its range, as the tenant overrode it), else the one ``fee`` of snapshots taken before channels existed.
* ``fee_per`` says how it counts: per copy, once per application, or per copy by units of persons (住民票: 1–5
  persons are one 件, 6–10 two, …). The persons are those the copy is of (本人, the picked members, or the whole
  household in the register).
* The tenant's システム利用料 (``payments.surcharge``) is its own line, only for payments online and never on a
  free or exempt application: it is not 手数料 revenue.
* An exemption makes the 手数料 and the surcharge 0 and needs a reason (audited); evidence is an attachment the
  surface checked belongs to the application (this layer cannot read attachments, they are ``documents``').
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from madoguchi.applications.history import workflow_of
from madoguchi.applications.models import Application
from madoguchi.audit import operations as audit
from madoguchi.db import utcnow
from madoguchi.errors import Conflict, ValidationFailed
from madoguchi.payments import intents
from madoguchi.payments.models import CHANNELS, EXEMPTIONS, FeeQuote
from madoguchi.registry.models import Person
from madoguchi.tenancy.models import Tenant

FEE_LABEL = {"ja": "手数料", "en": "Fee"}
SURCHARGE_LABEL = {"ja": "システム利用料", "en": "System fee"}
#: Channels a surcharge applies to: the システム利用料 is what paying online costs the municipality.
SURCHARGE_CHANNELS = ("online",)
#: The most a clerk may fix as an application's 手数料 (事後決済): ten copies of the dearest standard fee and more.
MAX_FIXED_FEE = 1_000_000
MAX_REASON = 1000
#: ``/record`` of the residency form: a copy of the 除票 is of removed persons only.
_REMOVED_RECORD = "removed"


@dataclass(frozen=True)
class Priced:
    """What an application costs, not stored: the lines and the totals (``FeeQuote``'s shape)."""

    channel: str
    items: list[dict[str, Any]] = field(default_factory=list)
    fee_jpy: int = 0
    surcharge_jpy: int = 0
    exemption_code: str | None = None

    @property
    def total_jpy(self) -> int:
        return self.fee_jpy + self.surcharge_jpy


def channel_of(application: Application) -> str:
    """The fee channel of an application: the counter for counter filings, else online."""
    return "counter" if application.channel == "counter" else "online"


def fee_for(settings: dict[str, Any], channel: str) -> int:
    """The fee per unit for ``channel``: ``fee_by_channel`` of the settings, else their one ``fee``."""
    by_channel = settings.get("fee_by_channel")
    if isinstance(by_channel, dict) and isinstance(by_channel.get(channel), int):
        return int(by_channel[channel])
    fee = settings.get("fee")
    if isinstance(fee, dict):  # an unexpected shape: the standard's default
        fee = fee.get("default")
    return int(fee) if isinstance(fee, int) and not isinstance(fee, bool) else 0


def units_of_persons(persons: int, per_unit: int) -> int:
    """How many 件 a copy of ``persons`` persons counts when every started ``per_unit`` persons is one (at least 1)."""
    return max(1, math.ceil(persons / max(1, per_unit)))


def persons_of(session: Session, application: Application) -> int | None:
    """How many persons the requested copy is of: 1 for 本人 only, the picked members, or the household in the
    register (current members for a 住民票, removed ones for a 除票). None when it cannot be known yet (the person
    concerned is not linked to the register): the quote then counts one unit and a clerk re-quotes."""
    data = application.data or {}
    scope = data.get("scope", "self")
    if scope == "selected":
        return max(1, len(data.get("selected_members") or []))
    if scope != "whole_household":
        return 1
    if application.subject_person_id is None:
        return None
    person = session.execute(
        select(Person).where(Person.tenant_id == application.tenant_id, Person.id == application.subject_person_id)
    ).scalar_one_or_none()
    if person is None:
        return None
    removed = data.get("record") == _REMOVED_RECORD
    return max(1, sum(1 for member in person.household.members if member.is_removed == removed))


def fee_lines(
    settings: dict[str, Any], data: dict[str, Any], *, channel: str, persons: int | None = None
) -> list[dict[str, Any]]:
    """The 手数料 lines of an application (no surcharge, no exemption): the fee per unit × copies (× units of
    persons where the fee counts by persons)."""
    unit_price = fee_for(settings, channel)
    if unit_price <= 0:
        return []
    per = settings.get("fee_per", "copy")
    copies = 1 if per == "application" else max(1, int(data.get("copies") or 1))
    quantity = copies
    if per == "persons":
        quantity = copies * units_of_persons(persons or 1, int(settings.get("persons_per_unit") or 1))
    return [
        {
            "kind": "fee",
            "label": dict(FEE_LABEL),
            "unit_price": unit_price,
            "quantity": quantity,
            "persons": persons if per == "persons" else None,
            "amount": unit_price * quantity,
        }
    ]


def surcharge_line(payments: dict[str, Any] | None, *, channel: str) -> dict[str, Any] | None:
    """The tenant's システム利用料 line for ``channel``, or None (no surcharge, or not paid online)."""
    surcharge = (payments or {}).get("surcharge") or {}
    amount = surcharge.get("amount")
    if channel not in SURCHARGE_CHANNELS or not isinstance(amount, int) or amount <= 0:
        return None
    label = surcharge.get("label") or SURCHARGE_LABEL
    return {
        "kind": "surcharge",
        "label": dict(label),
        "unit_price": amount,
        "quantity": 1,
        "persons": None,
        "amount": amount,
    }


def price(
    settings: dict[str, Any],
    data: dict[str, Any],
    payments: dict[str, Any] | None,
    *,
    channel: str,
    persons: int | None = None,
    exemption: str | None = None,
    fixed_fee_jpy: int | None = None,
) -> Priced:
    """Price an application (pure): the 手数料 lines, or the clerk's fixed fee as one line; the surcharge when
    something is to be paid online; an exemption makes both 0 (the fee line stays, at 0, to show what was waived)."""
    lines = fee_lines(settings, data, channel=channel, persons=persons)
    if fixed_fee_jpy is not None:
        persons_counted = lines[0]["persons"] if lines else None
        lines = [
            {
                "kind": "fee",
                "label": dict(FEE_LABEL),
                "unit_price": fixed_fee_jpy,
                "quantity": 1,
                "persons": persons_counted,
                "amount": fixed_fee_jpy,
            }
        ]
    if exemption is not None:
        lines = [{**line, "amount": 0} for line in lines]
    fee_jpy = sum(line["amount"] for line in lines)
    extra = surcharge_line(payments, channel=channel) if fee_jpy > 0 else None
    if extra is not None:
        lines.append(extra)
    return Priced(
        channel=channel,
        items=lines,
        fee_jpy=fee_jpy,
        surcharge_jpy=extra["amount"] if extra else 0,
        exemption_code=exemption,
    )


def payments_of(tenant: Tenant) -> dict[str, Any] | None:
    """The tenant's ``payments`` settings (the tenant file's section, in the profile), or None."""
    config = (tenant.profile or {}).get("payments")
    return dict(config) if config else None


def preview(session: Session, tenant: Tenant, application: Application, *, channel: str | None = None) -> Priced:
    """What the application would cost if quoted now: nothing stored (the review page, the counter filing)."""
    channel = channel or channel_of(application)
    persons = persons_of(session, application) if application.settings_snapshot.get("fee_per") == "persons" else None
    return price(
        application.settings_snapshot, application.data or {}, payments_of(tenant), channel=channel, persons=persons
    )


def exemptions_allowed(tenant: Tenant) -> tuple[str, ...]:
    """The 減免 codes a clerk may grant: the tenant file's list, else every code (a tenant not collecting through
    Madoguchi still records that it waived a fee)."""
    listed = (payments_of(tenant) or {}).get("exemptions")
    return tuple(code for code in EXEMPTIONS if code in listed) if listed else EXEMPTIONS


def _check_request(
    tenant: Tenant,
    application: Application,
    *,
    channel: str,
    exemption: str | None,
    exemption_reason: str | None,
    evidence_id: uuid.UUID | None,
    fixed_fee_jpy: int | None,
) -> str | None:
    """Refuse a request that is not a valid quote (field errors, nothing changed); the reason as stored."""
    errors: dict[str, list[str]] = {}
    if channel not in CHANNELS:
        errors["channel"] = [f"must be one of: {', '.join(CHANNELS)}"]
    reason = (exemption_reason or "").strip() or None
    if exemption is not None:
        allowed = exemptions_allowed(tenant)
        if exemption not in allowed:
            errors["exemption"] = [f"must be one of: {', '.join(allowed)}"]
        if reason is None:
            errors["exemption_reason"] = ["A reason is required to grant an exemption."]
        elif len(reason) > MAX_REASON:
            errors["exemption_reason"] = [f"At most {MAX_REASON} characters."]
        if fixed_fee_jpy is not None:
            errors["fixed_fee_jpy"] = ["Fix a fee or grant an exemption, not both."]
    elif reason is not None or evidence_id is not None:
        errors["exemption"] = ["Choose the exemption the reason and evidence are for."]
    if fixed_fee_jpy is not None and (
        isinstance(fixed_fee_jpy, bool) or not isinstance(fixed_fee_jpy, int) or not 0 <= fixed_fee_jpy <= MAX_FIXED_FEE
    ):
        errors["fixed_fee_jpy"] = [f"must be a whole number of yen, 0 to {MAX_FIXED_FEE:,}"]
    if errors:
        raise ValidationFailed("The quote is not valid.", errors=errors)
    workflow = workflow_of(application)
    if application.state == workflow.initial or workflow.is_terminal(application.state):
        raise Conflict(f"The application is '{application.state}': its fee cannot be quoted now.")
    return reason


def quote_application(
    session: Session,
    tenant: Tenant,
    application: Application,
    *,
    actor: str,
    account_id: uuid.UUID | None = None,
    channel: str | None = None,
    exemption: str | None = None,
    exemption_reason: str | None = None,
    evidence_id: uuid.UUID | None = None,
    fixed_fee_jpy: int | None = None,
) -> FeeQuote:
    """Store the application's quote for ``channel`` (default: its own), superseding the current one.

    ``exemption`` (a code the tenant lists, with ``exemption_reason``; ``evidence_id`` an attachment of the
    application, checked by the caller) makes the fee and surcharge 0; ``fixed_fee_jpy`` is the 手数料 a clerk
    fixed (事後決済) in place of the catalog's count. Bad input raises ``ValidationFailed`` and stores nothing.
    """
    channel = channel or channel_of(application)
    reason = _check_request(
        tenant,
        application,
        channel=channel,
        exemption=exemption,
        exemption_reason=exemption_reason,
        evidence_id=evidence_id,
        fixed_fee_jpy=fixed_fee_jpy,
    )
    settings = application.settings_snapshot
    persons = persons_of(session, application) if settings.get("fee_per") == "persons" else None
    priced = price(
        settings,
        application.data or {},
        payments_of(tenant),
        channel=channel,
        persons=persons,
        exemption=exemption,
        fixed_fee_jpy=fixed_fee_jpy,
    )
    previous = intents.current_quote(session, application)
    now = utcnow()
    if previous is not None:
        previous.superseded_at = now
    quote = FeeQuote(
        tenant_id=tenant.id,
        application_id=application.id,
        channel=channel,
        items=priced.items,
        fee_jpy=priced.fee_jpy,
        surcharge_jpy=priced.surcharge_jpy,
        total_jpy=priced.total_jpy,
        exemption_code=exemption,
        exemption_reason=reason if exemption else None,
        exemption_evidence_id=evidence_id if exemption else None,
        quoted_by_account_id=account_id,
        created_at=now,
    )
    session.add(quote)
    session.flush()
    data: dict[str, Any] = {"quote_id": str(quote.id), "channel": channel, "total_jpy": quote.total_jpy}
    action = "payment.quoted"
    if exemption is not None:
        action = "payment.exempted"
        data |= {"exemption": exemption, "reason": reason, "evidence_id": str(evidence_id) if evidence_id else None}
    elif fixed_fee_jpy is not None:
        action = "payment.fee_fixed"
        data |= {"fixed_fee_jpy": fixed_fee_jpy}
    if previous is not None:
        data["superseded_quote_id"] = str(previous.id)
    audit.record(
        session,
        tenant.id,
        actor=actor,
        action=action,
        object_type="application",
        object_id=application.id,
        data=data,
    )
    return quote
