"""The portal for someone filing for another person under their own account (decision 0036): the relation chosen when
the request starts, the person typed as the applicant knows them (nothing of their own record prefilled as the
person's), and an agent told at once that a copy with the Individual Number goes by post to the person."""

from __future__ import annotations

from sqlalchemy import func, select

from madoguchi.applications.models import Application
from madoguchi.db import Database
from tests.portal.conftest import HTTPS, Towns, application_id_of, load, submit, url


def _start_as(towns: Towns, relation: str):
    a = towns.a
    procedure = url(a.tenant, "/procedures/residency-certificate")
    return submit(a.client, procedure, {"relation": relation}, action=f"{procedure}/start")


def test_the_procedure_page_asks_whom_the_request_is_for(towns: Towns) -> None:
    html = towns.a.client.get(url(towns.a.tenant, "/procedures/residency-certificate")).get_data(as_text=True)
    assert "どなたの請求ですか" in html
    for relation in ("self", "household_member", "agent", "legal_representative", "third_party"):
        assert f'name="relation" type="radio" value="{relation}"' in html
    # Childcare is filed by the guardian only: nothing to choose.
    childcare = towns.a.client.get(url(towns.a.tenant, "/procedures/childcare-admission")).get_data(as_text=True)
    assert 'name="relation"' not in childcare


def test_an_agent_types_the_person_and_nothing_of_their_own_record_is_prefilled(towns: Towns, db: Database) -> None:
    started = _start_as(towns, "agent")
    assert started.status_code == 303, started.get_data(as_text=True)
    first = HTTPS + started.headers["Location"]
    html = towns.a.client.get(first).get_data(as_text=True)
    assert 'name="/applicant/name"' in html and 'name="/applicant/birth_date"' in html
    application = load(db, towns.a.tenant, application_id_of(first))
    assert application.relation == "agent" and application.prefill_sources == {}
    assert application.subject_person_id is None and application.applicant_person_id == towns.a.person.id


def test_an_unknown_relation_is_refused_beside_the_choice_and_starts_nothing(towns: Towns, db: Database) -> None:
    with db.transaction(towns.a.tenant.id) as session:
        before = session.execute(select(func.count()).select_from(Application)).scalar_one()
    refused = _start_as(towns, "landlord")
    assert refused.status_code == 422
    assert 'id="relation-error"' in refused.get_data(as_text=True)
    with db.transaction(towns.a.tenant.id) as session:
        assert session.execute(select(func.count()).select_from(Application)).scalar_one() == before


def test_an_agent_asking_for_the_individual_number_is_told_at_once_it_goes_by_post(towns: Towns, db: Database) -> None:
    first = HTTPS + _start_as(towns, "agent").headers["Location"]
    application_id = application_id_of(first)
    pages = [
        {
            "/applicant/name": "髙橋　一郎",
            "/applicant/birth_date": "1985-04-02",
            "/applicant/address": "東京都千代田区一丁目1番1号",
        },
        {
            "/requester/relationship": "agent",
            "/requester/agent/name": "渡邊󠄂　花子",
            "/requester/agent/address": "東京都千代田区二丁目2番2号",
            "/requester/agent/phone": "03-1234-5678",
        },
        {
            "/scope": "self",
            "/include/individual_number": "true",
            "/purpose": "employment",
            "/purpose_detail": "勤務先への個人番号の提出",
            "/copies": "1",
        },
    ]
    page = first
    for answers in pages:
        response = submit(towns.a.client, page, {**answers, "action": "continue"})
        assert response.status_code == 303, response.get_data(as_text=True)
        page = HTTPS + response.headers["Location"]
    # The page right after the ticked box says so (a flash), and the review page keeps saying it.
    told = towns.a.client.get(page).get_data(as_text=True)
    assert "本人の住民登録地へ郵送" in told
    assert load(db, towns.a.tenant, application_id).forced_delivery == "mail"
    review = towns.a.client.get(url(towns.a.tenant, f"/applications/{application_id}/review"))
    assert 'id="forced-delivery"' in review.get_data(as_text=True)
