"""The municipality's own closed days: set by its tenant admin (pages and API) or its tenant file, refused clearly
when wrong (nothing stored), and out of reach of another municipality's admin."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from madoguchi import jp
from madoguchi.catalog.definitions.tenants import inspect_tenant
from madoguchi.db import Database
from madoguchi.identity.models import StaffRole
from madoguchi.platform.provisioning import sync_tenant
from madoguchi.tenancy import closed_days
from madoguchi.tenancy.models import Tenant
from tests.tenant_admin.conftest import HTTPS, Person, Towns, admin_url, post, signed_in

#: Today, for every test here: a Monday in Japan, so "a past day" does not depend on when the tests run.
TODAY = datetime(2027, 4, 5, 10, 0, tzinfo=jp.JAPAN)
#: 2027-05-06 (木), the day after Golden Week: a working day to close.
DAY = "2027-05-06"


@pytest.fixture(autouse=True)
def _fixed_today(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jp, "now", lambda: TODAY)


def _days(db: Database, tenant: Tenant) -> list[tuple[str, str, str]]:
    with db.transaction(tenant.id) as session:
        return [(d.day.isoformat(), d.reason, d.source) for d in closed_days.listed(session, tenant.id)]


def _api(tenant: Tenant, path: str = "") -> str:
    return f"{HTTPS}/api/v1/t/{tenant.slug}/closed-days{path}"


def _api_post(person: Person, tenant: Tenant, body: dict[str, Any]) -> Any:
    return person.http.post(_api(tenant), json=body, headers={"Origin": HTTPS})


def test_the_tenant_admin_adds_a_closed_day_and_sees_it_listed_with_its_weekday(
    admin_a: Person, db: Database, towns: Towns
) -> None:
    page = admin_url(towns.a, "/calendar")
    response = post(admin_a, page, {"day": DAY, "reason": "庁舎移転"})
    assert response.status_code == 303
    assert _days(db, towns.a) == [(DAY, "庁舎移転", "admin")]
    html = admin_a.http.get(page).get_data(as_text=True)
    assert "5月6日（木）" in html and "庁舎移転" in html
    assert _days(db, towns.b) == []  # the other municipality's calendar is its own


@pytest.mark.parametrize(
    ("day", "reason", "field", "message"),
    [
        ("", "", "day", "日付を入力してください。"),
        ("2027-13-01", "", "day", "年-月-日で入力してください"),
        ("2027-02-30", "", "day", "年-月-日で入力してください"),
        ("来週の月曜", "", "day", "年-月-日で入力してください"),
        ("2027-04-04", "", "day", "今日以降の日付を選んでください。"),
        ("2027-05-08", "", "day", "もともと閉庁日です（土曜日）"),
        ("2027-05-05", "", "day", "もともと閉庁日です（こどもの日）"),
        ("2027-12-29", "", "day", "もともと閉庁日です（年末年始）"),
        (DAY, "あ" * 101, "reason", "理由は100文字以内で入力してください。"),
    ],
)
def test_a_bad_closed_day_is_refused_beside_its_field_and_nothing_is_stored(
    admin_a: Person, db: Database, towns: Towns, day: str, reason: str, field: str, message: str
) -> None:
    page = admin_url(towns.a, "/calendar")
    response = post(admin_a, page, {"day": day, "reason": reason})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert message in html
    assert f'id="{field}-error"' in html or f'href="#{field}"' in html
    assert _days(db, towns.a) == []


def test_a_duplicate_is_refused_and_the_first_one_stays(admin_a: Person, db: Database, towns: Towns) -> None:
    page = admin_url(towns.a, "/calendar")
    assert post(admin_a, page, {"day": DAY, "reason": "庁舎移転"}).status_code == 303
    again = post(admin_a, page, {"day": "２０２７-０５-０６", "reason": "別の理由"})  # full-width, as typed
    assert again.status_code == 422
    assert "2027-05-06" in again.get_data(as_text=True) and "すでに閉庁日です" in again.get_data(as_text=True)
    assert _days(db, towns.a) == [(DAY, "庁舎移転", "admin")]


def test_the_tenant_admin_removes_a_closed_day(admin_a: Person, db: Database, towns: Towns) -> None:
    page = admin_url(towns.a, "/calendar")
    post(admin_a, page, {"day": DAY})
    assert post(admin_a, admin_url(towns.a, f"/calendar/{DAY}/delete"), {}, form_url=page).status_code == 303
    assert _days(db, towns.a) == []
    assert post(admin_a, admin_url(towns.a, f"/calendar/{DAY}/delete"), {}, form_url=page).status_code == 404


def test_another_municipalitys_admin_cannot_see_add_or_remove_closed_days(
    app: Any, db: Database, admin_a: Person, admin_b: Person, towns: Towns
) -> None:
    post(admin_a, admin_url(towns.a, "/calendar"), {"day": DAY, "reason": "庁舎移転"})
    # B's admin on A's pages: sent to A's sign-in, as every tenant admin page does.
    assert admin_b.http.get(admin_url(towns.a, "/calendar")).status_code == 303
    # B's admin on A's API: 404 for every operation, and A's day unchanged.
    assert admin_b.http.get(_api(towns.a)).status_code == 404
    assert _api_post(admin_b, towns.a, {"day": "2027-05-07"}).status_code == 404
    assert admin_b.http.delete(_api(towns.a, f"/{DAY}"), headers={"Origin": HTTPS}).status_code == 404
    # ... and A's day under B's own URL is not B's: 404 again.
    assert admin_b.http.delete(_api(towns.b, f"/{DAY}"), headers={"Origin": HTTPS}).status_code == 404
    assert _days(db, towns.a) == [(DAY, "庁舎移転", "admin")]
    # A clerk of A is not its tenant admin: 403.
    clerk = signed_in(app, db, towns.a, StaffRole.CLERK)
    assert clerk.http.get(_api(towns.a)).status_code == 403
    assert _api_post(clerk, towns.a, {"day": "2027-05-07"}).status_code == 403
    assert _days(db, towns.a) == [(DAY, "庁舎移転", "admin")]


def test_the_api_adds_lists_and_removes_and_refuses_bad_input_as_problem_json(
    admin_a: Person, db: Database, towns: Towns
) -> None:
    created = _api_post(admin_a, towns.a, {"day": DAY, "reason": "庁舎移転"})
    assert created.status_code == 201, created.get_data(as_text=True)
    assert created.json == {"day": DAY, "reason": "庁舎移転", "source": "admin"}
    assert admin_a.http.get(_api(towns.a)).json == [created.json]
    for body, rule in (
        ({"day": "2027-5-6"}, "not_a_date"),
        ({"day": "tomorrow"}, "not_a_date"),
        ({"day": DAY}, "duplicate"),
        ({"day": "2027-05-03"}, "closed_anyway"),
        ({"day": "2026-05-07"}, "past"),
    ):
        refused = _api_post(admin_a, towns.a, body)
        assert refused.status_code == 422, body
        assert refused.headers["Content-Type"].startswith("application/problem+json")
        assert refused.json["rule"] == rule and "day" in refused.json["errors"], refused.json
    assert _api_post(admin_a, towns.a, {}).json["errors"] == {"day": ["Missing data for required field."]}
    assert _days(db, towns.a) == [(DAY, "庁舎移転", "admin")]
    assert admin_a.http.delete(_api(towns.a, "/2027-02-30"), headers={"Origin": HTTPS}).status_code == 404
    assert admin_a.http.delete(_api(towns.a, f"/{DAY}"), headers={"Origin": HTTPS}).status_code == 204
    assert _days(db, towns.a) == []


def _tenant_file(tmp_path: Path, closed: list[dict[str, Any]]) -> Path:
    source = yaml.safe_load(Path("tenants/midorikawa-village.yaml").read_text(encoding="utf-8"))
    path = tmp_path / "midorikawa-village.yaml"
    source.pop("issuer", None)  # its seal image stays beside the original file: these tests are about closed days
    path.write_text(yaml.safe_dump({**source, "closed_days": closed}, allow_unicode=True), encoding="utf-8")
    return path


def test_the_tenant_file_checks_its_closed_days_line_by_line(tmp_path: Path) -> None:
    path = _tenant_file(
        tmp_path,
        [
            {"day": date(2027, 5, 6), "reason": "庁舎移転"},  # unquoted in YAML: read as a date, accepted
            {"day": "2027-05-06"},
            {"day": "2027-02-30"},
            {"day": "2027-05-08"},
            {"day": "6 May"},
        ],
    )
    _tenant, problems = inspect_tenant(path, None)
    assert [(p.field, p.message) for p in problems] == [
        ("closed_days[4].day", "must be a date written YYYY-MM-DD, e.g. 2027-05-06"),
        ("closed_days[1].day", "2027-05-06 is listed twice (first at [0])"),
        ("closed_days[2].day", "'2027-02-30' is not a date"),
        ("closed_days[3].day", "2027-05-08 is closed anyway (土曜日)"),
    ]


def test_a_sync_loads_the_files_closed_days_and_leaves_the_admins_alone(
    admin_a: Person, db: Database, towns: Towns, tmp_path: Path
) -> None:
    post(admin_a, admin_url(towns.a, "/calendar"), {"day": "2027-05-07", "reason": "職員研修"})
    spec, problems = inspect_tenant(_tenant_file(tmp_path, [{"day": DAY, "reason": "庁舎移転"}]), None)
    assert problems == [] and spec is not None
    with db.transaction() as session:
        assert sync_tenant(session, spec) == "updated"
    assert _days(db, towns.a) == [(DAY, "庁舎移転", "file"), ("2027-05-07", "職員研修", "admin")]
    # A day from the file is removed in the file, not on the page.
    page = admin_url(towns.a, "/calendar")
    refused = post(admin_a, admin_url(towns.a, f"/calendar/{DAY}/delete"), {}, form_url=page)
    assert refused.status_code == 422 and "設定ファイル" in refused.get_data(as_text=True)
    spec["closed_days"] = []
    with db.transaction() as session:
        assert sync_tenant(session, spec) == "updated"
    assert _days(db, towns.a) == [("2027-05-07", "職員研修", "admin")]
