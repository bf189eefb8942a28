"""Every query of the webhook operations: subscriptions, their delivery log, and what fan-out needs to know about
applications and vendor apps. Nothing here decides a rule or commits."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Row, select, tuple_, update
from sqlalchemy.orm import Session

from madoguchi.applications.models import Application
from madoguchi.notify.models import WebhookDelivery, WebhookSubscription
from madoguchi.oauth.models import OAuthClient, OAuthConsent

# --- Subscriptions -----------------------------------------------------------------------------------


def _owned(client_id: uuid.UUID | None) -> list[Any]:
    """Which subscriptions a caller manages: a vendor app its own; a tenant admin session (None) all."""
    criteria: list[Any] = [WebhookSubscription.deleted_at.is_(None)]
    if client_id is not None:
        criteria.append(WebhookSubscription.client_id == client_id)
    return criteria


def list_subscriptions(session: Session, tenant_id: uuid.UUID, *, client_id: uuid.UUID | None) -> list[Any]:
    stmt = (
        select(WebhookSubscription)
        .where(WebhookSubscription.tenant_id == tenant_id, *_owned(client_id))
        .order_by(WebhookSubscription.created_at, WebhookSubscription.id)
    )
    return list(session.execute(stmt).scalars())


def find_subscription(
    session: Session, tenant_id: uuid.UUID, subscription_id: uuid.UUID, *, client_id: uuid.UUID | None
) -> WebhookSubscription | None:
    stmt = select(WebhookSubscription).where(
        WebhookSubscription.tenant_id == tenant_id, WebhookSubscription.id == subscription_id, *_owned(client_id)
    )
    return session.execute(stmt).scalar_one_or_none()


def subscription_by_id(session: Session, subscription_id: uuid.UUID) -> WebhookSubscription:
    """The subscription of a delivery (in the worker, whose tenant is already bound)."""
    return session.execute(select(WebhookSubscription).where(WebhookSubscription.id == subscription_id)).scalar_one()


def subscriptions_existing_at(session: Session, moment: datetime) -> list[WebhookSubscription]:
    """The live subscriptions created at or before ``moment`` (the worker's tenant is bound)."""
    return list(
        session.execute(
            select(WebhookSubscription)
            .where(WebhookSubscription.deleted_at.is_(None), WebhookSubscription.created_at <= moment)
            .order_by(WebhookSubscription.created_at, WebhookSubscription.id)
        ).scalars()
    )


# --- Deliveries --------------------------------------------------------------------------------------


def close_deliveries(
    session: Session, subscription_id: uuid.UUID, *, from_status: str, to_status: str, reason: str
) -> None:
    """Move a subscription's deliveries in ``from_status`` to ``to_status``, unscheduled, saying why."""
    session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.subscription_id == subscription_id, WebhookDelivery.status == from_status)
        .values(status=to_status, job_id=None, next_attempt_at=None, last_error=reason)
    )


def deliveries_page(
    session: Session,
    tenant_id: uuid.UUID,
    subscription_id: uuid.UUID,
    *,
    newest_first: bool,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[WebhookDelivery]:
    """One keyset page of a subscription's delivery log (``limit + 1`` rows: the extra one says "more")."""
    stmt = select(WebhookDelivery).where(
        WebhookDelivery.tenant_id == tenant_id, WebhookDelivery.subscription_id == subscription_id
    )
    key = tuple_(WebhookDelivery.created_at, WebhookDelivery.id)
    if after is not None:
        stmt = stmt.where(key < tuple_(*after) if newest_first else key > tuple_(*after))
    order = (
        (WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
        if newest_first
        else (WebhookDelivery.created_at, WebhookDelivery.id)
    )
    return list(session.execute(stmt.order_by(*order).limit(limit + 1)).scalars())


def find_delivery(
    session: Session, tenant_id: uuid.UUID, subscription_id: uuid.UUID, delivery_id: uuid.UUID
) -> WebhookDelivery | None:
    stmt = select(WebhookDelivery).where(
        WebhookDelivery.tenant_id == tenant_id,
        WebhookDelivery.subscription_id == subscription_id,
        WebhookDelivery.id == delivery_id,
    )
    return session.execute(stmt).scalar_one_or_none()


def subscriptions_delivered(session: Session, message_id: uuid.UUID) -> set[uuid.UUID]:
    """The subscriptions that already have a delivery of this event."""
    stmt = select(WebhookDelivery.subscription_id).where(WebhookDelivery.message_id == message_id)
    return set(session.execute(stmt).scalars())


def reload_delivery(session: Session, delivery_id: uuid.UUID, *, lock: bool = False) -> WebhookDelivery | None:
    """The delivery as the database has it now (after a rollback, or under a lock)."""
    stmt = select(WebhookDelivery).where(WebhookDelivery.id == delivery_id)
    if lock:
        stmt = stmt.with_for_update()
    return session.execute(stmt.execution_options(populate_existing=True)).scalar_one_or_none()


# --- What fan-out asks of applications and vendor apps -----------------------------------------------


def application_by_id(session: Session, application_id: uuid.UUID) -> Application:
    return session.execute(select(Application).where(Application.id == application_id)).scalar_one()


def filer_and_applicant(session: Session, application_id: uuid.UUID) -> Row[uuid.UUID | None, uuid.UUID | None] | None:
    """``(filed_by_client_id, applicant_account_id)`` of an application, or None."""
    return session.execute(
        select(Application.filed_by_client_id, Application.applicant_account_id).where(Application.id == application_id)
    ).one_or_none()


def revoked_clients(session: Session, client_ids: set[uuid.UUID]) -> set[uuid.UUID]:
    if not client_ids:
        return set()
    stmt = select(OAuthClient.id).where(OAuthClient.id.in_(client_ids), OAuthClient.revoked_at.is_not(None))
    return set(session.execute(stmt).scalars())


def clients_consented_by(session: Session, account_id: uuid.UUID, client_ids: set[uuid.UUID]) -> set[uuid.UUID]:
    consented = select(OAuthConsent.oauth_client_id).where(
        OAuthConsent.account_id == account_id, OAuthConsent.oauth_client_id.in_(client_ids)
    )
    return set(session.execute(consented).scalars())
