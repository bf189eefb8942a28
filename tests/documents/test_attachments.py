"""The attachments API over HTTP, on both storage backends: the local folder and S3 (a real ``rclone serve
s3``), each on SQLite and PostgreSQL. Uploads are checked for size, count and type by content; a refused
upload stores nothing; downloads carry an RFC 6266 name; only the right people see or change anything."""

from __future__ import annotations

import hashlib
import io
import socket
import struct
import time
import urllib.error
import urllib.request
import uuid
import zlib
from email.message import EmailMessage
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage
from werkzeug.http import parse_options_header

from madoguchi.api import attachments as attachment_routes
from madoguchi.audit.models import AuditRecord
from madoguchi.config import Settings
from madoguchi.db import Database
from madoguchi.documents.models import Attachment
from madoguchi.documents.scanning import EXTENSION_KEY as SCANNER_KEY
from madoguchi.documents.scanning import ClamAVScanner
from madoguchi.documents.storage import EXTENSION_KEY as STORAGE_KEY
from tests.documents.conftest import (
    Desk,
    FakeClamd,
    StorageBackend,
    image_bytes,
    make_desk,
    multipart,
    pdf_bytes,
    with_storage,
)
from tests.documents.hostile_pdfs import MiB, peak_memory_growth, xref_stream_bomb
from tests.oauth.conftest import register, token_request, tokens_for
from tests.oauth.conftest import sign_in as oauth_sign_in
from tests.world import residency_by_agent

AGENT = residency_by_agent("代理 花子")
THIRD_PARTY = {**AGENT, "requester": {"relationship": "third_party", "third_party_reason": "契約の履行のため"}}
SELF = {**AGENT, "requester": {"relationship": "self"}}
JAPANESE_NAME = "委任状（山田太郎）.pdf"


@pytest.fixture
def settings(settings: Settings, storage_backend: StorageBackend) -> Settings:
    """Every test here runs on the local folder and on S3."""
    return with_storage(settings, storage_backend)


@pytest.fixture
def desk(db: Database, sign_in, seeded) -> Desk:
    return make_desk(db, sign_in)


def _draft(desk: Desk, data: dict[str, Any] = AGENT, client: FlaskClient | None = None) -> str:
    response = (client or desk.resident).post(desk.url("/"), json={"procedure": "residency-certificate", "data": data})
    assert response.status_code == 201, response.json
    return str(response.json["id"])


def _upload(
    desk: Desk,
    application_id: str,
    content: bytes,
    name: str = "poa.pdf",
    *,
    key: str = "power_of_attorney",
    content_type: str | None = "application/pdf",
    client: FlaskClient | None = None,
    headers: dict[str, str] | None = None,
):
    file = FileStorage(io.BytesIO(content), name, "file", content_type=content_type)
    body, body_type = multipart({"document_key": key, "file": file})
    return (client or desk.resident).post(
        desk.url(f"/{application_id}/attachments"), data=body, content_type=body_type, headers=headers
    )


def _rows(db: Database, desk: Desk) -> list[Attachment]:
    with db.transaction(desk.tenant.id) as session:
        return list(session.execute(select(Attachment)).scalars())


def _storage(app: Flask) -> Any:
    return app.extensions[STORAGE_KEY]


# ------------------------------------------------------------------------------------------- happy path


def test_resident_uploads_a_pdf_kept_under_a_generated_tenant_key_with_its_sha256(
    app: Flask, db: Database, desk: Desk, storage_backend: StorageBackend
) -> None:
    application_id = _draft(desk)
    content = pdf_bytes()
    response = _upload(desk, application_id, content, JAPANESE_NAME)
    assert response.status_code == 201, response.json
    body = response.json
    assert body["document_key"] == "power_of_attorney"
    assert body["original_name"] == JAPANESE_NAME
    assert body["content_type"] == "application/pdf"
    assert body["size_bytes"] == len(content)
    assert body["sha256"] == hashlib.sha256(content).hexdigest()
    assert body["scan_status"] == "not_scanned"

    (row,) = _rows(db, desk)
    assert row.storage_key.startswith(f"tenants/{desk.tenant.id}/attachments/")
    assert "委任状" not in row.storage_key and "pdf" not in row.storage_key
    assert row.uploaded_by_account_id == desk.resident_account.id
    assert _storage(app).get(row.storage_key, tenant_id=desk.tenant.id) == content
    (stored_key,) = storage_backend.list_keys()
    assert stored_key.endswith(row.storage_key) and "委任状" not in stored_key

    listed = desk.resident.get(desk.url(f"/{application_id}/attachments"))
    assert [a["id"] for a in listed.json] == [body["id"]]
    one = desk.resident.get(desk.url(f"/{application_id}/attachments/{body['id']}"))
    assert one.status_code == 200 and one.json["sha256"] == body["sha256"]

    with db.transaction(desk.tenant.id) as session:
        audit = session.execute(select(AuditRecord).where(AuditRecord.action == "attachment.uploaded")).scalar_one()
        assert audit.object_id == body["id"] and audit.data["sha256"] == body["sha256"]


def test_jpeg_and_png_are_accepted_by_content(desk: Desk) -> None:
    application_id = _draft(desk, THIRD_PARTY)
    jpeg = _upload(
        desk,
        application_id,
        image_bytes("JPEG"),
        "scan.JPG",
        key="legitimate_reason_evidence",
        content_type="image/jpeg",
    )
    png = _upload(
        desk,
        application_id,
        image_bytes("PNG"),
        "写し",
        key="legitimate_reason_evidence",
        content_type="application/octet-stream",
    )
    assert (jpeg.status_code, jpeg.json["content_type"]) == (201, "image/jpeg")
    assert (png.status_code, png.json["content_type"]) == (201, "image/png")


def _disposition_name(header: str) -> str:
    """The file name an RFC 6266 client uses: ``filename*`` (RFC 8187, UTF-8) wins over ``filename``."""
    value, options = parse_options_header(header)
    assert value == "attachment"
    # Python's email parser reads the plain parameter: what a client that knows no filename* would save as.
    message = EmailMessage()
    message["Content-Disposition"] = header
    assert message.get_content_disposition() == "attachment"
    assert message.get_filename() == "document.pdf"
    return str(options["filename"])


def _png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims a width x height image (gigabytes decoded) over a few bytes of data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunks = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 1024)) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks


def test_attachments_are_judged_by_their_first_bytes_and_never_parsed(desk: Desk) -> None:
    """Issue 12 point 1 for attachments: a decompression bomb is only stored (a clerk opens it in a viewer of
    their own), so neither time nor the serving process's memory depends on what the file inflates to."""
    application_id = _draft(desk)
    for content, name, kind in [
        (xref_stream_bomb(), "poa.pdf", "application/pdf"),
        (_png_claiming(60_000, 60_000), "poa.png", "image/png"),
    ]:
        started = time.monotonic()
        response, growth = peak_memory_growth(
            lambda content=content, name=name, kind=kind: _upload(
                desk, application_id, content, name, content_type=kind
            ),
        )
        assert response.status_code == 201, response.json
        assert time.monotonic() - started < 1.0 and growth < 40 * MiB
        assert desk.resident.delete(desk.url(f"/{application_id}/attachments/{response.json['id']}")).status_code == 204


def test_download_carries_an_rfc6266_name_with_japanese_and_an_ascii_fallback(
    desk: Desk, storage_backend: StorageBackend
) -> None:
    application_id = _draft(desk)
    content = pdf_bytes("本文")
    attachment = _upload(desk, application_id, content, JAPANESE_NAME).json
    response = desk.resident.get(attachment["download_url"], base_url="https://localhost")
    if storage_backend.name == "local":
        assert response.status_code == 200
        assert response.data == content
        headers = response.headers
    else:
        # S3: a short-lived presigned URL, fetched here from the real server as a browser would.
        assert response.status_code == 303
        location = response.headers["Location"]
        assert "X-Amz-Signature=" in location and "X-Amz-Expires=300" in location
        with urllib.request.urlopen(location, timeout=10) as fetched:  # noqa: S310 - the test's own server
            assert fetched.read() == content
            headers = fetched.headers
        tampered = location.replace("X-Amz-Signature=", "X-Amz-Signature=0")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(tampered, timeout=10)  # noqa: S310
        assert refused.value.code == 403
        refused.value.close()
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Content-Type"] == "application/pdf"
    disposition = headers["Content-Disposition"]
    assert _disposition_name(disposition) == JAPANESE_NAME
    assert 'filename="document.pdf"' in disposition  # no ASCII letters in the name: a neutral fallback
    assert disposition.isascii()


def test_required_document_guard_passes_once_the_document_is_uploaded(desk: Desk) -> None:
    application_id = _draft(desk)
    refused = desk.resident.post(desk.url(f"/{application_id}/submit"))
    assert refused.status_code == 422
    assert "documents/power_of_attorney" in refused.json["errors"]
    assert _upload(desk, application_id, pdf_bytes()).status_code == 201
    assert desk.resident.post(desk.url(f"/{application_id}/submit")).status_code == 200


def test_an_idempotent_retry_returns_the_first_upload_and_stores_one(
    db: Database, desk: Desk, storage_backend: StorageBackend
) -> None:
    application_id = _draft(desk)
    # A retry resends the same bytes (the same multipart boundary), as an HTTP client library's retry does.
    sent, body_type = multipart(
        {"document_key": "power_of_attorney", "file": FileStorage(io.BytesIO(pdf_bytes()), "poa.pdf", "file")}
    )

    def post():
        return desk.resident.post(
            desk.url(f"/{application_id}/attachments"),
            data=sent,
            content_type=body_type,
            headers={"Idempotency-Key": "upload-1"},
        )

    first, again = post(), post()
    assert first.status_code == again.status_code == 201, again.json
    assert again.headers["Idempotent-Replayed"] == "true" and again.json["id"] == first.json["id"]
    assert len(_rows(db, desk)) == 1 and len(storage_backend.list_keys()) == 1


def test_a_retry_with_a_new_multipart_boundary_is_still_the_same_request(
    db: Database, desk: Desk, storage_backend: StorageBackend
) -> None:
    """Client libraries make a new boundary per send: the key still recognises the retry by what it carries,
    and the same key with another file is refused."""
    application_id = _draft(desk)

    def send(content: bytes, boundary: str):
        file = FileStorage(io.BytesIO(content), "poa.pdf", "file", content_type="application/pdf")
        body, body_type = multipart({"document_key": "power_of_attorney", "file": file}, boundary=boundary)
        return desk.resident.post(
            desk.url(f"/{application_id}/attachments"),
            data=body,
            content_type=body_type,
            headers={"Idempotency-Key": "upload-2"},
        )

    content = pdf_bytes()
    first, again = send(content, "first-try-7d1c"), send(content, "second-try-93ab")
    assert first.status_code == again.status_code == 201, again.json
    assert again.headers["Idempotent-Replayed"] == "true" and again.json["id"] == first.json["id"]
    other = send(content + b"%another", "third-try-5e20")
    assert other.status_code == 422
    assert len(_rows(db, desk)) == 1 and len(storage_backend.list_keys()) == 1


# --------------------------------------------------------------------------- refusals store nothing


def _nothing_stored(db: Database, desk: Desk, backend: StorageBackend, before: list[str]) -> None:
    assert _rows(db, desk) == []
    assert backend.list_keys() == before


def _problem(response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.headers["Content-Type"] == "application/problem+json"
    return response.json


REFUSALS: dict[str, tuple[dict[str, Any], int, str]] = {
    # name: (upload arguments, status, field or problem slug)
    "text posing as a pdf": ({"content": b"%PDX not a pdf at all\n" * 10}, 422, "file"),
    "png named .pdf": ({"content": "png", "name": "poa.pdf", "content_type": None}, 422, "file"),
    "pdf declared as png": ({"content_type": "image/png"}, 422, "file"),
    "pdf named .exe": ({"name": "poa.exe"}, 422, "file"),
    "empty file": ({"content": b""}, 422, "file"),
    "unknown document key": ({"key": "passport"}, 422, "document_key"),
    "document whose condition does not apply": ({"key": "legitimate_reason_evidence"}, 422, "document_key"),
    "over max_bytes": ({"content": "huge"}, 413, "payload-too-large"),
}


@pytest.mark.parametrize("case", list(REFUSALS), ids=list(REFUSALS))
def test_a_refused_upload_stores_no_row_and_no_object(
    app: Flask, db: Database, desk: Desk, storage_backend: StorageBackend, case: str
) -> None:
    template, status, where = REFUSALS[case]
    arguments = dict(template)
    content = arguments.pop("content", "pdf")
    if content == "pdf":
        content = pdf_bytes()
    elif content == "png":
        content = image_bytes("PNG")
    elif content == "huge":
        content = b"%PDF-1.4\n" + b"0" * (10 * 1024 * 1024)  # 10 MiB + 9 bytes: the limit is 10 MiB
    application_id = _draft(desk)
    before = storage_backend.list_keys()
    problem = _problem(_upload(desk, application_id, content, **arguments), status)
    if status == 422:
        assert where in problem["errors"], problem
    else:
        assert problem["type"].endswith(where)
    _nothing_stored(db, desk, storage_backend, before)


def test_a_request_larger_than_any_document_may_be_is_cut_off_before_parsing(
    db: Database, desk: Desk, storage_backend: StorageBackend
) -> None:
    application_id = _draft(desk)
    huge = b"%PDF-1.4\n" + b"0" * (11 * 1024 * 1024)
    problem = _problem(_upload(desk, application_id, huge), 413)
    assert problem["type"].endswith("payload-too-large")
    _nothing_stored(db, desk, storage_backend, [])


def test_more_files_than_max_count_is_409_and_keeps_the_first(
    db: Database, desk: Desk, storage_backend: StorageBackend
) -> None:
    application_id = _draft(desk)
    assert _upload(desk, application_id, pdf_bytes("one")).status_code == 201
    before = storage_backend.list_keys()
    problem = _problem(_upload(desk, application_id, pdf_bytes("two")), 409)
    assert problem["max_count"] == 1
    assert len(_rows(db, desk)) == 1 and storage_backend.list_keys() == before


def test_when_the_database_write_fails_the_stored_object_is_deleted_again(
    app: Flask, db: Database, desk: Desk, storage_backend: StorageBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    application_id = _draft(desk)

    def failing_audit(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(attachment_routes.attachments.audit, "record", failing_audit)
    response = _upload(desk, application_id, pdf_bytes())
    assert response.status_code == 500 and "the database went away" not in response.get_data(as_text=True)
    _nothing_stored(db, desk, storage_backend, [])


# ----------------------------------------------------------------------------------------- virus scan


@pytest.fixture
def clamd(app: Flask):
    server = FakeClamd()
    app.extensions[SCANNER_KEY] = ClamAVScanner("127.0.0.1", server.port, timeout=5)
    yield server
    server.close()


def test_with_scanning_on_a_clean_file_is_stored_as_scanned(desk: Desk, clamd: FakeClamd) -> None:
    response = _upload(desk, _draft(desk), pdf_bytes())
    assert response.status_code == 201 and response.json["scan_status"] == "clean"


def test_an_infected_file_is_refused_and_nothing_is_stored(
    db: Database, desk: Desk, storage_backend: StorageBackend, clamd: FakeClamd
) -> None:
    infected = pdf_bytes() + b"\n% EICAR test\n"
    problem = _problem(_upload(desk, _draft(desk), infected), 422)
    assert "file" in problem["errors"]
    _nothing_stored(db, desk, storage_backend, [])


def test_an_unreachable_scanner_refuses_the_upload_with_503(
    app: Flask, db: Database, desk: Desk, storage_backend: StorageBackend
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    app.extensions[SCANNER_KEY] = ClamAVScanner("127.0.0.1", closed_port, timeout=2)
    problem = _problem(_upload(desk, _draft(desk), pdf_bytes()), 503)
    assert problem["type"].endswith("service-unavailable")
    _nothing_stored(db, desk, storage_backend, [])


# ------------------------------------------------------------------------------------- delete, states


def test_the_applicant_deletes_an_attachment_of_a_draft_and_its_object_goes(
    db: Database, desk: Desk, storage_backend: StorageBackend
) -> None:
    application_id = _draft(desk)
    attachment = _upload(desk, application_id, pdf_bytes()).json
    response = desk.resident.delete(desk.url(f"/{application_id}/attachments/{attachment['id']}"))
    assert response.status_code == 204
    assert _rows(db, desk) == [] and storage_backend.list_keys() == []
    with db.transaction(desk.tenant.id) as session:
        assert session.execute(select(func.count()).where(AuditRecord.action == "attachment.deleted")).scalar_one() == 1


def test_after_submission_attachments_can_no_longer_be_added_or_deleted(
    db: Database, desk: Desk, storage_backend: StorageBackend
) -> None:
    application_id = _draft(desk)
    attachment = _upload(desk, application_id, pdf_bytes()).json
    assert desk.resident.post(desk.url(f"/{application_id}/submit")).status_code == 200
    keys = storage_backend.list_keys()
    _problem(desk.resident.delete(desk.url(f"/{application_id}/attachments/{attachment['id']}")), 409)
    _problem(desk.clerk.delete(desk.url(f"/{application_id}/attachments/{attachment['id']}")), 409)
    _problem(_upload(desk, application_id, pdf_bytes(), key="power_of_attorney"), 409)
    assert len(_rows(db, desk)) == 1 and storage_backend.list_keys() == keys


# ------------------------------------------------------------------------------------ who sees what


def test_staff_list_and_download_a_submitted_applications_attachments(desk: Desk) -> None:
    application_id = _draft(desk)
    content = pdf_bytes()
    attachment = _upload(desk, application_id, content).json
    assert desk.clerk.get(desk.url(f"/{application_id}/attachments")).status_code == 404  # a resident's draft
    assert desk.resident.post(desk.url(f"/{application_id}/submit")).status_code == 200
    listed = desk.clerk.get(desk.url(f"/{application_id}/attachments"))
    assert [a["id"] for a in listed.json] == [attachment["id"]]
    download = desk.clerk.get(attachment["download_url"], base_url="https://localhost")
    assert download.status_code in (200, 303)


def test_another_resident_gets_404_for_everything(db: Database, desk: Desk, storage_backend: StorageBackend) -> None:
    application_id = _draft(desk)
    attachment = _upload(desk, application_id, pdf_bytes()).json
    base = f"/{application_id}/attachments"
    for response in (
        desk.neighbour.get(desk.url(base)),
        desk.neighbour.get(desk.url(f"{base}/{attachment['id']}")),
        desk.neighbour.get(desk.url(f"{base}/{attachment['id']}/content")),
        desk.neighbour.delete(desk.url(f"{base}/{attachment['id']}")),
        _upload(desk, application_id, pdf_bytes(), client=desk.neighbour),
    ):
        _problem(response, 404)
    assert len(_rows(db, desk)) == 1 and len(storage_backend.list_keys()) == 1


def test_a_clerk_of_another_municipality_gets_404_on_either_tenants_url(
    db: Database, desk: Desk, storage_backend: StorageBackend
) -> None:
    application_id = _draft(desk)
    attachment = _upload(desk, application_id, pdf_bytes()).json
    assert desk.resident.post(desk.url(f"/{application_id}/submit")).status_code == 200
    base = f"/{application_id}/attachments"
    for slug in (desk.tenant.slug, desk.other.slug):
        for response in (
            desk.foreign_clerk.get(desk.url(base, slug)),
            desk.foreign_clerk.get(desk.url(f"{base}/{attachment['id']}", slug)),
            desk.foreign_clerk.get(desk.url(f"{base}/{attachment['id']}/content", slug)),
            desk.foreign_clerk.delete(desk.url(f"{base}/{attachment['id']}", slug)),
        ):
            _problem(response, 404)
    assert len(_rows(db, desk)) == 1 and len(storage_backend.list_keys()) == 1


def test_an_attachment_id_of_another_application_is_404(desk: Desk) -> None:
    first, second = _draft(desk), _draft(desk)
    attachment = _upload(desk, first, pdf_bytes()).json
    _problem(desk.resident.get(desk.url(f"/{second}/attachments/{attachment['id']}")), 404)
    _problem(desk.resident.get(desk.url(f"/{second}/attachments/{uuid.uuid4()}/content")), 404)


def test_staff_upload_for_an_application_awaiting_more_information(db: Database, desk: Desk) -> None:
    """At the counter a clerk may add the document the resident brought (the applicant-or-staff rule)."""
    application_id = _draft(desk, THIRD_PARTY)
    assert _upload(desk, application_id, pdf_bytes(), key="legitimate_reason_evidence").status_code == 201
    assert desk.resident.post(desk.url(f"/{application_id}/submit")).status_code == 200
    for transition, comment in (("start_review", None), ("request_more_info", "契約書の写しをもう一枚")):
        moved = desk.clerk.post(
            desk.url(f"/{application_id}/transitions"), json={"transition": transition, "comment": comment}
        )
        assert moved.status_code == 200, moved.json
    added = _upload(desk, application_id, pdf_bytes("2"), key="legitimate_reason_evidence", client=desk.clerk)
    assert added.status_code == 201, added.json
    uploaders = {row.uploaded_by_account_id for row in _rows(db, desk)}
    assert uploaders == {desk.resident_account.id, desk.clerk_account.id}


def test_a_vendor_app_uploads_for_the_resident_who_consented_and_a_client_credentials_token_cannot(
    app: Flask, db: Database, desk: Desk
) -> None:
    vendor = register(db, desk.tenant)
    resident = oauth_sign_in(db, desk.tenant)
    token = tokens_for(app, vendor, resident)["access_token"]
    api = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    created = api.post(desk.url("/"), json={"procedure": "residency-certificate", "data": AGENT}, headers=headers)
    assert created.status_code == 201, created.json
    application_id = created.json["id"]
    uploaded = _upload(desk, application_id, pdf_bytes(), client=api, headers=headers)
    assert uploaded.status_code == 201, uploaded.json
    (row,) = _rows(db, desk)
    assert row.uploaded_by_account_id == resident.account_id

    machine = register(
        db,
        desk.tenant,
        name="Batch",
        grant_types=["client_credentials"],
        redirect_uris=[],
        scopes=["applications:read"],
    )
    issued = token_request(app, machine, grant_type="client_credentials", scope="applications:read")
    machine_headers = {"Authorization": f"Bearer {issued.json['access_token']}"}
    refused = _upload(desk, application_id, pdf_bytes(), client=api, headers=machine_headers)
    assert refused.status_code in (403, 404)
    assert len(_rows(db, desk)) == 1
