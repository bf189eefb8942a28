"""領収書 (decision 0046): a signed PDF of what was paid for an application, on request by the resident in the portal
and by staff in the console; the same receipt until a refund changes what it states; nothing paid, no receipt;
nobody else gets it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from madoguchi.applications.models import Application
from madoguchi.db import Database
from madoguchi.documents.models import IssuedDocument
from madoguchi.identity.actors import Actor
from madoguchi.payments import intents, refunds
from madoguchi.payments.models import COUNTER_CASH
from tests.console.conftest import post_form
from tests.documents.certificate_fixtures import *  # noqa: F403 - the two towns, signed in
from tests.documents.certificate_fixtures import HTTPS, World, pdftotext, submit
from tests.factories import staff


def _portal(town: Any, application_id: str) -> str:
    return f"{HTTPS}/{town.tenant.slug}/applications/{application_id}"


def _ask(town: Any, client: Any, application_id: str, *, form_url: str | None = None) -> Any:
    url = f"{HTTPS}/{town.tenant.slug}/documents/applications/{application_id}/receipt"
    return post_form(client, url, {}, form_url=form_url or _portal(town, application_id))


def _paid_at_counter(db: Database, town: Any, application_id: str, amount: int = 600) -> uuid.UUID:
    with db.transaction(town.tenant.id) as session:
        application = session.get(Application, uuid.UUID(application_id))
        intent, _ = intents.create_intent(session, town.tenant, application, mode=COUNTER_CASH, provider="counter",
                                          amount_jpy=amount, idempotency_key=str(uuid.uuid4()), actor="system",
                                          note="領収番号 0012")  # fmt: skip
        return intent.id


def _receipts(db: Database, town: Any, application_id: str) -> list[IssuedDocument]:
    with db.transaction(town.tenant.id) as session:
        rows = session.query(IssuedDocument).filter_by(application_id=uuid.UUID(application_id)).all()
        return [row for row in rows if row.kind == "payment_receipt"]


def test_the_resident_downloads_a_signed_receipt_of_what_was_paid(world: World, db: Database, tmp_path) -> None:
    town = world.b
    application = submit(town)
    page = town.resident.get(_portal(town, application["id"])).get_data(as_text=True)
    assert 'id="payment-receipt"' not in page  # nothing paid yet
    _paid_at_counter(db, town, application["id"])
    page = town.resident.get(_portal(town, application["id"]) + "?lang=ja").get_data(as_text=True)
    assert 'id="payment-receipt"' in page and "領収書をダウンロード" in page
    asked = _ask(town, town.resident, application["id"])
    assert asked.status_code == 303, asked.get_data(as_text=True)[:500]
    pdf = town.resident.get(asked.headers["Location"])
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    text = pdftotext(pdf.get_data(), tmp_path)
    assert "領収書" in text and "領収金額 600円" in text and application["reference"] in text
    assert "住民票の写し等の交付請求の手数料として" in text and "窓口（現金）" in text
    [receipt] = _receipts(db, town, application["id"])
    verified = town.resident.get(f"{HTTPS}/api/v1/verifications/{receipt.verification_code}")
    assert verified.json["status"] == "valid" and verified.json["title"] == "領収書"


def test_the_same_receipt_until_a_refund_changes_it(world: World, db: Database, settings) -> None:
    town = world.b
    application = submit(town)
    intent_id = _paid_at_counter(db, town, application["id"])
    first = _ask(town, town.resident, application["id"]).headers["Location"]
    assert _ask(town, town.resident, application["id"]).headers["Location"] == first
    with db.transaction(town.tenant.id) as session:
        clerk = Actor.of(session.merge(town.clerk_account))
        refund = refunds.request_refund(session, town.tenant, intent_id, actor=clerk, amount_jpy=300,
                                        reason="overpaid", comment="2通の申請を1通に訂正")  # fmt: skip
        refunds.approve_refund(session, town.tenant, refund.id, actor=staff(session, town.tenant, "supervisor"),
                               settings=settings)  # fmt: skip
    assert _ask(town, town.resident, application["id"]).headers["Location"] != first
    latest = max(_receipts(db, town, application["id"]), key=lambda document: document.issued_at)
    amounts = (latest.content["paid_jpy"], latest.content["refunded_jpy"], latest.content["received_jpy"])
    assert amounts == (600, 300, 300)


def test_staff_make_the_receipt_in_the_console(world: World, db: Database, tmp_path) -> None:
    town = world.b
    application = submit(town)
    _paid_at_counter(db, town, application["id"], amount=300)
    console_page = f"{HTTPS}/{town.tenant.slug}/console/applications/{application['id']}"
    assert 'id="payment-receipt"' in town.clerk.get(console_page).get_data(as_text=True)
    url = f"{HTTPS}/{town.tenant.slug}/console/documents/applications/{application['id']}/receipt"
    asked = post_form(town.clerk, url, {}, form_url=console_page)
    assert asked.status_code == 303
    pdf = town.clerk.get(asked.headers["Location"])
    assert pdf.status_code == 200 and "領収金額 300円" in pdftotext(pdf.get_data(), tmp_path)


def test_nothing_paid_no_receipt(world: World, db: Database) -> None:
    town = world.b
    application = submit(town)
    assert _ask(town, town.resident, application["id"]).status_code == 409
    assert _receipts(db, town, application["id"]) == []


def test_no_one_else_gets_the_receipt(world: World, db: Database) -> None:
    town, other = world.b, world.a
    application = submit(town)
    _paid_at_counter(db, town, application["id"])
    home = f"{HTTPS}/{town.tenant.slug}/applications/"
    assert _ask(town, town.neighbour, application["id"], form_url=home).status_code == 404
    other_home = f"{HTTPS}/{other.tenant.slug}/applications/"
    assert _ask(other, other.resident, application["id"], form_url=other_home).status_code == 404
    console_url = f"{HTTPS}/{other.tenant.slug}/console/documents/applications/{application['id']}/receipt"
    assert post_form(other.clerk, console_url, {}, form_url=f"{HTTPS}/{other.tenant.slug}/console/").status_code == 404
    assert _receipts(db, town, application["id"]) == []


def test_a_payment_at_0030_jst_on_1_may_2019_is_dated_in_reiwa(world: World, db: Database) -> None:
    town = world.b
    application = submit(town)
    intent_id = _paid_at_counter(db, town, application["id"])
    with db.transaction(town.tenant.id) as session:
        intent = refunds.get_intent(session, town.tenant, intent_id)
        intent.succeeded_at = datetime(2019, 4, 30, 15, 30, tzinfo=UTC)  # 令和元年5月1日 0時30分 JST
    _ask(town, town.resident, application["id"])
    [receipt] = _receipts(db, town, application["id"])
    assert receipt.content["payments"][0]["paid_on"] == "令和元年5月1日"
    assert receipt.content["payer"] == "髙橋　美咲"
