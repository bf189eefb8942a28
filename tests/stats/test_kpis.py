"""KPI figures against known applications: counts per procedure and state, median time to decision, share online."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from madoguchi.applications.models import Application
from madoguchi.applications.repository import store_snapshot
from madoguchi.catalog import operations as catalog
from madoguchi.db import Database
from madoguchi.identity.models import StaffRole
from madoguchi.payments import intents as payment_intents
from madoguchi.payments.models import COUNTER_CASH, Refund
from madoguchi.stats import kpis
from madoguchi.tenancy.models import Tenant
from tests.support.kpi_rows import add_month, kpi_row
from tests.tenant_admin.conftest import Towns, admin_url, signed_in

T0 = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
_refs = itertools.count(1)


def _application(
    session: Session,
    tenant: Tenant,
    key: str,
    state: str,
    *,
    channel: str = "online",
    processing: timedelta | None = None,
    submitted: bool = True,
) -> Application:
    version = catalog.latest_version(session, key)
    application = Application(
        tenant_id=tenant.id,
        reference=f"T-{next(_refs):08d}",
        service_key=key,
        service_version_id=version.id,
        state=state,
        channel=channel,
        submitted_at=T0 if submitted else None,
        decided_at=T0 + processing if processing is not None else None,
        # The KPIs read no settings: an empty snapshot (an application always names one, decision 0027).
        settings_snapshot_hash=store_snapshot(session, tenant.id, {}),
    )
    session.add(application)
    session.flush()
    return application


@pytest.fixture
def known(db: Database, towns: Towns) -> None:
    """Town A: 5 residency certificates (4 filed: 3 online/api, 1 counter), 2 tax certificates; town B: noise."""
    with db.transaction(towns.a.id) as session:
        _application(session, towns.a, "residency-certificate", "draft", submitted=False)
        _application(session, towns.a, "residency-certificate", "issued", processing=timedelta(hours=2))
        _application(session, towns.a, "residency-certificate", "issued", channel="api", processing=timedelta(days=1))
        _application(
            session, towns.a, "residency-certificate", "rejected", channel="counter", processing=timedelta(days=3)
        )
        _application(session, towns.a, "residency-certificate", "in_review")
        _application(session, towns.a, "tax-certificate", "submitted", channel="counter")
        _application(session, towns.a, "tax-certificate", "approved", channel="counter", processing=timedelta(days=5))
    with db.transaction(towns.b.id) as session:
        for _ in range(3):
            _application(session, towns.b, "residency-certificate", "issued", processing=timedelta(days=30))


def test_figures_per_procedure_count_only_this_tenants_applications(db: Database, towns: Towns, known: None) -> None:
    with db.transaction(towns.a.id) as session:
        found = {kpi.service_key: kpi for kpi in kpis.procedure_kpis(session, towns.a.id)}
    residency, tax = found["residency-certificate"], found["tax-certificate"]
    assert dict(residency.by_state) == {"draft": 1, "issued": 2, "rejected": 1, "in_review": 1}
    assert residency.total == 5 and residency.filed == 4 and residency.filed_online == 3
    assert residency.online_share == pytest.approx(0.75)
    assert residency.decided == 3 and residency.median_processing == timedelta(days=1)
    assert dict(tax.by_state) == {"submitted": 1, "approved": 1}
    assert tax.online_share == 0 and tax.median_processing == timedelta(days=5)
    total = kpis.overall(list(found.values()))
    assert total.total == 7 and total.filed == 6 and total.filed_online == 3 and total.online_share == 0.5


def test_the_median_of_an_even_count_is_the_mean_of_the_middle_two(db: Database, towns: Towns) -> None:
    with db.transaction(towns.a.id) as session:
        for days in (1, 2, 4, 10):
            _application(session, towns.a, "tax-certificate", "issued", processing=timedelta(days=days))
        [kpi] = kpis.procedure_kpis(session, towns.a.id)
    assert kpi.median_processing == timedelta(days=3)


def test_a_tenant_without_applications_has_no_figures(db: Database, towns: Towns) -> None:
    with db.transaction(towns.a.id) as session:
        assert kpis.procedure_kpis(session, towns.a.id) == []
        assert kpis.overall([]).online_share is None


def test_the_key_figures_page_shows_the_numbers(app: Any, db: Database, towns: Towns, known: None) -> None:
    admin = signed_in(app, db, towns.a, StaffRole.TENANT_ADMIN)
    response = admin.http.get(admin_url(towns.a, "/kpis"))  # town A offers Japanese only
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "75%" in html and "1.0日" in html and "5.0日" in html and "50%" in html
    assert "30.0日" not in html  # town B's applications are not counted
    other = signed_in(app, db, towns.a, StaffRole.CLERK)
    assert other.http.get(admin_url(towns.a, "/kpis")).status_code == 403


def _paid(session: Session, tenant: Tenant, application: Application, amount: int, *, refunded: int = 0) -> None:
    intent, _ = payment_intents.create_intent(session, tenant, application, mode=COUNTER_CASH, provider="counter",
                                              amount_jpy=amount, idempotency_key=f"k-{application.reference}",
                                              actor="system")  # fmt: skip
    if refunded:
        session.add(Refund(tenant_id=tenant.id, intent_id=intent.id, amount_jpy=refunded, reason="not_issuable",
                           status="succeeded", succeeded_at=T0))  # fmt: skip
        session.flush()


def test_fees_collected_and_refunded_per_procedure_count_only_this_tenants(
    app: Any, db: Database, towns: Towns
) -> None:
    with db.transaction(towns.a.id) as session:
        _paid(session, towns.a, _application(session, towns.a, "residency-certificate", "issued"), 900)
        _paid(session, towns.a, _application(session, towns.a, "residency-certificate", "rejected"), 300, refunded=300)
        _paid(session, towns.a, _application(session, towns.a, "tax-certificate", "issued"), 400, refunded=100)
        found = {kpi.service_key: kpi for kpi in kpis.procedure_kpis(session, towns.a.id)}
    with db.transaction(towns.b.id) as session:
        _paid(session, towns.b, _application(session, towns.b, "residency-certificate", "issued"), 77_700)
    residency, tax = found["residency-certificate"], found["tax-certificate"]
    assert (residency.fees_collected_jpy, residency.fees_refunded_jpy) == (1200, 300)
    assert (tax.fees_collected_jpy, tax.fees_refunded_jpy) == (400, 100)
    total = kpis.overall(list(found.values()))
    assert (total.fees_collected_jpy, total.fees_refunded_jpy) == (1600, 400)
    admin = signed_in(app, db, towns.a, StaffRole.TENANT_ADMIN)
    html = admin.http.get(admin_url(towns.a, "/kpis")).get_data(as_text=True)
    assert "1,200円" in html and "1,600円" in html and "手数料収入" in html and "77,700円" not in html


def _by_state_table(html: str) -> dict[str, dict[str, str]]:
    """The by-state table as {procedure row: {column heading: cell}} (headings and cells as text)."""
    table = re.search(r'<table[^>]*id="kpi-states".*?</table>', html, re.S)
    assert table is not None
    headings = [re.sub(r"<[^>]+>", "", h).strip() for h in re.findall(r'<th scope="col"[^>]*>(.*?)</th>', table[0])]
    rows = {}
    for row in re.findall(r"<tr[^>]*>\s*<th scope=\"row\">(.*?)</th>(.*?)</tr>", table[0], re.S):
        cells = [
            re.sub(r"<span class=\"visually-hidden\">.*?</span>|<[^>]+>", "", c).strip()
            for c in re.findall(r"<td[^>]*>(.*?)</td>", row[1], re.S)
        ]
        rows[row[0].strip()] = dict(zip(headings[1:], cells, strict=True))
    return rows


def test_each_procedure_counts_under_its_own_state_title_and_the_total_row_is_named_right(
    app: Any, db: Database, towns: Towns
) -> None:
    """Issue 20: 住民票 交付済み was counted under 「決定通知済み」 (childcare's title of the same state name, issued),
    and the total row read 「手続き一覧へ」 (the portal's back link, the same msgid)."""
    with db.transaction(towns.a.id) as session:
        for _ in range(2):
            _application(session, towns.a, "residency-certificate", "issued", processing=timedelta(days=1))
        _application(session, towns.a, "childcare-admission", "issued", processing=timedelta(days=20))
    admin = signed_in(app, db, towns.a, StaffRole.TENANT_ADMIN)
    html = admin.http.get(admin_url(towns.a, "/kpis")).get_data(as_text=True)
    rows = _by_state_table(html)
    residency, childcare = rows["住民票の写し等の交付請求"], next(v for k, v in rows.items() if "保育" in k)
    assert residency["交付済み"] == "2" and residency["決定通知済み"] == "—"
    assert childcare["決定通知済み"] == "1" and childcare["交付済み"] == "—"
    assert rows["すべての手続き"]["交付済み"] == "2" and rows["すべての手続き"]["決定通知済み"] == "1"
    assert "手続き一覧へ" not in html


def test_the_key_figures_page_draws_the_live_figures_and_this_municipalitys_published_months(
    app: Any, db: Database, towns: Towns, known: None
) -> None:
    with db.transaction(towns.a.id) as session:
        add_month(
            session, towns.a, "2026-11", [kpi_row(towns.a, "2026-11", "residency-certificate", digital_take_up=0.66)]
        )
    with db.transaction(towns.b.id) as session:
        add_month(
            session, towns.b, "2026-12", [kpi_row(towns.b, "2026-12", "residency-certificate", digital_take_up=0.99)]
        )
    admin = signed_in(app, db, towns.a, StaffRole.TENANT_ADMIN)
    html = admin.http.get(admin_url(towns.a, "/kpis")).get_data(as_text=True)
    assert 'id="live-online"' in html and 'id="live-median"' in html
    assert "75%" in html  # the live share filed online of the residency certificate, in the chart and its table
    assert 'id="admin-kpi-residency-certificate-trend"' in html and "66%" in html
    assert "99%" not in html and "2026-12" not in html  # town B's month is not town A's


def test_before_any_month_is_published_the_key_figures_page_says_so(app: Any, db: Database, towns: Towns) -> None:
    admin = signed_in(app, db, towns.a, StaffRole.TENANT_ADMIN)
    html = admin.http.get(admin_url(towns.a, "/kpis")).get_data(as_text=True)
    assert 'id="no-months"' in html and "<figure" not in html
