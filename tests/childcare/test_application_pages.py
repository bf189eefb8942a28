"""The childcare application (form 2.0.0) on every surface: the API takes the new shape and refuses a bad one with
problem+json at the field; the portal shows a cross-check's message beside the field and saves nothing; the counter
files childcare (picker, ranking, cross-checks beside the field) and its confirmation shows the answers readably; the
clerk's page shows children, enum titles and facility names; another municipality's staff and codes get nowhere."""

from __future__ import annotations

import re
import uuid
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import func, select

from madoguchi.applications import operations as ops
from madoguchi.applications.models import Application
from madoguchi.db import Database
from madoguchi.identity.models import AccountKind
from tests.api.conftest import HTTPS, sign_in  # noqa: F401 - the fixture, for these tests
from tests.childcare.conftest import Family, child_answers, guardian
from tests.console.conftest import post_form
from tests.factories import born_in_class, make_account
from tests.portal.conftest import submit
from tests.tenant_admin.conftest import field_error

KEY = "childcare-admission"


def _api(family: Family, path: str = "/applications/", slug: str | None = None) -> str:
    return f"{HTTPS}/api/v1/t/{slug or family.tenant.slug}{path}"


def _count(db: Database, family: Family) -> int:
    with db.transaction(family.tenant.id) as session:
        return session.execute(select(func.count()).select_from(Application)).scalar_one()


def _data(family: Family, children: list[dict[str, Any]], **more: Any) -> dict[str, Any]:
    data = {
        "desired_start_month": family.intake,
        "children": children,
        "guardians": [guardian()],
        "household": {"cohabiting_relatives": [{"name": "山﨑　髙雄", "relationship": "grandparent"}]},
        "tax_lookup_consent": True,
        "accept_leave_extension": False,
    }
    if len(children) > 1:
        data["sibling_mode"] = "partial_ok"
    return {**data, **more}


# --- API ----------------------------------------------------------------------------------------------------------


def test_the_api_takes_the_2_0_0_shape_and_fills_picked_children(family: Family, sign_in) -> None:  # noqa: F811
    client = sign_in(family.resident_account)
    twins = [child_answers(family.children[name], "3", ["SS-01", "NS-01"]) for name in ("蓮", "葵")]
    response = client.post(_api(family), json={"procedure": KEY, "data": _data(family, twins)})
    assert response.status_code == 201, response.json
    children = response.json["data"]["children"]
    assert [c["name"] for c in children] == ["山﨑　蓮", "山﨑　葵"]
    assert response.json["data"]["household"]["cohabiting_relatives"][0]["name"] == "山﨑　髙雄"


def test_the_api_refuses_a_bad_shape_and_a_failed_cross_check_with_problem_json_creating_nothing(
    db: Database,
    family: Family,
    sign_in,  # noqa: F811
) -> None:
    client = sign_in(family.resident_account)
    before = _count(db, family)
    seven = [child_answers(family.children["陽葵"], "3", ["NS-01"])] * 7
    bad_shape = client.post(_api(family), json={"procedure": KEY, "data": {"children": seven, "child": {}}})
    assert bad_shape.status_code == 422 and bad_shape.mimetype == "application/problem+json"
    assert {"/children", "/child"} <= set(bad_shape.json["errors"])
    small_scale_at_four = [child_answers(family.children["𠮷太"], "2", ["SS-01"])]
    refused = client.post(_api(family), json={"procedure": KEY, "data": _data(family, small_scale_at_four)})
    assert refused.status_code == 422 and refused.mimetype == "application/problem+json"
    (message,) = refused.json["errors"]["/children/0/desired_facilities"]
    assert "ひよこ小規模保育園" in message
    assert _count(db, family) == before


def test_another_municipalitys_facility_codes_are_refused_through_the_api(
    db: Database,
    family: Family,
    sign_in,  # noqa: F811
) -> None:
    client = sign_in(family.resident_account)
    foreign_code = [child_answers(family.children["陽葵"], "3", ["OT-01"])]
    refused = client.post(_api(family), json={"procedure": KEY, "data": _data(family, foreign_code)})
    assert refused.status_code == 422
    assert "/children/0/desired_facilities" in refused.json["errors"]
    # And this municipality's codes are nothing to the other one's residents.
    other = sign_in(family.foreign_account)
    typed = {"name": "他市　太郎", "name_kana": "タシ タロウ", "sex": "male", "care_time": "standard"}
    born = born_in_class(1, family.intake).isoformat()
    ours = [{**typed, "birth_date": born, "desired_category": "3", "desired_facilities": ["NS-01"]}]
    response = other.post(_api(family, slug=family.other.slug), json={"procedure": KEY, "data": _data(family, ours)})
    assert response.status_code == 422
    assert "/children/0/desired_facilities" in response.json["errors"]


# --- Portal -------------------------------------------------------------------------------------------------------


def _portal_children_page(db: Database, family: Family) -> tuple[str, uuid.UUID]:
    with db.transaction(family.tenant.id) as session:
        draft = ops.create_draft(session, family.tenant, family.resident, KEY, {})
    return f"{HTTPS}/{family.tenant.slug}/applications/{draft.id}/form/2", draft.id


def test_the_portal_shows_a_cross_check_beside_the_field_and_saves_nothing(
    app: Any,
    db: Database,
    family: Family,
    sign_in,  # noqa: F811
) -> None:
    client: FlaskClient = sign_in(family.resident_account)
    page, draft_id = _portal_children_page(db, family)
    html = client.get(page + "?lang=ja").get_data(as_text=True)
    assert "全角カタカナで入力してください" in html  # the hint of the readings
    assert html.count('name="/children/5/name"') == 1 and 'name="/children/6/name"' not in html  # six blocks
    assert html.count('name="/children/0/desired_facilities"') == 10  # the standard's ten choices
    code = family.children["𠮷太"].resident_code
    answers = {
        "/desired_start_month": family.intake,
        "/children/0/resident_code": code,
        "/children/0/desired_category": "3",
        "/children/0/care_time": "standard",
        "/children/0/desired_facilities": ["NS-01"],
        "action": "continue",
    }
    response = submit(client, page + "?lang=ja", answers)
    assert response.status_code == 422
    message = field_error(response.get_data(as_text=True), "f-children-0-desired_category")
    assert message is not None and "3号認定は満3歳未満が対象です" in message and "4歳児クラス" in message
    with db.transaction(family.tenant.id) as session:
        kept = session.get(Application, draft_id)
        assert kept is not None and "children" not in kept.data
    # The same child as category 2, filled in from the register with the page's own button: back on the page,
    # the name, reading and date of birth from the register in the inputs though only the picker was answered.
    response = submit(client, page, {**answers, "/children/0/desired_category": "2", "action": "fill"})
    assert response.status_code == 303 and response.headers["Location"].endswith("/form/2")
    html = client.get(page).get_data(as_text=True)
    assert 'value="山﨑　𠮷太"' in html and 'value="ヤマサキ　キチタ"' in html
    assert f'value="{family.children["𠮷太"].birth_date.isoformat()}"' in html
    with db.transaction(family.tenant.id) as session:
        saved = session.get(Application, draft_id)
        assert saved is not None and saved.data["children"][0]["name"] == "山﨑　𠮷太"


def test_the_portal_asks_the_siblings_and_relatives_block_by_block(
    db: Database,
    family: Family,
    sign_in,  # noqa: F811
) -> None:
    client: FlaskClient = sign_in(family.resident_account)
    page, draft_id = _portal_children_page(db, family)
    household_page = page[: -len("/2")] + "/4"
    answers = {
        # The second block of relatives filled in, the first left empty: only the answered one is kept.
        "/household/cohabiting_relatives/1/name": "山﨑　髙雄",
        "/household/cohabiting_relatives/1/relationship": "grandparent",
        "/household/cohabiting_relatives/1/can_provide_care": "true",
        "/household/siblings_enrolled/0/name": "山﨑　陽葵",
        "action": "save",
    }
    response = submit(client, household_page, {**answers, "/household/siblings_enrolled/0/facility_code": "NO-SUCH"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert field_error(html, "f-household-siblings_enrolled-0-facility_code") is not None
    response = submit(client, household_page, {**answers, "/household/siblings_enrolled/0/facility_code": "CC-01"})
    assert response.status_code == 303
    with db.transaction(family.tenant.id) as session:
        saved = session.get(Application, draft_id)
        assert saved is not None
        assert saved.data["household"]["cohabiting_relatives"] == [
            {"name": "山﨑　髙雄", "relationship": "grandparent", "can_provide_care": True}
        ]
        assert saved.data["household"]["siblings_enrolled"] == [{"name": "山﨑　陽葵", "facility_code": "CC-01"}]


# --- Counter ------------------------------------------------------------------------------------------------------


def _console(family: Family, path: str, slug: str | None = None) -> str:
    return f"{HTTPS}/{slug or family.tenant.slug}/console{path}"


def _counter_start(family: Family, clerk: FlaskClient) -> str:
    person_url = _console(family, f"/counter/people/{family.head.id}")
    assert 'value="childcare-admission"' in clerk.get(person_url).get_data(as_text=True)
    response = post_form(clerk, f"{person_url}/applications", {"procedure": KEY}, form_url=person_url)
    assert response.status_code == 303, response.get_data(as_text=True)
    return HTTPS + response.headers["Location"]


def test_the_counter_files_childcare_with_the_picker_and_shows_the_answers_readably(
    db: Database,
    family: Family,
    sign_in,  # noqa: F811
) -> None:
    clerk: FlaskClient = sign_in(family.clerk_account)
    form_url = _counter_start(family, clerk)
    html = clerk.get(form_url + "?lang=ja").get_data(as_text=True)
    assert 'name="/children/0/resident_code"' in html and "山﨑　蓮（子）" in html
    assert html.count('name="/children/0/desired_facilities"') == 10
    version = re.search(r'name="version" value="(\d+)"', html)
    assert version
    answers = {
        "version": version.group(1),
        "/desired_start_month": family.intake,
        "/children/0/resident_code": family.children["蓮"].resident_code,
        "/children/0/desired_category": "3",
        "/children/0/care_time": "standard",
        "/children/0/desired_facilities": ["NS-02", "NS-01"],
        "/guardians/0/name": "山﨑　一郎",
        "/guardians/0/relationship": "father",
        "/guardians/0/need_reason": "employed",
        "/guardians/0/monthly_hours": "１６０",
        "/tax_lookup_consent": "true",
    }
    refused = post_form(clerk, form_url + "?lang=ja", answers, form_url=form_url)
    assert refused.status_code == 422
    message = field_error(refused.get_data(as_text=True), "field-children-0-desired-facilities")
    assert message is not None and "さくら保育園には2歳児クラスの定員がありません" in message
    application_id = uuid.UUID(form_url.split("/")[-2])
    with db.transaction(family.tenant.id) as session:
        kept = session.get(Application, application_id)
        assert kept is not None and "children" not in kept.data

    answers["/children/0/desired_facilities"] = ["SS-01", "NS-01"]
    saved = post_form(clerk, form_url, answers, form_url=form_url)
    assert saved.status_code == 303, saved.get_data(as_text=True)
    confirm = clerk.get(HTTPS + saved.headers["Location"] + "?lang=ja").get_data(as_text=True)
    assert "山﨑　蓮" in confirm and "1. ひよこ小規模保育園、2. みどり保育園" in confirm
    assert "3号認定（満3歳未満・保育）" in confirm and "保育標準時間（最長11時間）" in confirm
    # The clerk's application page shows the same, child by child.
    page = clerk.get(_console(family, f"/applications/{application_id}?lang=ja")).get_data(as_text=True)
    assert "1. ひよこ小規模保育園" in page and "山﨑　蓮" in page


def test_another_municipalitys_clerk_cannot_reach_a_counter_childcare_filing(
    db: Database,
    family: Family,
    sign_in,  # noqa: F811
) -> None:
    clerk: FlaskClient = sign_in(family.clerk_account)
    form_url = _counter_start(family, clerk)
    with db.transaction(family.other.id) as session:
        foreign_clerk = make_account(session, family.other, kind=AccountKind.STAFF, roles=["clerk"])
    other = sign_in(foreign_clerk)
    path = form_url.split("/console", 1)[1]
    # From its own municipality: not found; at this one's address its session is no session here (sign-in).
    for slug, refusals in ((family.other.slug, (403, 404)), (family.tenant.slug, (302, 303, 401, 403, 404))):
        for url in (
            _console(family, path, slug=slug),
            _console(family, f"/counter/people/{family.head.id}", slug=slug),
        ):
            response = other.get(url)
            assert response.status_code in refusals and "山﨑" not in response.get_data(as_text=True)
