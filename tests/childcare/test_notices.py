"""利用決定通知書 and 保留通知書 end to end (issue 17 point 6, decision 0042): a household of two children, one placed
and one waitlisted, whose names carry IVS and 外字 (葛󠄀西, 𠮷田). The clerk's ``allocate`` issues the 保留通知書 for
the child left waiting and ``issue`` the 利用決定通知書 for the placed one; both read back with pdftotext, verify at
/verify, and the portal shows the result in Japanese and English to the parent only."""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from madoguchi.applications import operations as ops
from madoguchi.applications.models import Application
from madoguchi.db import Database
from madoguchi.identity.actors import Actor
from madoguchi.identity.models import AccountKind
from madoguchi.registry.models import Facility
from madoguchi.tenancy.models import Tenant
from tests.childcare.allocation_results import MINATO, SAKURA, explanation_item
from tests.documents.certificate_fixtures import pdftotext, spaced
from tests.factories import make_account, make_household, make_person, make_tax, tenants
from tests.world import HTTPS, client_of

POINTS: dict[str, Any] = {
    "eligible": True,
    "ineligible_reason": None,
    "guardians": [
        {"code": "EMP160", "reason": "employed", "points": 10},
        {"code": "EMP140", "reason": "employed", "points": 9},
    ],
    "adjustments": [{"code": "SIB_APPLY", "points": 1, "facility": None, "tier": 0}],
    "base_total": 19,
    "score": 20,
    "tier": 0,
    "facility_bonus": {},
    "tie": {"single_parent": False, "reason_rank": 3, "children_count": 2, "income_levy": 160_000},
}


PLACED = {
    "index": 0,
    "outcome": "placed",
    "facility_code": "F-SAKURA",
    "facility_name": SAKURA,
    "age_class": 1,
    "pref_rank": 2,
    "start_month": "2027-04",
    "points": POINTS,
    "explanation": [explanation_item("F-MINATO", 1, "score_below", lowest_placed_score=22)],
}
WAITLISTED = {
    "index": 1,
    "outcome": "waitlisted",
    "facility_code": None,
    "facility_name": None,
    "age_class": 3,
    "pref_rank": None,
    "start_month": "2027-04",
    "points": POINTS,
    "explanation": [
        {
            **explanation_item("F-SAKURA", 1, "tiebreak:INCOME_LEVY_ASC", your_value=-160_000, border_value=-80_000),
            "age_class": 3,
        },
        {
            **explanation_item("F-MINATO", 2, "score_below", seats=3, placed_count=3, lowest_placed_score=21),
            "age_class": 3,
        },
    ],
}
ALLOCATION = {
    "round_id": "0b9c4f7e-0000-4000-8000-000000000001",
    "round_label": {"ja": "令和9年4月入所 一次利用調整", "en": "April 2027 intake, first round"},
    "intake_month": "2027-04",
    "published_on": "2027-02-10",
    "children": [PLACED, WAITLISTED],
}
CERTIFICATION = {
    "certified_on": "2026-12-01",
    "children": [
        {"index": 0, "category": "3", "care_time": "standard", "valid_from": "2027-04-01", "valid_to": "2028-05-09"},
        {"index": 1, "category": "2", "care_time": "short", "valid_from": "2027-04-01", "valid_to": "2030-03-31"},
    ],
}


@dataclass
class Family:
    tenant: Tenant
    application_id: str
    parent: FlaskClient
    clerk: FlaskClient
    stranger: FlaskClient  # a resident of another municipality

    def api(self, path: str) -> str:
        return f"{HTTPS}/api/v1/t/{self.tenant.slug}{path}"

    def transition(self, name: str) -> None:
        response = self.clerk.post(
            self.api(f"/applications/{self.application_id}/transitions"), json={"transition": name}
        )
        assert response.status_code == 200, response.json

    def documents(self) -> dict[str, dict[str, Any]]:
        response = self.parent.get(self.api(f"/applications/{self.application_id}/documents"))
        assert response.status_code == 200, response.json
        return {document["kind"]: document for document in response.json}

    def pdf(self, document: dict[str, Any]) -> bytes:
        response = self.parent.get(self.api(f"/documents/{document['id']}/pdf"))
        assert response.status_code == 200 and response.mimetype == "application/pdf"
        return response.get_data()


def _form(hina: str, minato: str) -> dict[str, Any]:
    return {
        "applicant": {"name": "𠮷田　美咲", "name_kana": "ヨシダ　ミサキ", "birth_date": "1990-05-01"},
        "children": [
            {"name": "葛󠄀西　陽葵", "resident_code": hina, "desired_facilities": ["F-MINATO", "F-SAKURA"]},
            {"name": "葛󠄀西　湊", "resident_code": minato, "desired_facilities": ["F-SAKURA", "F-MINATO"]},
        ],
        # The father's name as typed, without the variation selector the register has: found all the same.
        "guardians": [
            {"name": "𠮷田　美咲", "relationship": "mother", "need_reason": "employed", "monthly_hours": 160},
            {"name": "葛西　健太", "relationship": "father", "need_reason": "employed", "monthly_hours": 140},
        ],
        "sibling_mode": "partial_ok",
        "desired_start_month": "2027-04",
        "tax_lookup_consent": True,
    }


def _facility(code: str, names: dict[str, str], tenant: Tenant) -> Facility:
    return Facility(
        tenant_id=tenant.id,
        facility_code=code,
        name_ja=names["ja"],
        name_en=names["en"],
        kind="nursery",
        postal_code="781-0000",
        address="高知県汐見町浜1番地",
        capacity_by_age={str(age): 6 for age in range(6)},
        accepts_short_hours=True,
    )


def _family(app: Any, db: Database, allocation: dict[str, Any], *, facilities: bool = True, **data: Any) -> Family:
    by_slug = {t.slug: t for t in tenants(db)}
    tenant, other = by_slug["shiomi-town"], by_slug["midorikawa-village"]
    with db.transaction(tenant.id) as session:
        household = make_household(session, tenant)
        kana = {"family_name_kana": "カサイ"}
        mother = make_person(
            session, tenant, household, family_name="𠮷田", given_name="美咲", family_name_kana="ヨシダ",
            given_name_kana="ミサキ", sex="female", birth_date=date(1990, 5, 1),
        )  # fmt: skip
        father = make_person(
            session, tenant, household, family_name="葛󠄀西", given_name="健太", given_name_kana="ケンタ",
            relation_to_head="同居人", **kana,
        )  # fmt: skip
        hina = make_person(
            session, tenant, household, family_name="葛󠄀西", given_name="陽葵", given_name_kana="ヒマリ",
            birth_date=date(2025, 5, 10), sex="female", relation_to_head="子", **kana,
        )  # fmt: skip
        minato = make_person(
            session, tenant, household, family_name="葛󠄀西", given_name="湊", given_name_kana="ミナト",
            birth_date=date(2023, 6, 1), relation_to_head="子", **kana,
        )  # fmt: skip
        # 令和8年度 (fiscal 2026) decides April–August 2027; 令和9年度 from September.
        make_tax(session, tenant, mother, 2026, municipal_income_levy=60_000)
        make_tax(session, tenant, father, 2026, municipal_income_levy=100_000)
        make_tax(session, tenant, mother, 2027, municipal_income_levy=10_000)
        make_tax(session, tenant, father, 2027, municipal_income_levy=30_000)
        if facilities:
            session.add_all([_facility("F-SAKURA", SAKURA, tenant), _facility("F-MINATO", MINATO, tenant)])
        parent = make_account(session, tenant, person=mother)
        clerk = make_account(session, tenant, kind=AccountKind.STAFF, roles=["clerk"])
        application = ops.create_draft(session, tenant, Actor.of(parent), "childcare-admission")
        # Form 2.0.0's answers, certified and allocated as the certify and rounds parts will write them.
        application.data = {**_form(hina.resident_code, minato.resident_code), **data}
        application.state = "certified"
        application.submitted_at = datetime(2026, 11, 20, 1, 30, tzinfo=UTC)
        application.decision = {"certification": CERTIFICATION, "allocation": allocation}
        session.flush()
        application_id = str(application.id)
    with db.transaction(other.id) as session:
        stranger = make_account(session, other, person=make_person(session, other, family_name="𠮷田"))
    return Family(
        tenant, application_id, client_of(app, db, parent), client_of(app, db, clerk), client_of(app, db, stranger)
    )


@pytest.fixture
def family(app: Any, db: Database, seeded: None) -> Family:
    return _family(app, db, ALLOCATION)


def test_allocate_issues_the_waitlist_notice_and_issue_the_decision_notice(family: Family, tmp_path: Path) -> None:
    family.transition("allocate")
    assert set(family.documents()) == {"childcare_waitlist"}  # the child left waiting has its notice at once
    family.transition("issue")
    documents = family.documents()
    assert set(documents) == {"childcare_waitlist", "childcare_decision"}

    decision = pdftotext(family.pdf(documents["childcare_decision"]), tmp_path)
    for expected in (
        "保育所等利用決定通知書",
        spaced("𠮷田　美咲"),
        spaced("葛󠄀西　陽葵"),
        "さくら保育園",
        "1歳児クラス",
        "令和9年4月（2027年4月）",
        "3号認定",
        "保育標準時間",
        "令和9年4月1日から令和10年5月9日まで",
        # 60,000 + 100,000 of 令和8年度 所得割: shiomi-town's 第5階層 (97,000 to 169,000), 標準時間.
        "30,000円",
        "第5階層",
        "160,000円",
        "利用調整の結果 第2希望 さくら保育園（1歳児クラス）に内定しました。利用開始は令和9年4月（2027年4月）です。",
        "9月分以降は令和9年度の市町村民税所得割額により改めて算定します",
        "第1希望 みなと保育園（1歳児クラス）",
        "教示",
        "審査請求",
        "汐見町長",
    ):
        assert _flat(expected) in _flat(decision), (expected, decision)
    assert _flat("葛󠄀西　湊") not in _flat(decision)  # the waitlisted child is on the other notice

    waitlist = pdftotext(family.pdf(documents["childcare_waitlist"]), tmp_path)
    for expected in (
        "保育所等利用保留通知書",
        spaced("𠮷田　美咲"),
        spaced("葛󠄀西　湊"),
        "生年月日 令和5年6月1日",
        "令和8年11月20日",  # 申込日 (10:30 in Japan)
        "入所希望月",
        "第1希望 さくら保育園",
        "第2希望 みなと保育園",
        "希望施設に空きがないため",
        "令和9年4月1日から令和9年4月30日まで",
        "同点の場合の優先順位「市区町村民税所得割額の低い順」（あなたの世帯 160,000円、内定者 80,000円）",
        "引き続き次回以降の利用調整の対象となります。空きが生じた場合はその都度利用調整を行います。",
        "3か月以内",
        "審査請求",
        "文書番号",
    ):
        assert _flat(expected) in _flat(waitlist), (expected, waitlist)
    assert _flat("葛󠄀西　陽葵") not in _flat(waitlist)


def _flat(text: str) -> str:
    """Text without spaces: pdftotext turns a wrapped line and the space in a name alike into one space."""
    return "".join(text.split()).replace("\u3000", "")


def test_both_notices_verify_at_verify(family: Family, client: FlaskClient) -> None:
    family.transition("allocate")
    family.transition("issue")
    for kind, title in (
        ("childcare_decision", "保育所等利用決定通知書"),
        ("childcare_waitlist", "保育所等利用保留通知書"),
    ):
        document = family.documents()[kind]
        page = client.get(f"{HTTPS}/verify/{document['verification_code']}")
        html = page.get_data(as_text=True)
        assert page.status_code == 200 and "有効" in html and title in html and document["serial"] in html
        assert "葛" not in html and "美咲" not in html  # nothing personal on the public page
        uploaded = client.post(
            f"{HTTPS}/api/v1/verifications", data={"file": (BytesIO(family.pdf(document)), "notice.pdf")}
        ).json
        assert uploaded["status"] == "valid", uploaded


def test_waitlisting_every_child_issues_one_waitlist_notice(
    app: Any, db: Database, seeded: None, tmp_path: Path
) -> None:
    allocation = copy.deepcopy(ALLOCATION)
    allocation["children"][0] = {**WAITLISTED, "index": 0, "age_class": 1}
    family = _family(app, db, allocation)
    family.transition("waitlist")
    documents = family.documents()
    assert set(documents) == {"childcare_waitlist"}
    text = pdftotext(family.pdf(documents["childcare_waitlist"]), tmp_path)
    assert spaced("葛󠄀西　陽葵") in text and spaced("葛󠄀西　湊") in text


def test_a_clerk_waitlisting_by_hand_without_a_round_issues_the_notice_for_every_child(
    app: Any, db: Database, seeded: None, tmp_path: Path
) -> None:
    by_hand = _family(app, db, {})
    by_hand.transition("allocate")  # no round result: nobody known to wait, nothing issued, the step goes on
    assert by_hand.documents() == {}
    other = _family(app, db, {}, facilities=False)  # a second household of the same town
    other.transition("waitlist")
    text = _flat(pdftotext(other.pdf(other.documents()["childcare_waitlist"]), tmp_path))
    assert _flat("葛󠄀西　陽葵") in text and _flat("葛󠄀西　湊") in text
    assert "令和9年4月1日から令和9年4月30日まで" in text and "引き続き次回以降の利用調整の対象となります。" in text
    assert "希望施設ごとの結果" not in text  # no round, no per-choice explanation


def test_without_consent_to_read_tax_data_the_fee_is_notified_separately(
    app: Any, db: Database, seeded: None, tmp_path: Path
) -> None:
    family = _family(app, db, ALLOCATION, tax_lookup_consent=False)
    family.transition("allocate")
    family.transition("issue")
    text = pdftotext(family.pdf(family.documents()["childcare_decision"]), tmp_path)
    assert "課税状況の確認に同意がないため" in _flat(text) and "30,000円" not in _flat(text)


def test_a_september_start_is_charged_from_that_years_assessment(
    app: Any, db: Database, seeded: None, tmp_path: Path
) -> None:
    allocation = copy.deepcopy(ALLOCATION)
    allocation["children"][0]["start_month"] = "2027-09"
    family = _family(app, db, allocation)
    family.transition("allocate")
    family.transition("issue")
    text = pdftotext(family.pdf(family.documents()["childcare_decision"]), tmp_path)
    # 令和9年度: 10,000 + 30,000 = 40,000, below 48,600: 第3階層, 16,000 yen; no September note.
    assert "16,000円" in text and "第3階層" in text and "40,000円" in text and "9月分以降" not in text


def test_the_parent_sees_each_childs_result_in_japanese_and_english(family: Family) -> None:
    family.transition("allocate")
    page = f"{HTTPS}/{family.tenant.slug}/applications/{family.application_id}"
    ja = family.parent.get(page, query_string={"lang": "ja"})
    html = ja.get_data(as_text=True)
    assert ja.status_code == 200
    assert '<h2 id="allocation-title">利用調整の結果</h2>' in html
    assert "葛󠄀西　陽葵</h3>" in html and "葛󠄀西　湊</h3>" in html
    assert "<strong>内定</strong>" in html and "<strong>保留（入所待ち）</strong>" in html  # in words, not colour
    assert "令和9年4月（2027年4月）" in html and "さくら保育園" in html
    assert (
        "<li>第1希望 さくら保育園（3歳児クラス）：募集2人、内定2人。内定者の最低指数は20でした。あなたの指数は20で"
        "同点でしたが、同点の場合の優先順位「市区町村民税所得割額の低い順」（あなたの世帯 160,000円、"
        "内定者 80,000円）により内定に至りませんでした。</li>"
    ) in html
    assert "<li>保護者1（就労）10点</li>" in html
    assert "引き続き次回以降の利用調整の対象となります。" in html

    en = family.parent.get(page, query_string={"lang": "en"}).get_data(as_text=True)
    assert "Result of the allocation" in en and "Place allocated (内定)" in en and "Waiting for a place (保留)" in en
    assert "Sakura" in en and "age-1 class" in en and "2027-04" in en
    assert "the tie was decided by &#39;lower municipal income levy first&#39; (yours ¥160,000, border ¥80,000)" in en
    assert "Guardian 1 (employment) 10 points" in en


def test_the_result_is_not_shown_before_a_round_is_published(app: Any, db: Database, seeded: None) -> None:
    family = _family(app, db, {})
    html = family.parent.get(f"{HTTPS}/{family.tenant.slug}/applications/{family.application_id}").get_data(
        as_text=True
    )
    assert "allocation-title" not in html


def test_a_resident_of_another_municipality_sees_neither_the_result_nor_the_notices(family: Family) -> None:
    family.transition("allocate")
    family.transition("issue")
    documents = family.documents()
    # Signed in elsewhere, the stranger is no one in shiomi-town: sent to its sign-in page.
    here = family.stranger.get(f"{HTTPS}/{family.tenant.slug}/applications/{family.application_id}")
    assert here.status_code == 303 and "/shiomi-town/login" in here.headers["Location"]
    # In their own municipality, the application is simply not there.
    there = family.stranger.get(f"{HTTPS}/midorikawa-village/applications/{family.application_id}")
    assert there.status_code == 404 and "葛" not in there.get_data(as_text=True)
    for document in documents.values():
        assert family.stranger.get(family.api(f"/documents/{document['id']}/pdf")).status_code in (401, 403, 404)
        other = f"{HTTPS}/api/v1/t/midorikawa-village/documents/{document['id']}/pdf"
        assert family.stranger.get(other).status_code == 404
    assert family.stranger.get(family.api(f"/applications/{family.application_id}/documents")).status_code in (
        401,
        403,
        404,
    )


def test_the_stored_application_keeps_what_the_resident_submitted(family: Family, db: Database) -> None:
    family.transition("allocate")
    with db.transaction(family.tenant.id) as session:
        application = session.get(Application, uuid.UUID(family.application_id))
        assert application is not None
        assert application.data["children"][1]["name"] == "葛󠄀西　湊"
        assert application.decision["allocation"]["children"][1]["outcome"] == "waitlisted"
