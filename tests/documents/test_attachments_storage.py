"""The pieces under the attachments API, without a database: safe names, RFC 6266 headers, the ClamAV
adapter against a server speaking clamd's INSTREAM protocol, and the S3 backend (SSE-KMS with moto, whose
KMS and S3 stand in for AWS's; everything else about S3 is tested against rclone in test_attachments.py)."""

from __future__ import annotations

import base64
import json
import os
import socket
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import boto3
import pytest
from moto import mock_aws
from werkzeug.http import parse_options_header

from madoguchi import models  # noqa: F401 - every model in the metadata
from madoguchi.config import Settings
from madoguchi.documents.attachments import detect_type, sanitize_name
from madoguchi.documents.backend import content_disposition, new_key
from madoguchi.documents.s3 import S3Storage
from madoguchi.documents.scanning import (
    ClamAVScanner,
    NoScanner,
    ScannerUnavailable,
    parse_reply,
    scanner_for,
)
from madoguchi.documents.storage import LocalStorage, storage_for
from tests.documents.conftest import FakeClamd, image_bytes, pdf_bytes
from tests.support.schema import schema_differences, tables_of

TENANT = uuid.UUID("11111111-2222-3333-4444-555555555555")


# ------------------------------------------------------------------------------------------------ names


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("委任状.pdf", "委任状.pdf"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\taro\\Desktop\\契約書.pdf", "契約書.pdf"),
        ("a\x00b\x1f\u202ec.pdf", "abc.pdf"),  # control and bidi-override characters go
        ("  spaced   name .pdf ", "spaced name .pdf"),
        ("ｶﾞ.pdf", "ｶﾞ.pdf"),  # NFC keeps half-width kana as typed (NFKC would change the name)
        ("", "document"),
        ("...", "document"),
    ],
)
def test_original_names_keep_no_path_parts_or_control_characters(given: str, kept: str) -> None:
    assert sanitize_name(given) == kept


def test_a_long_name_is_cut_to_200_characters_keeping_its_extension() -> None:
    name = sanitize_name("あ" * 300 + ".pdf")
    assert len(name) == 200 and name.endswith("あ.pdf")


def test_keys_are_generated_under_the_tenant_prefix_and_random() -> None:
    first, second = new_key(TENANT, "attachments"), new_key(TENANT, "attachments")
    assert first.startswith(f"tenants/{TENANT}/attachments/") and first != second
    with pytest.raises(ValueError, match="plain word"):
        new_key(TENANT, "../x")


@pytest.mark.parametrize(
    "name", ["委任状（山田太郎）.pdf", "report 2026.pdf", 'quote"semi;colon.png', "résumé.jpg", "100%.pdf"]
)
def test_content_disposition_round_trips_any_name_through_an_rfc6266_parser(name: str) -> None:
    header = content_disposition(name, "application/pdf")
    assert header.isascii()
    value, options = parse_options_header(header)
    assert value == "attachment" and options["filename"] == name
    # The plain parameter is the fallback for clients without RFC 8187: printable ASCII, no quote or backslash.
    fallback = header.split('filename="', 1)[1].split('"', 1)[0]
    assert fallback and all(c.isalnum() or c in "._-()[] " for c in fallback)
    if "filename*=" in header:
        assert unquote(header.split("filename*=UTF-8''", 1)[1]) == name


def test_detect_type_reads_magic_numbers_not_names() -> None:
    assert detect_type(pdf_bytes()) == "application/pdf"
    assert detect_type(image_bytes("JPEG")) == "image/jpeg"
    assert detect_type(image_bytes("PNG")) == "image/png"
    assert detect_type(b"GIF89a" + b"\0" * 20) is None  # a type we do not accept
    assert detect_type(b"just text") is None


# -------------------------------------------------------------------------------------------------- ClamAV


@pytest.fixture
def clamd():
    server = FakeClamd()
    yield server
    server.close()


def test_clamav_scanner_streams_the_file_in_chunks_and_reads_the_verdict(clamd: FakeClamd) -> None:
    scanner = ClamAVScanner("127.0.0.1", clamd.port, timeout=5)
    large = b"x" * 200_000  # several INSTREAM chunks
    assert scanner.scan(large).clean
    assert clamd.received[-1] == large
    infected = scanner.scan(b"prefix EICAR suffix")
    assert (infected.clean, infected.signature, infected.status) == (False, "Eicar-Test-Signature", "infected")


def test_clamav_scanner_reports_an_unreachable_daemon() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ScannerUnavailable):
        ClamAVScanner("127.0.0.1", port, timeout=2).scan(b"data")


def test_clamd_errors_are_not_mistaken_for_a_verdict() -> None:
    assert parse_reply("stream: OK").clean
    with pytest.raises(ScannerUnavailable):
        parse_reply("INSTREAM size limit exceeded. ERROR")


def test_scanner_settings_are_off_by_default_and_validated(tmp_path: Path) -> None:
    assert isinstance(scanner_for(Settings(data_dir=tmp_path)), NoScanner)
    configured = scanner_for(Settings(data_dir=tmp_path, virus_scanner_url="clamav://scanner.internal:3311"))
    assert isinstance(configured, ClamAVScanner) and (configured.host, configured.port) == ("scanner.internal", 3311)
    with pytest.raises(ValueError, match="clamav://"):
        scanner_for(Settings(data_dir=tmp_path, virus_scanner_url="http://scanner"))


# ----------------------------------------------------------------------------------------------- backends


def test_storage_url_chooses_the_backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    assert isinstance(storage_for(Settings(data_dir=tmp_path)), LocalStorage)
    s3 = storage_for(Settings(data_dir=tmp_path, storage_url="s3://bucket/some/prefix/"))
    assert isinstance(s3, S3Storage) and (s3.bucket, s3.prefix) == ("bucket", "some/prefix")
    assert (
        s3.object_name(f"tenants/{TENANT}/attachments/abc", TENANT) == f"some/prefix/tenants/{TENANT}/attachments/abc"
    )
    with pytest.raises(ValueError, match="unsupported scheme"):
        storage_for(Settings(data_dir=tmp_path, storage_url="ftp://host/x"))


def test_a_backend_refuses_a_key_of_another_tenant(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    key = new_key(TENANT, "attachments")
    with pytest.raises(PermissionError):
        storage.put(key, b"x", tenant_id=uuid.uuid4(), content_type="application/pdf")


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "ap-northeast-1",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield


def test_with_a_kms_key_objects_are_written_with_sse_kms_and_the_tenant_in_the_encryption_context(
    aws: None, tmp_path: Path
) -> None:
    key_id = boto3.client("kms", region_name="ap-northeast-1").create_key()["KeyMetadata"]["KeyId"]
    boto3.client("s3", region_name="ap-northeast-1").create_bucket(
        Bucket="documents", CreateBucketConfiguration={"LocationConstraint": "ap-northeast-1"}
    )
    settings = replace(
        Settings(data_dir=tmp_path),
        storage_url="s3://documents/prod",
        storage_region="ap-northeast-1",
        storage_kms_key_id=key_id,
    )
    storage = S3Storage.from_settings(settings)
    sent: list[dict[str, Any]] = []
    # moto does not keep the encryption context, so read it off the request as it goes to S3.
    storage.client.meta.events.register(
        "before-send.s3.PutObject", lambda request, **_: sent.append(dict(request.headers))
    )
    key = new_key(TENANT, "attachments")
    storage.put(key, b"%PDF-1.4 content", tenant_id=TENANT, content_type="application/pdf")

    head = storage.client.head_object(Bucket="documents", Key=f"prod/{key}")
    assert head["ServerSideEncryption"] == "aws:kms"
    assert key_id in head["SSEKMSKeyId"]
    (headers,) = sent
    context = json.loads(base64.b64decode(headers["x-amz-server-side-encryption-context"]))
    assert context == {"tenant_id": str(TENANT)}
    assert storage.get(key, tenant_id=TENANT) == b"%PDF-1.4 content"

    url = storage.download_url(key, tenant_id=TENANT, filename="委任状.pdf", content_type="application/pdf", seconds=60)
    assert url is not None and "X-Amz-Expires=60" in url and "response-content-disposition=" in url


def test_without_a_kms_key_no_encryption_parameters_are_sent(aws: None, tmp_path: Path) -> None:
    boto3.client("s3", region_name="ap-northeast-1").create_bucket(
        Bucket="documents", CreateBucketConfiguration={"LocationConstraint": "ap-northeast-1"}
    )
    storage = S3Storage.from_settings(replace(Settings(data_dir=tmp_path), storage_url="s3://documents"))
    sent: list[dict[str, Any]] = []
    storage.client.meta.events.register(
        "before-send.s3.PutObject", lambda request, **_: sent.append(dict(request.headers))
    )
    key = new_key(TENANT, "attachments")
    storage.put(key, b"data", tenant_id=TENANT, content_type="image/png")
    assert not any(name.lower().startswith("x-amz-server-side-encryption") for name in sent[0])
    assert storage.exists(key, tenant_id=TENANT)
    storage.delete(key, tenant_id=TENANT)
    assert not storage.exists(key, tenant_id=TENANT)


# ---------------------------------------------------------------------------------------------- migration


# SQLite's reflection cannot read the queue's expression indexes on applications (decision 0024); this test
# compares other tables.
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based index")
def test_the_attachments_table_as_migrated_matches_the_model(backend) -> None:
    assert [d for d in schema_differences(backend.owner_url) if "attachments" in tables_of(d)] == []
