"""The tax certificate form on the portal (decision 0032): only the fiscal years the register has for the resident,
labelled 令和7年度（令和6年中所得）; the 1月1日 rule explained to someone who moved here; a year without data or a
非課税証明書 of a taxed year refused beside the field at once, nothing stored."""

from __future__ import annotations

import re
from datetime import timedelta

from madoguchi import jp
from madoguchi.applications import operations
from madoguchi.db import Database
from madoguchi.identity.actors import Actor
from tests.documents.certificate_fixtures import TAX
from tests.factories import make_tax, staff
from tests.portal.conftest import Town, Towns, load, start, submit, url


def _started(town: Town, db: Database, years: tuple[int, ...]) -> str:
    """Put assessments of ``years`` in the register and start a tax certificate request; returns its id."""
    with db.transaction(town.tenant.id) as session:
        for year in years:
            make_tax(session, session.merge(town.tenant), session.merge(town.person), year)
    match = re.search(r"/applications/([0-9a-f-]{36})/", start(town.client, town.tenant, "tax-certificate"))
    assert match
    return match.group(1)


def _certificate_page(town: Town, db: Database, years: tuple[int, ...] = (2024, 2025)) -> tuple[str, str]:
    """The request's 証明書の内容 page (its URL and the application's id)."""
    application_id = _started(town, db, years)
    return url(town.tenant, f"/applications/{application_id}/form/3"), application_id


def _answers(fiscal_year: int, kind: str = "taxation") -> dict[str, str]:
    return {"/fiscal_year": str(fiscal_year), "/kind": kind, "/purpose": "loan", "/copies": "1", "action": "continue"}


def _options(html: str) -> dict[str, str]:
    select = re.search(r'<select[^>]*name="/fiscal_year".*?</select>', html, re.S)
    assert select, "no fiscal year select on the page"
    return dict(re.findall(r'<option value="(\d+)"[^>]*>\s*([^<]+?)\s*</option>', select.group(0)))


def test_only_the_years_the_register_has_are_offered_labelled_with_their_income_year(
    towns: Towns, db: Database
) -> None:
    html = towns.a.client.get(_certificate_page(towns.a, db)[0]).get_data(as_text=True)
    assert _options(html) == {"2025": "令和7年度（令和6年中所得）", "2024": "令和6年度（令和5年中所得）"}
    assert "平成31年度" not in html


def test_a_year_without_data_is_refused_beside_the_field_and_nothing_is_stored(towns: Towns, db: Database) -> None:
    page, application_id = _certificate_page(towns.a, db)
    response = submit(towns.a.client, page, _answers(2021))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "令和3年度のあなたの課税情報はありません。一覧から年度を選んでください。" in html
    assert 'id="f-fiscal_year-error"' in html  # beside the field
    assert "fiscal_year" not in load(db, towns.a.tenant, application_id).data


def test_a_non_taxable_certificate_of_a_taxed_year_is_refused_beside_the_kind(towns: Towns, db: Database) -> None:
    page, _id = _certificate_page(towns.a, db)
    response = submit(towns.a.client, page, _answers(2025, "non_taxable"))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "令和7年度は課税されているため、非課税証明書は発行できません。" in html
    assert 'id="f-kind-error"' in html


def test_someone_who_moved_here_is_told_of_the_1_january_rule(towns: Towns, db: Database) -> None:
    moved_in = jp.today() - timedelta(days=20)
    if (moved_in.month, moved_in.day) == (1, 1):
        moved_in -= timedelta(days=1)
    elsewhere = moved_in.year  # they lived elsewhere on 1 January of this year: its tax was assessed there
    with db.transaction(towns.a.tenant.id) as session:
        person = session.merge(towns.a.person)
        person.became_resident_on = person.address_set_on = moved_in
    page, _id = _certificate_page(towns.a, db, years=())
    html = towns.a.client.get(page).get_data(as_text=True)
    assert "この市区町村には、あなたの住民税の課税情報がありません。" in html
    assert f"あなたは{jp.to_wareki(moved_in)}にこの市区町村の住民になりました。" in html
    assert f"{jp.fiscal_year_label_ja(elsewhere)}以前の証明書は、そのとき住んでいた市区町村に請求してください。" in html
    response = submit(towns.a.client, page, _answers(elsewhere))
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert f"{jp.to_wareki(moved_in.replace(month=1, day=1))}には、あなたはほかの市区町村に住んでいました" in text
    assert "この証明書はその市区町村に請求してください。" in text


def test_another_municipality_s_assessments_are_not_offered(towns: Towns, db: Database) -> None:
    _started(towns.a, db, (2023, 2024, 2025))  # a's register only
    html = towns.b.client.get(_certificate_page(towns.b, db, years=(2025,))[0]).get_data(as_text=True)
    assert _options(html) == {"2025": "令和7年度（令和6年中所得）"}


def test_a_resident_withdraws_an_approved_request_from_its_page(towns: Towns, db: Database) -> None:
    town = towns.a
    with db.transaction(town.tenant.id) as session:
        tenant = session.merge(town.tenant)
        make_tax(session, tenant, session.merge(town.person), 2025)
        resident = Actor.of(session.merge(town.resident))
        application = operations.create_draft(session, tenant, resident, "tax-certificate", TAX)
        operations.submit(session, tenant, resident, application.id)
        clerk = staff(session, tenant, "clerk")
        for step in ("start_review", "approve"):
            operations.transition(session, tenant, clerk, application.id, step)
        application_id = application.id
    page = url(town.tenant, f"/applications/{application_id}")
    html = town.client.get(page).get_data(as_text=True)
    assert "交付決定" in html and f"/applications/{application_id}/withdraw" in html
    assert submit(town.client, page, {}, action=page + "/withdraw").status_code == 303
    assert load(db, town.tenant, application_id).state == "withdrawn"
