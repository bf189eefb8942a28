"""The applications API takes answers as people type them (decision 0035): a reading typed half-width, a postal code
with 〒 or without its hyphen, a date in 和暦. It stores and answers the normalized value, and refuses a 和暦 date the
era never had with a problem that says when the era ran, creating nothing."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from madoguchi.applications.models import Application
from madoguchi.db import Database
from madoguchi.identity.models import AccountKind
from tests.api.conftest import HTTPS
from tests.factories import make_account, make_person, tenants

CHILD = {"name": "山田　花子", "name_kana": "ﾔﾏﾀﾞ ﾊﾅｺ", "birth_date": "令和6年8月3日", "sex": "female"}


def _count(db: Database, tenant: Any) -> int:
    with db.transaction(tenant.id) as session:
        return session.execute(select(func.count()).select_from(Application)).scalar_one()


def test_a_draft_stores_the_reading_full_width_and_the_date_in_iso(db: Database, seeded: None, sign_in) -> None:
    tenant = tenants(db)[0]
    with db.transaction(tenant.id) as session:
        resident = make_account(session, tenant, person=make_person(session, tenant))
    client = sign_in(resident)
    url = f"{HTTPS}/api/v1/t/{tenant.slug}/applications/"
    response = client.post(url, json={"procedure": "childcare-admission", "data": {"children": [CHILD]}})
    assert response.status_code == 201, response.json
    child = response.json["data"]["children"][0]
    assert child == {**CHILD, "name_kana": "ヤマダ ハナコ", "birth_date": "2024-08-03"}
    assert child["name"] == "山田　花子"  # a name is stored exactly as typed

    refused = client.put(
        f"{url}{response.json['id']}",
        json={"data": {"children": [{**CHILD, "birth_date": "平成31年5月1日"}]}},
        headers={"If-Match": f'"{response.json["version"]}"'},
    )
    assert refused.status_code == 422 and refused.mimetype == "application/problem+json"
    (message,) = refused.json["errors"]["/children/0/birth_date"]
    assert "平成31年5月1日" in message and "平成31年4月30日" in message
    assert _count(db, tenant) == 1


def test_a_counter_draft_takes_the_postal_code_in_any_common_form(db: Database, seeded: None, sign_in) -> None:
    tenant = tenants(db)[0]
    with db.transaction(tenant.id) as session:
        clerk = make_account(session, tenant, kind=AccountKind.STAFF, roles=["clerk"])
    client = sign_in(clerk)
    url = f"{HTTPS}/api/v1/t/{tenant.slug}/applications/"
    for typed in ("4982323", "〒498-2323", "４９８－２３２３", "498ー2323"):
        applicant = {"name": "葛\U000e0100西　一郎", "name_kana": "ｶｻｲ ｲﾁﾛｳ", "postal_code": typed}
        response = client.post(url, json={"procedure": "residency-certificate", "data": {"applicant": applicant}})
        assert response.status_code == 201, (typed, response.json)
        stored = response.json["data"]["applicant"]
        assert stored == {"name": "葛\U000e0100西　一郎", "name_kana": "カサイ イチロウ", "postal_code": "498-2323"}
    bad = client.post(
        url, json={"procedure": "residency-certificate", "data": {"applicant": {"postal_code": "498-232"}}}
    )
    assert bad.status_code == 422 and "/applicant/postal_code" in bad.json["errors"]
    assert _count(db, tenant) == 4
