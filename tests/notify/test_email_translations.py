"""Emails through gettext: one template per message, its text in notify's catalog, rendered under force_locale
in the app's context (decision 0023)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import select

from madoguchi.cli import main
from madoguchi.db import Database
from madoguchi.notify import messages
from madoguchi.notify.models import EmailDelivery
from madoguchi.outbox import OutboxMessage
from madoguchi.web import i18n
from tests.notify.conftest import Town, submit_application

CONTEXT = {
    "tenant_name": "﨑山町",
    "department": "住民課",
    "phone": "0120-000-000",
    "hours": "平日 8:30〜17:15",
    "portal_url": "https://madoguchi.example/sakiyama/",
    "procedure": "住民票の写し",
    "reference": "R-2026-000001",
    "application_url": "https://madoguchi.example/sakiyama/applications/1",
}


def test_one_template_renders_each_language_from_the_catalog(app: Flask) -> None:
    with app.app_context():
        ja_subject, ja_body = messages.render("application.submitted", "ja", CONTEXT)
        en_subject, en_body = messages.render("application.submitted", "en", CONTEXT)
    assert ja_subject == "【﨑山町】申請を受け付けました（R-2026-000001）"
    assert "「住民票の写し」の申請を受け付けました。\n受付番号: R-2026-000001\n" in ja_body
    assert "﨑山町 住民課\n電話: 0120-000-000（平日 8:30〜17:15）\n" in ja_body
    assert en_subject == "[﨑山町] We received your application R-2026-000001"
    assert "Phone: 0120-000-000 (平日 8:30〜17:15)\n" in en_body


def test_rendering_outside_the_app_refuses_rather_than_mailing_english_to_everyone() -> None:
    # Without a context force_locale does nothing and gettext answers in English: that must not go out.
    with pytest.raises(RuntimeError, match="app's context"):
        messages.render("application.submitted", "ja", CONTEXT)


def test_the_email_texts_are_found_by_i18n_missing() -> None:
    found = i18n.extract_messages(i18n.PACKAGE_ROOT / "notify")
    assert "This message was sent automatically; replies are not read." in found
    assert "[%(tenant_name)s] We received your application %(reference)s" in found
    assert not i18n.untranslated(i18n.PACKAGE_ROOT / "notify")


def test_madoguchi_worker_renders_emails_in_the_app_it_builds(
    runner: CliRunner, db: Database, towns: tuple[Town, Town]
) -> None:
    town, _ = towns
    submit_application(db, town)
    result = runner.invoke(main, ["worker", "--once"])
    assert result.exit_code == 0, result.output
    with db.transaction(town.tenant.id) as session:
        [delivery] = session.execute(select(EmailDelivery)).scalars()
        message = session.get(OutboxMessage, delivery.message_id)
    assert delivery.template == "application.submitted" and delivery.status == "sent"
    assert message is not None and message.last_error is None
