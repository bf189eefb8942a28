"""A 個人番号入り 住民票の写し end to end: the number is printed on the signed PDF and nowhere else — not in the issued
document's stored content, not in any API answer, email, notice, outbox message, audit record or log line."""

from __future__ import annotations

import email
import json
import logging
from dataclasses import replace
from email import policy
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from madoguchi.audit.models import AuditRecord
from madoguchi.config import Settings
from madoguchi.crypto import Sealer
from madoguchi.db import Database
from madoguchi.documents.models import IssuedDocument
from madoguchi.identity.models import Account, IdentityAssurance
from madoguchi.identity.sessions import start_session
from madoguchi.notify import worker
from madoguchi.notify.models import Notice
from madoguchi.outbox import OutboxMessage
from madoguchi.registry.models import Person
from tests.documents.certificate_fixtures import RESIDENCY, World, download, only_document, pdftotext, submit, world
from tests.oauth.conftest import Resident, bearer, register, tokens_for

__all__ = ["world"]

NUMBER = "123456789018"
#: The ways the number could be written out: as stored, as printed, and grouped with hyphens.
FORMS = (NUMBER, "1234 5678 9018", "1234-5678-9018")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Emails written out as files (the demo's mailbox) so their bodies can be read.
    return replace(settings, email_backend="mailbox")


def _mails(settings: Settings) -> list[str]:
    texts = []
    for path in sorted(Path(settings.data_dir, "mailbox").glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        parts = [part.get_content() for part in message.walk() if part.get_content_maintype() == "text"]
        texts.append(str(message["Subject"]) + "\n" + "\n".join(parts))
    return texts


def _linked_by_card(session: Any, town: Any) -> None:
    """A copy with the 個人番号 needs the card (decision 0048): the resident signed in with it."""
    session.get(Account, town.resident_account.id).identity_assurance = IdentityAssurance.CARD.value


def _assert_absent(where: str, text: str) -> None:
    for form in FORMS:
        assert form not in text, f"the Individual Number ({form}) is in {where}"


@pytest.mark.commits  # the outbox worker sends on threads of its own
def test_the_individual_number_is_on_the_pdf_and_nowhere_else(
    app: Any, db: Database, world: World, settings: Settings, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    town = world.a  # sakuragaoka-city issues at once to a verified resident
    with db.transaction(town.tenant.id) as session:
        person = session.get(Person, town.person.id)
        person.individual_number_encrypted = Sealer(settings.data_key).seal(town.tenant.id, NUMBER)
        _linked_by_card(session, town)
    request = {
        **RESIDENCY,
        "purpose": "pension",
        "purpose_detail": "年金事務所への届出",
        "include": {"individual_number": True},
    }
    with caplog.at_level(logging.DEBUG):
        application = submit(town, data=request)
        assert application["state"] == "issued"
        document = only_document(town, application["id"])
        pdf_text = pdftotext(download(town, document["id"]), tmp_path)
        answers = [
            town.resident.get(town.api(f"/applications/{application['id']}")),
            town.resident.get(town.api(f"/applications/{application['id']}/documents")),
            town.resident.get(town.api(f"/documents/{document['id']}")),
            town.clerk.get(town.api(f"/documents/{document['id']}")),
        ]
        assert worker.run_once(db, settings=settings, app=app) >= 1
    assert "個人番号" in pdf_text and "1234 5678 9018" in pdf_text

    for response in answers:
        assert response.status_code == 200
        _assert_absent(f"the API answer {response.request.path}", response.get_data(as_text=True))
    mails = _mails(settings)
    assert mails, "the applicant was sent no email"
    for mail in mails:
        _assert_absent("an email", mail)
    _assert_absent("the log", caplog.text)
    with db.transaction(town.tenant.id) as session:
        stored = session.execute(select(IssuedDocument)).scalar_one()
        assert stored.content["persons"][0]["individual_number_included"] is True
        _assert_absent("the issued document's content", json.dumps(stored.content, ensure_ascii=False))
        for model in (OutboxMessage, Notice, AuditRecord):
            for row in session.execute(select(model)).scalars():
                columns = {c.name: getattr(row, c.name) for c in model.__table__.columns}
                _assert_absent(f"a row of {model.__tablename__}", json.dumps(columns, default=str, ensure_ascii=False))


def _own_app_token(app: Any, db: Database, town: Any) -> dict[str, str]:
    """A vendor app's token for the town's resident, with the resident's consent."""
    with db.transaction(town.tenant.id) as session:
        account = session.get(Account, town.resident_account.id)
        _, cookie = start_session(session, account, second_factor_done=True)
    vendor = register(db, town.tenant, name="Kurashi Navi")
    return bearer(tokens_for(app, vendor, Resident(account.id, account.email, cookie, town.tenant))["access_token"])


def test_an_app_acting_for_the_resident_never_gets_a_certificate_with_the_number(
    app: Any, db: Database, world: World, settings: Settings
) -> None:
    town = world.a
    with db.transaction(town.tenant.id) as session:
        person = session.get(Person, town.person.id)
        person.individual_number_encrypted = Sealer(settings.data_key).seal(town.tenant.id, NUMBER)
        _linked_by_card(session, town)
    with_number = submit(
        town,
        data={
            **RESIDENCY,
            "purpose": "pension",
            "purpose_detail": "年金の手続",
            "include": {"individual_number": True},
        },
    )
    without = submit(town)
    token = _own_app_token(app, db, town)
    http = app.test_client()
    refused = only_document(town, with_number["id"])
    answer = http.get(town.api(f"/documents/{refused['id']}/pdf"), headers=token)
    assert answer.status_code == 403 and answer.mimetype == "application/problem+json"
    assert "Individual Number" in answer.json["detail"]
    # The resident downloads it; the app gets the same resident's certificate without the number.
    assert download(town, refused["id"]).startswith(b"%PDF-")
    plain = only_document(town, without["id"])
    assert http.get(town.api(f"/documents/{plain['id']}/pdf"), headers=token).status_code == 200
