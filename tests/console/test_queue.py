"""The console's queue: what staff see, filters, sort, keyset pages, SLA badges; who may open it."""

from __future__ import annotations

import re
import uuid
from datetime import date, timedelta

import pytest
from sqlalchemy import update

from madoguchi.applications.models import Application
from madoguchi.console.views import queue as views
from tests.console.conftest import HTTPS, Office


def _references(html: str) -> list[str]:
    return re.findall(r'class="reference" href="[^"]+">([A-Z0-9-]+)<', html)


def _set(office: Office, application_id: uuid.UUID, **values) -> None:
    with office.db.transaction(office.tenant.id) as session:
        session.execute(update(Application).where(Application.id == application_id).values(**values))


def test_queue_lists_submitted_applications_with_their_details_but_not_resident_drafts(office: Office) -> None:
    first = office.submitted()
    response = office.clerk.get(office.url("/"))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert _references(html) == [office.application(first).reference]
    assert "住民票の写し等の交付請求" in html and "髙橋　一郎" in html and "受付待ち" in html
    assert "オンライン" in html and "未割当" in html
    assert "期限内" in html  # due in 3 days: on time
    assert "申請一覧</a>" in html and 'aria-current="page"' in html and "窓口受付</a>" in html
    assert "管理</a>" not in html  # the admin link is for tenant admins


def test_sla_badges_say_overdue_and_due_soon(office: Office) -> None:
    late, soon = office.submitted(), office.submitted()
    _set(office, late, due_on=date.today() - timedelta(days=1))
    _set(office, soon, due_on=date.today() + timedelta(days=1))
    html = office.clerk.get(office.url("/")).get_data(as_text=True)
    assert "期限超過" in html and "期限間近" in html
    only_late = office.clerk.get(office.url("/?overdue=1")).get_data(as_text=True)
    assert _references(only_late) == [office.application(late).reference]


def test_filters_by_state_procedure_and_assignee(office: Office) -> None:
    waiting, reviewed = office.submitted(), office.submitted()
    _set(office, reviewed, state="in_review", assignee_account_id=office.clerk_account.id)
    ref = {i: office.application(i).reference for i in (waiting, reviewed)}
    get = lambda q: _references(office.clerk.get(office.url(q)).get_data(as_text=True))  # noqa: E731
    assert get("/?state=in_review") == [ref[reviewed]]
    assert get("/?state=submitted") == [ref[waiting]]
    assert get("/?procedure=tax-certificate") == []
    assert get("/?assignee=me") == [ref[reviewed]]
    assert get("/?assignee=none") == [ref[waiting]]
    assert get(f"/?assignee={office.clerk_account.id}") == [ref[reviewed]]
    assert get("/?assignee=me&state=submitted") == []
    assert get("/?assignee=not-an-id") == [ref[waiting], ref[reviewed]]  # ignored, not an error
    assert "条件に合う申請はありません" in office.clerk.get(office.url("/?procedure=tax-certificate")).get_data(
        as_text=True
    )


def test_sorts_and_keyset_pages_walk_every_application_once(office: Office, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    ids = [office.submitted() for _ in range(5)]
    refs = [office.application(i).reference for i in ids]
    seen, url, pages = [], office.url("/"), 0
    while url:
        html = office.clerk.get(url).get_data(as_text=True)
        seen += _references(html)
        pages += 1
        match = re.search(r'href="([^"]+)" rel="next"', html)
        url = HTTPS + match.group(1).replace("&amp;", "&") if match else None
    assert seen == refs and pages == 3
    # Back from the last page.
    previous = re.search(r'href="([^"]+)" rel="prev"', html)
    assert previous
    assert (
        _references(office.clerk.get(HTTPS + previous.group(1).replace("&amp;", "&")).get_data(as_text=True))
        == refs[2:4]
    )
    newest = _references(office.clerk.get(office.url("/?sort=newest")).get_data(as_text=True))
    assert newest == list(reversed(refs))[:2]
    _set(office, ids[3], due_on=date.today())
    assert _references(office.clerk.get(office.url("/?sort=due")).get_data(as_text=True))[0] == refs[3]


def test_counter_drafts_show_resident_drafts_do_not(office: Office) -> None:
    from madoguchi.applications import operations
    from madoguchi.identity.actors import Actor

    with office.db.transaction(office.tenant.id) as session:
        tenant = session.merge(office.tenant)
        counter = operations.create_draft(
            session,
            tenant,
            Actor.of(session.merge(office.clerk_account)),
            "residency-certificate",
            channel="counter",
            person_id=office.parent.id,
        )
        own = operations.create_draft(
            session, tenant, Actor.of(session.merge(office.resident_account)), "residency-certificate"
        )
        counter_ref, own_id = counter.reference, own.id
    assert _references(office.clerk.get(office.url("/")).get_data(as_text=True)) == [counter_ref]
    assert office.clerk.get(office.url(f"/applications/{own_id}")).status_code == 404


def test_staff_of_another_municipality_are_sent_to_sign_in_and_see_nothing(office: Office) -> None:
    application_id = office.submitted()
    for path in ("/", f"/applications/{application_id}", "/counter/"):
        response = office.foreign_clerk.get(office.url(path))
        assert response.status_code == 303
        assert f"/{office.tenant.slug}/login?next=" in response.headers["Location"]
    # On their own console, this municipality's application does not exist.
    response = office.foreign_clerk.get(office.url(f"/applications/{application_id}", slug=office.other.slug))
    assert response.status_code == 404
    assert office.application(application_id).reference not in response.get_data(as_text=True)
    response = office.foreign_clerk.get(office.url(f"/counter/people/{office.parent.id}", slug=office.other.slug))
    assert response.status_code == 404


def test_residents_get_403_and_anonymous_visitors_the_sign_in_page(office: Office, client) -> None:
    assert office.resident.get(office.url("/")).status_code == 403
    assert office.resident.get(office.url("/counter/")).status_code == 403
    response = client.get(office.url("/"))
    assert response.status_code == 303 and "/login?next=" in response.headers["Location"]


def test_the_queue_reads_its_filters_as_the_api_does_and_ignores_what_does_not_load(office: Office) -> None:
    late, on_time = office.submitted(), office.submitted()
    _set(office, late, due_on=date.today() - timedelta(days=1))
    get = lambda q: _references(office.clerk.get(office.url(q)).get_data(as_text=True))  # noqa: E731
    # The API's boolean: "true" filters as "1" does (the page used to know only "1").
    assert get("/?overdue=true") == [office.application(late).reference]
    # A stale bookmark (a sort that no longer exists, a broken anchor) shows the queue, not an error.
    assert sorted(get("/?sort=bogus&after=not-an-id")) == sorted(
        office.application(i).reference for i in (late, on_time)
    )
