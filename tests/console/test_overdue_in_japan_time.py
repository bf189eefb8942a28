"""Overdue is decided by Japan's date (``jp.today()``) everywhere: the console's badge and filter, the API's field
and filter. Between 00:00 and 09:00 in Japan a UTC host's date is still yesterday; they used to disagree then."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import update

from madoguchi import jp
from madoguchi.applications.models import Application
from tests.console.conftest import HTTPS, Office
from tests.console.test_queue import _references

#: 00:30 on 15 January 2030 in Japan, when a UTC host's calendar still says the 14th.
JUST_AFTER_MIDNIGHT_IN_JAPAN = datetime(2030, 1, 14, 15, 30, tzinfo=UTC)


def test_console_and_api_agree_that_an_application_due_yesterday_in_japan_is_overdue(
    office: Office, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jp, "now", lambda: JUST_AFTER_MIDNIGHT_IN_JAPAN.astimezone(jp.JAPAN))
    assert jp.today() == date(2030, 1, 15) and JUST_AFTER_MIDNIGHT_IN_JAPAN.date() == date(2030, 1, 14)
    late = office.submitted()
    with office.db.transaction(office.tenant.id) as session:
        session.execute(update(Application).where(Application.id == late).values(due_on=date(2030, 1, 14)))
    reference = office.application(late).reference

    queue = office.clerk.get(office.url("/")).get_data(as_text=True)
    assert "期限超過" in queue  # the console's badge: overdue
    assert _references(office.clerk.get(office.url("/?overdue=1")).get_data(as_text=True)) == [reference]

    api = f"{HTTPS}/api/v1/t/{office.tenant.slug}/applications"
    assert office.clerk.get(f"{api}/{late}").json["overdue"] is True
    assert [a["id"] for a in office.clerk.get(f"{api}/?overdue=true").json["items"]] == [str(late)]
    assert office.clerk.get(f"{api}/?overdue=false").json["items"] == []
