"""Signing keys and PAdES signatures for issued certificates.

Trust model: the platform runs one CA (``platform-ca.pem``); each municipality signs its certificates
with its own key, whose X.509 certificate that CA issued. A verifier trusts the platform CA only.

Where the keys come from (``MADOGUCHI_SIGNING_KEY_SOURCE``), all under ``MADOGUCHI_SIGNING_KEYS_DIR``::

    platform-ca.pem                      the CA certificate (the trust root; public)
    platform-ca.key.pem                  the CA key - only with "generated" (demo, tests): never on a server
    tenants/<slug>/signing.cert.pem      the tenant's signing certificate, issued by the CA
    tenants/<slug>/signing.key.pem       the tenant's private key ("generated" and "files")

* ``generated`` (embedded default): whatever is missing is created on first use (ECDSA P-256).
* ``files``: keys and certificates are provisioned by the operator; a missing file is an error.
* ``kms``: the private key stays in AWS KMS (an asymmetric ECC_NIST_P256 or RSA_2048 SIGN_VERIFY key,
  ``MADOGUCHI_SIGNING_KMS_KEY_ID`` with ``{tenant}`` replaced by the slug); only the certificate is a file.

Signatures are PAdES B-B (ETSI.CAdES.detached) over SHA-256. Everything that costs time and never changes
between two certificates of one tenant - loading keys, parsing and DER-encoding certificates, the CMS
signature size - is done once per signer and kept (see ``bench/certificates.py``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import fcntl
import os
import secrets
import tempfile
import threading
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path
from typing import Any, TypeVar

from asn1crypto import cms
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes, Signer
from pyhanko.sign.timestamps import TimeStamper
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

from madoguchi.config import Settings

KEY_SOURCES = ("generated", "files", "kms")
CA_CERT_FILE = "platform-ca.pem"
CA_KEY_FILE = "platform-ca.key.pem"
SIGNATURE_FIELD = "MadoguchiSignature"


class SigningKeyMissing(RuntimeError):
    """The tenant's signing key or certificate (or the platform CA) is not where the settings say."""


# ------------------------------------------------------------------------------------------- key files


def _write_atomically(path: Path, data: bytes, *, private: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        if private:
            os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """Several processes (gunicorn workers) may create the same missing key at once: one does, the rest wait."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Madoguchi"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def create_platform_ca(folder: Path, *, common_name: str = "Madoguchi Platform CA", years: int = 10) -> None:
    """A self-signed CA (ECDSA P-256) into ``folder``: for the demo and tests, never for production."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    name = _name(common_name)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=365 * years))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_atomically(folder / CA_KEY_FILE, _pem_key(key), private=True)
    _write_atomically(folder / CA_CERT_FILE, cert.public_bytes(serialization.Encoding.PEM))


def issue_signing_certificate(folder: Path, public_key: Any, common_name: str, *, years: int = 3) -> x509.Certificate:
    """A document-signing certificate for ``public_key``, issued by the CA in ``folder`` (needs its key)."""
    ca_cert = x509.load_pem_x509_certificate((folder / CA_CERT_FILE).read_bytes())
    ca_key = serialization.load_pem_private_key((folder / CA_KEY_FILE).read_bytes(), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):  # create_ca writes a P-256 key
        raise ValueError(f"{folder / CA_KEY_FILE}: the platform CA's key is not an EC key")
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(min(now + timedelta(days=365 * years), ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,  # non-repudiation: what a document signature is for
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )


def create_tenant_key(folder: Path, slug: str, common_name: str) -> None:
    """A fresh P-256 key and its certificate for tenant ``slug`` (the CA key must be in ``folder``)."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = issue_signing_certificate(folder, key.public_key(), common_name)
    tenant_dir = folder / "tenants" / slug
    _write_atomically(tenant_dir / "signing.key.pem", _pem_key(key), private=True)
    _write_atomically(tenant_dir / "signing.cert.pem", cert.public_bytes(serialization.Encoding.PEM))


def _asn1_cert(pem: bytes) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER))


# ------------------------------------------------------------------------------------------- the signer


class TemplatedSignedAttributes:
    """Mixin for a pyHanko ``Signer``: build the PAdES signed attributes once, then reuse their DER encoding.

    For a PAdES B-B signature the signed attributes are content-type, message-digest and
    signing-certificate-v2; only the message digest changes between two documents. pyHanko rebuilds and
    re-encodes all of them (hashing and re-encoding the certificate) for every signature, about half of its
    signing time. Here the first call lets pyHanko build them with a random marker as the digest, keeps the
    DER before and after the marker, and later calls splice the real digest in. Anything else (CAdES
    signing time, extra CAdES attributes) goes through pyHanko unchanged. ``tests/documents/test_signing.py``
    checks the result is byte-identical to pyHanko's own.
    """

    _attribute_template: tuple[tuple[Any, ...], bytes, bytes] | None = None

    async def signed_attrs(
        self,
        data_digest: bytes,
        digest_algorithm: str,
        attr_settings: PdfCMSSignedAttributes | None = None,
        content_type: str = "data",
        use_pades: bool = False,
        timestamper: TimeStamper | None = None,
        dry_run: bool = False,
        is_pdf_sig: bool = True,
    ) -> cms.CMSAttributes:
        build = super().signed_attrs  # type: ignore[misc]  # a mixin: the Signer it is mixed into has it
        constant = use_pades and is_pdf_sig and (attr_settings is None or attr_settings.cades_signed_attrs is None)
        if not constant or timestamper is not None:
            return await build(
                data_digest,
                digest_algorithm,
                attr_settings=attr_settings,
                content_type=content_type,
                use_pades=use_pades,
                timestamper=timestamper,
                dry_run=dry_run,
                is_pdf_sig=is_pdf_sig,
            )
        key = (digest_algorithm, content_type, len(data_digest))
        template = self._attribute_template
        if template is None or template[0] != key:
            marker = secrets.token_bytes(len(data_digest))
            attrs = await build(
                marker, digest_algorithm, attr_settings=attr_settings, content_type=content_type, use_pades=True
            )
            head, _, tail = attrs.dump().partition(marker)
            template = self._attribute_template = (key, head, tail)
        return cms.CMSAttributes.load(template[1] + data_digest + template[2])


class SimpleTemplatedSigner(TemplatedSignedAttributes, signers.SimpleSigner):
    """pyHanko's in-memory signer with the signed-attribute template."""


class KmsSigner(TemplatedSignedAttributes, Signer):
    """A pyHanko signer whose private key never leaves AWS KMS (``kms:Sign`` over the raw signed attributes).

    ``client`` is a boto3 KMS client; ``key_id`` an id, ARN or alias of an asymmetric SIGN_VERIFY key whose
    public key is the one in ``signing_cert``.
    """

    #: pyHanko's signature mechanism (as asn1crypto names it) -> KMS SigningAlgorithm, for SHA-256.
    _ALGORITHMS = {  # noqa: RUF012 - a constant table
        "sha256_ecdsa": "ECDSA_SHA_256",
        "ecdsa": "ECDSA_SHA_256",
        "sha256_rsa": "RSASSA_PKCS1_V1_5_SHA_256",
        "rsassa_pkcs1v15": "RSASSA_PKCS1_V1_5_SHA_256",
    }

    def __init__(
        self,
        client: Any,
        key_id: str,
        signing_cert: asn1_x509.Certificate,
        cert_registry: SimpleCertificateStore,
    ) -> None:
        self.client = client
        self.key_id = key_id
        super().__init__(signing_cert=signing_cert, cert_registry=cert_registry)

    async def async_sign_raw(self, data: bytes, digest_algorithm: str, dry_run: bool = False) -> bytes:
        mechanism = self.get_signature_mechanism_for_digest(digest_algorithm).signature_algo
        algorithm = self._ALGORITHMS.get(mechanism) if digest_algorithm == "sha256" else None
        if algorithm is None:
            raise SigningKeyMissing(f"KMS signing supports SHA-256 with ECDSA or RSA PKCS#1 v1.5, not {mechanism}")
        if dry_run:
            # Not reached in practice (bytes_reserved is always given), but honour the interface.
            return bytes(512)
        response = self.client.sign(KeyId=self.key_id, Message=data, MessageType="RAW", SigningAlgorithm=algorithm)
        return response["Signature"]  # DER for ECDSA, as CMS wants it


@dataclass
class TenantSigner:
    """Everything needed to sign one tenant's certificates, prepared once and reused for every document."""

    slug: str
    signer: Signer
    signature_meta: signers.PdfSignatureMetadata
    #: Room for the CMS container (hex in the PDF, so twice its DER size), fixed per signer so that pyHanko
    #: skips its dry-run signature that only estimates this size.
    bytes_reserved: int

    def sign(self, pdf: bytes) -> bytes:
        """The PDF with a PAdES B-B signature covering the whole file, as one incremental update."""
        writer = IncrementalPdfFileWriter(BytesIO(pdf))
        pdf_signer = signers.PdfSigner(self.signature_meta, signer=self.signer)
        output = run_sync(lambda: pdf_signer.async_sign_pdf(writer, bytes_reserved=self.bytes_reserved))
        return output.getvalue()


_thread_state = threading.local()
T = TypeVar("T")


def run_sync(make_coroutine: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run pyHanko's coroutine to completion from synchronous code.

    pyHanko's synchronous ``sign_pdf`` starts a new event loop per call; one loop per thread is reused instead.
    When this thread already runs an event loop (the caller is itself driven by one, e.g. an async server or
    Playwright's sync API in tests), a loop cannot be nested: the coroutine runs on a helper thread, in a
    loop of its own that is closed after.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _event_loop().run_until_complete(make_coroutine())
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as helper:
        return helper.submit(lambda: asyncio.run(make_coroutine())).result()


def _event_loop() -> asyncio.AbstractEventLoop:
    loop = getattr(_thread_state, "loop", None)
    if loop is None or loop.is_closed():
        loop = _thread_state.loop = asyncio.new_event_loop()
    return loop


def reserve_for(certificates: list[asn1_x509.Certificate]) -> int:
    """Bytes to reserve for a CMS container carrying ``certificates``: their DER, the signed attributes and a
    signature (at most 512 bytes, RSA-4096), with slack; doubled for hex; rounded up to a KiB."""
    der = sum(len(cert.dump()) for cert in certificates) + 512 + 1024
    return -(-2 * der // 1024) * 1024


class KeyStore:
    """Finds (or, in the embedded default, creates) the platform CA and each tenant's signer; caches signers."""

    def __init__(self, settings: Settings) -> None:
        if settings.signing_key_source not in KEY_SOURCES:
            raise ValueError(
                f"MADOGUCHI_SIGNING_KEY_SOURCE: {settings.signing_key_source!r} is not one of {', '.join(KEY_SOURCES)}"
            )
        self.settings = settings
        self.folder = Path(settings.signing_keys_dir) if settings.signing_keys_dir else settings.data_dir / "signing"
        self._signers: dict[str, TenantSigner] = {}
        self._lock = threading.Lock()
        self._ca: asn1_x509.Certificate | None = None
        self._kms_client: Any = None

    @property
    def generates(self) -> bool:
        return self.settings.signing_key_source == "generated"

    def ca_certificate(self) -> asn1_x509.Certificate:
        """The platform CA certificate: the one trust root of every verification."""
        if self._ca is None:
            path = self.folder / CA_CERT_FILE
            if not path.is_file() and self.generates:
                with _folder_lock(self.folder):
                    if not path.is_file():
                        create_platform_ca(self.folder)
            if not path.is_file():
                raise SigningKeyMissing(f"The platform CA certificate {CA_CERT_FILE} is missing from {self.folder}")
            self._ca = _asn1_cert(path.read_bytes())
        return self._ca

    def validation_context(self) -> ValidationContext:
        """Trust the platform CA only; no network: revocation of a *document* is the register's business."""
        return ValidationContext(trust_roots=[self.ca_certificate()], allow_fetching=False)

    def signer_for(self, slug: str, display_name: str) -> TenantSigner:
        signer = self._signers.get(slug)
        if signer is None:
            with self._lock:
                signer = self._signers.get(slug) or self._load(slug, display_name)
                self._signers[slug] = signer
        return signer

    def _load(self, slug: str, display_name: str) -> TenantSigner:
        ca = self.ca_certificate()
        tenant_dir = self.folder / "tenants" / slug
        cert_path, key_path = tenant_dir / "signing.cert.pem", tenant_dir / "signing.key.pem"
        if self.generates and not cert_path.is_file():
            with _folder_lock(self.folder):
                if not cert_path.is_file():
                    create_tenant_key(self.folder, slug, f"{display_name} 公印 (Madoguchi)")
        if not cert_path.is_file():
            raise SigningKeyMissing(f"No signing certificate for tenant {slug!r}: expected {cert_path}")
        cert = _asn1_cert(cert_path.read_bytes())
        registry = SimpleCertificateStore.from_certs([ca])
        signer: Signer
        if self.settings.signing_key_source == "kms":
            key_id = self.settings.signing_kms_key_id.replace("{tenant}", slug)
            signer = KmsSigner(self._kms(), key_id, cert, registry)
        else:
            if not key_path.is_file():
                raise SigningKeyMissing(f"No signing key for tenant {slug!r}: expected {key_path}")
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
            der = key.private_bytes(
                serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            signer = SimpleTemplatedSigner(
                signing_cert=cert, signing_key=asn1_keys.PrivateKeyInfo.load(der), cert_registry=registry
            )
        meta = signers.PdfSignatureMetadata(
            field_name=SIGNATURE_FIELD,
            md_algorithm="sha256",
            subfilter=fields.SigSeedSubFilter.PADES,
            reason="証明書の発行 / Certificate issued",
            location=display_name,
        )
        return TenantSigner(slug=slug, signer=signer, signature_meta=meta, bytes_reserved=reserve_for([cert, ca]))

    def _kms(self) -> Any:
        if self._kms_client is None:
            import boto3  # lazy on purpose: only when KMS signing is configured (docs/decisions/0016-layers.md)

            self._kms_client = boto3.client(
                "kms",
                region_name=self.settings.signing_kms_region or None,
                endpoint_url=self.settings.signing_kms_endpoint_url or None,
            )
        return self._kms_client
