"""The demo's mailbox: emails and identity letters written as files (0700 folder), listed at /demo/mailbox only in
the demo app, newest first, links clickable, one console line per mail."""

from __future__ import annotations

import email
import json
import stat
from dataclasses import replace
from datetime import date
from email import policy
from pathlib import Path

import pytest

from madoguchi import create_app
from madoguchi.config import Settings
from madoguchi.db import Database
from madoguchi.demo import create_demo_app, demo_settings
from madoguchi.identity import operations as identity
from madoguchi.notify import mailbox, worker
from madoguchi.tenancy.models import Tenant
from tests.conftest import DATA_KEY
from tests.factories import make_account, make_household, make_person, tenants

#: The outbox worker sends on threads of its own, so these tests commit for real.
pytestmark = pytest.mark.commits

HTTPS = "https://localhost"


@pytest.fixture
def boxed(settings: Settings) -> Settings:
    return replace(settings, email_backend="mailbox")


@pytest.fixture
def town(db: Database, seeded: None) -> Tenant:
    return tenants(db)[1]  # sakuragaoka-city: Japanese and English


def _sign_up(db: Database, town: Tenant, address: str, settings: Settings) -> None:
    with db.transaction(town.id) as session:
        identity.sign_up(
            session,
            town,
            email=address,
            password="a long harbour evening 2026",
            display_name="𠮷田 葛󠄀子",
            public_url=settings.public_url,
            data_key=settings.data_key,
            locale="en",
        )


def test_a_sign_up_email_lands_in_a_private_mailbox_folder_with_its_link(app, db, town, boxed) -> None:
    announced: list[tuple[str, str, str | None]] = []
    mailer = mailbox.MailboxMailer(boxed, announce=lambda *line: announced.append(line))
    _sign_up(db, town, "new@example.jp", boxed)
    assert worker.run_once(db, worker.default_handlers(boxed, mailer=mailer), app=app) == 1

    folder = Path(boxed.data_dir) / "mailbox"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    [eml] = folder.glob("*.eml")
    assert stat.S_IMODE(eml.stat().st_mode) == 0o600
    message = email.message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert message["To"] == "new@example.jp"
    body = message.get_content()
    link = mailbox.first_link(body)
    assert link is not None and f"/{town.slug}/verify-email/" in link
    [kind, subject, announced_link] = announced[0]
    assert (kind, announced_link) == ("email", link) and "Confirm your email address" in subject
    [record] = mailbox.Mailbox(folder).mails()
    assert record.kind == "email" and record.body == body


def test_the_identity_letter_code_is_written_to_the_mailbox_and_opens_the_account(app, db, town, boxed) -> None:
    with db.transaction(town.id) as session:
        person = make_person(session, town, make_household(session, town), family_name="髙﨑")
        account = make_account(session, town, email="letter@example.jp")
        identity.request_identity_letter(
            session,
            town,
            account,
            resident_code=person.resident_code,
            birth_date=date(1985, 4, 2),
            data_key=DATA_KEY,
            actor=f"account:{account.id}",
        )
    assert worker.run_once(db, worker.default_handlers(boxed), app=app) == 1
    [letter] = mailbox.Mailbox(Path(boxed.data_dir) / "mailbox").mails()
    assert letter.kind == "letter" and "髙﨑" in letter.recipient
    code = letter.body.split("確認コード: ")[1].split()[0]
    with db.transaction(town.id) as session:
        account = identity.get_account(session, town.id, account.id)
        identity.confirm_identity_code(session, account, code, data_key=DATA_KEY, actor="test")
        assert account.is_verified and account.person_id == person.id


def test_the_log_backend_still_writes_no_file_and_no_code(app, db, town, settings) -> None:
    _sign_up(db, town, "logged@example.jp", settings)
    worker.run_once(db, worker.default_handlers(settings), app=app)
    assert not (Path(settings.data_dir) / "mailbox").exists()


def test_only_the_demo_app_serves_the_mailbox_page_newest_first_with_clickable_links(app, db, town, boxed) -> None:
    _sign_up(db, town, "first@example.jp", boxed)
    worker.run_once(db, worker.default_handlers(boxed), app=app)
    _sign_up(db, town, "second@example.jp", boxed)
    worker.run_once(db, worker.default_handlers(boxed), app=app)

    assert create_app(boxed).test_client().get(f"{HTTPS}/demo/mailbox").status_code == 404
    assert (
        create_demo_app(replace(boxed, email_backend="smtp")).test_client().get(f"{HTTPS}/demo/mailbox").status_code
        == 404
    )  # a demo that sends real mail shows none
    page = create_demo_app(boxed).test_client().get(f"{HTTPS}/demo/mailbox?lang=en")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert html.index("second@example.jp") < html.index("first@example.jp")
    links = [m.body for m in mailbox.Mailbox(Path(boxed.data_dir) / "mailbox").mails()]
    for body in links:
        link = mailbox.first_link(body)
        assert f'<a href="{link}"' in html
    assert "Demo mailbox" in html
    assert "デモ用メールボックス" in create_demo_app(boxed).test_client().get(f"{HTTPS}/demo/mailbox?lang=ja").get_data(
        as_text=True
    )


def test_demo_settings_send_mail_to_the_mailbox_unless_a_real_backend_is_named(tmp_path: Path) -> None:
    assert demo_settings(tmp_path / "a", Settings(data_dir=tmp_path)).email_backend == "mailbox"
    assert demo_settings(tmp_path / "b", Settings(data_dir=tmp_path, email_backend="smtp")).email_backend == "smtp"
    stored = json.loads((tmp_path / "a" / "demo-secrets.json").read_text())
    assert set(stored) == {"secret_key", "data_key", "audit_key"}
