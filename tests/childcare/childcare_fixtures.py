"""A childcare application of the form 2.0.0 shape (three children, two guardians), put in review for the clerk.

Form 2.0.0 lands with the ``form`` part of issue 17; until then the application is created as a draft through the
API and given the 2.0.0 answers and a form of that shape (``FORM_V2``, the labels parents see) directly, as if a
parent had filed it under 2.0.0. Import with ``from tests.childcare.childcare_fixtures import *``.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from madoguchi import jp
from madoguchi.applications import repository
from madoguchi.applications.models import Application
from madoguchi.db import Database, utcnow
from madoguchi.registry.models import Household, Person
from tests.documents.certificate_fixtures import Town
from tests.factories import make_attachment, make_person

KUZU = "葛\U000e0100"  # 葛 + VS17 (Adobe-Japan1): drawn from the fallback font


def _text(ja: str, en: str) -> dict[str, str]:
    return {"ja": ja, "en": en}


def _field(ja: str, en: str, **schema: Any) -> dict[str, Any]:
    return {"title": ja, "x-title": _text(ja, en), **schema}


def _choice(ja: str, en: str, titles: dict[str, str]) -> dict[str, Any]:
    return _field(
        ja, en, type="string", enum=list(titles), **{"x-enum-titles": {k: _text(v, k) for k, v in titles.items()}}
    )


FORM_V2: dict[str, Any] = {
    "type": "object",
    "properties": {
        "applicant": _field(
            "申請者（保護者）",
            "Applicant",
            type="object",
            properties={
                "name": _field("氏名", "Name", type="string"),
                "address": _field("住所", "Address", type="string"),
            },
        ),
        "children": _field(
            "入所を希望する児童",
            "Children",
            type="array",
            items={
                "type": "object",
                "properties": {
                    "name": _field("児童の氏名", "Child's name", type="string"),
                    "birth_date": _field("生年月日", "Date of birth", type="string", format="date"),
                    "sex": _choice("性別", "Sex", {"male": "男", "female": "女"}),
                    "desired_category": _choice("希望する認定区分", "Category", {"1": "1号", "2": "2号", "3": "3号"}),
                    "care_time": _choice("保育必要量", "Hours", {"standard": "保育標準時間", "short": "保育短時間"}),
                    "desired_facilities": _field("希望する施設", "Facilities", type="array", items={"type": "string"}),
                    "health": _field(
                        "健康状態",
                        "Health",
                        type="object",
                        properties={
                            "allergies": _field("アレルギー", "Allergies", type="string"),
                            "medical_care": _field("医療的ケア", "Medical care", type="boolean"),
                        },
                    ),
                },
            },
        ),
        "guardians": _field(
            "保護者の状況",
            "Guardians",
            type="array",
            items={
                "type": "object",
                "properties": {
                    "name": _field("保護者の氏名", "Name", type="string"),
                    "relationship": _choice("続柄", "Relationship", {"father": "父", "mother": "母"}),
                    "need_reason": _choice("保育を必要とする事由", "Need", {"employed": "就労（外勤）"}),
                    "monthly_hours": _field("月の就労時間", "Hours a month", type="integer", **{"x-unit": "時間"}),
                },
            },
        ),
        "desired_start_month": _field("入所希望月", "Start month", type="string"),
        "accept_leave_extension": _field("育休延長を許容する", "Accept leave extension", type="boolean"),
        "tax_lookup_consent": _field("税情報の確認に同意する", "Tax consent", type="boolean"),
    },
}


def start_month() -> date:
    """The April intake after this one: always in the future, whatever day the tests run."""
    return date(jp.today().year + 1, 4, 1)


def births() -> tuple[date, date, date]:
    """Children aged 0, 2 and 4 on the start month's 1st (the 2-year-old turns 3 on 15 June after it)."""
    start = start_month()
    return date(start.year - 1, 9, 10), date(start.year - 3, 6, 15), date(start.year - 5, 11, 20)


NAMES = ("髙橋　𠮷乃", f"髙橋　{KUZU}葉", "髙橋　﨑斗")


def childcare_in_review(
    db: Database, town: Town, *, hours: tuple[int, int] = (160, 130), mother_reason: str = "employed"
) -> str:
    """File a 2.0.0 childcare application as the town's resident for three of their children, in review."""
    with db.transaction(town.tenant.id) as session:
        parent = session.get(Person, town.person.id)
        assert parent is not None
        household = session.get(Household, parent.household_id)
        kids = [
            make_person(
                session,
                town.tenant,
                household,
                family_name=name.split("　")[0],
                given_name=name.split("　")[1],
                family_name_kana="タカハシ",
                given_name_kana=kana,
                birth_date=born,
                relation_to_head="子",
            )
            for name, kana, born in zip(NAMES, ("ヨシノ", "カズハ", "サキト"), births(), strict=True)
        ]
        codes = [kid.resident_code for kid in kids]
    created = town.resident.post(town.api("/applications/"), json={"procedure": "childcare-admission", "data": {}})
    assert created.status_code == 201, created.json
    application_id = created.json["id"]
    desired = ("3", "3", "2")
    data = {
        "applicant": {"name": "髙橋　美咲", "address": f"東京都{town.tenant.name_ja}中央一丁目1番1号"},
        "children": [
            {
                "name": name,
                "name_kana": "タカハシ",
                "birth_date": born.isoformat(),
                "sex": "female",
                "resident_code": code,
                "desired_category": category,
                "care_time": "standard",
                "desired_facilities": ["SK-01", "SK-02"],
                "health": {"allergies": "卵", "medical_care": False},
            }
            for name, born, code, category in zip(NAMES, births(), codes, desired, strict=True)
        ],
        "guardians": [
            {"name": "髙橋　一郎", "relationship": "father", "need_reason": "employed", "monthly_hours": hours[0]},
            {"name": "髙橋　美咲", "relationship": "mother", "need_reason": mother_reason, "monthly_hours": hours[1]},
        ],
        "desired_start_month": start_month().strftime("%Y-%m"),
        "accept_leave_extension": True,
        "tax_lookup_consent": True,
    }
    with db.transaction(town.tenant.id) as session:
        application = session.get(Application, uuid.UUID(application_id))
        assert application is not None
        settings = {**application.settings_snapshot, "form": FORM_V2}
        application.settings_snapshot_hash = repository.store_snapshot(session, town.tenant.id, settings)
        application.data = data
        application.state = "in_review"
        application.submitted_at = utcnow()
        make_attachment(session, town.tenant, application.id, "need_evidence")
    return str(application_id)


def decision_of(db: Database, town: Town, application_id: str) -> tuple[str, dict[str, Any]]:
    with db.transaction(town.tenant.id) as session:
        application = session.get(Application, uuid.UUID(application_id))
        assert application is not None
        return application.state, dict(application.decision or {})
