"""The attachment pages: a resident uploads and deletes on the portal (with CSRF, errors beside the field),
a clerk downloads from the console; nobody else sees anything. Local storage (the embedded default)."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.datastructures import FileStorage
from werkzeug.http import parse_options_header

from madoguchi.db import Database
from madoguchi.documents.models import Attachment
from madoguchi.documents.storage import EXTENSION_KEY as STORAGE_KEY
from tests.api.conftest import HTTPS
from tests.documents.conftest import Desk, image_bytes, make_desk, multipart, pdf_bytes
from tests.documents.test_attachments import AGENT

NAME = "委任状（山田太郎）.pdf"
FIELD = "file-power_of_attorney"


@pytest.fixture
def desk(db: Database, sign_in, seeded) -> Desk:
    return make_desk(db, sign_in)


def _page(desk: Desk, path: str, slug: str | None = None) -> str:
    return f"{HTTPS}/{slug or desk.tenant.slug}{path}"


def _draft(desk: Desk) -> str:
    response = desk.resident.post(desk.url("/"), json={"procedure": "residency-certificate", "data": AGENT})
    assert response.status_code == 201, response.json
    return str(response.json["id"])


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def _post_file(client: FlaskClient, url: str, content: bytes, name: str = NAME, **fields: Any):
    html = client.get(url).get_data(as_text=True)
    form = {"csrf_token": _csrf(html), "document_key": "power_of_attorney", **fields}
    form["file"] = FileStorage(io.BytesIO(content), name, "file")
    body, body_type = multipart(form)
    return client.post(url, data=body, content_type=body_type, headers={"Referer": url})


def _rows(db: Database, desk: Desk) -> list[Attachment]:
    with db.transaction(desk.tenant.id) as session:
        return list(session.execute(select(Attachment)).scalars())


def _error_beside_the_field(html: str) -> str:
    match = re.search(rf'<p class="error" id="{FIELD}-error">(.*?)</p>', html, re.S)
    assert match, "no error beside the file field"
    return re.sub(r"<[^>]+>", "", match.group(1)).strip()


def test_resident_uploads_on_the_documents_page_and_downloads_it(app: Flask, db: Database, desk: Desk) -> None:
    application_id = _draft(desk)
    url = _page(desk, f"/applications/{application_id}/documents")
    page = desk.resident.get(url)
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'type="file"' in html and f'id="{FIELD}"' in html and 'enctype="multipart/form-data"' in html
    assert "PDF / JPEG / PNG" in html and "10 MB" in html  # the hint: allowed types and size

    content = pdf_bytes()
    uploaded = _post_file(desk.resident, url, content)
    assert uploaded.status_code == 303
    (row,) = _rows(db, desk)
    assert row.original_name == NAME and row.storage_key.startswith(f"tenants/{desk.tenant.id}/attachments/")
    listed = desk.resident.get(url).get_data(as_text=True)
    assert NAME in listed and "アップロードしました" in listed  # the flash message, in Japanese

    link = re.search(r'href="([^"]+/documents/[0-9a-f-]{36})"', listed)
    assert link
    download = desk.resident.get(link.group(1), base_url=HTTPS)
    assert download.status_code == 200 and download.data == content
    assert parse_options_header(download.headers["Content-Disposition"])[1]["filename"] == NAME
    assert download.headers["X-Content-Type-Options"] == "nosniff"

    summary = desk.resident.get(_page(desk, f"/applications/{application_id}")).get_data(as_text=True)
    assert NAME in summary and f"/applications/{application_id}/documents" in summary


def test_an_oversize_or_wrong_type_file_shows_a_message_beside_the_field_and_stores_nothing(
    app: Flask, db: Database, desk: Desk
) -> None:
    url = _page(desk, f"/applications/{_draft(desk)}/documents")
    too_large = _post_file(desk.resident, url, b"%PDF-1.4\n" + b"0" * (10 * 1024 * 1024))
    assert too_large.status_code == 413
    assert "10 MB" in _error_beside_the_field(too_large.get_data(as_text=True))
    wrong = _post_file(desk.resident, url, image_bytes("PNG"), "poa.pdf")
    assert wrong.status_code == 422
    assert "PDF" in _error_beside_the_field(wrong.get_data(as_text=True))
    assert _rows(db, desk) == []
    assert not any(p.is_file() for p in (app.config["MADOGUCHI"].data_dir / "documents").rglob("*"))


def test_an_upload_without_the_csrf_token_is_refused(db: Database, desk: Desk) -> None:
    url = _page(desk, f"/applications/{_draft(desk)}/documents")
    body, body_type = multipart(
        {"document_key": "power_of_attorney", "file": FileStorage(io.BytesIO(pdf_bytes()), "a.pdf", "file")}
    )
    response = desk.resident.post(url, data=body, content_type=body_type, headers={"Referer": url})
    assert response.status_code == 400 and _rows(db, desk) == []


def test_the_resident_deletes_a_file(app: Flask, db: Database, desk: Desk) -> None:
    url = _page(desk, f"/applications/{_draft(desk)}/documents")
    assert _post_file(desk.resident, url, pdf_bytes()).status_code == 303
    (row,) = _rows(db, desk)
    html = desk.resident.get(url).get_data(as_text=True)
    delete_url = re.search(r'action="([^"]+/delete)"', html)
    assert delete_url
    deleted = desk.resident.post(
        delete_url.group(1), data={"csrf_token": _csrf(html)}, headers={"Referer": url}, base_url=HTTPS
    )
    assert deleted.status_code == 303 and _rows(db, desk) == []
    assert not app.extensions[STORAGE_KEY].exists(row.storage_key, tenant_id=desk.tenant.id)


def test_another_resident_and_another_municipality_see_nothing(db: Database, desk: Desk) -> None:
    application_id = _draft(desk)
    url = _page(desk, f"/applications/{application_id}/documents")
    assert _post_file(desk.resident, url, pdf_bytes()).status_code == 303
    (row,) = _rows(db, desk)
    for path in (f"/applications/{application_id}/documents", f"/applications/{application_id}/documents/{row.id}"):
        assert desk.neighbour.get(_page(desk, path)).status_code == 404
        # A clerk of another municipality is not signed in here (sent to sign in), nor in their own (404).
        assert desk.foreign_clerk.get(_page(desk, path)).status_code == 303
        assert desk.foreign_clerk.get(_page(desk, path, desk.other.slug)).status_code in (403, 404)
    console = f"/console/applications/{application_id}/documents/{row.id}"
    assert desk.resident.get(_page(desk, console)).status_code == 403
    assert desk.foreign_clerk.get(_page(desk, console, desk.other.slug)).status_code == 404


def test_the_clerk_sees_the_attachments_on_the_console_and_downloads_them(db: Database, desk: Desk) -> None:
    application_id = _draft(desk)
    content = pdf_bytes()
    assert (
        _post_file(desk.resident, _page(desk, f"/applications/{application_id}/documents"), content).status_code == 303
    )
    (row,) = _rows(db, desk)
    download = _page(desk, f"/console/applications/{application_id}/documents/{row.id}")
    assert desk.clerk.get(download).status_code == 404  # a resident's unsent draft is not in the queue
    assert desk.resident.post(desk.url(f"/{application_id}/submit")).status_code == 200
    page = desk.clerk.get(_page(desk, f"/console/applications/{application_id}")).get_data(as_text=True)
    assert NAME in page and f"/documents/{row.id}" in page
    response = desk.clerk.get(download)
    assert response.status_code == 200 and response.data == content
    assert parse_options_header(response.headers["Content-Disposition"])[1]["filename"] == NAME
