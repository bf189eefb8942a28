"""Emails through the outbox worker to a real SMTP server (aiosmtpd, in-process, on 127.0.0.1).

A Japanese-speaking and an English-speaking resident of the same municipality each go through every event
(submitted, more information requested, approved, issued, rejected) and receive one email per event, in their
own language; a 4xx answer is retried with the worker's backoff; nothing is sent twice for one event.
"""

from __future__ import annotations

import json
import logging
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from flask import Flask
from sqlalchemy import select, update

from madoguchi.applications import operations as ops
from madoguchi.config import Settings
from madoguchi.db import Database, utcnow
from madoguchi.errors import Conflict
from madoguchi.identity import operations as identity
from madoguchi.identity.actors import Actor
from madoguchi.identity.models import Account, AccountKind
from madoguchi.notify import worker
from madoguchi.notify.models import EmailDelivery
from madoguchi.outbox import OutboxMessage
from madoguchi.tenancy.models import Tenant
from tests.factories import make_account, make_person, make_tax, tenants
from tests.notify.conftest import HTTPS

#: The outbox worker sends on threads of its own, so these tests commit for real.
pytestmark = pytest.mark.commits

#: ja and en, no auto-issue, no extra approval step for tax certificates.
BILINGUAL = "shiomi-town"
TAX_CHOICES = {
    "requester": {"relationship": "self"},
    "fiscal_year": 2025,
    "kind": "taxation",
    "purpose": "loan",
    "copies": 1,
    "delivery": "electronic",
}
PERSONAL_WORDS = ("髙橋", "一郎", "タカハシ", "4,360,000", "4360000", "loan")


# ------------------------------------------------------------------------------------- the SMTP server


@dataclass
class Inbox:
    """What the SMTP server received; ``refuse`` makes it answer DATA with that reply instead."""

    received: list[Any] = field(default_factory=list)
    refuse: str | None = None
    logins: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse:
            return self.refuse
        self.received.append(envelope)
        return "250 OK: queued"

    def emails(self) -> list[EmailMessage]:
        return [message_from_bytes(e.content, policy=policy.default) for e in self.received]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    state = Inbox()

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (b"town", b"s3cret")
        if ok:
            state.logins.append(auth_data.login.decode())
        return AuthResult(success=ok)

    port = _free_port()
    controller = Controller(state, hostname="127.0.0.1", port=port, authenticator=authenticate, auth_require_tls=False)
    controller.start()
    try:
        yield state, port
    finally:
        controller.stop()


@pytest.fixture
def smtp_settings(settings: Settings, inbox: tuple[Inbox, int]) -> Settings:
    return replace(
        settings,
        email_backend="smtp",
        smtp_host="127.0.0.1",
        smtp_port=inbox[1],
        smtp_timeout=5.0,
        email_from="no-reply@mail.madoguchi.example",
        public_url="https://madoguchi.example",
    )


# ------------------------------------------------------------------------------------------- helpers


@dataclass
class Resident:
    tenant: Tenant
    account: Account
    actor: Actor
    clerk: Actor


def _tenant(db: Database, slug: str) -> Tenant:
    return next(t for t in tenants(db) if t.slug == slug)


def _resident(db: Database, tenant: Tenant, locale: str | None) -> Resident:
    with db.transaction(tenant.id) as session:
        person = make_person(session, tenant)
        make_tax(session, tenant, person, fiscal_year=2025)
        account = make_account(session, tenant, person=person)
        account.locale = locale
        clerk = make_account(session, tenant, kind=AccountKind.STAFF, roles=["clerk"])
        session.flush()
        return Resident(tenant, account, Actor.of(account), Actor.of(clerk))


def _file(db: Database, who: Resident) -> uuid.UUID:
    with db.transaction(who.tenant.id) as session:
        application = ops.create_draft(session, who.tenant, who.actor, "tax-certificate", TAX_CHOICES)
        ops.submit(session, who.tenant, who.actor, application.id)
        return application.id


def _step(db: Database, who: Resident, application_id: uuid.UUID, name: str, *, by: Actor | None = None) -> None:
    comment = "Please check the fiscal year." if name in ("request_more_info", "reject") else None
    with db.transaction(who.tenant.id) as session:
        ops.transition(session, who.tenant, by or who.clerk, application_id, name, comment=comment)


def _reference(db: Database, who: Resident, application_id: uuid.UUID) -> str:
    from madoguchi.applications.models import Application

    with db.transaction(who.tenant.id) as session:
        return session.execute(select(Application.reference).where(Application.id == application_id)).scalar_one()


def _deliveries(db: Database, tenant: Tenant) -> list[EmailDelivery]:
    with db.transaction(tenant.id) as session:
        return list(session.execute(select(EmailDelivery).order_by(EmailDelivery.created_at)).scalars())


def _drain(app: Flask, db: Database, settings: Settings) -> None:
    for _ in range(10):
        if not worker.run_once(db, settings=settings, app=app):
            return
    raise AssertionError("the outbox did not drain")


def _make_due(db: Database, tenant: Tenant) -> None:
    """Skip the backoff wait: every pending outbox message of the tenant becomes due now."""
    with db.transaction(tenant.id) as session:
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.processed_at.is_(None))
            .values(available_at=utcnow() - timedelta(seconds=1))
        )


def _whole_journey(db: Database, who: Resident) -> tuple[uuid.UUID, uuid.UUID]:
    """Submitted, more information requested (and answered), approved, issued; a second one submitted, rejected."""
    granted = _file(db, who)
    _step(db, who, granted, "start_review")
    _step(db, who, granted, "request_more_info")
    _step(db, who, granted, "respond", by=who.actor)
    _step(db, who, granted, "approve")
    _step(db, who, granted, "issue")
    refused = _file(db, who)
    _step(db, who, refused, "start_review")
    _step(db, who, refused, "reject")
    return granted, refused


EXPECTED = {
    "ja": [
        ("application.submitted", "申請を受け付けました", "受け付けました"),
        ("application.more_info_requested", "補正をお願いします", "追加の情報が必要です"),
        ("application.approved", "承認されました", "承認されました"),
        ("application.issued", "書類を交付しました", "ダウンロードできます"),
        ("application.submitted", "申請を受け付けました", "受け付けました"),
        ("application.rejected", "審査結果のお知らせ", "お受けできませんでした"),
    ],
    "en": [
        ("application.submitted", "We received your application", "We received your application"),
        ("application.more_info_requested", "More information needed", "We need more information"),
        ("application.approved", "was approved", "was approved"),
        ("application.issued", "is ready", "download the signed PDF"),
        ("application.submitted", "We received your application", "We received your application"),
        ("application.rejected", "The decision on your application", "We could not grant"),
    ],
}
PROCEDURE = {"ja": "課税・所得証明書の交付請求", "en": "Tax and income certificates"}
TENANT_NAME = {"ja": "汐見町", "en": "Shiomi"}


# --------------------------------------------------------------------------------------------- tests


def test_each_event_arrives_once_in_the_residents_own_language(app, db, seeded, inbox, smtp_settings) -> None:
    server, _ = inbox
    tenant = _tenant(db, BILINGUAL)
    japanese, english = _resident(db, tenant, "ja"), _resident(db, tenant, "en")
    journeys = {"ja": (japanese, *_whole_journey(db, japanese)), "en": (english, *_whole_journey(db, english))}
    _drain(app, db, smtp_settings)

    emails = server.emails()
    assert len(emails) == 12
    for locale, (who, granted, refused) in journeys.items():
        mine = [e for e in emails if e["To"] == who.account.email]
        assert [e["Content-Language"] for e in mine] == [locale] * 6
        references = {granted: _reference(db, who, granted), refused: _reference(db, who, refused)}
        for email, (template, subject_words, body_words), application_id in zip(
            mine, EXPECTED[locale], [granted] * 4 + [refused] * 2, strict=True
        ):
            subject, body = str(email["Subject"]), email.get_content()
            assert subject_words in subject, (template, subject)
            assert TENANT_NAME[locale] in subject and references[application_id] in subject
            assert body_words in body, (template, body)
            if template == "application.rejected":  # a refusal can be contested: the email says so (教示)
                assert "教示" in body and ("審査請求" in body or "request a review" in body), body
            assert PROCEDURE[locale] in body and references[application_id] in body
            assert f"https://madoguchi.example/{BILINGUAL}/applications/{application_id}?lang={locale}" in body
            assert not any(word in body or word in subject for word in PERSONAL_WORDS)
            assert "Please check the fiscal year" not in body  # a clerk's comment stays in the portal
            assert email["From"].addresses[0].addr_spec == "no-reply@mail.madoguchi.example"
            assert TENANT_NAME[locale] in email["From"].addresses[0].display_name
    # The subject is RFC 2047-encoded on the wire and decodes to the Japanese text. The two residents' emails are
    # sent concurrently, so take the Japanese resident's first one rather than whichever arrived first.
    raw = next(e.content for e in server.received if japanese.account.email in e.rcpt_tos)
    assert b"=?utf-8?" in raw.split(b"\r\n\r\n", 1)[0].lower()

    # Every email is recorded as sent, once, with a Message-ID made from its outbox message.
    deliveries = _deliveries(db, tenant)
    assert len(deliveries) == 12 and {d.status for d in deliveries} == {"sent"}
    assert all(d.attempts == 1 and d.backend == "smtp" for d in deliveries)
    message_ids = {e["Message-ID"] for e in emails}
    assert message_ids == {f"<{d.message_id}@mail.madoguchi.example>" for d in deliveries}


def test_running_the_worker_again_never_sends_twice(app, db, seeded, inbox, smtp_settings) -> None:
    server, _ = inbox
    tenant = _tenant(db, BILINGUAL)
    who = _resident(db, tenant, "ja")
    _file(db, who)
    _drain(app, db, smtp_settings)
    assert len(server.received) == 1
    # Even with the outbox message made due again (as after a crash before its commit was recorded), the
    # delivery row says "sent": the email is not sent a second time.
    with db.transaction(tenant.id) as session:
        session.execute(update(OutboxMessage).values(processed_at=None, available_at=utcnow()))
    _drain(app, db, smtp_settings)
    _drain(app, db, smtp_settings)
    assert len(server.received) == 1
    assert [d.attempts for d in _deliveries(db, tenant)] == [1]


def test_a_crash_between_send_and_commit_resends_with_the_same_message_id(
    app, db, seeded, inbox, smtp_settings
) -> None:
    from madoguchi.notify import email

    server, _ = inbox
    tenant = _tenant(db, BILINGUAL)
    who = _resident(db, tenant, "en")
    _file(db, who)

    def die_before_recording(*_: object) -> None:
        raise SystemExit("the worker died before recording the send")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(email, "_record_sent", die_before_recording)
        worker.run_once(db, settings=smtp_settings, app=app)
    assert len(server.received) == 1 and _deliveries(db, tenant) == []
    with db.transaction(tenant.id) as session:
        [message] = session.execute(select(OutboxMessage).where(OutboxMessage.topic == "notify.applicant")).scalars()
        # Left in flight under the dead worker's lease: nobody sends it again before the lease expires.
        assert message.in_flight_at is not None and message.processed_at is None
    _drain(app, db, smtp_settings)
    assert len(server.received) == 1
    with db.transaction(tenant.id) as session:
        session.execute(update(OutboxMessage).values(lease_expires_at=utcnow() - timedelta(seconds=1)))
    _drain(app, db, smtp_settings)
    first, second = server.emails()
    assert first["Message-ID"] == second["Message-ID"]
    [delivery] = _deliveries(db, tenant)
    assert delivery.status == "sent" and first["Message-ID"] == f"<{delivery.message_id}@mail.madoguchi.example>"


def test_a_temporary_refusal_is_retried_with_backoff_then_sent(app, db, seeded, inbox, smtp_settings) -> None:
    server, _ = inbox
    tenant = _tenant(db, BILINGUAL)
    who = _resident(db, tenant, "ja")
    server.refuse = "451 4.3.0 Mailbox temporarily unavailable"
    _file(db, who)
    before = utcnow()
    worker.run_once(db, settings=smtp_settings, app=app)

    [delivery] = _deliveries(db, tenant)
    assert delivery.status == "pending" and delivery.attempts == 1
    assert delivery.last_error is not None and "451" in delivery.last_error
    with db.transaction(tenant.id) as session:
        message = session.execute(select(OutboxMessage).where(OutboxMessage.id == delivery.message_id)).scalar_one()
    assert message.processed_at is None and message.attempts == 1
    # The worker's backoff: the first retry comes 30 seconds later, not before.
    assert message.available_at >= before + worker.backoff(1)
    assert delivery.next_attempt_at == message.available_at
    worker.run_once(db, settings=smtp_settings, app=app)  # not due yet: nothing tried
    assert _deliveries(db, tenant)[0].attempts == 1

    server.refuse = None
    _make_due(db, tenant)
    worker.run_once(db, settings=smtp_settings, app=app)
    [delivery] = _deliveries(db, tenant)
    assert delivery.status == "sent" and delivery.attempts == 2 and delivery.last_error is None
    assert len(server.received) == 1


def test_smtp_login_is_used_when_configured(app, db, seeded, inbox, smtp_settings) -> None:
    server, _ = inbox
    tenant = _tenant(db, BILINGUAL)
    _file(db, _resident(db, tenant, "en"))
    wrong = replace(smtp_settings, smtp_username="town", smtp_password="wrong", smtp_timeout=1.0)
    _drain(app, db, wrong)
    [refused] = _deliveries(db, tenant)
    assert server.received == [] and refused.status == "pending" and refused.last_error
    _make_due(db, tenant)
    _drain(app, db, replace(smtp_settings, smtp_username="town", smtp_password="s3cret"))
    assert server.logins == ["town"] and len(server.received) == 1


def test_account_emails_carry_their_link_to_the_server_not_the_log(
    app, db, seeded, inbox, smtp_settings, caplog
) -> None:
    server, _ = inbox
    tenant = _tenant(db, BILINGUAL)
    with db.transaction(tenant.id) as session:
        identity.sign_up(
            session,
            tenant,
            email="newcomer@example.jp",
            password="correct horse battery staple 8",
            display_name="新規 住民",
            public_url=smtp_settings.public_url,
            data_key=smtp_settings.data_key,
            locale="en",
        )
        account = session.execute(select(Account).where(Account.email == "newcomer@example.jp")).scalar_one()
    assert account.locale == "en"  # the language of the sign-up page is remembered
    with caplog.at_level(logging.DEBUG):
        _drain(app, db, smtp_settings)
    [email] = server.emails()
    body = email.get_content()
    assert "Confirm your email address" in str(email["Subject"])
    link = next(line for line in body.splitlines() if "/verify-email/" in line)
    assert link.startswith(f"https://madoguchi.example/{BILINGUAL}/verify-email/")
    assert link not in caplog.text and link.rsplit("/", 1)[1] not in caplog.text
    assert "account.verify_email" in caplog.text and f"account:{account.id}" in caplog.text


@pytest.mark.parametrize(("locale", "subject"), [("ja", "管理者としてご招待"), ("en", "You are invited")])
def test_an_admin_invitation_arrives_with_its_link(app, db, seeded, inbox, smtp_settings, locale, subject) -> None:
    from madoguchi.platform import lifecycle

    server, _ = inbox
    tenant = _tenant(db, BILINGUAL)
    with db.transaction() as session:
        issued = lifecycle.invite_tenant_admin(
            session,
            tenant.id,
            email="first-admin@example.jp",
            display_name="最初の 管理者",
            public_url=smtp_settings.public_url,
            data_key=smtp_settings.data_key,
            lifetime=timedelta(hours=72),
            actor="test",
            locale=locale,
        )
    _drain(app, db, smtp_settings)
    [email] = server.emails()
    assert email["To"] == "first-admin@example.jp"
    assert subject in str(email["Subject"])
    assert issued.url in email.get_content()


# ----------------------------------------------------------------------------- one-time links at rest (issue 12)


def _outbox_text(db: Database, tenant: Tenant) -> str:
    """Every outbox and email-delivery row of the tenant, as text (what a database dump would show)."""
    with db.transaction(tenant.id) as session:
        rows = [(m.payload, m.last_error) for m in session.execute(select(OutboxMessage)).scalars()] + [
            (d.subject, d.last_error) for d in session.execute(select(EmailDelivery)).scalars()
        ]
    return json.dumps(rows, ensure_ascii=False, default=str)


def _sign_up(db: Database, tenant: Tenant, settings: Settings, address: str) -> None:
    with db.transaction(tenant.id) as session:
        identity.sign_up(
            session,
            tenant,
            email=address,
            password="correct horse battery staple 8",
            display_name="髙橋 一郎",
            public_url=settings.public_url,
            data_key=settings.data_key,
        )


def test_a_verification_link_is_sealed_until_sent_then_gone_and_still_works(
    app, db, seeded, inbox, smtp_settings, caplog
) -> None:
    server, _ = inbox
    tenant = _tenant(db, BILINGUAL)
    _sign_up(db, tenant, smtp_settings, "link@example.jp")
    before = _outbox_text(db, tenant)
    assert "/verify-email/" not in before and '"sealed"' in before  # queued: sealed, not readable

    with caplog.at_level(logging.DEBUG):
        _drain(app, db, smtp_settings)
    [email] = server.emails()
    link = next(line for line in email.get_content().splitlines() if "/verify-email/" in line)
    token = link.rsplit("/", 1)[1]
    after = _outbox_text(db, tenant)
    # Sent: neither the link nor its token is kept anywhere, sealed or not; the row says what was removed.
    assert token not in after and '"sealed"' not in after and '"scrubbed": ["verify_url"]' in after
    assert token not in caplog.text

    # The resident still uses the link from the email.
    page = app.test_client().get(urlsplit(link).path, base_url=HTTPS)
    assert page.status_code == 200
    with db.transaction(tenant.id) as session:
        account = session.execute(select(Account).where(Account.email == "link@example.jp")).scalar_one()
    assert account.email_verified_at is not None


def test_an_invitation_link_is_gone_after_sending_and_the_invited_admin_still_opens_it(
    app, db, seeded, inbox, smtp_settings
) -> None:
    from madoguchi.platform import lifecycle

    server, _ = inbox
    tenant = _tenant(db, BILINGUAL)
    with db.transaction() as session:
        issued = lifecycle.invite_tenant_admin(
            session,
            tenant.id,
            email="chief@example.jp",
            display_name="最初の 管理者",
            public_url=smtp_settings.public_url,
            data_key=smtp_settings.data_key,
            lifetime=timedelta(hours=72),
            actor="test",
        )
    token = issued.url.rsplit("/", 1)[1]
    assert token not in _outbox_text(db, tenant)
    _drain(app, db, smtp_settings)
    [email] = server.emails()
    assert issued.url in email.get_content()
    assert token not in _outbox_text(db, tenant)
    assert app.test_client().get(urlsplit(issued.url).path, base_url=HTTPS).status_code == 200


def test_a_link_email_given_up_is_scrubbed_and_staff_cannot_send_it_again(
    app, db, seeded, inbox, smtp_settings
) -> None:
    from madoguchi.notify import email as email_ops

    server, _ = inbox
    server.refuse = "550 5.1.1 No such mailbox"
    tenant = _tenant(db, BILINGUAL)
    _sign_up(db, tenant, smtp_settings, "nobody@example.jp")
    with db.transaction(tenant.id) as session:  # as if it had failed MAX_ATTEMPTS - 1 times already
        session.execute(update(OutboxMessage).values(attempts=worker.MAX_ATTEMPTS - 1))
    _drain(app, db, smtp_settings)
    [delivery] = _deliveries(db, tenant)
    assert delivery.status == "failed"
    assert '"sealed"' not in _outbox_text(db, tenant)
    with db.transaction(tenant.id) as session:
        fresh = session.get(EmailDelivery, delivery.id)
        with pytest.raises(Conflict, match="one-time link"):
            email_ops.retry_delivery(session, tenant, fresh, actor="test")
