"""The console for an application filed for someone else (decision 0036): the applicant and the person concerned
shown apart, the register search to find the person and link them, the review of the evidence, approval refused
until both are done; another municipality's clerk finds none of it."""

from __future__ import annotations

import uuid

from madoguchi.applications import operations
from madoguchi.identity.actors import Actor
from madoguchi.identity.models import Account, IdentityAssurance
from tests.console.conftest import Office, post_form, version_on
from tests.factories import make_account, make_attachment, make_person
from tests.world import residency_by_agent


def _agent_application(office: Office, *, number: bool = False) -> tuple[uuid.UUID, Account]:
    """Filed and submitted by 渡邊󠄂 花子 under her own account, as agent of the office's 髙橋 一郎 (the parent)."""
    with office.db.transaction(office.tenant.id) as session:
        tenant = session.merge(office.tenant)
        agent_person = make_person(session, tenant, family_name="渡邊󠄂", given_name="花子", family_name_kana="ワタナベ")
        account = make_account(session, tenant, person=agent_person)
        if number:  # a copy with the 個人番号 needs the card (decision 0048)
            account.identity_assurance = IdentityAssurance.CARD.value
        actor = Actor.of(account)
        data = residency_by_agent("渡邊󠄂 花子")
        if number:
            data = {**data, "include": {"individual_number": True}, "purpose_detail": "年末調整"}
        application = operations.create_draft(session, tenant, actor, "residency-certificate", data)
        make_attachment(session, tenant, application.id, "power_of_attorney")
        operations.submit(session, tenant, actor, application.id)
        return application.id, account


def _post(office: Office, path: str, data: dict[str, str], form: str | None = None):
    url = office.url(path)
    return post_form(office.clerk, url, data, form_url=office.url(form or path.rsplit("/", 1)[0]))


def test_the_page_shows_who_filed_and_that_the_person_is_not_linked_yet(office: Office) -> None:
    application_id, _ = _agent_application(office, number=True)
    html = office.clerk.get(office.url(f"/applications/{application_id}")).get_data(as_text=True)
    assert 'id="person-concerned"' in html and "代理人（委任状あり）" in html
    applicant = html.split('id="applicant-filer">', 1)[1].split("</dd>", 1)[0]
    assert "渡邊󠄂" in applicant  # the agent's own name, exact code points
    subject = html.split('id="subject">', 1)[1].split("</dd>", 1)[0]
    assert "まだ" in subject and office.parent.resident_code not in subject
    assert 'id="forced-delivery"' in html and "郵送" in html


def test_clerk_finds_links_reviews_and_only_then_approves(office: Office) -> None:
    application_id, _ = _agent_application(office)
    page = f"/applications/{application_id}"
    assert _post(office, f"{page}/transitions", {"transition": "start_review"}, page).status_code == 303

    version = version_on(office.clerk.get(office.url(page)).get_data(as_text=True))
    refused = _post(office, f"{page}/transitions", {"transition": "approve", "version": version}, page)
    assert refused.status_code == 409 and "照合" in refused.get_data(as_text=True)
    assert office.application(application_id).state == "in_review"

    search = office.clerk.get(office.url(f"{page}/person-concerned?search=1&name=髙橋&birth_date=1985-04-02"))
    assert search.status_code == 200
    found = search.get_data(as_text=True)
    assert 'id="named-person"' in found and "髙橋　一郎" in found
    confirm = f"{page}/person-concerned/{office.parent.id}"
    assert confirm in found

    unchecked = _post(office, confirm, {}, confirm)
    assert unchecked.status_code == 422 and office.application(application_id).subject_person_id is None
    linked = _post(office, confirm, {"checked": "true"}, confirm)
    assert linked.status_code == 303
    assert office.application(application_id).subject_person_id == office.parent.id

    no_reason = _post(office, f"{page}/evidence-review", {"outcome": "not_accepted"}, page)
    assert no_reason.status_code == 422 and 'id="reason-error"' in no_reason.get_data(as_text=True)
    assert office.application(application_id).evidence_review is None
    accepted = _post(office, f"{page}/evidence-review", {"outcome": "accepted"}, page)
    assert accepted.status_code == 303
    assert office.application(application_id).evidence_review == "accepted"

    version = version_on(office.clerk.get(office.url(page)).get_data(as_text=True))
    approved = _post(office, f"{page}/transitions", {"transition": "approve", "version": version}, page)
    assert approved.status_code == 303 and office.application(application_id).state == "approved"
    shown = office.clerk.get(office.url(page)).get_data(as_text=True)
    assert office.parent.resident_code in shown.split('id="subject">', 1)[1].split("</dd>", 1)[0]


def test_a_clerk_of_another_municipality_can_neither_see_nor_link(office: Office) -> None:
    application_id, _ = _agent_application(office)
    page = f"/applications/{application_id}"
    other = office.other.slug
    assert office.foreign_clerk.get(office.url(f"{page}/person-concerned", slug=other)).status_code == 404
    confirm = office.url(f"{page}/person-concerned/{office.parent.id}", slug=other)
    assert office.foreign_clerk.get(confirm).status_code == 404
    # A form of their own municipality's console, posted at the application and person of this one.
    own = office.url("/", slug=other)
    posted = post_form(office.foreign_clerk, confirm, {"checked": "true"}, form_url=own)
    assert posted.status_code == 404
    review = office.url(f"{page}/evidence-review", slug=other)
    assert post_form(office.foreign_clerk, review, {"outcome": "accepted"}, form_url=own).status_code == 404
    # This municipality's clerk cannot link a person of another municipality's register either.
    with office.db.transaction(office.other.id) as session:
        stranger = make_person(session, session.merge(office.other))
    foreign_person = f"{page}/person-concerned/{stranger.id}"
    assert office.clerk.get(office.url(foreign_person)).status_code == 404
    assert _post(office, foreign_person, {"checked": "true"}, page).status_code == 404
    found = office.application(application_id)
    assert found.subject_person_id is None and found.evidence_review is None
