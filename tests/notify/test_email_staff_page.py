"""Failed emails: retried with backoff up to the worker's last attempt, then "failed" on the staff page, where a
tenant admin or supervisor sends them again (audited). Other roles and other municipalities see nothing."""

from __future__ import annotations

import re
import socket
from dataclasses import replace
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select, update

from madoguchi.audit.models import AuditRecord
from madoguchi.config import Settings
from madoguchi.db import Database, utcnow
from madoguchi.identity.models import AccountKind
from madoguchi.notify import worker
from madoguchi.notify.models import EmailDelivery
from madoguchi.outbox import OutboxMessage
from tests.factories import make_account
from tests.notify.conftest import HTTPS, Town, submit_application

#: The outbox worker sends on threads of its own, so these tests commit for real.
pytestmark = pytest.mark.commits

PAGE = "/console/email-deliveries/"


def _closed_port() -> int:
    """A loopback port nobody listens on: connecting is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def refused(settings: Settings) -> Settings:
    return replace(settings, email_backend="smtp", smtp_host="127.0.0.1", smtp_port=_closed_port(), smtp_timeout=2.0)


def _deliveries(db: Database, town: Town) -> list[EmailDelivery]:
    with db.transaction(town.tenant.id) as session:
        return list(session.execute(select(EmailDelivery).order_by(EmailDelivery.created_at)).scalars())


def _run_due(app: Flask, db: Database, town: Town, settings: Settings) -> None:
    """One worker pass with every pending message of the town made due (the backoff skipped)."""
    with db.transaction(town.tenant.id) as session:
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.processed_at.is_(None))
            .values(available_at=utcnow() - timedelta(seconds=1))
        )
    worker.run_once(db, settings=settings, app=app)


def _fail_for_good(app: Flask, db: Database, town: Town, settings: Settings) -> EmailDelivery:
    submit_application(db, town)
    for _ in range(worker.MAX_ATTEMPTS):
        _run_due(app, db, town, settings)
    [delivery] = [d for d in _deliveries(db, town) if d.status == "failed"]
    return delivery


def _page_url(town: Town) -> str:
    return f"{HTTPS}/{town.slug}{PAGE}"


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def _retry(client, town: Town, delivery_id, *, token_from: Town | None = None):
    page = client.get(_page_url(token_from or town))
    return client.post(
        f"{_page_url(town)}{delivery_id}/retry",
        data={"csrf_token": _csrf(page.get_data(as_text=True))},
        headers={"Referer": f"{HTTPS}/"},
    )


def test_each_failed_attempt_is_counted_and_the_last_one_marks_the_email_failed(app, db, towns, refused) -> None:
    town, _ = towns
    submit_application(db, town)
    for attempt in range(1, worker.MAX_ATTEMPTS):
        _run_due(app, db, town, refused)
        [delivery] = _deliveries(db, town)
        assert (delivery.status, delivery.attempts) == ("pending", attempt)
        assert "ConnectionRefusedError" in (delivery.last_error or "")
        assert delivery.next_attempt_at is not None
    _run_due(app, db, town, refused)
    [delivery] = _deliveries(db, town)
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("failed", worker.MAX_ATTEMPTS, None)
    with db.transaction(town.tenant.id) as session:
        message = session.execute(select(OutboxMessage).where(OutboxMessage.id == delivery.message_id)).scalar_one()
    assert message.processed_at is not None and message.attempts == worker.MAX_ATTEMPTS
    # Given up: further passes leave it alone.
    _run_due(app, db, town, refused)
    assert _deliveries(db, town)[0].attempts == worker.MAX_ATTEMPTS


def test_staff_page_lists_failed_emails_first_and_sends_one_again(app, db, towns, refused, settings, sign_in) -> None:
    town, _ = towns
    failed = _fail_for_good(app, db, town, refused)
    submit_application(db, town)  # a second email, which the log backend "sends"
    worker.run_once(db, settings=settings, app=app)
    statuses = [d.status for d in _deliveries(db, town)]
    assert sorted(statuses) == ["failed", "sent"]

    admin = sign_in(town.admin)
    page = admin.get(_page_url(town))
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert html.index("ConnectionRefusedError") < html.index("badge-ok")  # the failed row comes first
    assert town.resident_account.email in html and "再送する" in html
    assert f">{worker.MAX_ATTEMPTS}<" in html

    answer = _retry(admin, town, failed.id)
    assert answer.status_code == 303
    [again] = [d for d in _deliveries(db, town) if d.id == failed.id]
    assert again.status == "pending"
    with db.transaction(town.tenant.id) as session:
        record = session.execute(select(AuditRecord).where(AuditRecord.action == "email.retry")).scalar_one()
        message = session.execute(select(OutboxMessage).where(OutboxMessage.id == failed.message_id)).scalar_one()
    assert record.actor == f"account:{town.admin.id}" and record.object_id == str(failed.id)
    assert message.processed_at is None and message.attempts == 0

    worker.run_once(db, settings=settings, app=app)  # the mail server is back (here: the log backend)
    [sent] = [d for d in _deliveries(db, town) if d.id == failed.id]
    assert sent.status == "sent" and sent.attempts == worker.MAX_ATTEMPTS + 1 and sent.last_error is None


def test_an_email_that_is_not_failed_cannot_be_sent_again(app, db, towns, settings, sign_in) -> None:
    town, _ = towns
    submit_application(db, town)
    worker.run_once(db, settings=settings, app=app)
    [delivery] = _deliveries(db, town)
    answer = _retry(sign_in(town.admin), town, delivery.id)
    assert answer.status_code == 409
    assert "再送できるのは送信に失敗したメールだけです" in answer.get_data(as_text=True)
    with db.transaction(town.tenant.id) as session:
        assert session.execute(select(AuditRecord).where(AuditRecord.action == "email.retry")).first() is None
    assert _deliveries(db, town)[0].status == "sent"


def test_supervisors_and_tenant_admins_see_the_page_clerks_and_residents_do_not(db, towns, sign_in) -> None:
    town, _ = towns
    with db.transaction(town.tenant.id) as session:
        supervisor = make_account(session, town.tenant, kind=AccountKind.STAFF, roles=["clerk", "supervisor"])
    assert sign_in(town.admin).get(_page_url(town)).status_code == 200
    assert sign_in(supervisor).get(_page_url(town)).status_code == 200
    assert sign_in(town.clerk).get(_page_url(town)).status_code == 403
    assert sign_in(town.resident_account).get(_page_url(town)).status_code == 403
    # The console's navigation links the page for those who may open it, and only for them.
    queue = f"{HTTPS}/{town.slug}/console/"
    assert PAGE in sign_in(supervisor).get(queue).get_data(as_text=True)
    assert PAGE not in sign_in(town.clerk).get(queue).get_data(as_text=True)


def test_signed_out_visitors_are_sent_to_sign_in(client, towns) -> None:
    town, _ = towns
    answer = client.get(_page_url(town))
    assert answer.status_code == 303 and "/login" in answer.headers["Location"]


def test_another_municipality_sees_none_of_the_emails_and_cannot_resend_them(app, db, towns, refused, sign_in) -> None:
    town_a, town_b = towns
    failed = _fail_for_good(app, db, town_a, refused)
    admin_b = sign_in(town_b.admin)
    page = admin_b.get(_page_url(town_b))
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert town_a.resident_account.email not in html and "ConnectionRefusedError" not in html
    # A's delivery through B's address: as if it did not exist; nothing changes, nothing is audited.
    assert _retry(admin_b, town_b, failed.id).status_code == 404
    assert _deliveries(db, town_a)[0].status == "failed"
    with db.transaction(town_a.tenant.id) as session:
        assert session.execute(select(AuditRecord).where(AuditRecord.action == "email.retry")).first() is None
    # B's admin on A's page counts as not signed in there.
    assert admin_b.get(_page_url(town_a)).status_code == 303


def test_api_lists_deliveries_to_admins_and_supervisors_only(app, db, towns, refused, settings, sign_in) -> None:
    town_a, town_b = towns
    failed = _fail_for_good(app, db, town_a, refused)
    submit_application(db, town_a)
    worker.run_once(db, settings=settings, app=app)
    api = f"{HTTPS}/api/v1/t/{town_a.slug}/email-deliveries"

    listed = sign_in(town_a.admin).get(api)
    assert listed.status_code == 200
    assert [d["status"] for d in listed.json] == ["failed", "sent"]
    assert listed.json[0]["id"] == str(failed.id) and listed.json[0]["attempts"] == worker.MAX_ATTEMPTS
    assert listed.json[0]["message_id"] == str(failed.message_id)
    only_failed = sign_in(town_a.admin).get(f"{api}?status=failed")
    assert [d["id"] for d in only_failed.json] == [str(failed.id)]

    bad = sign_in(town_a.admin).get(f"{api}?status=lost")
    assert bad.status_code == 422 and bad.headers["Content-Type"].startswith("application/problem+json")
    assert "status" in str(bad.json["errors"])
    assert sign_in(town_a.clerk).get(api).status_code == 403
    assert sign_in(town_a.resident_account).get(api).status_code == 403
    # Another municipality's admin: as if the deliveries did not exist; their own list is empty.
    assert sign_in(town_b.admin).get(api).status_code == 404
    own = sign_in(town_b.admin).get(f"{HTTPS}/api/v1/t/{town_b.slug}/email-deliveries")
    assert own.status_code == 200 and own.json == []


def test_an_email_the_log_backend_kept_reads_recorded_not_sent_and_a_real_send_reads_sent(
    app, db, towns, settings, sign_in
) -> None:
    town, _ = towns
    submit_application(db, town)
    worker.run_once(db, settings=settings, app=app)  # the log backend: nothing leaves the machine
    [delivery] = _deliveries(db, town)
    assert (delivery.status, delivery.backend) == ("sent", "log")
    admin = sign_in(town.admin)
    html = admin.get(_page_url(town)).get_data(as_text=True)
    assert '"badge badge-ok">記録のみ・未送信<' in html and '"badge badge-ok">送信済み<' not in html

    with db.transaction(town.tenant.id) as session:  # as if an SMTP server had taken it
        session.execute(update(EmailDelivery).where(EmailDelivery.id == delivery.id).values(backend="smtp"))
    html = admin.get(_page_url(town) + "?lang=ja").get_data(as_text=True)
    assert '"badge badge-ok">送信済み<' in html and "記録のみ・未送信" not in html


def test_a_failed_email_with_a_one_time_link_is_not_sent_again_and_the_page_says_why(
    app, db, towns, refused, sign_in
) -> None:
    from madoguchi.identity import operations as identity

    town, _ = towns
    with db.transaction(town.tenant.id) as session:
        identity.resend_verification_email(
            session,
            town.tenant,
            town.resident_account,
            public_url="https://madoguchi.example",
            data_key=refused.data_key,
        )
    for _ in range(worker.MAX_ATTEMPTS):
        _run_due(app, db, town, refused)
    [delivery] = [d for d in _deliveries(db, town) if d.status == "failed"]
    assert delivery.template == "account.verify_email"

    answer = _retry(sign_in(town.admin), town, delivery.id)
    assert answer.status_code == 409
    assert "一度だけ使えるリンク" in answer.get_data(as_text=True)
    assert _deliveries(db, town)[0].status == "failed"
