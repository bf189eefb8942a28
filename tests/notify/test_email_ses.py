"""Emails through Amazon SES (API v2, boto3), against moto's SES: the raw MIME arrives as built, once per event."""

from __future__ import annotations

from dataclasses import replace
from email import message_from_string, policy

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses import ses_backends
from sqlalchemy import select

from madoguchi.notify import worker
from madoguchi.notify.models import EmailDelivery
from tests.notify.conftest import drain, submit_application

#: The outbox worker sends on threads of its own, so these tests commit for real.
pytestmark = pytest.mark.commits

REGION = "ap-northeast-1"
SENDER = "no-reply@mail.madoguchi.example"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch):
    # Fake credentials: moto intercepts every call, nothing leaves the process.
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield


def _sent() -> list:
    return list(ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages)


def test_an_application_email_goes_out_through_ses_once(app, db, towns, settings, aws) -> None:
    town, _ = towns
    boto3.client("ses", region_name=REGION).verify_email_identity(EmailAddress=SENDER)
    ses = replace(settings, email_backend="ses", ses_region=REGION, email_from=f"Madoguchi <{SENDER}>")
    application_id = submit_application(db, town)
    with app.app_context():  # the worker renders the email with the app's translations
        drain(db, ses)
        drain(db, ses)

    [sent] = _sent()
    assert sent.source == SENDER
    email = message_from_string(sent.raw_data, policy=policy.default)
    assert email["To"] == town.resident_account.email
    assert "申請を受け付けました" in str(email["Subject"])  # midorikawa-village offers Japanese only
    assert f"/{town.slug}/applications/{application_id}?lang=ja" in email.get_content()
    with db.transaction(town.tenant.id) as session:
        delivery = session.execute(select(EmailDelivery)).scalar_one()
    assert delivery.status == "sent" and delivery.backend == "ses" and delivery.attempts == 1
    assert email["Message-ID"] == f"<{delivery.message_id}@mail.madoguchi.example>"


def test_ses_refusing_an_unverified_sender_is_a_failed_attempt_to_retry(app, db, towns, settings, aws) -> None:
    town, _ = towns
    ses = replace(settings, email_backend="ses", ses_region=REGION, email_from="someone-else@elsewhere.example")
    submit_application(db, town)
    worker.run_once(db, settings=ses, app=app)
    assert _sent() == []
    with db.transaction(town.tenant.id) as session:
        delivery = session.execute(select(EmailDelivery)).scalar_one()
    assert delivery.status == "pending" and delivery.attempts == 1
    assert "MessageRejected" in (delivery.last_error or "")
