"""Signing keys and PAdES signatures: the generated platform CA and tenant keys, operator-provided files,
the KMS-backed signer (against moto's KMS), and the signed-attribute template that must change nothing."""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import boto3
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_der_public_key
from moto import mock_aws
from pyhanko.sign import signers
from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes
from pyhanko.sign.validation.status import SignatureCoverageLevel

from madoguchi.config import Settings
from madoguchi.documents import pdf, signing
from tests.documents.certificate_fixtures import pyhanko_status

REGION = "ap-northeast-1"


def _page(serial: str = "202983-20261126-0A1B2C3D") -> pdf.CertificatePage:
    return pdf.CertificatePage(
        kind="residency_certificate",
        serial=serial,
        issued_on=date(2026, 11, 26),
        content={"address": "長野県桜ヶ丘市中央一丁目1番1号", "persons": [{"name": "髙橋　一郎"}]},
        issuer=pdf.Issuer("桜ヶ丘市", "桜ヶ丘市長", "市民課"),
        verification_code="7K3M-Q2XD-HP4N",
        verification_url="https://madoguchi.example.jp/verify/7K3MQ2XDHP4N",
    )


def _unsigned() -> bytes:
    return pdf.render(_page(), pdf.find_font())


def test_generated_keys_chain_to_the_platform_ca_and_the_signature_validates(tmp_path: Path) -> None:
    store = signing.KeyStore(Settings(data_dir=tmp_path))
    signed = store.signer_for("sakuragaoka-city", "桜ヶ丘市").sign(_unsigned())
    status = pyhanko_status(signed, store.ca_certificate())
    assert status.intact and status.valid and status.trusted
    assert status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    assert status.signing_cert.subject.native["common_name"] == "桜ヶ丘市 公印 (Madoguchi)"
    ca_key = (tmp_path / "signing" / signing.CA_KEY_FILE).stat()
    assert oct(ca_key.st_mode & 0o777) == "0o600"


def test_a_signature_by_a_key_of_another_ca_is_not_trusted(tmp_path: Path) -> None:
    ours = signing.KeyStore(Settings(data_dir=tmp_path / "ours"))
    theirs = signing.KeyStore(Settings(data_dir=tmp_path / "theirs"))
    signed = theirs.signer_for("sakuragaoka-city", "桜ヶ丘市").sign(_unsigned())
    status = pyhanko_status(signed, ours.ca_certificate())
    assert status.intact and not status.trusted


def test_keys_from_files_are_never_generated_and_a_missing_one_is_named(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, signing_key_source="files", signing_keys_dir=str(tmp_path / "keys"))
    with pytest.raises(signing.SigningKeyMissing, match=r"platform-ca\.pem"):
        signing.KeyStore(settings).signer_for("shiomi-town", "汐見町")
    # The operator provisions the CA certificate and the tenant's files (here: made with the same tooling).
    signing.create_platform_ca(tmp_path / "keys")
    with pytest.raises(signing.SigningKeyMissing, match="shiomi-town"):
        signing.KeyStore(settings).signer_for("shiomi-town", "汐見町")
    signing.create_tenant_key(tmp_path / "keys", "shiomi-town", "汐見町")
    store = signing.KeyStore(settings)
    status = pyhanko_status(store.signer_for("shiomi-town", "汐見町").sign(_unsigned()), store.ca_certificate())
    assert status.intact and status.trusted
    assert not (tmp_path / "signing").exists()


def test_an_unknown_key_source_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="MADOGUCHI_SIGNING_KEY_SOURCE"):
        signing.KeyStore(Settings(data_dir=tmp_path, signing_key_source="hsm"))


def test_the_signed_attribute_template_is_byte_identical_to_pyhankos_own(tmp_path: Path) -> None:
    tenant_signer = signing.KeyStore(Settings(data_dir=tmp_path)).signer_for("midorikawa-village", "緑川村")
    templated = tenant_signer.signer
    assert isinstance(templated, signing.SimpleTemplatedSigner)
    plain = signers.SimpleSigner(templated.signing_cert, templated.signing_key, templated.cert_registry)

    async def attributes(signer: signers.Signer, digest: bytes) -> bytes:
        attrs = await signer.signed_attrs(
            digest, "sha256", attr_settings=PdfCMSSignedAttributes(), use_pades=True, is_pdf_sig=True
        )
        return attrs.dump()

    for content in (b"first", b"second", b"third"):
        digest = hashlib.sha256(content).digest()
        ours = signing.run_sync(functools.partial(attributes, templated, digest))
        assert ours == signing.run_sync(functools.partial(attributes, plain, digest))


# ------------------------------------------------------------------------------------------------ KMS


@pytest.fixture
def kms(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """moto's KMS: no request leaves the process."""
    for name in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        yield boto3.client("kms", region_name=REGION)


def _kms_tenant(kms, folder: Path, slug: str, key_spec: str = "ECC_NIST_P256") -> None:
    """What an operator does once per tenant: a KMS key, and a certificate for its public key from the CA."""
    key_id = kms.create_key(KeySpec=key_spec, KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName=f"alias/madoguchi-signing-{slug}", TargetKeyId=key_id)
    public_key = load_der_public_key(kms.get_public_key(KeyId=key_id)["PublicKey"])
    cert = signing.issue_signing_certificate(folder, public_key, f"{slug} (KMS)")
    tenant_dir = folder / "tenants" / slug
    tenant_dir.mkdir(parents=True)
    (tenant_dir / "signing.cert.pem").write_bytes(cert.public_bytes(encoding=_pem()))


def _pem():
    from cryptography.hazmat.primitives.serialization import Encoding

    return Encoding.PEM


@pytest.mark.parametrize("key_spec", ["ECC_NIST_P256", "RSA_2048"])
def test_kms_signer_signs_a_certificate_that_validates(kms, tmp_path: Path, key_spec: str) -> None:
    folder = tmp_path / "keys"
    signing.create_platform_ca(folder)
    _kms_tenant(kms, folder, "sakuragaoka-city", key_spec)
    (folder / signing.CA_KEY_FILE).unlink()  # the CA key is not on the server
    settings = Settings(
        data_dir=tmp_path, signing_key_source="kms", signing_keys_dir=str(folder), signing_kms_region=REGION
    )
    store = signing.KeyStore(settings)
    tenant_signer = store.signer_for("sakuragaoka-city", "桜ヶ丘市")
    assert isinstance(tenant_signer.signer, signing.KmsSigner)
    assert not (folder / "tenants" / "sakuragaoka-city" / "signing.key.pem").exists()
    signed = tenant_signer.sign(_unsigned())
    status = pyhanko_status(signed, store.ca_certificate())
    assert status.intact and status.valid and status.trusted
    assert status.coverage == SignatureCoverageLevel.ENTIRE_FILE


def test_kms_signer_with_a_missing_key_fails_loudly(kms, tmp_path: Path) -> None:
    folder = tmp_path / "keys"
    signing.create_platform_ca(folder)
    _kms_tenant(kms, folder, "shiomi-town")
    settings = Settings(
        data_dir=tmp_path,
        signing_key_source="kms",
        signing_keys_dir=str(folder),
        signing_kms_region=REGION,
        signing_kms_key_id="alias/not-there-{tenant}",
    )
    with pytest.raises(Exception, match=r"NotFound|not found|does not exist"):
        signing.KeyStore(settings).signer_for("shiomi-town", "汐見町").sign(_unsigned())


def test_certificates_are_ecdsa_p256_with_sha256(tmp_path: Path) -> None:
    store = signing.KeyStore(Settings(data_dir=tmp_path))
    store.signer_for("midorikawa-village", "緑川村")
    cert = x509.load_pem_x509_certificate(
        (tmp_path / "signing" / "tenants" / "midorikawa-village" / "signing.cert.pem").read_bytes()
    )
    assert cert.public_key().curve.name == "secp256r1"
    assert cert.signature_hash_algorithm.name == "sha256"
    assert os.path.exists(tmp_path / "signing" / signing.CA_CERT_FILE)


def test_signing_works_from_code_that_already_runs_an_event_loop(tmp_path: Path) -> None:
    """pyHanko is asynchronous inside; a caller driven by an event loop (an async server, Playwright's sync
    API in the browser tests) must still get a signature rather than "the event loop is already running"."""
    store = signing.KeyStore(Settings(data_dir=tmp_path))
    signer = store.signer_for("sakuragaoka-city", "桜ヶ丘市")

    async def sign_inside_a_running_loop() -> bytes:
        return signer.sign(_unsigned())

    signed = signing.run_sync(sign_inside_a_running_loop)
    status = pyhanko_status(signed, store.ca_certificate())
    assert status.intact and status.valid and status.trusted
