"""Issued certificates end to end: render and sign at issue, store, verify, revoke.

* **Issue** (``attach_signed_pdf``, called by ``documents.issuing.issue_document`` inside the workflow
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

import base64
import functools
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
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import current_app, has_app_context
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from madoguchi import jp
from madoguchi.audit import operations as audit
from madoguchi.config import Settings
from madoguchi.db import bind_tenant, utcnow
from madoguchi.documents import content as document_content
from madoguchi.documents import fonts, pdf, signature_check, signing
from madoguchi.documents.backend import Storage, StorageError, new_key
from madoguchi.documents.models import CertificateVerification, IssuedDocument
from madoguchi.documents.storage import current_storage, storage_for
from madoguchi.errors import Conflict, Forbidden, NotFound, ValidationFailed
from madoguchi.identity.actors import Actor
from madoguchi.identity.principal import Principal
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


class CertificateRefused(Conflict):
    """The content has a character the certificate font cannot draw: the document is refused, never printed with
    a box in its place (decision 0030). A ``Conflict``, so auto-issue declines and leaves the application to a
    clerk with this message on its history, which the resident sees too; a clerk's issue answers 409."""

    slug, title = "certificate-refused", "The certificate cannot be printed exactly"

    def __init__(self, missing: list[str]) -> None:
        self.missing = missing
        described = ", ".join(fonts.describe(m) for m in missing)
        super().__init__(
            f"The certificate font has no glyph for {described}: the name or address cannot be printed exactly, so "
            "nothing was issued. A clerk issues this certificate by another means (証明書に印字できない文字があるため"
            f"交付できません: {described}。職員が対応します。)"
        )


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
        """The municipality; its head as the issuing official: the tenant file's ``issuer.title`` else
        MADOGUCHI_CERTIFICATE_OFFICIAL (e.g. 桜ヶ丘市長), with ``issuer.name`` (the 市町村長名) and the seal image
        ``issuer.seal`` when the tenant file gives them; and the section in charge (the contact department)."""
        profile = tenant.profile or {}
        department = (profile.get("contact") or {}).get("department") or {}
        issuer = profile.get("issuer") or {}
        seal = issuer.get("seal_png")
        return pdf.Issuer(
            municipality=tenant.name_ja,
            official=issuing_official(tenant, self.settings),
            department=(department.get("ja") if isinstance(department, dict) else department) or "",
            name=issuer.get("name") or "",
            seal=_seal_bytes(seal) if seal else None,
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


@functools.lru_cache(maxsize=64)
def _seal_bytes(encoded: str) -> bytes:
    """The seal PNG from the tenant profile (base64 there: the profile is JSON), decoded once per process."""
    return base64.b64decode(encoded)


_override: ContextVar[Certificates | None] = ContextVar("madoguchi_certificates", default=None)


@contextmanager
def using(certificates: Certificates) -> Iterator[Certificates]:
    """Issue with ``certificates`` outside a Flask app (CLI tools, the benchmark, operation-level tests)."""
    token = _override.set(certificates)
    try:
        yield certificates
    finally:
        _override.reset(token)


def issuing_official(tenant: Tenant, settings: Settings) -> str:
    """The office that decides and issues (e.g. 汐見町長): the tenant file's ``issuer.title``, else
    MADOGUCHI_CERTIFICATE_OFFICIAL with the municipality's name. Also whom a request for review goes to (教示)."""
    title = ((tenant.profile or {}).get("issuer") or {}).get("title")
    return str(title) if title else settings.certificate_official.replace("{municipality}", tenant.name_ja)


def current() -> Certificates | None:
    """The process's ``Certificates``: the one set by ``using``, else the Flask app's (made on first use)."""
    chosen = _override.get()
    if chosen is not None:
        return chosen
    if not has_app_context():
        return None
    extensions = current_app.extensions
    if EXTENSION_KEY not in extensions:
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
    while find_verification(session, code=code) is not None:  # 2^60 codes: practically never loops
        code = new_verification_code()
    try:
        signed = certificates.render_and_sign(
            tenant,
            kind=document.kind,
            serial=document.serial,
            issued_on=jp.date_in_japan(document.issued_at),
            # With what is printed but never stored (the 個人番号, decrypted now): see content.for_rendering.
            content=document_content.for_rendering(
                session, tenant.id, document.kind, document.content, certificates.settings.data_key
            ),
            code=code,
        )
        digest = hashlib.sha256(signed).hexdigest()
        key = new_key(tenant.id, "certificates")
        # Stored before the transaction commits: if it then rolls back, an unreferenced object is left, never
        # a document whose PDF is missing.
        certificates.storage.put(key, signed, tenant_id=tenant.id, content_type=PDF_CONTENT_TYPE)
    except fonts.GlyphMissing as missing:
        # Code points only: the log is no place for a resident's name.
        codes = ", ".join(" ".join(f"U+{ord(c):04X}" for c in m) for m in missing.missing)
        log.warning("certificate %s of tenant %s refused: no glyph for %s", document.serial, tenant.slug, codes)
        raise CertificateRefused(missing.missing) from missing
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


def ensure_deliverable_to(document: IssuedDocument, principal: Principal) -> None:
    """A certificate that prints a 個人番号 is never handed to a vendor app, even one the resident consented to: the
    number may go only where 番号利用法19条 allows, and an app is not among them. The resident downloads it."""
    if principal.client_id is not None and document_content.states_individual_number(document.content):
        raise Forbidden(
            "A certificate with the Individual Number is not given to apps; the resident downloads it from the portal."
        )


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


@dataclass(frozen=True)
class VerificationEntry:
    """What the public lookup learns of a verification row: no more than the code or the file names."""

    code: str
    tenant_id: uuid.UUID
    document_id: uuid.UUID
    pdf_sha256: str


def find_verification(
    session: Session, *, code: str | None = None, sha256: str | None = None
) -> VerificationEntry | None:
    """The verification row with this ``code`` or this file ``sha256``, in whichever municipality it is.

    The one read that crosses tenants (the public /verify page has none). On PostgreSQL the table is under
    row-level security and the app role reads it only through ``certificate_verification_lookup``, a SECURITY
    DEFINER function returning just the rows with that code or hash (migration 0018, decision 0015). SQLite has
    no RLS: there a Core query (outside the ORM's tenant criterion) asks the same narrow question.
    """
    if not (code or sha256):
        return None
    if session.get_bind().dialect.name == "postgresql":
        rows = session.execute(
            text(
                "select code, tenant_id, document_id, pdf_sha256 from certificate_verification_lookup(:code, :sha256)"
            ),
            {"code": code, "sha256": sha256},
        ).all()
    else:
        table = CertificateVerification.__table__
        match = sa.or_(table.c.code == code, table.c.pdf_sha256 == sha256)
        rows = session.execute(
            select(table.c.code, table.c.tenant_id, table.c.document_id, table.c.pdf_sha256).where(match).limit(2)
        ).all()
    # Looked up by code or by hash, never both at once: the row that matches what was asked.
    for row in rows:
        if (code and row.code == code) or (sha256 and row.pdf_sha256 == sha256):
            return VerificationEntry(row.code, row.tenant_id, row.document_id, row.pdf_sha256)
    return None


def _summary(session: Session, row: VerificationEntry) -> Summary:
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
        issued_on_wareki=jp.to_wareki(jp.date_in_japan(document.issued_at)),
        revoked_at=document.revoked_at,
        pdf_sha256=document.pdf_sha256 or "",
        code=row.code,
    )


def verify_code(session: Session, typed: str) -> Summary:
    """What the public page shows for a code. ``session`` is re-bound to the document's tenant."""
    code = normalize_code(typed)
    row = find_verification(session, code=code) if code else None
    return _summary(session, row) if row else Summary(status=UNKNOWN)


#: Uploads larger than this are not certificates of ours (one page is ~50 KB).
MAX_UPLOAD_BYTES = 5 * 1024 * 1024


def verify_pdf(session: Session, certificates: Certificates, data: bytes) -> UploadCheck:
    """valid / revoked: exactly the file issued (and its signature checks out); altered: ours, but changed;
    unknown: not a certificate issued here. ``session`` is re-bound to the document's tenant.

    The SHA-256 is looked up first: a file byte for byte as issued is answered without being parsed. Any
    other file is parsed in a sandboxed child under hard limits (``signature_check``); one that goes over
    them is refused (``ValidationFailed``, reason ``unreadable``) rather than tying up the worker."""
    if not data.startswith(b"%PDF-"):
        raise ValidationFailed("That is not a PDF file.", errors={"file": ["must be a PDF"]})
    if len(data) > MAX_UPLOAD_BYTES:
        raise ValidationFailed("The file is too large to be a certificate.", errors={"file": ["is too large"]})
    check = UploadCheck(status=UNKNOWN, sha256=hashlib.sha256(data).hexdigest())
    exact = find_verification(session, sha256=check.sha256)
    if exact is not None:
        # The very bytes this platform signed and recorded at issue: their signature was sound then.
        check.summary = _summary(session, exact)
        check.status = check.summary.status
        check.signature_found = check.intact = check.trusted = check.covers_whole_file = True
        check.signer = _signer_of(certificates, check.summary)
        return check
    _validate_signature(certificates, data, check)
    claimed = _KEYWORD_PATTERN.search(data)
    row = find_verification(session, code=claimed.group(1).decode()) if claimed else None
    if row is not None:
        check.summary = _summary(session, row)
        check.status = ALTERED
        check.problems.append("The file is not the one issued under its verification code.")
    elif check.trusted:
        check.status = ALTERED  # signed with a municipality's key here, but matches no issued file
        check.problems.append("Signed on this platform, but it matches no issued certificate.")
    return check


def _signer_of(certificates: Certificates, summary: Summary) -> str:
    """The subject of the municipality's signing certificate, as pyHanko would name it from the file."""
    if not summary.tenant_slug:
        return ""
    try:
        signer = certificates.keys.signer_for(summary.tenant_slug, summary.municipality).signer
    except signing.SigningKeyMissing:
        return ""
    return signer.signing_cert.subject.human_friendly if signer.signing_cert else ""


def _validate_signature(certificates: Certificates, data: bytes, check: UploadCheck) -> None:
    trust_root = certificates.keys.ca_certificate().dump()
    try:
        findings = signature_check.check(data, trust_root)
    except signature_check.Refused:
        raise ValidationFailed(
            "The PDF cannot be read within the limits for a certificate.",
            errors={"file": ["cannot be read as a certificate"]},
            reason="unreadable",
        ) from None
    check.signature_found = findings.signature_found
    check.intact = findings.intact
    check.trusted = findings.trusted
    check.covers_whole_file = findings.covers_whole_file
    check.signer = findings.signer
    check.problems.extend(findings.problems)
