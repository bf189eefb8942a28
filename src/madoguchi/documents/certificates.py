"""Issued certificates end to end: render and sign at issue, store, verify, revoke.

* **Issue** (``attach_signed_pdf``, called by ``applications.operations.issue_document`` inside the workflow
  transaction): a fresh verification code, the page rendered from ``IssuedDocument.content`` (registry data
  at issue), signed with the tenant's key (PAdES B-B), stored under ``tenants/<id>/certificates/…``, its
  SHA-256 recorded on the document and in the global ``certificate_verifications`` lookup.
* **Verify by code** (``verify_code``): the public /verify page has no tenant. The global lookup gives the
  tenant and document id, and the document is then read *inside that tenant* (RLS applies as everywhere).
  What it shows is what the holder of the paper already sees, minus the personal data: see ``Summary``.
* **Verify an uploaded PDF** (``verify_pdf``): pyHanko validates the signature against the platform CA and
  checks that it covers the whole file; the file's SHA-256 must be exactly that of an issued certificate.
  The answer is valid, revoked, altered (ours, but not as issued) or unknown (not a certificate of ours).
* **Revoke** (``revoke``): staff, with a reason; audited; the document stays, marked revoked.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import threading
import unicodedata
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, datetime
from io import BytesIO
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context
from sqlalchemy import select
from sqlalchemy.orm import Session

from madoguchi import jp
from madoguchi.applications.models import CertificateVerification, IssuedDocument
from madoguchi.audit import operations as audit
from madoguchi.config import Settings
from madoguchi.db import bind_tenant, utcnow
from madoguchi.documents import pdf, signing
from madoguchi.documents.storage import Storage, StorageError, new_key, storage_for
from madoguchi.errors import Conflict, Forbidden, NotFound, ValidationFailed
from madoguchi.identity.actors import Actor
from madoguchi.tenancy.models import Tenant

#: 32 symbols without 0/O and 1/I (read aloud and typed from paper): 12 of them are 60 random bits.
CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
CODE_LENGTH = 12
_CODE_CHARS = frozenset(CODE_ALPHABET)
#: The code is also written into the PDF's keywords, so an altered file can still be recognised as ours.
_KEYWORD_PREFIX = "madoguchi-verification-code:"
_KEYWORD_PATTERN = re.compile(rb"madoguchi-verification-code:([" + CODE_ALPHABET.encode() + rb"]{12})")
REVOCATION_REASON_MAX = 500
PDF_CONTENT_TYPE = "application/pdf"
EXTENSION_KEY = "madoguchi.certificates"
log = logging.getLogger(__name__)
_JAPAN = ZoneInfo("Asia/Tokyo")


# -------------------------------------------------------------------------------------- codes


def new_verification_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def grouped(code: str) -> str:
    """``7K3MQ2XDHP4N`` -> ``7K3M-Q2XD-HP4N`` (as printed)."""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def normalize_code(text: str) -> str | None:
    """What a person typed (full-width, lower case, hyphens, spaces) as a code, or None if it cannot be one."""
    cleaned = unicodedata.normalize("NFKC", text or "").upper()
    cleaned = re.sub(r"[\s\-ー－‐]", "", cleaned)
    if len(cleaned) != CODE_LENGTH or not set(cleaned) <= _CODE_CHARS:
        return None
    return cleaned


def verification_url(settings: Settings, code: str) -> str:
    return f"{settings.public_url.rstrip('/')}/verify/{code}"


# ------------------------------------------------------------------------------- the producer


class CertificateUnavailable(Conflict):
    """The certificate cannot be produced right now (no font, no signing key, storage down): 503, not a bug.

    A ``Conflict`` so that auto-issue declines quietly (the submission waits for a clerk, the reason on
    record) instead of failing the resident's submission; the clerk's issue answers 503 and changes nothing.
    """

    status, slug, title = 503, "certificate-unavailable", "The certificate cannot be issued at the moment"
    retry_after = 60


class Certificates:
    """Renders and signs certificates for one process: keys, fonts and signers are loaded once and reused."""

    def __init__(self, settings: Settings, storage: Storage | None = None) -> None:
        self.settings = settings
        self.keys = signing.KeyStore(settings)
        self.storage = storage if storage is not None else storage_for(settings)
        self._font: Path | None = None
        self._lock = threading.Lock()

    @property
    def font(self) -> Path:
        if self._font is None:
            with self._lock:
                self._font = self._font or pdf.find_font(self.settings.certificate_font)
        return self._font

    def issuer_of(self, tenant: Tenant) -> pdf.Issuer:
        """The municipality, its head as the issuing official (MADOGUCHI_CERTIFICATE_OFFICIAL, e.g. 桜ヶ丘市長)
        and the section in charge (the tenant file's contact department)."""
        department = ((tenant.profile or {}).get("contact") or {}).get("department") or {}
        return pdf.Issuer(
            municipality=tenant.name_ja,
            official=self.settings.certificate_official.replace("{municipality}", tenant.name_ja),
            department=(department.get("ja") if isinstance(department, dict) else department) or "",
        )

    def render_and_sign(
        self, tenant: Tenant, *, kind: str, serial: str, issued_on: date, content: dict[str, Any], code: str
    ) -> bytes:
        page = pdf.CertificatePage(
            kind=kind,
            serial=serial,
            issued_on=issued_on,
            content=content,
            issuer=self.issuer_of(tenant),
            verification_code=grouped(code),
            verification_url=verification_url(self.settings, code),
            keywords=f"{_KEYWORD_PREFIX}{code} serial:{serial}",
        )
        document = pdf.render(page, self.font)
        return self.keys.signer_for(tenant.slug, tenant.name_ja).sign(document)


_override: ContextVar[Certificates | None] = ContextVar("madoguchi_certificates", default=None)


@contextmanager
def using(certificates: Certificates) -> Iterator[Certificates]:
    """Issue with ``certificates`` outside a Flask app (CLI tools, the benchmark, operation-level tests)."""
    token = _override.set(certificates)
    try:
        yield certificates
    finally:
        _override.reset(token)


def current() -> Certificates | None:
    """The process's ``Certificates``: the one set by ``using``, else the Flask app's (made on first use)."""
    chosen = _override.get()
    if chosen is not None:
        return chosen
    if not has_app_context():
        return None
    extensions = current_app.extensions
    if EXTENSION_KEY not in extensions:
        from madoguchi.documents.storage import current_storage

        extensions[EXTENSION_KEY] = Certificates(current_app.config["MADOGUCHI"], current_storage())
    return extensions[EXTENSION_KEY]


# ------------------------------------------------------------------------------------- issuing


def attach_signed_pdf(session: Session, tenant: Tenant, document: IssuedDocument) -> bool:
    """Render, sign and store the PDF of a just-issued ``document`` and register its verification code.

    Returns False (and leaves the document without a PDF) only where no ``Certificates`` is in reach: code
    run outside the Flask app that did not set one with ``using`` (the operation-level workflow tests).
    Every request has the app's.
    """
    certificates = current()
    if certificates is None:
        return False
    code = new_verification_code()
    while session.get(CertificateVerification, code) is not None:  # 2^60 codes: practically never loops
        code = new_verification_code()
    try:
        signed = certificates.render_and_sign(
            tenant,
            kind=document.kind,
            serial=document.serial,
            issued_on=jp_date(document.issued_at),
            content=document.content,
            code=code,
        )
        digest = hashlib.sha256(signed).hexdigest()
        key = new_key(tenant.id, "certificates")
        # Stored before the transaction commits: if it then rolls back, an unreferenced object is left, never
        # a document whose PDF is missing.
        certificates.storage.put(key, signed, tenant_id=tenant.id, content_type=PDF_CONTENT_TYPE)
    except (pdf.FontMissing, signing.SigningKeyMissing, StorageError) as exc:
        log.error("certificate %s of tenant %s could not be produced: %s", document.serial, tenant.slug, exc)
        # The detail may name server paths: it goes to the log, not to the caller.
        raise CertificateUnavailable(
            "The certificate could not be signed and stored; nothing was issued. The operators can see why in "
            "the server log."
        ) from exc
    document.verification_code = code
    document.pdf_storage_key = key
    document.pdf_sha256 = digest
    document.pdf_size = len(signed)
    session.add(CertificateVerification(code=code, tenant_id=tenant.id, document_id=document.id, pdf_sha256=digest))
    session.flush()
    return True


def jp_date(moment: datetime) -> date:
    """The calendar date in Japan of ``moment`` (a certificate issued at 00:30 JST is dated that day)."""
    return moment.astimezone(_JAPAN).date()


def pdf_bytes(document: IssuedDocument, storage: Storage) -> bytes:
    if not document.pdf_storage_key:
        raise Conflict("This document was recorded without a PDF; a clerk can issue it again.")
    return storage.get(document.pdf_storage_key, tenant_id=document.tenant_id)


def download_name(document: IssuedDocument) -> str:
    """A file name for the browser, e.g. ``住民票の写し_202983-20261126-ABCD1234.pdf``."""
    return f"{pdf.title_of(document.kind, document.content)}_{document.serial}.pdf"


# ------------------------------------------------------------------------------------ revoking


def revoke(session: Session, tenant: Tenant, actor: Actor, document_id: uuid.UUID, reason: str) -> IssuedDocument:
    """Staff withdraw a certificate (issued in error, superseded). The reason is required and audited."""
    if not (actor.is_staff and actor.staff_roles):
        raise Forbidden("Only staff revoke certificates.")
    text = (reason or "").strip()
    if not text:
        raise ValidationFailed("Say why the certificate is revoked.", errors={"reason": ["is required"]})
    if len(text) > REVOCATION_REASON_MAX:
        raise ValidationFailed(
            "The reason is too long.", errors={"reason": [f"must be at most {REVOCATION_REASON_MAX} characters"]}
        )
    document = session.execute(
        select(IssuedDocument).where(IssuedDocument.tenant_id == tenant.id, IssuedDocument.id == document_id)
    ).scalar_one_or_none()
    if document is None:
        raise NotFound("No such document.")
    if document.revoked_at is not None:
        raise Conflict("The certificate is already revoked.")
    document.revoked_at = utcnow()
    document.revoked_reason = text
    document.revoked_by = actor.label
    session.flush()
    audit.record(
        session,
        tenant.id,
        actor=actor.label,
        action="document.revoke",
        object_type="issued_document",
        object_id=document.id,
        data={"serial": document.serial, "kind": document.kind, "reason": text},
    )
    # No outbox event: the worker has no "document.revoked" handler (webhooks know issued only) - see the report.
    return document


# ----------------------------------------------------------------------------------- verifying

VALID, REVOKED, ALTERED, UNKNOWN = "valid", "revoked", "altered", "unknown"


@dataclass
class Summary:
    """What the public may learn from a code: no names, addresses or amounts - the holder has the paper.

    The municipality, the kind of certificate, its serial number and issue date, and whether it still
    stands; for a revoked one the date (the reason is internal and may hold personal details).
    """

    status: str
    title: str = ""
    kind: str = ""
    municipality: str = ""
    municipality_en: str = ""
    tenant_slug: str = ""
    serial: str = ""
    issued_at: datetime | None = None
    issued_on_wareki: str = ""
    revoked_at: datetime | None = None
    pdf_sha256: str = ""
    code: str = ""


@dataclass
class UploadCheck:
    """The answer to an uploaded PDF, with what pyHanko found."""

    status: str
    summary: Summary | None = None
    signature_found: bool = False
    intact: bool = False
    trusted: bool = False
    covers_whole_file: bool = False
    signer: str = ""
    sha256: str = ""
    problems: list[str] = field(default_factory=list)


def _summary(session: Session, row: CertificateVerification) -> Summary:
    # The document lives in a tenant table: bind the session to that tenant first (RLS on PostgreSQL).
    bind_tenant(session, row.tenant_id)
    tenant = session.get(Tenant, row.tenant_id)
    document = session.execute(select(IssuedDocument).where(IssuedDocument.id == row.document_id)).scalar_one_or_none()
    if document is None or tenant is None:
        return Summary(status=UNKNOWN)
    return Summary(
        status=REVOKED if document.revoked_at else VALID,
        title=pdf.title_of(document.kind, document.content),
        kind=document.kind,
        municipality=tenant.name_ja,
        municipality_en=tenant.name_en,
        tenant_slug=tenant.slug,
        serial=document.serial,
        issued_at=document.issued_at,
        issued_on_wareki=jp.to_wareki(jp_date(document.issued_at)),
        revoked_at=document.revoked_at,
        pdf_sha256=document.pdf_sha256 or "",
        code=row.code,
    )


def verify_code(session: Session, typed: str) -> Summary:
    """What the public page shows for a code. ``session`` is re-bound to the document's tenant."""
    code = normalize_code(typed)
    row = session.get(CertificateVerification, code) if code else None
    return _summary(session, row) if row else Summary(status=UNKNOWN)


#: Uploads larger than this are not certificates of ours (one page is ~50 KB).
MAX_UPLOAD_BYTES = 5 * 1024 * 1024


def verify_pdf(session: Session, certificates: Certificates, data: bytes) -> UploadCheck:
    """valid / revoked: exactly the file issued (and its signature checks out); altered: ours, but changed;
    unknown: not a certificate issued here. ``session`` is re-bound to the document's tenant."""
    if not data.startswith(b"%PDF-"):
        raise ValidationFailed("That is not a PDF file.", errors={"file": ["must be a PDF"]})
    if len(data) > MAX_UPLOAD_BYTES:
        raise ValidationFailed("The file is too large to be a certificate.", errors={"file": ["is too large"]})
    check = UploadCheck(status=UNKNOWN, sha256=hashlib.sha256(data).hexdigest())
    _validate_signature(certificates, data, check)
    exact = session.execute(
        select(CertificateVerification).where(CertificateVerification.pdf_sha256 == check.sha256)
    ).scalar_one_or_none()
    if exact is not None:
        check.summary = _summary(session, exact)
        sound = check.intact and check.trusted and check.covers_whole_file
        check.status = check.summary.status if sound else ALTERED
        return check
    claimed = _KEYWORD_PATTERN.search(data)
    row = session.get(CertificateVerification, claimed.group(1).decode()) if claimed else None
    if row is not None:
        check.summary = _summary(session, row)
        check.status = ALTERED
        check.problems.append("The file is not the one issued under its verification code.")
    elif check.trusted:
        check.status = ALTERED  # signed with a municipality's key here, but matches no issued file
        check.problems.append("Signed on this platform, but it matches no issued certificate.")
    return check


def _validate_signature(certificates: Certificates, data: bytes, check: UploadCheck) -> None:
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import async_validate_pdf_signature
    from pyhanko.sign.validation.status import SignatureCoverageLevel

    try:
        reader = PdfFileReader(BytesIO(data), strict=False)
        signatures = reader.embedded_signatures
    except Exception as exc:
        check.problems.append(f"The PDF cannot be read: {type(exc).__name__}")
        return
    if not signatures:
        check.problems.append("The PDF carries no signature.")
        return
    check.signature_found = True
    signature = signatures[-1]
    try:
        context = certificates.keys.validation_context()
        # Not pyHanko's synchronous wrapper: it calls asyncio.run, which fails inside a running event loop.
        status = signing.run_sync(lambda: async_validate_pdf_signature(signature, context))
    except Exception as exc:
        check.problems.append(f"The signature cannot be checked: {type(exc).__name__}")
        return
    check.intact = bool(status.intact and status.valid)
    check.trusted = bool(status.trusted)
    check.covers_whole_file = status.coverage == SignatureCoverageLevel.ENTIRE_FILE and len(signatures) == 1
    check.signer = status.signing_cert.subject.human_friendly if status.signing_cert else ""
    if not check.intact:
        check.problems.append("The signed content was changed after signing.")
    if not check.trusted:
        check.problems.append("The signer is not a municipality certified by this platform.")
    if not check.covers_whole_file:
        check.problems.append("Something was added to the file after it was signed.")
