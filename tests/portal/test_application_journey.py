"""The resident's application journey on the portal: the form page by page, review, submit, status."""

from __future__ import annotations

import re
import uuid
from typing import Any

from sqlalchemy import select

from madoguchi.applications import operations
from madoguchi.db import Database
from madoguchi.notify.models import Notice
from madoguchi.registry.models import Person
from madoguchi.tenancy.models import Tenant
from tests.factories import born_in_class, make_facility, make_person, next_april, staff
from tests.portal.conftest import HTTPS, Towns, application_id_of, load, start, submit, url


def _next(response: Any) -> str:
    assert response.status_code == 303, response.get_data(as_text=True)
    return HTTPS + response.headers["Location"]


def fill_residency_certificate(client: Any, tenant: Tenant) -> str:
    """Start and fill every page of a residency certificate request; returns the review page URL."""
    page = start(client, tenant, "residency-certificate")
    page = _next(submit(client, page, {"/applicant/phone": "０９０-1234-5678", "action": "continue"}))
    page = _next(submit(client, page, {"/requester/relationship": "self", "action": "continue"}))
    page = _next(
        submit(client, page, {"/scope": "self", "/purpose": "employment", "/copies": "２", "action": "continue"})
    )
    return _next(submit(client, page, {"/delivery": "mail", "action": "continue"}))


def test_a_resident_fills_in_reviews_and_submits_a_residency_certificate_request(towns: Towns, db: Database) -> None:
    a = towns.a
    first = start(a.client, a.tenant, "residency-certificate")
    html = a.client.get(first).get_data(as_text=True)
    # Prefilled from the register: shown with its source, not asked again.
    assert "住民記録より" in html
    assert "髙橋　一郎" in html
    assert 'name="/applicant/name"' not in html
    assert 'name="/applicant/phone"' in html

    review = fill_residency_certificate(a.client, a.tenant)
    html = a.client.get(review).get_data(as_text=True)
    assert "昭和60年4月2日" in html  # the birth date from the register, in 和暦
    assert "090-1234-5678" in html  # normalized from full-width digits
    assert "郵送（住民登録地へ）" in html

    confirmation = _next(submit(a.client, review, {}))
    html = a.client.get(confirmation).get_data(as_text=True)
    application = load(db, a.tenant, application_id_of(confirmation))
    assert application.state == "submitted"
    assert application.data["copies"] == 2
    assert application.data["applicant"]["name"] == "髙橋　一郎"
    assert application.reference in html
    assert "受付待ち" in html


def test_bad_input_is_shown_beside_the_field_and_in_the_summary_and_nothing_is_stored(
    towns: Towns, db: Database
) -> None:
    a = towns.a
    first = start(a.client, a.tenant, "residency-certificate")
    before = load(db, a.tenant, application_id_of(first))

    response = submit(a.client, first, {"/applicant/phone": "call me maybe", "action": "continue"})

    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert re.search(r'<div class="error-summary".*href="#f-applicant-phone"', html, re.S)
    assert 'id="f-applicant-phone-error"' in html
    assert 'aria-invalid="true"' in html
    assert 'value="call me maybe"' in html  # what was typed stays in the field
    after = load(db, a.tenant, before.id)
    assert after.lock_version == before.lock_version
    assert "phone" not in after.data.get("applicant", {})


def test_continue_asks_for_the_required_answers_of_the_page_and_save_for_later_does_not(
    towns: Towns, db: Database
) -> None:
    a = towns.a
    page = start(a.client, a.tenant, "residency-certificate")
    page = _next(submit(a.client, page, {"action": "continue"}))
    page = _next(submit(a.client, page, {"/requester/relationship": "self", "action": "continue"}))

    refused = submit(a.client, page, {"/copies": "eleven", "action": "continue"})
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    for field in ("f-scope", "f-purpose", "f-copies"):
        assert f'href="#{field}"' in html and f'id="{field}-error"' in html
    assert "半角数字で入力してください" in html

    saved = submit(a.client, page, {"/scope": "whole_household", "action": "save"})
    assert saved.status_code == 303
    assert saved.headers["Location"].endswith(f"/{a.tenant.slug}/applications/")
    assert load(db, a.tenant, application_id_of(page)).data["scope"] == "whole_household"
    listing = a.client.get(url(a.tenant, "/applications/")).get_data(as_text=True)
    assert "続きを入力する" in listing


def test_a_post_without_csrf_token_is_refused_and_changes_nothing(towns: Towns, db: Database) -> None:
    a = towns.a
    first = start(a.client, a.tenant, "residency-certificate")
    before = load(db, a.tenant, application_id_of(first))
    response = a.client.post(
        first, data={"/applicant/phone": "090-1111-2222", "version": "1"}, headers={"Referer": f"{HTTPS}/"}
    )
    assert response.status_code == 400
    assert load(db, a.tenant, before.id).lock_version == before.lock_version
    start_without_token = a.client.post(
        url(a.tenant, "/procedures/residency-certificate/start"), headers={"Referer": f"{HTTPS}/"}
    )
    assert start_without_token.status_code == 400


def test_submitting_creates_a_notice_that_shows_in_the_inbox_until_opened(towns: Towns, db: Database) -> None:
    a = towns.a
    confirmation = _next(submit(a.client, fill_residency_certificate(a.client, a.tenant), {}))
    application_id = application_id_of(confirmation)
    with db.transaction(a.tenant.id) as session:
        notices = list(session.execute(select(Notice)).scalars())
    assert [(n.kind, str(n.application_id), n.account_id) for n in notices] == [
        ("application.submitted", application_id, a.resident.id)
    ]

    inbox = a.client.get(url(a.tenant, "/notices/")).get_data(as_text=True)
    assert 'class="count">1<' in inbox
    assert "申請を受け付けました" in inbox
    opened = a.client.get(url(a.tenant, f"/notices/{notices[0].id}"))
    assert opened.status_code == 200
    with db.transaction(a.tenant.id) as session:
        assert session.execute(select(Notice.read_at)).scalar_one() is not None
    assert 'class="count"' not in a.client.get(url(a.tenant, "/notices/")).get_data(as_text=True)


def test_the_timeline_shows_japanese_era_dates_in_japanese_and_iso_dates_in_english(towns: Towns, db: Database) -> None:
    b = towns.b  # sakuragaoka-city offers English
    confirmation = _next(submit(b.client, fill_residency_certificate(b.client, b.tenant), {}))
    page = url(b.tenant, f"/applications/{application_id_of(confirmation)}")
    application = load(db, b.tenant, application_id_of(confirmation))
    submitted_on = application.submitted_at
    assert submitted_on is not None

    japanese = b.client.get(page + "?lang=ja").get_data(as_text=True)
    english = b.client.get(page + "?lang=en").get_data(as_text=True)

    assert re.search(r'<ol class="timeline">.*令和\d+年\d+月\d+日 \d\d:\d\d', japanese, re.S)
    assert re.search(r'<ol class="timeline">.*\d{4}-\d\d-\d\d \d\d:\d\d', english, re.S)
    assert "令和" not in english.split('<ol class="timeline">')[1]


def test_a_resident_withdraws_a_submitted_application(towns: Towns, db: Database) -> None:
    a = towns.a
    confirmation = _next(submit(a.client, fill_residency_certificate(a.client, a.tenant), {}))
    page = url(a.tenant, f"/applications/{application_id_of(confirmation)}")
    done = submit(a.client, page, {}, action=page + "/withdraw")
    assert done.status_code == 303
    assert load(db, a.tenant, application_id_of(confirmation)).state == "withdrawn"
    assert "取下げ" in a.client.get(page).get_data(as_text=True)


def test_a_resident_answers_a_request_for_more_information(towns: Towns, db: Database) -> None:
    a = towns.a
    confirmation = _next(submit(a.client, fill_residency_certificate(a.client, a.tenant), {}))
    application_id = application_id_of(confirmation)
    with db.transaction(a.tenant.id) as session:
        clerk = staff(session, a.tenant, "clerk")
        operations.transition(session, a.tenant, clerk, uuid.UUID(application_id), "start_review")
        operations.transition(
            session,
            a.tenant,
            clerk,
            uuid.UUID(application_id),
            "request_more_info",
            comment="使用目的を具体的にお書きください。",
        )
    page = url(a.tenant, f"/applications/{application_id}")
    html = a.client.get(page).get_data(as_text=True)
    assert "使用目的を具体的にお書きください。" in html
    assert "補正に回答する" in html

    certificate_page = url(a.tenant, f"/applications/{application_id}/form/3")
    changed = submit(
        a.client,
        certificate_page,
        {
            "/scope": "self",
            "/purpose": "other",
            "/purpose_detail": "○○社への提出",
            "/copies": "1",
            "action": "continue",
        },
    )
    assert changed.status_code == 303
    review = url(a.tenant, f"/applications/{application_id}/review")
    assert "使用目的を具体的にお書きください。" in a.client.get(review).get_data(as_text=True)
    answered = submit(a.client, review, {"comment": "提出先を記入しました。"})
    assert answered.status_code == 303
    application = load(db, a.tenant, application_id)
    assert application.state == "in_review"
    assert application.data["purpose_detail"] == "○○社への提出"
    assert "提出先を記入しました。" in a.client.get(page).get_data(as_text=True)


def test_an_unverified_resident_sees_why_the_certificate_cannot_be_submitted(
    app: Any, towns: Towns, db: Database
) -> None:
    from tests.identity.conftest import add_account, signed_in

    a = towns.a
    newcomer = signed_in(app, a.tenant, add_account(db, a.tenant))
    page = start(newcomer, a.tenant, "residency-certificate")
    html = newcomer.get(page).get_data(as_text=True)
    assert 'name="/applicant/name"' in html  # nothing to prefill from: asked
    page = _next(
        submit(
            newcomer,
            page,
            {
                "/applicant/name": "新井　花子",
                "/applicant/name_kana": "アライ　ハナコ",
                "/applicant/birth_date": "1990-01-02",
                "/applicant/postal_code": "１００-０００１",
                "/applicant/address": "緑川村本町1番地",
                "action": "continue",
            },
        )
    )
    page = _next(submit(newcomer, page, {"/requester/relationship": "self", "action": "continue"}))
    page = _next(submit(newcomer, page, {"/scope": "self", "/purpose": "school", "/copies": "1", "action": "continue"}))
    review = _next(submit(newcomer, page, {"/delivery": "counter", "action": "continue"}))
    refused = submit(newcomer, review, {})
    assert refused.status_code == 403
    html = refused.get_data(as_text=True)
    assert "この手続きには本人確認が必要です" in html
    assert f"/{a.tenant.slug}/account/identity" in html
    assert load(db, a.tenant, application_id_of(review)).state == "draft"


def test_childcare_can_be_filled_in_end_to_end_and_the_missing_document_is_explained(
    towns: Towns, db: Database
) -> None:
    a = towns.a
    intake = next_april()
    with db.transaction(a.tenant.id) as session:
        make_facility(session, a.tenant, "NS-001", "みどり保育園")
        make_facility(session, a.tenant, "NS-002", "かわべ保育園")
        # A younger sibling of 陽葵 (who is of school age by the next April): the child applied for.
        head = session.get(Person, a.person.id)
        assert head is not None
        make_person(
            session,
            a.tenant,
            head.household,
            given_name="蓮",
            given_name_kana="レン",
            birth_date=born_in_class(1, intake),
            sex="male",
            relation_to_head="子",
        )
    page = start(a.client, a.tenant, "childcare-admission")
    page = _next(submit(a.client, page, {"action": "continue"}))  # applicant: all from the register
    household = a.client.get(page).get_data(as_text=True)
    child_code = re.search(r'<option value="(\d{11})"[^>]*>髙橋　蓮', household)
    assert child_code, household
    # Picking the child from the household is enough: name, reading, date of birth and sex come from the register.
    page = _next(
        submit(
            a.client,
            page,
            {
                "/desired_start_month": intake,
                "/children/0/resident_code": child_code.group(1),
                "/children/0/desired_category": "3",
                "/children/0/care_time": "standard",
                "/children/0/desired_facilities": ["NS-002", "", "NS-001"],
                "action": "continue",
            },
        )
    )
    refused = submit(
        a.client,
        page,
        {
            "/guardians/0/name": "髙橋　一郎",
            "/guardians/0/relationship": "father",
            "/guardians/0/need_reason": "employed",
            "action": "continue",
        },
    )
    assert refused.status_code == 422
    assert 'href="#f-guardians-0-monthly_hours"' in refused.get_data(as_text=True)
    page = _next(
        submit(
            a.client,
            page,
            {
                "/guardians/0/name": "髙橋　一郎",
                "/guardians/0/relationship": "father",
                "/guardians/0/need_reason": "employed",
                "/guardians/0/monthly_hours": "160",
                "/guardians/0/workplace": "緑川商店",
                "action": "continue",
            },
        )
    )
    page = _next(submit(a.client, page, {"/household/single_parent": "true", "action": "continue"}))
    page = _next(submit(a.client, page, {"/tax_lookup_consent": "true", "action": "continue"}))
    review = page
    while "/review" not in review:  # the municipality's extra questions, if any
        review = _next(submit(a.client, review, {"action": "continue"}))
    html = a.client.get(review).get_data(as_text=True)
    assert "1. かわべ保育園" in html and "2. みどり保育園" in html  # names in their rank, not codes
    refused = submit(a.client, review, {})
    assert refused.status_code == 422
    assert "申請する前に、次の書類を添付してください" in refused.get_data(as_text=True)
    application = load(db, a.tenant, application_id_of(review))
    assert application.state == "draft"
    assert application.data["guardians"] == [
        {
            "name": "髙橋　一郎",
            "relationship": "father",
            "need_reason": "employed",
            "monthly_hours": 160,
            "workplace": "緑川商店",
        }
    ]
    assert application.data["household"]["single_parent"] is True
    (child,) = application.data["children"]
    assert child["desired_facilities"] == ["NS-002", "NS-001"]
    assert (child["name"], child["name_kana"], child["sex"]) == ("髙橋　蓮", "タカハシ　レン", "male")
    assert child["birth_date"] == born_in_class(1, intake).isoformat()
