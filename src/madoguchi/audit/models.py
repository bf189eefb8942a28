"""Audit records, chained per tenant: each row's MAC covers its content and the previous row's MAC.

Also the staff-read records (``AccessEvent``): who read which resident's data, when and where. They are
append-only and MAC'd row by row but not chained (docs/decisions/0012-keyed-audit-and-staff-reads.md).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from madoguchi.db import Base, TenantScoped, new_id, utcnow


class AuditRecord(TenantScoped, Base):
    __tablename__ = "audit_records"
    __table_args__ = (UniqueConstraint("tenant_id", "seq"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    seq: Mapped[int]
    at: Mapped[datetime] = mapped_column(default=utcnow)
    #: "account:<uuid>", "system", "cli:<user>"
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(100))
    object_type: Mapped[str] = mapped_column(String(50))
    object_id: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    #: HMAC-SHA256 under the audit key ``key_id``; plain SHA-256 for the records written before keys (no key_id).
    hash: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str | None] = mapped_column(String(40))


class AuditChainHead(TenantScoped, Base):
    """The last link of a tenant's chain. A commit that appends locks it (decision 0026): appends go in turn."""

    __tablename__ = "audit_chain_heads"

    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("tenants.id", ondelete="RESTRICT"), primary_key=True)
    last_seq: Mapped[int] = mapped_column(default=0)
    last_hash: Mapped[str] = mapped_column(String(64))
    #: The last record written before the chain was keyed (migration 0015): later records must carry a key.
    #: Signed checkpoints repeat it, so lowering it in the database to pass forged unkeyed records is found.
    legacy_until_seq: Mapped[int] = mapped_column(default=0, server_default="0")


class AccessEvent(TenantScoped, Base):
    """One read of a resident's personal data by someone other than that resident (staff, a vendor app).

    Append-only: the app role may only SELECT and INSERT (PostgreSQL grants). The base of the resident's
    data-use ledger (docs/decisions/0012-keyed-audit-and-staff-reads.md).
    """

    __tablename__ = "access_events"
    __table_args__ = (
        Index("ix_access_events_tenant_id_at", "tenant_id", "at"),
        Index("ix_access_events_tenant_id_subject_person_id_at", "tenant_id", "subject_person_id", "at"),
        Index("ix_access_events_tenant_id_subject_account_id_at", "tenant_id", "subject_account_id", "at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    #: "staff" or "vendor_app" (later: "system", "platform_admin").
    actor_type: Mapped[str] = mapped_column(String(20))
    #: "account:<uuid>" or "client:<uuid>", the same form as ``AuditRecord.actor``.
    actor: Mapped[str] = mapped_column(String(200))
    #: The staff member's roles at the time (clerk, supervisor, tenant_admin).
    actor_roles: Mapped[list[Any]] = mapped_column(default=list)
    #: The vendor app acting, if any (with a resident's consent or for the municipality).
    client_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    #: view_application, view_registry, download_attachment, download_certificate.
    action: Mapped[str] = mapped_column(String(40))
    #: "console" (a page) or "api".
    channel: Mapped[str] = mapped_column(String(20))
    #: The screen or API operation: ``GET /<tenant>/console/applications/<uuid:application_id>``.
    operation: Mapped[str] = mapped_column(String(200))
    object_type: Mapped[str] = mapped_column(String(50))
    object_id: Mapped[str] = mapped_column(String(64))
    #: Whose data: the application, the register entry and the applicant's account (each when known).
    application_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    subject_person_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    subject_account_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    #: Kinds of data shown: basic4, household, application_form, attachments, certificate, my_number...
    data_categories: Mapped[list[Any]] = mapped_column(default=list)
    #: Why, in words a resident reads ("processing application 1234…", "counter filing").
    purpose: Mapped[str | None] = mapped_column(String(200))
    #: When the resident may see the entry (later: holds); the read time by default.
    visible_from: Mapped[datetime] = mapped_column(default=utcnow)
    #: A vendor app's read: the resident's consent (oauth_consents) that allowed it, and the token's scope.
    #: Both are in the MAC'd content only when set, so rows written before they existed still verify.
    consent_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    scope: Mapped[str | None] = mapped_column(String(200))
    #: HMAC-SHA256 of the row's content under the audit key ``key_id``: an edit without the key is found.
    key_id: Mapped[str] = mapped_column(String(40))
    mac: Mapped[str] = mapped_column(String(64))
