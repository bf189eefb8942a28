"""Delivery of the printed certificate (decision 0033): the day's mail-out worklist in Japan time, address labels
and the batch to print, "sent" once however often it is pressed, the counter's pick-up code and hand-over, what
the resident reads (portal, notices, emails, API) for each method, and nothing of another municipality.

b = midorikawa-village (a clerk issues), a = sakuragaoka-city (auto-issue for verified residents).
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from madoguchi.applications.models import Application
from madoguchi.audit.models import AuditRecord
from madoguchi.db import Database
from madoguchi.documents import certificates, delivery, mailing, pdf
from madoguchi.documents.models import Delivery, IssuedDocument
from madoguchi.identity.models import AccountKind
from madoguchi.notify import messages
from madoguchi.notify.models import Notice
from madoguchi.outbox import OutboxMessage
from tests.documents.certificate_fixtures import HTTPS, Town, World, pdftotext, submit, world
from tests.documents.pdf_reading import embedded_glyphs_by_font
from tests.factories import make_account, make_household, make_person
from tests.world import RESIDENCY, client_of

__all__ = ["world"]

MAIL = {**RESIDENCY, "delivery": "mail"}
COUNTER = {**RESIDENCY, "delivery": "counter"}
LONG_BUILDING = "グランドメゾン弥富駅前ステーションタワー・レジデンス東棟二十一階２１０３号室"
#: 𠮷 (U+20BB7) is outside the BMP and outside IPAex: the labels must not print a box for it.
YOSHIDA = "𠮷田"


def _post_form(client: FlaskClient, page_url: str, action: str, data: dict[str, str] | None = None) -> Any:
    html = client.get(page_url).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert token, html[:500]
    return client.post(action, data={"csrf_token": token.group(1), **(data or {})}, headers={"Referer": f"{HTTPS}/"})


def _issue(town: Town, data: dict[str, Any], resident: FlaskClient | None = None) -> dict[str, Any]:
    """Submit as the resident, then review, approve and issue as the clerk; the application as issued."""
    created = (resident or town.resident).post(
        town.api("/applications/"), json={"procedure": "residency-certificate", "data": data}
    )
    assert created.status_code == 201, created.json
    submitted = (resident or town.resident).post(town.api(f"/applications/{created.json['id']}/submit"))
    assert submitted.status_code == 200, submitted.json
    url = town.api(f"/applications/{created.json['id']}/transitions")
    for step in ("start_review", "approve", "issue"):
        response = town.clerk.post(url, json={"transition": step})
        assert response.status_code == 200, response.json
    return response.json


def _delivery_of(db: Database, town: Town, application_id: str) -> Delivery:
    with db.transaction(town.tenant.id) as session:
        return session.execute(
            select(Delivery).where(Delivery.application_id == uuid.UUID(application_id))
        ).scalar_one()


def _today_page(town: Town) -> str:
    return town.page("/console/deliveries/mail")


def _resident_with(app: Flask, db: Database, town: Town, *, family_name: str, building: str | None) -> FlaskClient:
    """A verified resident of ``town`` with this family name and building (for labels' hard cases)."""
    with db.transaction(town.tenant.id) as session:
        household = make_household(session, town.tenant, postal_code="498-2323", building=building)
        person = make_person(session, town.tenant, household, family_name=family_name, given_name="太郎")
        account = make_account(session, town.tenant, person=person)
    return client_of(app, db, account)


# --- What issuing by post files -----------------------------------------------------------------------------


def test_a_postal_certificate_goes_on_todays_mail_out_with_the_registered_address(world: World, db: Database) -> None:
    application = _issue(world.b, MAIL)
    filed = _delivery_of(db, world.b, application["id"])
    assert (filed.method, filed.status, filed.pickup_code) == ("mail", "pending", None)
    person = world.b.person
    assert filed.recipient_name == person.full_name and filed.address == person.address

    page = world.b.clerk.get(_today_page(world.b))
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert application["reference"] in html and person.full_name in html and person.address in html
    assert f"〒{person.postal_code}" in html  # 100-0001 as 〒100-0001
    assert "未発送" in html and "宛名ラベル（PDF、1件）" in html


def test_the_postal_code_is_printed_with_the_mark_whatever_form_the_register_holds() -> None:
    assert delivery.formatted_postal_code("4982323") == "〒498-2323"
    assert delivery.formatted_postal_code("498-2323") == "〒498-2323"
    assert delivery.formatted_postal_code("４９８ー２３２３") == "〒498-2323"


def test_an_electronic_certificate_files_no_delivery_and_is_downloaded_as_before(world: World, db: Database) -> None:
    application = _issue(world.b, RESIDENCY)
    with db.transaction(world.b.tenant.id) as session:
        assert session.execute(select(func.count()).select_from(Delivery)).scalar_one() == 0
    documents = world.b.resident.get(world.b.api(f"/applications/{application['id']}/documents")).json
    assert documents[0]["delivery"] == {
        "method": "electronic",
        "status": "issued",
        "pickup_code": None,
        "completed_at": None,
        "downloadable": True,
    }
    assert world.b.resident.get(world.b.api(f"/documents/{documents[0]['id']}/pdf")).status_code == 200


def test_the_mail_out_of_a_day_is_the_japanese_day_split_at_midnight_jst(world: World, db: Database) -> None:
    application = submit(world.b, data=MAIL)
    moments = {
        "before": datetime(2026, 12, 7, 14, 59, 59, tzinfo=UTC),  # 23:59:59 JST on the 7th
        "midnight": datetime(2026, 12, 7, 15, 0, 0, tzinfo=UTC),  # 00:00:00 JST on the 8th
        "utc_morning": datetime(2026, 12, 7, 0, 30, tzinfo=UTC),  # 09:30 JST on the 7th
    }
    with db.transaction(world.b.tenant.id) as session:
        found = session.execute(select(Application).where(Application.id == uuid.UUID(application["id"]))).scalar_one()
        filed = {}
        for name, moment in moments.items():
            document = IssuedDocument(
                tenant_id=world.b.tenant.id,
                application_id=found.id,
                kind="residency_certificate",
                serial=f"S-{name}",
                content={},
                issued_at=moment,
                issued_by="緑川村",
            )
            session.add(document)
            session.flush()
            made = delivery.file_for(session, world.b.tenant, found, document)
            assert made is not None
            filed[name] = made.id
        seventh = [i.delivery.id for i in delivery.mail_worklist(session, world.b.tenant.id, date(2026, 12, 7))]
        eighth = [i.delivery.id for i in delivery.mail_worklist(session, world.b.tenant.id, date(2026, 12, 8))]
        assert seventh == [filed["before"], filed["utc_morning"]] or set(seventh) == {
            filed["before"],
            filed["utc_morning"],
        }
        assert eighth == [filed["midnight"]]
        assert delivery.earlier_pending_days(session, world.b.tenant.id, date(2026, 12, 8)) == [date(2026, 12, 7)]
    page = world.b.clerk.get(world.b.page("/console/deliveries/mail?day=2026-12-08")).get_data(as_text=True)
    assert "S-midnight" in page and "S-before" not in page
    assert "?day=2026-12-07" in page  # the earlier day with post not yet sent is pointed at


def test_a_day_typed_wrongly_is_told_beside_the_field(world: World) -> None:
    page = world.b.clerk.get(world.b.page("/console/deliveries/mail?day=12/07"))
    assert page.status_code == 422
    assert 'id="day-error"' in page.get_data(as_text=True) and "YYYY-MM-DD" in page.get_data(as_text=True)


# --- Printouts ----------------------------------------------------------------------------------------------


def test_labels_carry_each_address_and_leave_a_name_the_font_cannot_draw_blank_never_a_box(
    app: Flask, world: World, db: Database, tmp_path: Path
) -> None:
    long_one = _resident_with(app, db, world.b, family_name="山田", building=LONG_BUILDING)
    yoshida = _resident_with(app, db, world.b, family_name=YOSHIDA, building=None)
    first = _issue(world.b, MAIL, long_one)
    second = _issue(world.b, MAIL, yoshida)
    day = _delivery_of(db, world.b, first["id"]).day.isoformat()
    labels = world.b.clerk.get(world.b.page(f"/console/deliveries/mail/labels?day={day}"))
    assert labels.status_code == 200 and labels.mimetype == "application/pdf"
    text = pdftotext(labels.get_data(), tmp_path)
    joined = "".join(text.split())
    long_delivery, yoshida_delivery = _delivery_of(db, world.b, first["id"]), _delivery_of(db, world.b, second["id"])
    assert LONG_BUILDING in long_delivery.address
    assert "".join(long_delivery.address.split()) in joined  # wrapped over lines, every character there
    assert "".join(yoshida_delivery.address.split()) in joined
    assert "〒498-2323" in text and "山田 太郎" in text
    assert first["reference"] in text and second["reference"] in text
    assert "\ufffd" not in text and "□" not in text
    font = _font_path(app)
    if mailing.drawable(YOSHIDA, font):  # a font with the MJ set (IPAmj Mincho): the name exactly
        assert f"{YOSHIDA} 太郎" in text
        return
    # IPAex has no 𠮷: the label leaves the name for the clerk's pen, the worklist says so, and nothing else
    # (吉田, a box, a base character) takes its place.
    assert "".join(yoshida_delivery.address.split()) + "様" + second["reference"] in joined
    assert "吉田" not in text
    page = world.b.clerk.get(world.b.page(f"/console/deliveries/mail?day={day}")).get_data(as_text=True)
    assert page.count("手書きしてください") == 1


def _font_path(app: Flask) -> Path:
    with app.app_context():
        engine = certificates.current()
        assert engine is not None
        return engine.font


def test_labels_print_names_with_their_exact_code_points_and_leave_what_the_font_lacks_blank(tmp_path: Path) -> None:
    font = pdf.find_font()
    # 葛󠄀 (U+E0100) and 渡邊󠄂 (U+E0102) are not in IPAmj: they print from the fallback font.
    names = [
        f"{YOSHIDA}　太郎",
        "髙橋　美咲",
        "山﨑　花子",
        "葛\U000e0102西　一郎",
        "葛\U000e0100西　二郎",
        "渡邊\U000e0102　蓮",
    ]
    address = "愛知県弥富市前ケ須町南本田三三五番地"
    labels = [mailing.Label("〒498-2323", address, name, f"RC-{i}") for i, name in enumerate(names)]
    data = mailing.labels_pdf(labels, font)
    text = pdftotext(data, tmp_path)
    for name in names:
        assert " ".join(name.split()) in text  # the variation sequence and 𠮷 exactly, from the shaped text layer
    drawn = embedded_glyphs_by_font(data)
    assert drawn["葛\U000e0100"][0] == drawn["邊\U000e0102"][0] == "HanaMinA"
    assert drawn["葛\U000e0102"][0] == drawn["西"][0] == "IPAmjMincho"
    # A character the font has no glyph for is not drawn (no box): the clerk writes that field by hand.
    assert mailing.needs_handwriting(mailing.Label("〒1", "東京都", "\ue000田"), font) == ["name"]
    assert mailing.needs_handwriting(mailing.Label("〒1", "東京都", "葛\U000e01ef西"), font) == ["name"]
    assert mailing.needs_handwriting(mailing.Label("〒1", "東京都", "葛\U000e0100西"), font) == []


def test_thirteen_labels_take_two_pages_of_twelve(tmp_path: Path) -> None:
    font = pdf.find_font()
    labels = [mailing.Label("〒100-0001", f"東京都千代田区千代田{i}番", f"住民　{i}郎") for i in range(13)]
    data = mailing.labels_pdf(labels, font)
    assert mailing.page_count(data) == 2
    assert "住民 12郎" in pdftotext(data, tmp_path)


def test_the_batch_has_every_page_of_the_days_certificates_in_the_worklist_order(
    world: World, db: Database, tmp_path: Path
) -> None:
    issued = [_issue(world.b, MAIL) for _ in range(3)]
    day = _delivery_of(db, world.b, issued[0]["id"]).day.isoformat()
    pages = 0
    serials = []
    for application in issued:
        document = world.b.clerk.get(world.b.api(f"/applications/{application['id']}/documents")).json[0]
        single = world.b.clerk.get(world.b.api(f"/documents/{document['id']}/pdf")).get_data()
        pages += mailing.page_count(single)
        serials.append(document["serial"])
    batch = world.b.clerk.get(world.b.page(f"/console/deliveries/mail/batch?day={day}"))
    assert batch.status_code == 200 and batch.mimetype == "application/pdf"
    assert mailing.page_count(batch.get_data()) == pages
    text = pdftotext(batch.get_data(), tmp_path)
    assert [text.index(serial) for serial in serials] == sorted(text.index(serial) for serial in serials)


# --- Sent, handed over ---------------------------------------------------------------------------------------


def _count(db: Database, town: Town, model: Any, *criteria: Any) -> int:
    with db.transaction(town.tenant.id) as session:
        return int(session.execute(select(func.count()).select_from(model).where(*criteria)).scalar_one())


def test_marking_sent_twice_records_audits_and_tells_the_resident_once(world: World, db: Database) -> None:
    application = _issue(world.b, MAIL)
    filed = _delivery_of(db, world.b, application["id"])
    action = world.b.page(f"/console/deliveries/mail/items/{filed.id}/sent")
    first = _post_form(world.b.clerk, _today_page(world.b), action)
    assert first.status_code == 303
    second = _post_form(world.b.clerk, _today_page(world.b), action)  # a double click, a second tab
    assert second.status_code == 303
    after = _delivery_of(db, world.b, application["id"])
    assert after.status == "sent" and after.completed_at is not None and after.completed_by
    assert _count(db, world.b, AuditRecord, AuditRecord.action == "delivery.sent") == 1
    assert _count(db, world.b, Notice, Notice.kind == "delivery.sent") == 1
    emails = _count(db, world.b, OutboxMessage, OutboxMessage.payload["template"].as_string() == "delivery.sent")
    assert emails == 1
    day_action = world.b.page("/console/deliveries/mail/sent")
    again = _post_form(world.b.clerk, _today_page(world.b), day_action, {"day": after.day.isoformat()})
    assert again.status_code == 303  # nothing left: no-op
    assert _count(db, world.b, AuditRecord, AuditRecord.action == "delivery.sent") == 1


def test_marking_the_whole_day_sent_sends_each_pending_item_once(world: World, db: Database) -> None:
    issued = [_issue(world.b, MAIL) for _ in range(2)]
    day = _delivery_of(db, world.b, issued[0]["id"]).day.isoformat()
    done = _post_form(world.b.clerk, _today_page(world.b), world.b.page("/console/deliveries/mail/sent"), {"day": day})
    assert done.status_code == 303
    assert {_delivery_of(db, world.b, a["id"]).status for a in issued} == {"sent"}
    assert _count(db, world.b, AuditRecord, AuditRecord.action == "delivery.sent") == 2
    page = world.b.clerk.get(_today_page(world.b)).get_data(as_text=True)
    assert "labels.pdf" not in page and "発送済み" in page  # nothing left to print


def test_the_resident_sees_the_postal_status_in_portal_notices_and_api_and_gets_no_pdf(
    world: World, db: Database
) -> None:
    application = _issue(world.b, MAIL)
    url = world.b.page(f"/applications/{application['id']}")
    page = world.b.resident.get(url).get_data(as_text=True)
    assert "交付済み（発送準備中）" in page and "住民登録地へ郵送します" in page and "download" not in page
    document = world.b.resident.get(world.b.api(f"/applications/{application['id']}/documents")).json[0]
    assert document["delivery"]["method"] == "mail" and document["delivery"]["status"] == "pending"
    assert document["delivery"]["downloadable"] is False
    refused = world.b.resident.get(world.b.api(f"/documents/{document['id']}/pdf"))
    assert refused.status_code == 403 and refused.mimetype == "application/problem+json"
    assert world.b.resident.get(world.b.page(f"/documents/{document['id']}/pdf")).status_code == 403
    assert world.b.clerk.get(world.b.api(f"/documents/{document['id']}/pdf")).status_code == 200  # the record

    filed = _delivery_of(db, world.b, application["id"])
    _post_form(world.b.clerk, _today_page(world.b), world.b.page(f"/console/deliveries/mail/items/{filed.id}/sent"))
    page = world.b.resident.get(url).get_data(as_text=True)
    assert "発送済み" in page and "に住民登録地へ発送しました" in page
    listing = world.b.resident.get(world.b.page("/applications/")).get_data(as_text=True)
    assert "発送済み" in listing
    notices = world.b.resident.get(world.b.page("/notices/")).get_data(as_text=True)
    assert "住民登録地へ発送しました" in notices and "住民登録地へ郵送します" in notices
    document = world.b.resident.get(world.b.api(f"/documents/{document['id']}")).json
    assert document["delivery"]["status"] == "sent" and document["delivery"]["completed_at"]


def test_counter_pick_up_by_code_with_an_identity_check_recorded(world: World, db: Database) -> None:
    application = _issue(world.b, COUNTER)
    filed = _delivery_of(db, world.b, application["id"])
    code = filed.pickup_code
    assert code and len(code) == 6 and set(code) <= set(delivery.PICKUP_ALPHABET)
    grouped = f"{code[:3]}-{code[3:]}"
    portal = world.b.resident.get(world.b.page(f"/applications/{application['id']}")).get_data(as_text=True)
    assert grouped in portal and "交付済み（窓口受取待ち）" in portal
    api = world.b.resident.get(world.b.api(f"/applications/{application['id']}/documents")).json[0]["delivery"]
    assert api["method"] == "counter" and api["pickup_code"] == grouped

    listing = world.b.clerk.get(world.b.page("/console/deliveries/counter")).get_data(as_text=True)
    assert grouped in listing and application["reference"] in listing
    # Typed loosely at the counter: lower case, full width, spaces.
    loose = " ".join(code.lower()).translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789"})
    found = world.b.clerk.get(world.b.page(f"/console/deliveries/counter?code={loose}"))
    assert found.status_code == 303 and str(filed.id) in found.headers["Location"]
    unknown = world.b.clerk.get(world.b.page("/console/deliveries/counter?code=AAAAAA"))
    assert unknown.status_code == 422 and 'id="code-error"' in unknown.get_data(as_text=True)

    hand_over_page = world.b.page(f"/console/deliveries/counter/{filed.id}")
    action = f"{hand_over_page}/handed-over"
    refused = _post_form(world.b.clerk, hand_over_page, action)  # no identity document chosen
    assert refused.status_code == 422 and "確認した本人確認書類を選んでください" in refused.get_data(as_text=True)
    assert _delivery_of(db, world.b, application["id"]).status == "pending"
    done = _post_form(world.b.clerk, hand_over_page, action, {"identity_document": "my_number_card"})
    assert done.status_code == 303
    after = _delivery_of(db, world.b, application["id"])
    assert (after.status, after.identity_document) == ("handed_over", "my_number_card") and after.completed_by
    assert _post_form(world.b.clerk, hand_over_page, action, {"identity_document": "passport"}).status_code == 303
    assert _delivery_of(db, world.b, application["id"]).identity_document == "my_number_card"  # once
    assert _count(db, world.b, AuditRecord, AuditRecord.action == "delivery.handed_over") == 1
    portal = world.b.resident.get(world.b.page(f"/applications/{application['id']}")).get_data(as_text=True)
    assert "交付済み（窓口）" in portal and grouped not in portal
    assert grouped not in world.b.clerk.get(world.b.page("/console/deliveries/counter")).get_data(as_text=True)


def test_pick_up_codes_read_back_from_what_a_clerk_or_scanner_types() -> None:
    assert delivery.normalize_pickup_code("ace-347") == "ACE347"
    assert delivery.normalize_pickup_code("ＡＣＥ　３４７") == "ACE347"
    assert delivery.normalize_pickup_code("ACE-3470") is None
    assert delivery.normalize_pickup_code("0OI-1L5") is None  # characters the code never uses


# --- Another municipality, another role -----------------------------------------------------------------------


def test_a_clerk_of_another_municipality_neither_sees_nor_marks_the_items(world: World, db: Database) -> None:
    posted = _issue(world.b, MAIL)
    collected = _issue(world.b, COUNTER)
    mail_item, counter_item = _delivery_of(db, world.b, posted["id"]), _delivery_of(db, world.b, collected["id"])
    a = world.a
    worklist = a.clerk.get(a.page(f"/console/deliveries/mail?day={mail_item.day.isoformat()}")).get_data(as_text=True)
    assert posted["reference"] not in worklist
    assert collected["reference"] not in a.clerk.get(a.page("/console/deliveries/counter")).get_data(as_text=True)
    sent = _post_form(
        a.clerk, a.page("/console/deliveries/mail"), a.page(f"/console/deliveries/mail/items/{mail_item.id}/sent")
    )
    assert sent.status_code == 404
    assert a.clerk.get(a.page(f"/console/deliveries/counter/{counter_item.id}")).status_code == 404
    handed = _post_form(
        a.clerk,
        a.page("/console/deliveries/counter"),
        a.page(f"/console/deliveries/counter/{counter_item.id}/handed-over"),
        {"identity_document": "passport"},
    )
    assert handed.status_code == 404
    code = counter_item.pickup_code
    assert a.clerk.get(a.page(f"/console/deliveries/counter?code={code}")).status_code == 422
    day_labels = a.clerk.get(a.page(f"/console/deliveries/mail/labels?day={mail_item.day.isoformat()}"))
    assert posted["reference"].encode() not in day_labels.get_data()
    assert world.b.clerk.get(a.page("/console/deliveries/mail")).status_code == 303  # not signed in to a
    assert {_delivery_of(db, world.b, x["id"]).status for x in (posted, collected)} == {"pending"}


def test_residents_and_tenant_admins_do_not_reach_the_delivery_pages(app: Flask, world: World, db: Database) -> None:
    with db.transaction(world.b.tenant.id) as session:
        admin = make_account(session, world.b.tenant, kind=AccountKind.STAFF, roles=["tenant_admin"])
    admin_client = client_of(app, db, admin)
    for path in ("/console/deliveries/mail", "/console/deliveries/counter"):
        assert world.b.resident.get(world.b.page(path)).status_code == 403
        assert admin_client.get(world.b.page(path)).status_code == 403
    assert "郵送" in world.b.clerk.get(world.b.page("/console/")).get_data(as_text=True)


# --- Emails by method ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("delivery_method", "ja", "en"),
    [
        ("electronic", "ダウンロード", "download the signed PDF"),
        ("mail", "住民登録地へ郵送します", "We will post it to your registered address"),
        ("counter", "受取番号: ACE-347", "Pick-up code: ACE-347"),
    ],
)
def test_the_issue_email_says_what_happens_next_for_the_method(
    app: Flask, delivery_method: str, ja: str, en: str
) -> None:
    context = {
        "tenant_name": "緑川村",
        "department": "",
        "phone": "",
        "hours": "",
        "portal_url": "https://x/",
        "procedure": "住民票の写し",
        "reference": "RC-1",
        "state": "交付済み",
        "application_url": "https://x/a",
        "delivery": delivery_method,
        "pickup_code": "ACE-347" if delivery_method == "counter" else "",
    }
    with app.app_context():
        ja_subject, ja_body = messages.render("application.issued", "ja", context)
        en_subject, en_body = messages.render("application.issued", "en", context)
        sent_subject, sent_body = messages.render("delivery.sent", "ja", context)
        handed_subject, _ = messages.render("delivery.handed_over", "en", context)
    assert ja in ja_body and en in en_body
    assert "RC-1" in ja_subject and "RC-1" in en_subject
    assert "発送しました" in sent_subject and "住民登録地へ発送しました" in sent_body
    assert "handed over at the counter" in handed_subject
