"""The documents of an application: certificates issued for it, their public verification index, attachments,
and the delivery of the printed copy (post or counter).

Tables keep the names they had when these models lived in ``madoguchi.applications.models``.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import ForeignKey, ForeignKeyConstraint, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from madoguchi.db import Base, TenantScoped, new_id, utcnow


class IssuedDocument(TenantScoped, Base):
    """A document issued for an application: content taken from the registry at the moment of issue."""

    __tablename__ = "issued_documents"
    __table_args__ = (
        UniqueConstraint("tenant_id", "serial"),
        ForeignKeyConstraint(["tenant_id", "application_id"], ["applications.tenant_id", "applications.id"]),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    application_id: Mapped[uuid.UUID]
    kind: Mapped[str] = mapped_column(String(40))
    serial: Mapped[str] = mapped_column(String(40))
    #: What the certificate states, assembled from registry rows (never from the application's form data).
    content: Mapped[dict[str, Any]]
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    issued_by: Mapped[str] = mapped_column(String(200))
    revoked_at: Mapped[datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(Text)
    #: Who revoked it (an actor label, as in the audit trail).
    revoked_by: Mapped[str | None] = mapped_column(String(200))
    #: The code printed on the certificate (and in its QR code) that anyone may check at /verify/<code>.
    verification_code: Mapped[str | None] = mapped_column(String(12))
    #: The signed PDF in document storage, and the SHA-256 and size of exactly those bytes.
    pdf_storage_key: Mapped[str | None] = mapped_column(String(300))
    pdf_sha256: Mapped[str | None] = mapped_column(String(64))
    pdf_size: Mapped[int | None]


class CertificateVerification(TenantScoped, Base):
    """The public /verify page's index: code (or file hash) -> the document, holding no personal data.

    Tenant-owned like every row (policy on PostgreSQL, the ORM criterion everywhere); the public page, which has no
    tenant, finds a row only through ``documents.certificates.find_verification`` (a narrow SECURITY DEFINER
    function on PostgreSQL), then reads the document inside its tenant. See docs/decisions/0015.
    """

    __tablename__ = "certificate_verifications"

    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    document_id: Mapped[uuid.UUID]
    #: SHA-256 of the signed PDF as issued: an uploaded file with this hash is exactly the issued one.
    pdf_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Attachment(TenantScoped, Base):
    """A document a resident attached for a required-document slot (metadata; the bytes live in storage).

    Uploaded through ``madoguchi.documents.attachments``; the workflow's ``required_documents_present``
    guard reads these rows.
    """

    __tablename__ = "attachments"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "application_id"], ["applications.tenant_id", "applications.id"]),
        Index("ix_attachments_application", "tenant_id", "application_id", "document_key"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    application_id: Mapped[uuid.UUID]
    document_key: Mapped[str] = mapped_column(String(63))
    #: The uploader's file name, kept only as metadata: storage keys are generated.
    original_name: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: The resident or clerk who uploaded it (None: a vendor app acting with no account of its own).
    uploaded_by_account_id: Mapped[uuid.UUID | None]
    #: "clean" (scanned), "not_scanned" (scanning is off). An infected file is never stored.
    scan_status: Mapped[str] = mapped_column(String(20), default="not_scanned")


class Delivery(TenantScoped, Base):
    """How the paper of an issued certificate reaches the resident when they chose post (郵送) or the counter (窓口).

    One row per certificate issued with either method (electronic delivery needs none: the resident downloads the
    signed PDF). The signed PDF stays the record; the row tracks the printed copy until it is posted or handed over.
    The name and address are copied from the register at issue, as the certificate states them, so the label
    printed later matches the certificate in the envelope. See docs/decisions/0033-delivery.md.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("tenant_id", "document_id"),
        UniqueConstraint("tenant_id", "pickup_code"),
        ForeignKeyConstraint(["tenant_id", "application_id"], ["applications.tenant_id", "applications.id"]),
        Index("ix_deliveries_worklist", "tenant_id", "method", "day", "status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    application_id: Mapped[uuid.UUID]
    document_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("issued_documents.id", ondelete="RESTRICT"))
    #: "mail" (郵送) or "counter" (窓口), the form's ``delivery`` choice.
    method: Mapped[str] = mapped_column(String(10))
    #: "pending", then "sent" (mail) or "handed_over" (counter).
    status: Mapped[str] = mapped_column(String(20), default="pending")
    #: The day (Japan time) the certificate was issued: the mail-out worklist it belongs to.
    day: Mapped[date]
    recipient_name: Mapped[str] = mapped_column(String(200))
    postal_code: Mapped[str] = mapped_column(String(8))
    address: Mapped[str] = mapped_column(String(300))
    #: Counter only: the short code the resident shows at the counter (no 0/O, 1/I/L).
    pickup_code: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: When and by whom it was posted or handed over (an actor label, as in the audit trail).
    completed_at: Mapped[datetime | None]
    completed_by: Mapped[str | None] = mapped_column(String(200))
    #: Counter only: the identity document the clerk checked at hand-over (e.g. "my_number_card").
    identity_document: Mapped[str | None] = mapped_column(String(40))
