"""Every state has a way forward (decision 0032): when 交付する fails in 交付決定 the clerk is told why and can still
reject with the reason; the applicant can withdraw; the counter form offers only the years the register has."""

from __future__ import annotations

import uuid

from sqlalchemy import delete

from madoguchi.applications import operations
from madoguchi.identity.actors import Actor
from madoguchi.registry.models import TaxAssessment
from tests.console.conftest import Office, post_form, version_on
from tests.console.test_counter_filing import _start
from tests.documents.certificate_fixtures import TAX
from tests.factories import make_tax


def _approved(office: Office, procedure: str = "tax-certificate", data: dict | None = None) -> uuid.UUID:
    with office.db.transaction(office.tenant.id) as session:
        tenant = session.merge(office.tenant)
        if procedure == "tax-certificate":
            make_tax(session, tenant, session.merge(office.parent), 2025)
        resident = Actor.of(session.merge(office.resident_account))
        application = operations.create_draft(session, tenant, resident, procedure, data or TAX)
        operations.submit(session, tenant, resident, application.id)
        clerk = Actor.of(session.merge(office.clerk_account))
        for step in ("start_review", "approve"):
            operations.transition(session, tenant, clerk, application.id, step)
        return application.id


def _take(office: Office, application_id: uuid.UUID, transition: str, **extra: str):
    url = office.url(f"/applications/{application_id}")
    version = version_on(office.clerk.get(url).get_data(as_text=True))
    data = {"transition": transition, "version": version, **extra}
    return post_form(office.clerk, f"{url}/transitions", data, form_url=url)


def test_approve_then_issue_fails_for_want_of_data_then_reject_with_the_reason(office: Office) -> None:
    application_id = _approved(office)
    with office.db.transaction(office.tenant.id) as session:  # the assessment was withdrawn from the register
        session.execute(delete(TaxAssessment).where(TaxAssessment.person_id == office.parent.id))
    failed = _take(office, application_id, "issue")
    assert failed.status_code == 409
    html = failed.get_data(as_text=True)
    assert "証明書を交付できません。この方の令和7年度の課税情報は台帳にありません。" in html
    assert "理由を付して不交付とするか" in html
    assert office.application(application_id).state == "approved"
    assert 'value="reject"' in html and 'value="withdraw"' in html  # the ways on, as buttons
    rejected = _take(office, application_id, "reject", comment="令和7年度の課税情報がないため交付できません。")
    assert rejected.status_code == 303, rejected.get_data(as_text=True)
    assert office.application(application_id).state == "rejected"


def test_an_approved_residency_certificate_can_be_rejected_with_reasons_or_withdrawn(office: Office) -> None:
    first = office.submitted()
    second = office.submitted()
    with office.db.transaction(office.tenant.id) as session:
        tenant = session.merge(office.tenant)
        clerk = Actor.of(session.merge(office.clerk_account))
        for application_id in (first, second):
            for step in ("start_review", "approve"):
                operations.transition(session, tenant, clerk, application_id, step)
    assert _take(office, first, "reject").status_code == 422  # reasons are required (行政手続法8条)
    assert _take(office, first, "reject", comment="本人確認ができませんでした。").status_code == 303
    assert office.application(first).state == "rejected"
    with office.db.transaction(office.tenant.id) as session:
        resident = Actor.of(session.merge(office.resident_account))
        operations.transition(session, session.merge(office.tenant), resident, second, "withdraw")
    assert office.application(second).state == "withdrawn"

    # The refusal is a decision the resident may contest: the portal says how, to whom and by when (教示).
    refused = office.resident.get(f"/{office.tenant.slug}/applications/{first}").get_data(as_text=True)
    office_title = f"{office.tenant.name_ja}長"
    assert "この決定に不服がある場合（教示）" in refused
    assert f"3か月以内に、{office_title}に対して審査請求" in refused
    assert f"{office.tenant.name_ja}を被告として" in refused
    withdrawn = office.resident.get(f"/{office.tenant.slug}/applications/{second}").get_data(as_text=True)
    assert "教示" not in withdrawn


def test_a_clerk_of_another_municipality_cannot_reach_the_approved_request(office: Office) -> None:
    application_id = _approved(office)
    url = office.url(f"/applications/{application_id}", slug=office.other.slug)
    assert office.foreign_clerk.get(url).status_code == 404
    assert office.application(application_id).state == "approved"


def test_the_counter_form_offers_only_the_years_the_register_has(office: Office) -> None:
    with office.db.transaction(office.tenant.id) as session:
        for year in (2019, 2025):
            make_tax(session, session.merge(office.tenant), session.merge(office.parent), year)
    application_id = _start(office, "tax-certificate")
    html = office.clerk.get(office.url(f"/counter/{application_id}/form")).get_data(as_text=True)
    assert "令和7年度（令和6年中所得）" in html and "令和元年度（平成30年中所得）" in html
    assert "令和6年度" not in html and "平成31年度" not in html
