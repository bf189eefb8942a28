"""When a certificate cannot be produced (here: signing keys that the operator has not provisioned), the
resident's submission still stands and waits for a clerk, and a clerk's issue answers 503 and changes nothing."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import func, select

from madoguchi.config import Settings
from madoguchi.db import Database
from madoguchi.documents.models import CertificateVerification, IssuedDocument
from tests.documents.certificate_fixtures import World, issue_after_approval, submit, world

__all__ = ["world"]


@pytest.fixture
def settings(settings: Settings, tmp_path) -> Settings:
    return replace(settings, signing_key_source="files", signing_keys_dir=str(tmp_path / "not-provisioned"))


def _documents(db: Database, world: World) -> int:
    with db.transaction(world.a.tenant.id) as session:
        return session.execute(select(func.count()).select_from(IssuedDocument)).scalar_one()


def test_auto_issue_without_keys_leaves_the_submission_for_a_clerk(world: World, db: Database) -> None:
    application = submit(world.a)
    assert application["state"] == "submitted"
    history = world.a.resident.get(world.a.api(f"/applications/{application['id']}/history")).json
    assert history[-1]["action"] == "auto_issue_declined"
    assert "could not be signed" in history[-1]["comment"] and "not-provisioned" not in history[-1]["comment"]
    assert _documents(db, world) == 0


def test_a_clerk_issue_without_keys_is_503_and_changes_nothing(world: World, db: Database) -> None:
    application, refused = issue_after_approval(world.b)
    assert refused.status_code == 503 and refused.mimetype == "application/problem+json"
    assert "not-provisioned" not in refused.get_data(as_text=True)
    assert world.b.clerk.get(world.b.api(f"/applications/{application['id']}")).json["state"] == "approved"
    with db.transaction(world.b.tenant.id) as session:
        assert session.execute(select(func.count()).select_from(IssuedDocument)).scalar_one() == 0
    with db.transaction() as session:
        assert session.execute(select(func.count()).select_from(CertificateVerification)).scalar_one() == 0
