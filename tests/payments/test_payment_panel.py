"""The payment panel of the console's application page: the quote, the amount due, the payments with their states
and events, and the forms that record cash, a terminal payment or 定額小為替, with errors beside the field
(decision 0047)."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

from sqlalchemy import func, select

from madoguchi import jp
from madoguchi.payments.models import PaymentIntent, PostalOrder
from tests.console.conftest import post_form
from tests.payments.conftest import HTTPS, Desk, collecting

_FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def _page(desk: Desk, application_id: uuid.UUID) -> str:
    return f"{HTTPS}/{desk.tenant.slug}/console/applications/{application_id}"


def _count(desk: Desk, model: type, application_id: uuid.UUID) -> int:
    with desk.db.transaction(desk.tenant.id) as session:
        return session.execute(
            select(func.count()).select_from(model).where(model.application_id == application_id)
        ).scalar_one()


def _key(html: str, form: str) -> str:
    """The idempotency key of the panel's form posting to ``form``."""
    match = re.search(rf'action="[^"]*/{form}"[^>]*>.*?name="idempotency_key" value="([^"]+)"', html, re.S)
    assert match, f"no {form} form on the page"
    return match.group(1)


def test_the_panel_shows_the_quote_and_the_amount_due_with_the_forms(desk: Desk, sign_in) -> None:
    application_id = desk.submitted()
    html = sign_in(desk.clerk_account).get(_page(desk, application_id)).get_data(as_text=True)
    assert "手数料と支払" in html and "未納" in html
    assert re.search(rf'id="amount-due"><strong>{desk.fee:,}円</strong>', html)
    assert "手数料の内訳" in html and "窓口での支払を記録" in html and "定額小為替を記録" in html
    assert 'value="cash"' in html and 'value="terminal"' in html


def test_a_clerk_records_cash_and_a_double_click_records_it_once(desk: Desk, sign_in) -> None:
    application_id = desk.submitted()
    clerk = sign_in(desk.clerk_account)
    url = _page(desk, application_id)
    key = _key(clerk.get(url).get_data(as_text=True), "payments/counter")
    data = {"mode": "cash", "amount_jpy": f"{desk.fee}円", "receipt_number": "領-7", "idempotency_key": key}
    for _click in range(2):
        response = post_form(clerk, f"{url}/payments/counter", data, form_url=url)
        assert response.status_code == 303, response.get_data(as_text=True)
    assert _count(desk, PaymentIntent, application_id) == 1 and desk.due(application_id) == 0
    html = clerk.get(url).get_data(as_text=True)
    assert "支払を記録しました" in html and "窓口（現金）" in html and "領-7" in html
    assert "支払開始" in html and "支払済み" in html
    assert "窓口での支払を記録" not in html  # nothing left to record


def test_an_amount_over_the_due_is_refused_beside_its_field_and_nothing_is_recorded(desk: Desk, sign_in) -> None:
    application_id = desk.submitted()
    clerk = sign_in(desk.clerk_account)
    url = _page(desk, application_id)
    for amount, message in ((f"{desk.fee + 1000}", "1円から未納額"), ("三百", "金額を数字で入力")):
        data = {"mode": "terminal", "amount_jpy": amount, "idempotency_key": str(uuid.uuid4())}
        response = post_form(clerk, f"{url}/payments/counter", data, form_url=url)
        assert response.status_code == 422
        html = response.get_data(as_text=True)
        assert 'id="amount_jpy-error"' in html and message in html and 'href="#amount_jpy"' in html
    assert _count(desk, PaymentIntent, application_id) == 0


def test_postal_orders_by_form_with_a_wareki_date_an_expired_order_and_the_excess(desk: Desk, sign_in) -> None:
    application_id = desk.submitted()
    clerk = sign_in(desk.clerk_account)
    url = _page(desk, application_id)
    recent = jp.today() - timedelta(days=7)
    stale = jp.today() - timedelta(days=250)
    body = {
        "received_on": jp.today().isoformat(),
        "order-0-face_value": "50",
        "order-0-count": jp.normalize_input(str(desk.fee // 50)).translate(_FULL_WIDTH),  # as typed, full-width
        "order-0-issued_on": jp.to_wareki(recent),
        "order-1-face_value": "1000",
        "order-1-count": "",
        "order-1-issued_on": stale.strftime("%Y/%m/%d"),
        "order-2-face_value": "100",
        "order-2-issued_on": recent.isoformat(),
        "idempotency_key": str(uuid.uuid4()),
    }
    refused = post_form(clerk, f"{url}/postal-orders", body, form_url=url)
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert 'id="excess_returned-error"' in html and "超えています" in html
    assert _count(desk, PostalOrder, application_id) == 0
    body = {**body, "excess_returned": "true"}
    assert post_form(clerk, f"{url}/postal-orders", body, form_url=url).status_code == 303
    assert desk.due(application_id) == 0
    page = clerk.get(url).get_data(as_text=True)
    assert "定額小為替を記録しました" in page and "期限切れ" in page and "返送してください" in page


def test_wrong_order_lines_are_refused_beside_their_fields(desk: Desk, sign_in) -> None:
    application_id = desk.submitted()
    clerk = sign_in(desk.clerk_account)
    url = _page(desk, application_id)
    data = {
        "received_on": "平成31年5月1日",
        "order-0-face_value": "600",
        "order-0-issued_on": "2026-11-20",
        "order-1-face_value": "300",
        "order-1-issued_on": "",
        "idempotency_key": str(uuid.uuid4()),
    }
    response = post_form(clerk, f"{url}/postal-orders", data, form_url=url)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="received_on-error"' in html and "平成" in html  # 平成31年5月1日 did not exist: 令和 had begun
    assert 'id="order-0-face_value-error"' in html and 'id="order-1-issued_on-error"' in html
    assert _count(desk, PostalOrder, application_id) == 0


def test_a_resident_cannot_record_and_another_municipality_gets_404(desk: Desk, sign_in) -> None:
    application_id = desk.submitted()
    resident = sign_in(desk.resident_account)
    home = f"{HTTPS}/{desk.tenant.slug}/"  # any page with a form gives the resident a CSRF token
    base = f"{HTTPS}/{desk.tenant.slug}/console/applications/{application_id}"
    data = {"mode": "cash", "idempotency_key": str(uuid.uuid4())}
    assert post_form(resident, f"{base}/payments/counter", data, form_url=home).status_code == 403
    foreign = sign_in(desk.foreign_clerk_account)
    own_page = f"{HTTPS}/{desk.other.slug}/console/"
    # The other municipality's clerk, under their own municipality's URL with this application's id: not there.
    base = f"{HTTPS}/{desk.other.slug}/console/applications/{application_id}"
    for form in ("payments/counter", "postal-orders"):
        assert post_form(foreign, f"{base}/{form}", data, form_url=own_page).status_code == 404
    assert foreign.get(base).status_code == 404
    assert _count(desk, PaymentIntent, application_id) == 0 and _count(desk, PostalOrder, application_id) == 0


def test_a_municipality_that_does_not_collect_through_madoguchi_is_told_so_and_may_still_record(
    desk: Desk, sign_in
) -> None:
    collecting(desk.db, desk.tenant, None)
    application_id = desk.submitted()
    clerk = sign_in(desk.clerk_account)
    url = _page(desk, application_id)
    html = clerk.get(url).get_data(as_text=True)
    assert "Madoguchiで収納していません" in html and "窓口での支払を記録" in html
    data = {"mode": "cash", "idempotency_key": _key(html, "payments/counter")}
    assert post_form(clerk, f"{url}/payments/counter", data, form_url=url).status_code == 303
    assert desk.due(application_id) == 0
