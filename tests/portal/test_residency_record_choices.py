"""The residency certificate form offers 除票, 前住所 and the foreign resident's items in Japanese and English, marks a
removed household member in the picker, and a 除票 request goes through to a 除票の写し."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select

from madoguchi.db import Database
from madoguchi.documents.models import IssuedDocument
from madoguchi.registry.models import Person
from tests.factories import make_person
from tests.portal.conftest import HTTPS, Towns, application_id_of, load, start, submit


def _next(response: Any) -> str:
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    return HTTPS + response.headers["Location"]


def _late_father(db: Database, towns: Towns) -> Person:
    b = towns.b
    with db.transaction(b.tenant.id) as session:
        household = session.get(Person, b.person.id).household
        return make_person(
            session,
            b.tenant,
            household,
            given_name="清",
            given_name_kana="キヨシ",
            relation_to_head="父",
            birth_date=date(1950, 2, 3),
            removed_on=date(2025, 3, 31),
            removal_reason="死亡",
        )


def _certificate_page(towns: Towns) -> str:
    b = towns.b
    page = start(b.client, b.tenant, "residency-certificate")
    page = _next(submit(b.client, page, {"/applicant/phone": "090-1234-5678", "action": "continue"}))
    return _next(submit(b.client, page, {"/requester/relationship": "self", "action": "continue"}))


def test_the_form_offers_the_new_choices_in_japanese_and_english(towns: Towns, db: Database) -> None:
    father = _late_father(db, towns)
    page = _certificate_page(towns)
    html = towns.b.client.get(page).get_data(as_text=True)
    for label in ("証明書の種類", "除票の写し", "前住所", "在留資格・在留期間・在留カード等の番号", "［除票］"):
        assert label in html
    assert f'value="{father.resident_code}"' in html
    english = towns.b.client.get(f"{page}?lang=en").get_data(as_text=True)
    for label in ("Which record", "Copy of a removed record", "Previous address", "［removed record］"):
        assert label in english


def test_a_household_member_asks_for_the_joshou_of_a_late_father_and_gets_it(towns: Towns, db: Database) -> None:
    father = _late_father(db, towns)
    page = _certificate_page(towns)
    answers = {
        "/record": "removed",
        "/scope": "selected",
        "/selected_members": father.resident_code,
        "/include/previous_address": "on",
        "/purpose": "other",
        "/purpose_detail": "相続の手続",
        "/copies": "1",
        "action": "continue",
    }
    page = _next(submit(towns.b.client, page, answers))
    review = _next(submit(towns.b.client, page, {"/delivery": "electronic", "action": "continue"}))
    done = _next(submit(towns.b.client, review, {}))
    application = load(db, towns.b.tenant, application_id_of(done))
    assert application.data["record"] == "removed" and application.data["include"]["previous_address"] is True
    assert application.state == "issued"  # sakuragaoka-city issues at once to a verified resident
    with db.transaction(towns.b.tenant.id) as session:
        document = session.execute(select(IssuedDocument)).scalar_one()
    assert document.content["record"] == "removed"
    assert [p["name"] for p in document.content["persons"]] == [father.full_name]
    assert document.content["persons"][0]["removal"]["reason"] == "死亡"
