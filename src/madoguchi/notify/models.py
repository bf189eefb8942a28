"""Notify's own rows: webhook subscriptions and deliveries, notices, email deliveries.

The outbox message itself is foundation (``madoguchi.outbox``): every domain writes one.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKeyConstraint, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from madoguchi.db import Base, TenantScoped, new_id, utcnow


class WebhookSubscription(TenantScoped, Base):
    """A vendor's (or the tenant admin's) endpoint for some of the tenant's events.

    The signing secret is stored sealed (``madoguchi.crypto.Sealer``, bound to the tenant) and shown once, at
    creation. Deleting a subscription sets ``deleted_at``: its delivery log stays for the audit trail, and
    pending deliveries are cancelled. A subscription of a vendor app that has been revoked receives nothing.
    """

    __tablename__ = "webhook_subscriptions"
    __table_args__ = (
        UniqueConstraint("tenant_id", "id"),
        ForeignKeyConstraint(
            ["tenant_id", "client_id"],
            ["oauth_clients.tenant_id", "oauth_clients.id"],
            name="fk_webhook_subscriptions_client",
        ),
        Index("ix_webhook_subscriptions_owner", "tenant_id", "client_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    #: The OAuth client (vendor app) that owns it; None when a tenant admin created it in a browser session.
    client_id: Mapped[uuid.UUID | None]
    url: Mapped[str] = mapped_column(String(2048))
    events: Mapped[list[Any]]
    description: Mapped[str | None] = mapped_column(String(200))
    #: ``whsec_...`` sealed for the tenant.
    secret_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    #: Audit label of whoever created it (``account:<id>`` or ``client:<id>``).
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    deleted_at: Mapped[datetime | None]


class WebhookDelivery(TenantScoped, Base):
    """One event for one subscription: the delivery log. At most one per (subscription, event message).

    ``message_id`` is the id of the event's outbox message and goes out as ``webhook-id`` on every attempt and
    replay, so a receiver can deduplicate. ``body`` is kept as the exact text that is signed and sent (JSON
    columns may reorder keys). ``job_id`` names the ``webhook.deliver`` outbox message currently in charge:
    an older job that finds another one in charge does nothing.
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("subscription_id", "message_id"),
        ForeignKeyConstraint(
            ["tenant_id", "subscription_id"],
            ["webhook_subscriptions.tenant_id", "webhook_subscriptions.id"],
            name="fk_webhook_deliveries_subscription",
        ),
        Index("ix_webhook_deliveries_log", "tenant_id", "subscription_id", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    subscription_id: Mapped[uuid.UUID]
    message_id: Mapped[uuid.UUID]
    event: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text)
    #: pending (queued or waiting for a retry), delivered, failed (gave up), cancelled (subscription deleted)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    job_id: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_attempt_at: Mapped[datetime | None]
    next_attempt_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]


class Notice(TenantScoped, Base):
    """A message in a resident's notices inbox (お知らせ), e.g. "your application was approved".

    Only what happened is stored (``kind`` such as ``application.approved``, and the application); the text is
    written at display time in the reader's language. Emails about the same events come from the outbox.
    """

    __tablename__ = "notices"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "account_id"], ["accounts.tenant_id", "accounts.id"], name="fk_notices_account"
        ),
        ForeignKeyConstraint(
            ["tenant_id", "application_id"],
            ["applications.tenant_id", "applications.id"],
            name="fk_notices_application",
        ),
        Index("ix_notices_inbox", "tenant_id", "account_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    account_id: Mapped[uuid.UUID]
    application_id: Mapped[uuid.UUID | None]
    #: What happened: ``application.<state reached>`` for workflow notices.
    kind: Mapped[str] = mapped_column(String(100))
    #: The application's reference number, quoted in the text.
    reference: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None]


class EmailDelivery(TenantScoped, Base):
    """One email for one outbox message: at most one per message (``message_id`` is the dedupe key).

    The SMTP ``Message-ID`` is derived from ``message_id`` as well, so an email sent again after a crash between
    sending and committing is recognisable downstream. Staff see failed deliveries and may queue them again.
    """

    __tablename__ = "email_deliveries"
    __table_args__ = (
        UniqueConstraint("message_id"),
        Index("ix_email_deliveries_status", "tenant_id", "status", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    #: The outbox message this email is for.
    message_id: Mapped[uuid.UUID]
    #: Which email: ``application.approved``, ``account.verify_email``...
    template: Mapped[str] = mapped_column(String(100))
    #: The application reference or ``account:<id>`` the email is about (no personal data).
    reference: Mapped[str | None] = mapped_column(String(100))
    recipient: Mapped[str] = mapped_column(String(254))
    locale: Mapped[str] = mapped_column(String(5))
    subject: Mapped[str] = mapped_column(String(300))
    #: pending (waiting for a retry), sent, failed (gave up; staff may retry)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    #: The backend that sent (or tried to send) it: log, smtp, ses.
    backend: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_attempt_at: Mapped[datetime | None]
    next_attempt_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
