"""A document store that cannot be written or read (a read-only or full folder: ``OSError`` from the local
backend) never gives a 500 or a half-written state: auto-issue leaves the submission to a clerk with the
reason on record, a clerk's issue and an upload answer 503 and change nothing, a download answers 503.

The store is made unwritable for real: a plain file stands where the tenants' folder must be created, so every
write fails in the operating system (as root, permission bits would not stop anything).
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage

from madoguchi.applications.models import Application
from madoguchi.config import Settings
from madoguchi.db import Database
from madoguchi.documents.models import Attachment, IssuedDocument
from tests.documents.certificate_fixtures import World, download, issue_by_clerk, only_document, submit, world
from tests.documents.conftest import multipart, pdf_bytes
from tests.world import residency_by_agent

__all__ = ["world"]
pytestmark = pytest.mark.faults

AGENT = residency_by_agent("代理 𠮷子")


def _store(settings: Settings) -> Path:
    return settings.data_dir / "documents"


def _make_unwritable(settings: Settings) -> None:
    store = _store(settings)
    if (store / "tenants").is_dir():
        shutil.rmtree(store / "tenants")
    store.mkdir(parents=True, exist_ok=True)
    (store / "tenants").write_bytes(b"")  # every key lives under tenants/<id>/...: no folder can be made


def _count(db: Database, tenant_id: Any, model: Any) -> int:
    with db.transaction(tenant_id) as session:
        return session.execute(select(func.count()).select_from(model)).scalar_one()


def _assert_503(response: Any) -> None:
    assert response.status_code == 503, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/problem+json"
    assert int(response.headers["Retry-After"]) > 0
    assert "Traceback" not in response.get_data(as_text=True) and "tenants/" not in response.get_data(as_text=True)


def test_auto_issue_on_an_unwritable_store_leaves_the_submission_to_a_clerk_with_the_reason(
    world: World, db: Database, settings: Settings
) -> None:
    _make_unwritable(settings)
    application = submit(world.a)  # asserts 200
    assert application["state"] == "submitted"
    history = world.a.resident.get(world.a.api(f"/applications/{application['id']}/history")).json
    assert history[-1]["action"] == "auto_issue_declined" and history[-1]["comment"]
    assert _count(db, world.a.tenant.id, IssuedDocument) == 0
    with db.transaction(world.a.tenant.id) as session:
        assert set(session.execute(select(Application.state)).scalars()) == {"submitted"}  # no draft left


def test_a_clerk_issue_on_an_unwritable_store_is_503_and_changes_nothing(
    world: World, db: Database, settings: Settings
) -> None:
    application = submit(world.b)
    url = world.b.api(f"/applications/{application['id']}/transitions")
    for step in ("start_review", "approve"):
        assert world.b.clerk.post(url, json={"transition": step}).status_code == 200
    _make_unwritable(settings)
    _assert_503(world.b.clerk.post(url, json={"transition": "issue"}))
    assert world.b.clerk.get(world.b.api(f"/applications/{application['id']}")).json["state"] == "approved"
    assert _count(db, world.b.tenant.id, IssuedDocument) == 0


def test_an_upload_to_an_unwritable_store_is_503_stores_no_row_and_frees_its_idempotency_key(
    world: World, db: Database, settings: Settings
) -> None:
    draft = world.b.resident.post(
        world.b.api("/applications/"), json={"procedure": "residency-certificate", "data": AGENT}
    )
    assert draft.status_code == 201, draft.json
    _make_unwritable(settings)
    file = FileStorage(io.BytesIO(pdf_bytes()), "委任状.pdf", "file", content_type="application/pdf")
    body, body_type = multipart({"document_key": "power_of_attorney", "file": file})
    url = world.b.api(f"/applications/{draft.json['id']}/attachments")
    headers = {"Idempotency-Key": "upload-while-the-store-is-down"}
    _assert_503(world.b.resident.post(url, data=body, content_type=body_type, headers=headers))
    assert _count(db, world.b.tenant.id, Attachment) == 0
    (_store(settings) / "tenants").unlink()  # the store is back: the same key is free to try again at once
    retried = world.b.resident.post(url, data=body, content_type=body_type, headers=headers)
    assert retried.status_code == 201, retried.json
    assert _count(db, world.b.tenant.id, Attachment) == 1


def test_a_download_from_an_unreadable_store_is_503(world: World, settings: Settings) -> None:
    issued = issue_by_clerk(world.b)
    document = only_document(world.b, issued["id"])
    assert download(world.b, document["id"])  # readable first
    (stored,) = [p for p in (_store(settings) / "tenants").rglob("*") if p.is_file()]
    stored.unlink()
    stored.mkdir()  # reading the object now fails in the operating system (EISDIR)
    _assert_503(world.b.resident.get(world.b.api(f"/documents/{document['id']}/pdf")))
