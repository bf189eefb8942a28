"""申込内容の写し (issue 17 point 6, decision 0041): a signed PDF of every answer the parent submitted, labelled as the
form shows them, with the attachments by name, the 受付日時 and the reference; downloadable by the parent and by
staff, verifiable at /verify, and by nobody else."""

from __future__ import annotations

import re
import uuid
from typing import Any

from madoguchi import jp
from madoguchi.applications.models import Application
from madoguchi.db import Database
from madoguchi.documents.models import IssuedDocument
from tests.childcare.childcare_fixtures import KUZU, childcare_in_review, start_month
from tests.console.conftest import post_form
from tests.documents.certificate_fixtures import *  # noqa: F403 - the two towns, signed in
from tests.documents.certificate_fixtures import HTTPS, World, pdftotext, spaced


def _portal(town: Any, application_id: str) -> str:
    return f"{HTTPS}/{town.tenant.slug}/applications/{application_id}"


def _ask_copy(town: Any, client: Any, application_id: str, *, form_url: str | None = None) -> Any:
    url = f"{HTTPS}/{town.tenant.slug}/documents/applications/{application_id}/copy"
    return post_form(client, url, {}, form_url=form_url or _portal(town, application_id))


def _copies(db: Database, town: Any, application_id: str) -> list[IssuedDocument]:
    with db.transaction(town.tenant.id) as session:
        rows = session.query(IssuedDocument).filter_by(application_id=uuid.UUID(application_id)).all()
        return [row for row in rows if row.kind == "application_copy"]


def test_the_parent_downloads_a_signed_copy_of_every_answer_with_the_time_it_was_received(
    world: World, db: Database, tmp_path: Any
) -> None:
    town = world.a
    application_id = childcare_in_review(db, town)
    page = town.resident.get(_portal(town, application_id)).get_data(as_text=True)
    assert 'id="application-copy"' in page
    asked = _ask_copy(town, town.resident, application_id)
    assert asked.status_code == 303, asked.get_data(as_text=True)[:1000]
    pdf = town.resident.get(asked.headers["Location"])
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    text = pdftotext(pdf.get_data(), tmp_path)
    with db.transaction(town.tenant.id) as session:
        application = session.get(Application, uuid.UUID(application_id))
        assert application is not None and application.submitted_at is not None
        received = application.submitted_at.astimezone(jp.JAPAN)
        reference = application.reference
    assert "申込内容の写し" in text and reference in text and "受付日時" in text
    assert f"{jp.to_wareki(received.date())} {received.hour}時{received.minute:02d}分" in text
    # Every answer, labelled as the form shows it, each child and guardian in turn.
    for label in ("申請者（保護者）", "入所を希望する児童（1）", "入所を希望する児童（3）", "保護者の状況（2）"):
        assert label in text
    for name in ("𠮷乃", f"{KUZU}葉", "﨑斗"):
        assert name in text
    assert spaced("髙橋　美咲") in text and spaced("髙橋　一郎") in text
    assert "希望する認定区分 3号" in text and "希望する認定区分 2号" in text and "保育標準時間" in text
    assert "第1希望 SK-01、第2希望 SK-02" in text
    assert "健康状態／アレルギー 卵" in text and "健康状態／医療的ケア いいえ" in text
    assert "保育を必要とする事由 就労（外勤）" in text and "月の就労時間 160時間" in text and "130時間" in text
    assert f"入所希望月 {start_month():%Y-%m}" in text and "育休延長を許容する はい" in text
    assert "保育を必要とする事由の証明書類：need_evidence.pdf" in text
    # Signed and verifiable like every document.
    [copy] = _copies(db, town, application_id)
    assert copy.verification_code and copy.verification_code[:4] in text
    verified = town.resident.get(f"{HTTPS}/api/v1/verifications/{copy.verification_code}")
    assert verified.json["status"] == "valid" and verified.json["title"] == "申込内容の写し"


def test_asking_again_gives_the_same_copy_until_the_answers_change(world: World, db: Database) -> None:
    town = world.a
    application_id = childcare_in_review(db, town)
    first = _ask_copy(town, town.resident, application_id).headers["Location"]
    assert _ask_copy(town, town.resident, application_id).headers["Location"] == first
    assert len(_copies(db, town, application_id)) == 1
    with db.transaction(town.tenant.id) as session:  # the parent answered a 補正: the copy follows
        application = session.get(Application, uuid.UUID(application_id))
        assert application is not None
        application.data = {**application.data, "accept_leave_extension": False}
    assert _ask_copy(town, town.resident, application_id).headers["Location"] != first
    assert len(_copies(db, town, application_id)) == 2


def test_staff_download_the_copy_from_the_console(world: World, db: Database, tmp_path: Any) -> None:
    town = world.a
    application_id = childcare_in_review(db, town)
    console_page = f"{HTTPS}/{town.tenant.slug}/console/applications/{application_id}"
    assert 'id="application-copy"' in town.clerk.get(console_page).get_data(as_text=True)
    url = f"{HTTPS}/{town.tenant.slug}/console/documents/applications/{application_id}/copy"
    asked = post_form(town.clerk, url, {}, form_url=console_page)
    assert asked.status_code == 303 and re.search(r"/console/documents/[0-9a-f-]+/pdf$", asked.headers["Location"])
    pdf = town.clerk.get(asked.headers["Location"])
    assert pdf.status_code == 200 and "申込内容の写し" in pdftotext(pdf.get_data(), tmp_path)


def test_no_one_else_gets_the_copy(world: World, db: Database) -> None:
    town = world.a
    application_id = childcare_in_review(db, town)
    download = _ask_copy(town, town.resident, application_id).headers["Location"]
    # Another resident of the same town: the application and its copy are simply not there.
    home = f"{HTTPS}/{town.tenant.slug}/applications/"
    assert _ask_copy(town, town.neighbour, application_id, form_url=home).status_code == 404
    assert town.neighbour.get(download).status_code == 404
    # Another municipality's resident and staff, in their own URL.
    other = world.b
    other_home = f"{HTTPS}/{other.tenant.slug}/applications/"
    assert _ask_copy(other, other.resident, application_id, form_url=other_home).status_code == 404
    console_url = f"{HTTPS}/{other.tenant.slug}/console/documents/applications/{application_id}/copy"
    console_home = f"{HTTPS}/{other.tenant.slug}/console/"
    assert post_form(other.clerk, console_url, {}, form_url=console_home).status_code == 404
    document_id = download.rsplit("/", 2)[-2]
    assert other.clerk.get(f"{HTTPS}/{other.tenant.slug}/console/documents/{document_id}/pdf").status_code == 404
    assert len(_copies(db, town, application_id)) == 1


def test_a_draft_has_no_copy(world: World, db: Database) -> None:
    town = world.a
    created = town.resident.post(town.api("/applications/"), json={"procedure": "childcare-admission", "data": {}})
    asked = _ask_copy(town, town.resident, created.json["id"], form_url=f"{HTTPS}/{town.tenant.slug}/applications/")
    assert asked.status_code == 409
    assert _copies(db, town, created.json["id"]) == []
