"""The clerk's 教育・保育給付認定 on ``certify`` (issue 17 point 2, decision 0041): category, 保育必要量 and
validity per child, checked against the children's ages and the guardians' hours, in the console and the API; the signed
教育・保育給付認定通知書 issued with it and verifiable at /verify; another municipality's staff can do none of it."""

from __future__ import annotations

import html
from datetime import date
from typing import Any

import pytest

from madoguchi import jp
from madoguchi.childcare import certification
from madoguchi.db import Database
from tests.childcare.childcare_fixtures import births, childcare_in_review, decision_of, start_month
from tests.console.conftest import post_form
from tests.documents.certificate_fixtures import *  # noqa: F403 - the two towns, signed in
from tests.documents.certificate_fixtures import HTTPS, World, download, pdftotext, spaced


def _expected() -> list[dict[str, Any]]:
    """The law's validity for the three children: 3号 to 満3歳に達する日の前日, 2号 to the school year's eve."""
    start = start_month()
    return [
        {"index": 0, "category": "3", "care_time": "standard", "valid_from": start.isoformat(),
         "valid_to": date(start.year + 2, 9, 8).isoformat()},
        {"index": 1, "category": "3", "care_time": "standard", "valid_from": start.isoformat(),
         "valid_to": date(start.year, 6, 13).isoformat()},
        {"index": 2, "category": "2", "care_time": "standard", "valid_from": start.isoformat(),
         "valid_to": date(start.year + 2, 3, 31).isoformat()},
    ]  # fmt: skip


def _transition(town: Any, application_id: str, decision: dict[str, Any] | None, client: Any = None) -> Any:
    body: dict[str, Any] = {"transition": "certify"}
    if decision is not None:
        body["decision"] = decision
    return (client or town.clerk).post(town.api(f"/applications/{application_id}/transitions"), json=body)


def _console(town: Any, application_id: str) -> str:
    return f"{HTTPS}/{town.tenant.slug}/console/applications/{application_id}"


# ---------------------------------------------------------------------------------------------- the law's dates


@pytest.mark.parametrize(
    ("birth", "three_ends", "school_eve"),
    [
        (date(2024, 6, 15), date(2027, 6, 13), date(2031, 3, 31)),
        # Born 1 April: reaches 6 on 31 March, so school starts that very April (早生まれ).
        (date(2021, 4, 1), date(2024, 3, 30), date(2027, 3, 31)),
        (date(2021, 4, 2), date(2024, 3, 31), date(2028, 3, 31)),
        # Born 29 February: a year older from 1 March in a common year (jp.age_on), so 満3歳に達する日 is 28 Feb.
        (date(2024, 2, 29), date(2027, 2, 27), date(2030, 3, 31)),
    ],
)
def test_the_law_ends_3_before_the_third_birthday_and_1_2_on_the_eve_of_school(
    birth: date, three_ends: date, school_eve: date
) -> None:
    assert certification.legal_end("3", birth) == three_ends
    assert certification.legal_end("2", birth) == certification.legal_end("1", birth) == school_eve


# ------------------------------------------------------------------------------------------------- the console


def test_the_clerk_certifies_three_children_of_different_ages_from_the_prefilled_form(
    world: World, db: Database, tmp_path: Any
) -> None:
    town = world.a
    application_id = childcare_in_review(db, town)
    page = town.clerk.get(_console(town, application_id)).get_data(as_text=True)
    assert f"/console/applications/{application_id}/certification" in page  # certify opens the form
    form_url = f"{_console(town, application_id)}/certification"
    form = town.clerk.get(form_url)
    assert form.status_code == 200
    text = html.unescape(form.get_data(as_text=True))
    for child in _expected():  # prefilled: what the parent asked, the validity the law allows
        assert f'value="{child["valid_to"]}"' in text and f'value="{child["valid_from"]}"' in text
    fields = {f"child-{c['index']}-{name}": c[name] for c in _expected() for name in certification.FIELDS}
    response = post_form(town.clerk, form_url, fields, form_url=form_url)
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    state, decision = decision_of(db, town, application_id)
    assert state == "certified"
    assert decision["certification"]["children"] == _expected()
    assert decision["certification"]["certified_on"] == jp.today().isoformat()
    documents = town.clerk.get(town.api(f"/applications/{application_id}/documents")).json
    assert [d["kind"] for d in documents] == ["childcare_certification"]
    notice = pdftotext(download(town, documents[0]["id"], town.clerk), tmp_path)
    assert "教育・保育給付認定通知書" in notice and "文書番号" in notice and "教示" in notice
    assert "3号認定" in notice and "2号認定" in notice and "保育標準時間" in notice
    assert spaced("髙橋　𠮷乃") in notice and "﨑斗" in notice and "葛\U000e0100葉" in notice
    start = start_month()
    assert f"令和{start.year - 2018}年4月1日から令和{start.year - 2018}年6月13日まで" in notice


def test_a_category_wrong_for_the_age_is_refused_beside_the_field_and_nothing_changes(
    world: World, db: Database
) -> None:
    town = world.a
    application_id = childcare_in_review(db, town)
    form_url = f"{_console(town, application_id)}/certification"
    fields = {f"child-{c['index']}-{name}": c[name] for c in _expected() for name in certification.FIELDS}
    fields["child-0-category"] = "1"  # 1号 for a baby
    fields["child-0-care_time"] = ""
    fields["child-2-category"] = "3"  # 3号 for a 4-year-old
    response = post_form(town.clerk, form_url, fields, form_url=form_url)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'id="child-0-category-error"' in page and 'id="child-2-category-error"' in page
    assert "1号・2号認定は満3歳以上の児童が対象です。" in page and "に0歳です。" in page
    assert "3号認定は満3歳未満の児童が対象です。" in page and "に4歳です。" in page
    assert 'id="child-1-category-error"' not in page
    state, decision = decision_of(db, town, application_id)
    assert state == "in_review" and "certification" not in decision
    assert town.clerk.get(town.api(f"/applications/{application_id}/documents")).json == []


def test_standard_hours_need_120_hours_of_each_working_guardian(world: World, db: Database) -> None:
    town = world.a
    application_id = childcare_in_review(db, town, hours=(160, 100))
    form_url = f"{_console(town, application_id)}/certification"
    proposed = html.unescape(town.clerk.get(form_url).get_data(as_text=True))
    assert '<option value="short" selected>' in proposed  # the form proposes 短時間 for 100 h
    assert "髙橋　美咲: 就労 (月100時間)" in proposed  # beside the guardians' needs
    fields = {f"child-{c['index']}-{name}": c[name] for c in _expected() for name in certification.FIELDS}
    response = post_form(town.clerk, form_url, fields, form_url=form_url)
    assert response.status_code == 422
    message = "保育標準時間には月120時間以上の就労が必要です。髙橋　美咲さんは月100時間のため"
    assert message in response.get_data(as_text=True)
    assert decision_of(db, town, application_id)[0] == "in_review"
    for index in range(3):
        fields[f"child-{index}-care_time"] = "short"  # the clerk chooses 短時間: accepted
    assert post_form(town.clerk, form_url, fields, form_url=form_url).status_code == 303
    assert [c["care_time"] for c in decision_of(db, town, application_id)[1]["certification"]["children"]] == [
        "short"
    ] * 3


def test_job_seeking_is_proposed_until_the_end_of_the_month_90_days_on(world: World, db: Database) -> None:
    town = world.a
    application_id = childcare_in_review(db, town, mother_reason="job_seeking")
    form = html.unescape(town.clerk.get(f"{_console(town, application_id)}/certification").get_data(as_text=True))
    start = start_month()
    three_months = date(start.year, 6, 30)  # 1 April + 90 days is 30 June: the end of that month (施行規則8条)
    assert form.count(f'value="{three_months.isoformat()}"') == 2  # the baby and the 4-year-old
    assert f'value="{date(start.year, 6, 13).isoformat()}"' in form  # the 2-year-old's 3号 ends before


# ------------------------------------------------------------------------------------------------------- the API


def test_the_api_certifies_and_the_certificate_verifies(world: World, db: Database) -> None:
    town = world.b
    application_id = childcare_in_review(db, town)
    response = _transition(town, application_id, {"certification": {"children": _expected()}})
    assert response.status_code == 200, response.json
    assert response.json["state"] == "certified"
    assert decision_of(db, town, application_id)[1]["certification"]["children"] == _expected()
    document = town.resident.get(town.api(f"/applications/{application_id}/documents")).json[0]
    assert document["kind"] == "childcare_certification" and document["title"] == "教育・保育給付認定通知書"
    verified = town.resident.get(f"{HTTPS}/api/v1/verifications/{document['verification_code']}")
    assert verified.json["status"] == "valid"
    page = town.resident.get(f"{HTTPS}/verify/{document['verification_code']}").get_data(as_text=True)
    assert "教育・保育給付認定通知書" in page and document["serial"] in page


@pytest.mark.parametrize(
    ("change", "pointer", "fragment"),
    [
        ({"category": "4"}, "/certification/children/0/category", "Must be one of"),
        ({"valid_to": "2027-13-01"}, "/certification/children/0/valid_to", "Not a valid date"),
        ({"category": "2"}, "/certification/children/0/category", "1号 and 2号 are for a child of 3 or more"),
        ({"care_time": None}, "/certification/children/0/care_time", "choose 標準時間"),
        ({"valid_to": "2099-03-31"}, "/certification/children/0/valid_to", "where the law ends this category"),
        ({"valid_from": "2000-04-01"}, "/certification/children/0/valid_from", "before the application arrived"),
    ],
)
def test_a_bad_decision_is_problem_json_by_field_and_changes_nothing(
    world: World, db: Database, change: dict[str, Any], pointer: str, fragment: str
) -> None:
    town = world.a
    application_id = childcare_in_review(db, town)
    children = _expected()
    children[0] = {**children[0], **change}
    response = _transition(town, application_id, {"certification": {"children": children}})
    assert response.status_code == 422 and response.mimetype == "application/problem+json"
    assert fragment in " ".join(response.json["errors"][pointer]), response.json
    assert decision_of(db, town, application_id) == ("in_review", {})


def test_a_missing_certification_or_child_is_refused(world: World, db: Database) -> None:
    town = world.a
    application_id = childcare_in_review(db, town)
    none = _transition(town, application_id, None)
    assert none.status_code == 422 and "/certification" in none.json["errors"]
    two = _transition(town, application_id, {"certification": {"children": _expected()[:2]}})
    assert two.status_code == 422 and "missing: 3" in two.json["errors"]["/certification/children"][0]
    assert decision_of(db, town, application_id) == ("in_review", {})


# ----------------------------------------------------------------------------------------------- other tenants


def test_another_municipalitys_staff_can_neither_see_nor_certify(world: World, db: Database) -> None:
    application_id = childcare_in_review(db, world.a)
    decision = {"certification": {"children": _expected()}}
    # world.b's clerk, in world.b's URL (their own tenant): the application is not there.
    assert _transition(world.b, application_id, decision).status_code == 404
    form_url = f"{_console(world.b, application_id)}/certification"
    assert world.b.clerk.get(form_url).status_code == 404
    # ... and in world.a's URL, signed in to world.b: refused before anything is read.
    foreign = world.b.clerk.post(
        world.a.api(f"/applications/{application_id}/transitions"), json={"transition": "certify", **decision}
    )
    assert foreign.status_code in (401, 403, 404)
    assert world.b.clerk.get(f"{_console(world.a, application_id)}/certification").status_code in (
        302,
        303,
        401,
        403,
        404,
    )
    # The resident cannot certify their own application either.
    assert _transition(world.a, application_id, decision, world.a.resident).status_code in (403, 404)
    assert decision_of(db, world.a, application_id) == ("in_review", {})


def test_births_are_the_ages_the_tests_say() -> None:
    start = start_month()
    assert [jp.age_on(born, start) for born in births()] == [0, 2, 4]
