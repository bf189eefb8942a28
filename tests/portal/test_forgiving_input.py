"""The resident's form takes answers as they are typed (decision 0035): a half-width reading and a 和暦 date are saved
normalized and shown back so; a reading that is still not kana is refused beside the field saying 全角カタカナ, and a
和暦 date the era never had saying when the era ran."""

from __future__ import annotations

from typing import Any

from madoguchi.db import Database
from tests.portal.conftest import HTTPS, Towns, application_id_of, load, start, submit
from tests.tenant_admin.conftest import field_error


def _child_page(towns: Towns) -> str:
    page = start(towns.a.client, towns.a.tenant, "childcare-admission")
    response = submit(towns.a.client, page, {"action": "continue"})  # the applicant page: all from the register
    assert response.status_code == 303
    return HTTPS + response.headers["Location"]


def _post(towns: Towns, page: str, **answers: Any) -> Any:
    fields = {"/children/0/name": "髙橋　陽葵", "/children/0/sex": "female", **answers}
    return submit(towns.a.client, page, {**fields, "action": "save"})


def test_a_half_width_reading_and_a_wareki_date_are_saved_and_shown_normalized(db: Database, towns: Towns) -> None:
    page = _child_page(towns)
    response = _post(towns, page, **{"/children/0/name_kana": "ﾀｶﾊｼ ﾋﾏﾘ", "/children/0/birth_date": "令和2年8月3日"})
    assert response.status_code == 303, response.get_data(as_text=True)
    child = load(db, towns.a.tenant, application_id_of(page)).data
    assert child["children"][0]["name_kana"] == "タカハシ ヒマリ" and child["children"][0]["birth_date"] == "2020-08-03"
    html = towns.a.client.get(page).get_data(as_text=True)
    assert 'value="タカハシ ヒマリ"' in html and 'value="2020-08-03"' in html


def test_a_reading_that_is_not_kana_is_refused_beside_the_field_saying_zenkaku(towns: Towns) -> None:
    page = _child_page(towns)
    response = _post(towns, page + "?lang=ja", **{"/children/0/name_kana": "Hima ﾘ"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert field_error(html, "f-children-0-name_kana") == "全角カタカナまたはひらがなで入力してください。"
    assert 'value="Hima リ"' in html  # shown back as it would be stored: the half-width part already converted


def test_a_wareki_date_the_era_never_had_is_refused_saying_when_the_era_ran(towns: Towns) -> None:
    page = _child_page(towns)
    response = _post(towns, page + "?lang=ja", **{"/children/0/birth_date": "平成31年5月1日"})
    assert response.status_code == 422
    message = field_error(response.get_data(as_text=True), "f-children-0-birth_date")
    assert message == "平成は平成元年1月8日から平成31年4月30日までです。元号と年を確かめてください。"
    response = _post(towns, page + "?lang=ja", **{"/children/0/birth_date": "令和2年2月30日"})
    assert field_error(response.get_data(as_text=True), "f-children-0-birth_date") == (
        "正しい日付を入力してください（例：2026-04-01、令和8年4月1日）。"
    )
