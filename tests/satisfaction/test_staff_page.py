"""The console's satisfaction page: supervisors and tenant admins of the municipality only, comments escaped and
never linked to an application or a resident, newest first a page at a time, by the month in Japan."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from madoguchi import jp
from madoguchi.db import Database
from madoguchi.satisfaction.models import SatisfactionResponse
from madoguchi.tenancy.models import Tenant
from tests.identity.conftest import signed_in, staff_account
from tests.portal.conftest import Towns, url

PAGE = "/console/satisfaction/"
SCRIPT = "<script>alert('x')</script>"
NAMES = "𠮷田さん・髙橋さん・山﨑さん・葛󠄀西さん ｶﾀｶﾅﾃﾞｽ"


def add_answer(
    db: Database,
    tenant: Tenant,
    *,
    score: int | None,
    comment: str | None = None,
    at: datetime | None = None,
    journey: str = "submitted",
    service_key: str = "residency-certificate",
) -> None:
    with db.transaction(tenant.id) as session:
        session.add(
            SatisfactionResponse(
                tenant_id=tenant.id,
                service_key=service_key,
                journey=journey,
                channel="online",
                score=score,
                comment=comment,
                answered_at=at or jp.now().astimezone(UTC),
                journey_key=uuid.uuid4().hex + uuid.uuid4().hex,
            )
        )


def this_month() -> str:
    return jp.today().strftime("%Y-%m")


def test_a_supervisor_sees_the_spread_and_the_comments_escaped(app: Any, towns: Towns, db: Database) -> None:
    a = towns.a
    for score in (5, 5, 4, 2):
        add_answer(db, a.tenant, score=score)
    add_answer(db, a.tenant, score=1, comment=SCRIPT)
    add_answer(db, a.tenant, score=None, comment=NAMES, journey="issued")
    supervisor = signed_in(app, a.tenant, staff_account(db, a.tenant, "supervisor"))

    response = supervisor.get(url(a.tenant, PAGE))

    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert SCRIPT not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert NAMES in html
    assert "住民票の写し" in html  # the procedure by its title
    # 5 answers with a score on the submitted journey, 3 of them 4 or 5: 60%.
    assert ">60%<" in html
    assert "申請直後" in html and "決定・交付後" in html
    # Nothing names a resident or an application.
    assert "/applications/" not in html


def test_a_clerk_a_resident_and_a_visitor_do_not_see_the_page(app: Any, towns: Towns, db: Database) -> None:
    a = towns.a
    add_answer(db, a.tenant, score=1, comment="内部の声")
    clerk = signed_in(app, a.tenant, staff_account(db, a.tenant, "clerk"))
    accountant = signed_in(app, a.tenant, staff_account(db, a.tenant, "accountant"))
    assert clerk.get(url(a.tenant, PAGE)).status_code == 403
    assert accountant.get(url(a.tenant, PAGE)).status_code == 403
    assert a.client.get(url(a.tenant, PAGE)).status_code == 403  # the resident
    visitor = app.test_client().get(url(a.tenant, PAGE))
    assert visitor.status_code == 303 and "/login" in visitor.headers["Location"]
    # The console's navigation offers the page only to those who may open it.
    assert "/console/satisfaction/" not in clerk.get(url(a.tenant, "/console/")).get_data(as_text=True)
    admin = signed_in(app, a.tenant, staff_account(db, a.tenant, "tenant_admin"))
    assert "/console/satisfaction/" in admin.get(url(a.tenant, "/console/")).get_data(as_text=True)
    assert "内部の声" in admin.get(url(a.tenant, PAGE)).get_data(as_text=True)


def test_another_municipalitys_staff_never_see_the_answers(app: Any, towns: Towns, db: Database) -> None:
    a, b = towns.a, towns.b
    add_answer(db, a.tenant, score=5, comment="緑川村への声")
    supervisor_b = signed_in(app, b.tenant, staff_account(db, b.tenant, "supervisor"))
    html = supervisor_b.get(url(b.tenant, PAGE)).get_data(as_text=True)
    assert "緑川村への声" not in html
    assert "この月の回答はありません" in html
    # B's session on A's address is not signed in there.
    at_a = supervisor_b.get(url(a.tenant, PAGE))
    assert at_a.status_code == 303 and "/login" in at_a.headers["Location"]


def test_comments_come_newest_first_a_page_at_a_time(app: Any, towns: Towns, db: Database) -> None:
    a = towns.a
    start = jp.now().replace(day=1, hour=1, minute=0, second=0, microsecond=0)
    for n in range(25):
        add_answer(db, a.tenant, score=3, comment=f"comment-{n:02d}", at=start + timedelta(minutes=n))
    supervisor = signed_in(app, a.tenant, staff_account(db, a.tenant, "supervisor"))

    first = supervisor.get(url(a.tenant, PAGE)).get_data(as_text=True)
    second = supervisor.get(url(a.tenant, f"{PAGE}?month={this_month()}&page=2")).get_data(as_text=True)

    shown_first = [f"comment-{n:02d}" for n in range(25) if f"comment-{n:02d}" in first]
    assert len(shown_first) == 20 and "comment-24" in first and "comment-04" not in first
    assert first.index("comment-24") < first.index("comment-05")
    assert [f"comment-{n:02d}" for n in range(25) if f"comment-{n:02d}" in second] == [
        f"comment-{n:02d}" for n in range(5)
    ]
    assert 'rel="next"' in first and 'rel="prev"' in second and 'rel="next"' not in second
    assert "25件" in first


def test_an_answer_counts_in_the_month_in_japan_it_was_given(app: Any, towns: Towns, db: Database) -> None:
    a = towns.a
    # 2026-10-31 23:30 in Japan, 2026-11-01 00:30 in Japan.
    add_answer(db, a.tenant, score=5, comment="october", at=datetime(2026, 10, 31, 14, 30, tzinfo=UTC))
    add_answer(db, a.tenant, score=1, comment="november", at=datetime(2026, 10, 31, 15, 30, tzinfo=UTC))
    supervisor = signed_in(app, a.tenant, staff_account(db, a.tenant, "supervisor"))
    october = supervisor.get(url(a.tenant, f"{PAGE}?month=2026-10")).get_data(as_text=True)
    november = supervisor.get(url(a.tenant, f"{PAGE}?month=2026-11")).get_data(as_text=True)
    assert "october" in october and "november" not in october and ">100%<" in october
    assert "november" in november and "october" not in november and ">0%<" in november
    assert 'value="2026-10"' in november  # the months with answers are offered


def test_a_procedure_filter_and_bad_filters(app: Any, towns: Towns, db: Database) -> None:
    a = towns.a
    add_answer(db, a.tenant, score=5, comment="residency")
    add_answer(db, a.tenant, score=5, comment="tax", service_key="tax-certificate")
    supervisor = signed_in(app, a.tenant, staff_account(db, a.tenant, "supervisor"))
    html = supervisor.get(url(a.tenant, f"{PAGE}?procedure=residency-certificate")).get_data(as_text=True)
    assert "residency" in html and ">tax<" not in html
    for query in ("month=2026-13", "month=%3Cb%3E", "procedure=nope", "page=0", "page=x"):
        response = supervisor.get(url(a.tenant, f"{PAGE}?{query}"))
        assert response.status_code == 400, query
        assert 'class="error-summary"' in response.get_data(as_text=True)
        assert "<b>" not in response.get_data(as_text=True)
