"""Counter filing (書かない窓口): find the person, start a prefilled application, complete it, and let the
resident confirm it on the confirmation screen."""

from __future__ import annotations

import re
import uuid

from sqlalchemy import func, select

from madoguchi.applications.models import Application
from tests.console.conftest import HTTPS, Office, post_form, version_on


def _count(office: Office) -> int:
    with office.db.transaction(office.tenant.id) as session:
        return session.execute(select(func.count()).select_from(Application)).scalar_one()


def _start(office: Office, procedure: str = "residency-certificate") -> uuid.UUID:
    person_url = office.url(f"/counter/people/{office.parent.id}")
    response = post_form(office.clerk, f"{person_url}/applications", {"procedure": procedure}, form_url=person_url)
    assert response.status_code == 303, response.get_data(as_text=True)
    match = re.search(r"/counter/([0-9a-f-]{36})/form$", response.headers["Location"])
    assert match
    return uuid.UUID(match.group(1))


ANSWERS = {
    "/requester/relationship": "self",
    "/scope": "self",
    "/purpose": "employment",
    "/copies": "2",
    "/delivery": "counter",
}


def test_search_finds_people_by_kana_name_birth_date_and_code_within_the_municipality(office: Office) -> None:
    def found(query: str) -> str:
        response = office.clerk.get(office.url(f"/counter/?search=1&{query}"))
        assert response.status_code == 200
        return response.get_data(as_text=True)

    assert f"/counter/people/{office.parent.id}" in found("name_kana=みどりかわ")  # hiragana finds katakana
    assert f"/counter/people/{office.parent.id}" in found("name=髙橋")
    assert f"/counter/people/{office.child.id}" in found("birth_date=2024-08-03")
    assert f"/counter/people/{office.parent.id}" not in found("birth_date=2024-08-03")
    assert f"/counter/people/{office.parent.id}" in found(f"resident_code={office.parent.resident_code}")
    assert "該当する方が見つかりません" in found("name_kana=ソンザイシナイ")
    # Nobody of another municipality is found from here.
    other = office.foreign_clerk.get(office.url("/counter/?search=1&name=髙橋", slug=office.other.slug))
    assert other.status_code == 200 and str(office.parent.id) not in other.get_data(as_text=True)


def test_search_without_criteria_or_with_a_bad_code_shows_the_error_beside_the_field(office: Office) -> None:
    response = office.clerk.get(office.url("/counter/?search=1"))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="name_kana-error"' in html and 'href="#name_kana"' in html
    response = office.clerk.get(office.url("/counter/?search=1&resident_code=123"))
    assert response.status_code == 422 and 'id="resident_code-error"' in response.get_data(as_text=True)


def test_person_page_shows_the_household_and_the_procedures(office: Office) -> None:
    html = office.clerk.get(office.url(f"/counter/people/{office.parent.id}")).get_data(as_text=True)
    assert "髙橋　一郎" in html and "髙橋　陽葵" in html and "子" in html
    assert 'value="residency-certificate"' in html and 'value="tax-certificate"' in html
    assert 'value="childcare-admission"' in html  # its children and guardians are asked block by block


def test_counter_filing_creates_a_counter_application_prefilled_from_the_register(office: Office) -> None:
    application_id = _start(office)
    draft = office.application(application_id)
    assert (draft.channel, draft.state, draft.applicant_person_id) == ("counter", "draft", office.parent.id)
    assert draft.applicant_account_id is None
    assert draft.data["applicant"]["name"] == "髙橋　一郎"
    assert draft.prefill_sources["/applicant/address"]["source"] == "resident_register"

    form_url = office.url(f"/counter/{application_id}/form")
    form = office.clerk.get(form_url).get_data(as_text=True)
    assert "住民記録から入力" in form and "髙橋　一郎" in form
    assert 'name="/applicant/name"' not in form  # prefilled: not asked again
    assert 'name="/purpose"' in form and 'name="/applicant/phone"' in form

    response = post_form(office.clerk, form_url, {**ANSWERS, "version": version_on(form)}, form_url=form_url)
    assert response.status_code == 303 and response.headers["Location"].endswith("/confirm")
    confirm_url = office.url(f"/counter/{application_id}/confirm")
    confirm = office.clerk.get(confirm_url).get_data(as_text=True)
    assert "申請内容をご確認ください" in confirm and "窓口で受け取る" in confirm and "髙橋　一郎" in confirm
    assert 'class="confirm-screen"' in confirm

    response = post_form(
        office.clerk, confirm_url, {"checked": "true", "version": version_on(confirm)}, form_url=confirm_url
    )
    assert response.status_code == 303 and response.headers["Location"].endswith("/done")
    submitted = office.application(application_id)
    assert submitted.state == "submitted" and submitted.channel == "counter" and submitted.data["copies"] == 2
    done = office.clerk.get(office.url(f"/counter/{application_id}/done")).get_data(as_text=True)
    assert submitted.reference in done
    # It is in the queue now, and the confirmation screen sends a second click to the done page.
    assert submitted.reference in office.clerk.get(office.url("/")).get_data(as_text=True)
    assert office.clerk.get(confirm_url).status_code == 303


def test_the_confirmation_checkbox_is_required(office: Office) -> None:
    application_id = _start(office)
    form_url = office.url(f"/counter/{application_id}/form")
    post_form(office.clerk, form_url, ANSWERS, form_url=form_url)
    confirm_url = office.url(f"/counter/{application_id}/confirm")
    response = post_form(office.clerk, confirm_url, {}, form_url=confirm_url)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="checked-error"' in html and 'href="#checked"' in html and "チェックを入れてください" in html
    assert office.application(application_id).state == "draft"


def test_missing_or_bad_answers_show_errors_beside_the_fields_and_store_nothing(office: Office) -> None:
    application_id = _start(office)
    form_url = office.url(f"/counter/{application_id}/form")
    before = office.application(application_id)
    response = post_form(
        office.clerk,
        form_url,
        {**ANSWERS, "/purpose": "", "/copies": "many", "/applicant/phone": "abc"},
        form_url=form_url,
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    for field in ("field-purpose", "field-copies", "field-applicant-phone"):
        assert f'id="{field}-error"' in html and f'href="#{field}"' in html
    after = office.application(application_id)
    assert after.data == before.data and after.lock_version == before.lock_version


def test_an_unknown_procedure_is_an_error_and_creates_nothing(office: Office) -> None:
    person_url = office.url(f"/counter/people/{office.parent.id}")
    before = _count(office)
    response = post_form(office.clerk, f"{person_url}/applications", {"procedure": "nonsense"}, form_url=person_url)
    assert response.status_code == 422 and 'id="procedure-error"' in response.get_data(as_text=True)
    assert _count(office) == before


def test_counter_forms_without_csrf_are_refused(office: Office) -> None:
    headers = {"Referer": f"{HTTPS}/", "Accept": "text/html"}
    before = _count(office)
    url = office.url(f"/counter/people/{office.parent.id}/applications")
    assert office.clerk.post(url, data={"procedure": "residency-certificate"}, headers=headers).status_code == 400
    assert _count(office) == before
    application_id = _start(office)
    form_url = office.url(f"/counter/{application_id}/form")
    post_form(office.clerk, form_url, ANSWERS, form_url=form_url)
    confirm = office.url(f"/counter/{application_id}/confirm")
    assert office.clerk.post(confirm, data={"checked": "true"}, headers=headers).status_code == 400
    assert office.application(application_id).state == "draft"


def test_a_person_of_another_municipality_is_not_found(office: Office) -> None:
    url = office.url(f"/counter/people/{office.parent.id}", slug=office.other.slug)
    assert office.foreign_clerk.get(url).status_code == 404
    token_page = office.url("/counter/", slug=office.other.slug)
    response = post_form(
        office.foreign_clerk, f"{url}/applications", {"procedure": "residency-certificate"}, form_url=token_page
    )
    assert response.status_code == 404
