"""Due dates in working days (decision 0034), end to end: set on submission across 年末年始 and the municipality's
own closed day, stopped while the resident is asked for 補正 (shown so to the clerk, the resident and the API; never
overdue), and set again from the day of the answer with the working days that were left."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import update

from madoguchi import jp
from madoguchi.applications import operations
from madoguchi.applications.models import Application
from madoguchi.identity.actors import Actor
from madoguchi.tenancy import closed_days
from tests.console.conftest import HTTPS, Office
from tests.console.test_queue import _references


class Clock:
    """One moment in Japan for everything: the operations' timestamps (``utcnow``) and "today" (``jp.now``)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.moment = datetime(2026, 12, 28, 10, 0, tzinfo=jp.JAPAN)
        monkeypatch.setattr(operations, "utcnow", lambda: self.moment.astimezone(UTC))
        monkeypatch.setattr(jp, "now", lambda: self.moment)

    def set(self, year: int, month: int, day: int, hour: int = 10) -> None:
        self.moment = datetime(year, month, day, hour, 0, tzinfo=jp.JAPAN)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return Clock(monkeypatch)


def _take(
    office: Office, application_id: uuid.UUID, name: str, *, by: str = "clerk", comment: str | None = None
) -> None:
    account = office.clerk_account if by == "clerk" else office.resident_account
    with office.db.transaction(office.tenant.id) as session:
        tenant = session.merge(office.tenant)
        actor = Actor.of(session.merge(account))
        operations.transition(session, tenant, actor, application_id, name, comment=comment)


def _api(office: Office, path: str = "/") -> str:
    return f"{HTTPS}/api/v1/t/{office.tenant.slug}/applications{path}"


def test_a_submission_before_new_year_is_due_in_working_days_after_it(office: Office, clock: Clock) -> None:
    # midorikawa-village: residency certificates in 7 working days. 12/29-1/3 年末年始, 1/9-1/10 weekend, 1/11 成人の日.
    application_id = office.submitted()
    assert office.application(application_id).due_on == date(2027, 1, 13)
    clock.set(2027, 1, 5)
    queue = office.clerk.get(office.url("/")).get_data(as_text=True)
    assert "1月13日（水）" in queue
    assert office.clerk.get(_api(office, f"/{application_id}")).json["due_on"] == "2027-01-13"


def test_a_submission_just_after_midnight_in_japan_counts_from_that_day(office: Office, clock: Clock) -> None:
    clock.set(2027, 1, 4, hour=0)  # 00:00 JST on Monday is still Sunday 15:00 in UTC
    # Received Monday 1/4 in Japan: 1/5-1/8, 1/12-1/14 (counted from UTC's Sunday 1/3 it would be 1/13).
    assert office.application(office.submitted()).due_on == date(2027, 1, 14)


def test_the_clock_stops_for_more_information_and_restarts_from_the_answer(office: Office, clock: Clock) -> None:
    with office.db.transaction(office.tenant.id) as session:
        closed_days.add(session, office.tenant.id, "2027-01-07", "庁舎移転", actor="test", today=date(2026, 12, 1))
    application_id = office.submitted()  # Monday 2026-12-28
    # 1/4, 1/5, 1/6, (1/7 the village's closed day), 1/8, 1/12, 1/13, 1/14.
    assert office.application(application_id).due_on == date(2027, 1, 14)

    clock.set(2027, 1, 5)
    _take(office, application_id, "start_review")
    clock.set(2027, 1, 6)
    _take(office, application_id, "request_more_info", comment="本人確認書類の写しを添付してください。")
    paused = office.application(application_id)
    # Left after 1/6: 1/8, 1/12, 1/13, 1/14.
    assert (paused.due_on, paused.sla_remaining_days, paused.sla_paused_on) == (None, 4, date(2027, 1, 6))

    # Two weeks pass: long after the first due date, and the application is not overdue.
    clock.set(2027, 1, 20)
    reference = paused.reference
    queue = office.clerk.get(office.url("/")).get_data(as_text=True)
    assert "補正中のため停止（残り4営業日）" in queue and "期限超過" not in queue
    page = office.clerk.get(office.url(f"/applications/{application_id}")).get_data(as_text=True)
    assert "補正中のため停止（残り4営業日）" in page
    assert reference not in _references(office.clerk.get(office.url("/?overdue=1")).get_data(as_text=True))
    assert office.clerk.get(_api(office, "/?overdue=true")).json["items"] == []
    shown = office.clerk.get(_api(office, f"/{application_id}")).json
    assert shown["due_on"] is None and shown["overdue"] is False
    assert shown["sla_pause"] == {"paused_on": "2027-01-06", "remaining_working_days": 4}
    portal = office.resident.get(f"{HTTPS}/{office.tenant.slug}/applications/{application_id}")
    assert "補正中のため停止（残り4営業日）" in portal.get_data(as_text=True)
    assert "ご回答の翌開庁日から約4営業日" in portal.get_data(as_text=True)

    _take(office, application_id, "respond", by="resident")  # Wednesday 2027-01-20
    answered = office.application(application_id)
    # 4 working days after the answer: 1/21, 1/22, 1/25, 1/26.
    assert (answered.due_on, answered.sla_remaining_days, answered.sla_paused_on) == (date(2027, 1, 26), None, None)
    assert office.clerk.get(_api(office, f"/{application_id}")).json["sla_pause"] is None
    assert "1月26日（火）" in office.resident.get(
        f"{HTTPS}/{office.tenant.slug}/applications/{application_id}"
    ).get_data(as_text=True)
    clock.set(2027, 1, 27)
    assert reference in _references(office.clerk.get(office.url("/?overdue=1")).get_data(as_text=True))


def test_an_application_asked_for_information_after_its_due_date_is_due_on_the_day_of_the_answer(
    office: Office, clock: Clock
) -> None:
    application_id = office.submitted()
    with office.db.transaction(office.tenant.id) as session:
        session.execute(update(Application).where(Application.id == application_id).values(due_on=date(2026, 12, 28)))
    clock.set(2027, 1, 5)
    _take(office, application_id, "start_review")
    _take(office, application_id, "request_more_info", comment="添付が読めません。")
    assert office.application(application_id).sla_remaining_days == 0
    clock.set(2027, 1, 8)
    _take(office, application_id, "respond", by="resident")
    assert office.application(application_id).due_on == date(2027, 1, 8)


def test_withdrawn_while_paused_has_no_due_date(office: Office, clock: Clock) -> None:
    application_id = office.submitted()
    _take(office, application_id, "start_review")
    _take(office, application_id, "request_more_info", comment="添付が読めません。")
    _take(office, application_id, "withdraw", by="resident")
    withdrawn = office.application(application_id)
    assert (withdrawn.state, withdrawn.due_on, withdrawn.sla_remaining_days) == ("withdrawn", None, None)
