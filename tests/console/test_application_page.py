"""The application page: data with sources, history, transitions as buttons, comments, assignment, and
what happens with a stale page or a form without its CSRF token."""

from __future__ import annotations

from sqlalchemy import select

from madoguchi.applications.models import ApplicationEvent
from madoguchi.audit.models import AuditRecord
from tests.console.conftest import HTTPS, Office, post_form, version_on


def _events(office: Office, application_id) -> list[ApplicationEvent]:
    with office.db.transaction(office.tenant.id) as session:
        stmt = select(ApplicationEvent).where(ApplicationEvent.application_id == application_id)
        return list(session.execute(stmt.order_by(ApplicationEvent.seq)).scalars())


def test_page_shows_answers_with_their_source_register_record_history_and_allowed_actions(office: Office) -> None:
    application_id = office.submitted()
    response = office.clerk.get(office.url(f"/applications/{application_id}"))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "本人（住民票に記載されている方）" in html and "髙橋　一郎" in html and "住民記録から入力" in html
    assert "就職・勤務先への提出" in html  # an enum answer by its title
    assert office.parent.resident_code in html and f"/counter/people/{office.parent.id}" in html
    assert "処理履歴" in html and "申請する" in html  # the submit event in the timeline
    assert 'value="start_review"' in html and 'value="withdraw"' in html
    assert 'value="approve"' not in html  # not from "submitted"


def test_clerk_starts_the_review_and_approves_from_the_page(office: Office) -> None:
    application_id = office.submitted()
    url = office.url(f"/applications/{application_id}")
    for name, state in (("start_review", "in_review"), ("approve", "approved")):
        version = version_on(office.clerk.get(url).get_data(as_text=True))
        response = post_form(office.clerk, f"{url}/transitions", {"transition": name, "version": version}, form_url=url)
        assert response.status_code == 303, response.get_data(as_text=True)
        assert response.headers["Location"].endswith(f"/applications/{application_id}")
        assert office.application(application_id).state == state
    page = office.clerk.get(url).get_data(as_text=True)
    assert "交付決定" in page and "処理しました" in page
    assert [e.action for e in _events(office, application_id)][-2:] == ["start_review", "approve"]


def test_reject_without_a_comment_shows_the_error_beside_the_field_and_changes_nothing(office: Office) -> None:
    application_id = office.submitted()
    url = office.url(f"/applications/{application_id}")
    post_form(office.clerk, f"{url}/transitions", {"transition": "start_review"}, form_url=url)
    before = office.application(application_id)
    version = str(before.lock_version)
    response = post_form(office.clerk, f"{url}/transitions", {"transition": "reject", "version": version}, form_url=url)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="comment-error"' in html and "理由を入力してください" in html
    assert 'href="#comment"' in html  # in the error summary
    assert office.application(application_id).state == "in_review"
    assert office.application(application_id).lock_version == before.lock_version
    response = post_form(
        office.clerk,
        f"{url}/transitions",
        {"transition": "reject", "version": version, "comment": "記載の住所に該当する方がいません。"},
        form_url=url,
    )
    assert response.status_code == 303
    assert office.application(application_id).state == "rejected"
    assert _events(office, application_id)[-1].comment == "記載の住所に該当する方がいません。"


def test_request_for_more_information_is_a_transition_with_its_comment(office: Office) -> None:
    application_id = office.submitted()
    url = office.url(f"/applications/{application_id}")
    post_form(office.clerk, f"{url}/transitions", {"transition": "start_review"}, form_url=url)
    response = post_form(
        office.clerk,
        f"{url}/transitions",
        {"transition": "request_more_info", "comment": "使用目的の詳細を教えてください。"},
        form_url=url,
    )
    assert response.status_code == 303
    assert office.application(application_id).state == "more_info_requested"


def test_a_stale_page_gets_someone_changed_this_and_the_fresh_page(office: Office) -> None:
    application_id = office.submitted()
    url = office.url(f"/applications/{application_id}")
    stale = version_on(office.clerk.get(url).get_data(as_text=True))
    post_form(office.supervisor, f"{url}/transitions", {"transition": "start_review", "version": stale}, form_url=url)
    response = post_form(office.clerk, f"{url}/transitions", {"transition": "withdraw", "version": stale}, form_url=url)
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "他の職員によって変更されました" in html and "Traceback" not in html
    assert "審査中" in html and version_on(html) != stale  # the fresh state and version
    assert office.application(application_id).state == "in_review"
    # Assigning from the stale page is refused the same way.
    response = post_form(office.clerk, f"{url}/assignee", {"assignee": "me", "version": stale}, form_url=url)
    assert response.status_code == 409
    assert office.application(application_id).assignee_account_id is None


def test_assign_to_me_to_a_colleague_and_to_nobody(office: Office) -> None:
    application_id = office.submitted()
    url = office.url(f"/applications/{application_id}")
    assert post_form(office.clerk, f"{url}/assignee", {"assignee": "me"}, form_url=url).status_code == 303
    assert office.application(application_id).assignee_account_id == office.clerk_account.id
    colleague = str(office.supervisor_account.id)
    assert post_form(office.clerk, f"{url}/assignee", {"assignee": colleague}, form_url=url).status_code == 303
    assert office.application(application_id).assignee_account_id == office.supervisor_account.id
    assert "係長 次郎" in office.clerk.get(url).get_data(as_text=True)
    assert post_form(office.clerk, f"{url}/assignee", {"assignee": ""}, form_url=url).status_code == 303
    assert office.application(application_id).assignee_account_id is None
    response = post_form(office.clerk, f"{url}/assignee", {"assignee": str(office.resident_account.id)}, form_url=url)
    assert response.status_code == 422 and 'id="assignee-error"' in response.get_data(as_text=True)


def test_comments_are_history_events_with_an_audit_record_and_an_empty_one_is_refused(office: Office) -> None:
    application_id = office.submitted()
    url = office.url(f"/applications/{application_id}")
    empty = post_form(office.clerk, f"{url}/comments", {"note": "  "}, form_url=url)
    assert empty.status_code == 422 and 'id="note-error"' in empty.get_data(as_text=True)
    response = post_form(office.clerk, f"{url}/comments", {"note": "電話で本人確認済み。"}, form_url=url)
    assert response.status_code == 303
    event = _events(office, application_id)[-1]
    assert (event.action, event.comment, event.actor_account_id) == (
        "comment",
        "電話で本人確認済み。",
        office.clerk_account.id,
    )
    assert event.from_state == event.to_state == "submitted"
    with office.db.transaction(office.tenant.id) as session:
        last = session.execute(select(AuditRecord).order_by(AuditRecord.seq.desc()).limit(1)).scalar_one()
    assert last.action == "application.comment" and last.object_id == str(application_id)
    html = office.clerk.get(url).get_data(as_text=True)
    assert "電話で本人確認済み。" in html and "窓口 花子" in html


def test_forms_without_a_csrf_token_are_refused_and_change_nothing(office: Office) -> None:
    application_id = office.submitted()
    url = office.url(f"/applications/{application_id}")
    headers = {"Referer": f"{HTTPS}/", "Accept": "text/html"}
    for path, data in (
        ("/transitions", {"transition": "start_review"}),
        ("/comments", {"note": "x"}),
        ("/assignee", {"assignee": "me"}),
    ):
        assert office.clerk.post(url + path, data=data, headers=headers).status_code == 400
    after = office.application(application_id)
    assert after.state == "submitted" and after.assignee_account_id is None
    assert [e.action for e in _events(office, application_id)] == ["create", "submit"]


def test_a_resident_cannot_take_staff_actions_and_another_town_gets_404(office: Office) -> None:
    application_id = office.submitted()
    url = office.url(f"/applications/{application_id}")
    home = f"{HTTPS}/{office.tenant.slug}/"  # any page with a form gives the resident a CSRF token
    response = post_form(office.resident, f"{url}/transitions", {"transition": "start_review"}, form_url=home)
    assert response.status_code == 403
    foreign = office.url(f"/applications/{application_id}/transitions", slug=office.other.slug)
    token_page = office.url("/", slug=office.other.slug)
    response = post_form(office.foreign_clerk, foreign, {"transition": "start_review"}, form_url=token_page)
    assert response.status_code == 404
    assert office.application(application_id).state == "submitted"
