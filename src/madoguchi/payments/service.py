"""Online payments: start one on the provider's hosted page, apply what the provider says, continue after it.

* ``start_online_payment``: the intent for what is due (``intents.create_intent``, idempotent by key) and the
  provider's payment for it (its hosted page: Madoguchi never sees a card number). An open intent of the same
  amount is reused, so pressing "Pay" twice never makes two payments; after a decline, cancel or expiry the
  resident may start again and gets a new intent.
* ``apply_provider_status``: a verified webhook or a poll's answer moves the intent (``intents.move``: forward
  only; a stale or late event is logged as ``ignored``).
* ``continue_after_payment`` (an ``on_succeeded`` handler): an application whose auto-issue waited, approved,
  for its fee (prepay) is issued by the system once the fee is paid.
* ``payable`` and ``send_payment_link``: when a resident may pay online (prepay: from submit; 事後決済: once a
  clerk fixed the fee), and the email that tells them (with the link to the application in the portal).

Everything runs in the caller's transaction and never commits. Decision 0044.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from madoguchi import outbox
from madoguchi.applications import operations as application_operations
from madoguchi.applications.history import workflow_of
from madoguchi.applications.models import Application
from madoguchi.audit import operations as audit
from madoguchi.db import utcnow
from madoguchi.errors import Conflict, ServiceUnavailable
from madoguchi.identity.actors import Actor
from madoguchi.identity.models import Account, AccountKind
from madoguchi.payments import intents, quotes, states
from madoguchi.payments.models import AFTER_FEE_FIXED, PREPAY, FeeQuote, PaymentIntent
from madoguchi.payments.providers import fake as _fake_provider  # noqa: F401  (registers "fake")
from madoguchi.payments.providers.base import PaymentProvider, ProviderError, ProviderEvent, ProviderPayment
from madoguchi.payments.providers.registry import provider_for
from madoguchi.payments.quotes import payments_of
from madoguchi.tenancy.models import Tenant

if TYPE_CHECKING:
    from madoguchi.config import Settings

ONLINE_MODES = (PREPAY, AFTER_FEE_FIXED)
#: The outbox template of the email that asks the resident to pay (事後決済), an application email.
PAYMENT_LINK_TEMPLATE = "application.payment_requested"


def _settings(settings: Settings | None) -> Settings:
    return settings if settings is not None else current_app.config["MADOGUCHI"]


def adapter(
    session: Session, tenant: Tenant, name: str | None = None, *, settings: Settings | None = None
) -> PaymentProvider:
    """The tenant's provider adapter (or ``name``'s), built for this session."""
    config = payments_of(tenant) or {}
    provider = name or str(config.get("provider") or "")
    return provider_for(provider, tenant=tenant, settings=_settings(settings), session=session)


def online_mode(tenant: Tenant) -> str | None:
    """``prepay`` or ``after_fee_fixed`` when the tenant takes fees online, else None."""
    config = payments_of(tenant)
    if config is None or not config.get("provider"):
        return None
    mode = str(config.get("online") or PREPAY)
    return mode if mode in ONLINE_MODES else None


def payable(session: Session, tenant: Tenant, application: Application) -> int:
    """What the resident may pay online now (0: nothing, or not online, or not yet).

    Prepay: from submit until the application ends. 事後決済: once a clerk fixed the fee (a quote made by staff),
    not on the quote made at submit, which the clerk has not checked yet."""
    mode = online_mode(tenant)
    if mode is None or application.state == workflow_of(application).initial:
        return 0
    if workflow_of(application).is_terminal(application.state):
        return 0
    quote = intents.current_quote(session, application)
    if quote is None or (mode == AFTER_FEE_FIXED and not _fixed_by_staff(session, quote)):
        return 0
    return intents.amount_due(session, application)


def _fixed_by_staff(session: Session, quote: FeeQuote) -> bool:
    """Whether a member of staff made the quote (the submit's quote is the system's or the applicant's)."""
    if quote.quoted_by_account_id is None:
        return False
    account = session.execute(
        select(Account).where(Account.tenant_id == quote.tenant_id, Account.id == quote.quoted_by_account_id)
    ).scalar_one_or_none()
    return account is not None and account.kind == AccountKind.STAFF


def open_intent(session: Session, application: Application) -> PaymentIntent | None:
    """The application's online intent still waiting to be paid (not past its deadline), if any."""
    now = utcnow()
    for intent in reversed(intents.intents_of(session, application)):
        still_open = intent.mode in ONLINE_MODES and intent.status in states.OPEN
        if still_open and (intent.expires_at is None or intent.expires_at > now):
            return intent
    return None


def start_online_payment(
    session: Session,
    tenant: Tenant,
    application: Application,
    *,
    actor: Actor,
    return_url: str,
    idempotency_key: str | None = None,
    settings: Settings | None = None,
) -> PaymentIntent:
    """The intent the resident pays on the provider's hosted page (``redirect_url``).

    The same ``idempotency_key`` answers the same intent (also once paid). Without a key, an open intent for the
    amount due is reused. Refused (409) when the municipality takes no fees online or nothing is payable now."""
    if idempotency_key:
        existing = session.execute(
            select(PaymentIntent).where(
                PaymentIntent.tenant_id == tenant.id, PaymentIntent.idempotency_key == idempotency_key
            )
        ).scalar_one_or_none()
        if existing is not None and existing.application_id == application.id:
            return existing
    mode = online_mode(tenant)
    if mode is None:
        raise Conflict("This municipality does not take fees online: pay at the counter.", reason="not_online")
    due = payable(session, tenant, application)
    if due <= 0:
        raise Conflict("There is nothing to pay online for this application now.", reason="nothing_due")
    reusable = open_intent(session, application)
    if reusable is not None and reusable.amount_jpy == due and idempotency_key is None:
        return reusable
    config = payments_of(tenant) or {}
    hours = int(config.get("expires_after_hours") or intents.DEFAULT_EXPIRY.total_seconds() // 3600)
    key = idempotency_key or f"online-{secrets.token_urlsafe(18)}"
    provider = adapter(session, tenant, settings=settings)
    intent, created = intents.create_intent(
        session,
        tenant,
        application,
        mode=mode,
        provider=provider.name,
        amount_jpy=due,
        idempotency_key=key,
        actor=actor.label,
        actor_account_id=actor.account_id,
        quote=intents.current_quote(session, application),
        expires_at=utcnow() + timedelta(hours=hours),
    )
    if not created:
        return intent
    title = application.settings_snapshot.get("title") or {}
    try:
        payment = provider.create(
            amount_jpy=due,
            description=f"{title.get('ja') or application.service_key} {application.reference}",
            return_url=return_url,
            metadata={
                "intent_id": str(intent.id),
                "application_id": str(application.id),
                "reference": application.reference,
                "tenant": tenant.slug,
            },
            idempotency_key=key,
        )
    except ProviderError as error:
        # Nothing of ours stands without the provider's payment: the caller's transaction rolls back.
        raise ServiceUnavailable("The payment service cannot be reached now. Try again in a few minutes.") from error
    intent.provider_ref = payment.provider_ref
    intent.redirect_url = payment.redirect_url
    intents.log_event(session, intent, tenant_id=tenant.id, kind="redirected", provider=provider.name,
                      to_status=intent.status, note=payment.redirect_url)  # fmt: skip
    return intent


def apply_provider_status(
    session: Session,
    tenant: Tenant,
    intent: PaymentIntent,
    update: ProviderEvent | ProviderPayment,
    *,
    kind: Literal["webhook", "poll"],
    payload_sha256: str | None = None,
    signature_ok: bool | None = None,
) -> bool:
    """Move ``intent`` to the status the provider reports (True when it moved). A webhook's event id is kept
    on the event row (a second delivery of it raises ``IntegrityError`` at flush: the caller's duplicate). A
    report about another payment, or of another amount, changes nothing and is logged."""
    # Locked, and read again: a webhook and the return page's poll may report the same payment at once; the
    # second waits here and finds the intent already moved (its move is then logged as ignored).
    session.flush()
    session.refresh(intent, with_for_update=True)
    event_id = update.event_id if isinstance(update, ProviderEvent) else None
    event_type = update.event_type if isinstance(update, ProviderEvent) else None
    actor = f"provider:{intent.provider}"
    problem = None
    if update.provider_ref != intent.provider_ref:
        problem = f"about payment {update.provider_ref}, not this intent's"
    elif update.status == states.SUCCEEDED and update.amount_jpy not in (None, intent.amount_jpy):
        problem = f"succeeded with {update.amount_jpy} yen, {intent.amount_jpy} yen expected"
    if problem is not None or update.status is None:
        intents.log_event(session, intent, tenant_id=tenant.id, kind="mismatch" if problem else kind,
                          provider=intent.provider, provider_event_id=event_id, provider_event_type=event_type,
                          payload_sha256=payload_sha256, signature_ok=signature_ok, note=problem)  # fmt: skip
        return False
    if kind == "poll":
        intent.polled_at = utcnow()
    failure = (
        update.failure_code if isinstance(update, ProviderPayment) else update.raw.get("data", {}).get("failure_code")
    )
    return intents.move(
        session,
        tenant,
        intent,
        update.status,
        kind=kind,
        actor=actor,
        provider_event_id=event_id,
        provider_event_type=event_type,
        payload_sha256=payload_sha256,
        signature_ok=signature_ok,
        note=str(failure) if failure and update.status == states.FAILED else None,
    )


@intents.on_succeeded
def continue_after_payment(session: Session, tenant: Tenant, application: Application, intent: PaymentIntent) -> None:
    """Issue what waited for its fee: an auto-issue stopped, approved, at prepay (nothing more is due)."""
    if intents.amount_due(session, application) == 0:
        application_operations.resume_auto_issue(session, tenant, application)


@dataclass(frozen=True)
class PaymentLink:
    amount_jpy: int
    application_url: str


def send_payment_link(
    session: Session, tenant: Tenant, application: Application, *, actor: Actor, settings: Settings | None = None
) -> PaymentLink:
    """事後決済: tell the resident by email that the fee is fixed and where to pay (the application's page in the
    portal, which offers the payment). Refused (409) when nothing is payable online."""
    due = payable(session, tenant, application)
    if due <= 0:
        raise Conflict("There is nothing to pay online for this application now.", reason="nothing_due")
    base = _settings(settings).public_url.rstrip("/")
    link = PaymentLink(due, f"{base}/{tenant.slug}/applications/{application.id}/pay")
    outbox.enqueue(
        session,
        "notify.applicant",
        {
            "template": PAYMENT_LINK_TEMPLATE,
            "application_id": application.id,
            "application_reference": application.reference,
            "account_id": application.applicant_account_id,
            "service_key": application.service_key,
            "amount_jpy": due,
        },
    )
    audit.record(
        session,
        tenant.id,
        actor=actor.label,
        action="payment.link_sent",
        object_type="application",
        object_id=application.id,
        data={"amount_jpy": due},
    )
    return link


def requote(
    session: Session,
    tenant: Tenant,
    application: Application,
    *,
    actor: Actor,
    settings: Settings | None = None,
    **quote_options: Any,
) -> FeeQuote:
    """A clerk's new quote (``quotes.quote_application``: fix the fee, change the channel, grant 減免); under
    事後決済 the resident is then told by email that the fee is fixed and where to pay, when anything is payable."""
    quote = quotes.quote_application(
        session, tenant, application, actor=actor.label, account_id=actor.account_id, **quote_options
    )
    if online_mode(tenant) == AFTER_FEE_FIXED and payable(session, tenant, application) > 0:
        send_payment_link(session, tenant, application, actor=actor, settings=settings)
    return quote


# --- What the pages show -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PaymentSummary:
    """An application's fee as the resident's pages show it: the quote's lines, what is paid and still due."""

    items: list[dict[str, Any]]
    total_jpy: int
    paid_jpy: int
    due_jpy: int
    #: What may be paid online now (0: nothing, not online, or not yet: 事後決済 before the clerk fixed the fee).
    payable_jpy: int
    exempt: bool
    #: Whether the municipality collects fees through Madoguchi at all (tenant file ``payments``).
    collected: bool
    mode: str | None
    intents: list[PaymentIntent]


def summary(session: Session, tenant: Tenant, application: Application) -> PaymentSummary | None:
    """The application's fee (None when it has no quote: a procedure without a fee)."""
    quote = intents.current_quote(session, application)
    if quote is None:
        return None
    return PaymentSummary(
        items=list(quote.items or []),
        total_jpy=quote.total_jpy,
        paid_jpy=intents.paid_jpy(session, application),
        due_jpy=intents.amount_due(session, application),
        payable_jpy=payable(session, tenant, application),
        exempt=quote.exemption_code is not None,
        collected=payments_of(tenant) is not None,
        mode=online_mode(tenant),
        intents=intents.intents_of(session, application),
    )


def intent_of(session: Session, application: Application, intent_id: uuid.UUID) -> PaymentIntent | None:
    """One of the application's intents (None for another application's, or another tenant's)."""
    return next((i for i in intents.intents_of(session, application) if i.id == intent_id), None)


def find_intent(session: Session, tenant: Tenant, intent_id: uuid.UUID) -> PaymentIntent | None:
    """This tenant's intent ``intent_id`` (None for another tenant's: the caller answers 404). Whose application
    it is, the caller checks (a resident's own only)."""
    return session.execute(
        select(PaymentIntent).where(PaymentIntent.tenant_id == tenant.id, PaymentIntent.id == intent_id)
    ).scalar_one_or_none()


def refresh_from_provider(
    session: Session, tenant: Tenant, intent: PaymentIntent, *, settings: Settings | None = None
) -> bool:
    """Ask the provider how an open intent stands (the resident is back from its page before its webhook, or the
    webhook waits in the outbox) and apply the answer as a poll. True when the intent moved."""
    if intent.status not in states.OPEN or intent.provider_ref is None:
        return False
    try:
        reported = adapter(session, tenant, intent.provider, settings=settings).retrieve(intent.provider_ref)
    except ProviderError:
        return False  # the webhook or the poller will tell
    if reported.status == intent.status:
        intent.polled_at = utcnow()
        return False
    return apply_provider_status(session, tenant, intent, reported, kind="poll")


@dataclass(frozen=True)
class TimelineEntry:
    """A payment step on the resident's timeline: the intent started, or ended (``status``)."""

    at: datetime
    status: str
    amount_jpy: int


def timeline(session: Session, application: Application) -> list[TimelineEntry]:
    """The application's payment steps, oldest first: each online intent started, and each that ended."""
    entries = []
    for intent in intents.intents_of(session, application):
        if intent.mode in ONLINE_MODES:
            entries.append(TimelineEntry(intent.created_at, "started", intent.amount_jpy))
        if intent.status in states.ENDED:
            ended_at = intent.succeeded_at or intent.updated_at
            entries.append(TimelineEntry(ended_at, intent.status, intent.amount_jpy))
    return sorted(entries, key=lambda e: e.at)
