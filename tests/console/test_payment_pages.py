"""The console's refund and accounting pages: a clerk requests a refund, a supervisor other than the requester
approves it, errors stand beside their field in Japanese; the 会計 page imports a settlement report (bad lines
named by number, nothing stored) and downloads the 収入日計; another municipality's staff get 404."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime

from sqlalchemy import select

from madoguchi.applications.models import Application
from madoguchi.identity.models import AccountKind
from madoguchi.payments import intents, states
from madoguchi.payments.models import COUNTER_CASH, PREPAY, Refund, SettlementImport
from tests.console.conftest import Office, post_form
from tests.factories import make_account
from tests.payments.ledger import PROVIDER, Provider, provider  # noqa: F401 - the fixture, for these tests

NOON = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)


def _paid(office: Office, *, mode: str = COUNTER_CASH, amount: int = 600, ref: str | None = None) -> uuid.UUID:
    application_id = office.submitted()
    with office.db.transaction(office.tenant.id) as session:
        application = session.get(Application, application_id)
        online = mode == PREPAY
        intent, _ = intents.create_intent(session, office.tenant, application, mode=mode,
                                          provider=PROVIDER if online else "counter", amount_jpy=amount,
                                          idempotency_key=str(uuid.uuid4()), actor="system")  # fmt: skip
        if online:
            intent.provider_ref = ref
            intents.move(session, office.tenant, intent, states.SUCCEEDED, kind="webhook", actor="system")
        intent.succeeded_at = NOON
        return application_id


def _intent_id(office: Office, application_id: uuid.UUID) -> str:
    with office.db.transaction(office.tenant.id) as session:
        application = session.get(Application, application_id)
        return str(intents.intents_of(session, application)[0].id)


def _refund_rows(office: Office) -> list[Refund]:
    with office.db.transaction(office.tenant.id) as session:
        found = list(session.execute(select(Refund)).scalars())
        session.expunge_all()
        return found


def test_a_clerk_requests_and_a_supervisor_approves_a_refund_in_cash(office: Office) -> None:
    application_id = _paid(office)
    page = office.url(f"/applications/{application_id}/refunds")
    html = office.clerk.get(page + "?lang=ja").get_data(as_text=True)
    assert "600円" in html and "還付を申請する" in html
    intent_id = _intent_id(office, application_id)
    asked = post_form(office.clerk, page, {"intent_id": intent_id, "amount_jpy": "３００", "reason": "not_issuable"},
                      form_url=page)  # fmt: skip
    assert asked.status_code == 303
    (refund,) = _refund_rows(office)
    assert (refund.amount_jpy, refund.status) == (300, "requested")
    # The clerk sees no decision buttons; the supervisor does.
    assert "還付を承認する" not in office.clerk.get(page + "?lang=ja").get_data(as_text=True)
    assert "還付を承認する" in office.supervisor.get(page + "?lang=ja").get_data(as_text=True)
    approved = post_form(office.supervisor, f"{page}/{refund.id}/approve", {}, form_url=page)
    assert approved.status_code == 303
    assert _refund_rows(office)[0].status == "succeeded"


def test_refund_errors_stand_beside_their_field_and_nothing_is_stored(office: Office) -> None:
    application_id = _paid(office)
    page = office.url(f"/applications/{application_id}/refunds")
    intent_id = _intent_id(office, application_id)
    refused = post_form(office.clerk, page + "?lang=ja",
                        {"intent_id": intent_id, "amount_jpy": "601", "reason": "other", "comment": ""},
                        form_url=page)  # fmt: skip
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert 'id="amount_jpy-error"' in html and "600以下" in html
    assert 'id="comment-error"' in html
    assert _refund_rows(office) == []


def test_the_supervisor_who_requested_cannot_approve_on_the_page(office: Office) -> None:
    application_id = _paid(office)
    page = office.url(f"/applications/{application_id}/refunds")
    intent_id = _intent_id(office, application_id)
    post_form(office.supervisor, page, {"intent_id": intent_id, "amount_jpy": "600", "reason": "not_issuable"},
              form_url=page)  # fmt: skip
    (refund,) = _refund_rows(office)
    html = office.supervisor.get(page + "?lang=ja").get_data(as_text=True)
    assert "還付を承認する" not in html
    refused = post_form(office.supervisor, f"{page}/{refund.id}/approve?lang=ja", {}, form_url=page)
    assert refused.status_code == 403
    assert "別の上長" in refused.get_data(as_text=True)
    assert _refund_rows(office)[0].status == "requested"


def test_another_municipalitys_staff_get_404_for_the_refund_pages(office: Office) -> None:
    application_id = _paid(office)
    (theirs,) = [office.url(f"/applications/{application_id}/refunds", slug=office.other.slug)]
    assert office.foreign_clerk.get(theirs).status_code == 404
    own = office.url(f"/applications/{application_id}/refunds")
    intent_id = _intent_id(office, application_id)
    post_form(office.clerk, own, {"intent_id": intent_id, "amount_jpy": "100", "reason": "not_issuable"}, form_url=own)
    (refund,) = _refund_rows(office)
    other_form = office.url("/accounting", slug=office.other.slug)
    # The foreign supervisor posts to their own municipality's URL with this municipality's ids: not found.
    foreign = post_form(office.foreign_clerk, f"{theirs}/{refund.id}/approve", {}, form_url=other_form)
    assert foreign.status_code == 404
    assert _refund_rows(office)[0].status == "requested"


def _report(*rows: str) -> bytes:
    return ("provider_ref,kind,amount_jpy,settled_on\r\n" + "".join(f"{row}\r\n" for row in rows)).encode()


def test_a_supervisor_imports_a_settlement_and_sees_the_mismatch_list(office: Office, provider) -> None:  # noqa: F811
    _paid(office, mode=PREPAY, amount=300, ref="pi_ok")
    _paid(office, mode=PREPAY, amount=300, ref="pi_missing")
    page = office.url("/accounting")
    assert "精算" in office.supervisor.get(page + "?lang=ja").get_data(as_text=True)
    raw = _report("pi_ok,charge,300,2026-12-01", "pi_stranger,charge,500,2026-12-01")
    data = {"provider": PROVIDER, "day": "2026-12-01", "file": (io.BytesIO(raw), "report.csv")}
    done = post_form(office.supervisor, f"{page}/settlements", data, form_url=page)
    assert done.status_code == 303, done.get_data(as_text=True)
    html = office.supervisor.get(done.headers["Location"] + "?lang=ja").get_data(as_text=True)
    assert "pi_missing" in html and "pi_stranger" in html
    assert "精算データにない" in html and "当方の記録にない" in html


def test_bad_lines_of_a_settlement_are_named_and_nothing_is_imported(office: Office, provider) -> None:  # noqa: F811
    _paid(office, mode=PREPAY, amount=300, ref="pi_ok")
    page = office.url("/accounting")
    raw = _report("pi_ok,charge,300,2026-12-01", "pi_x,payout,300,2026-12-01")
    data = {"provider": PROVIDER, "day": "2026-12-01", "file": (io.BytesIO(raw), "report.csv")}
    refused = post_form(office.supervisor, f"{page}/settlements?lang=ja", data, form_url=page)
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert 'id="file-error"' in html and "line 3: kind" in html
    with office.db.transaction(office.tenant.id) as session:
        assert session.execute(select(SettlementImport)).scalars().all() == []


def test_the_daily_revenue_downloads_as_csv_and_a_bad_period_is_shown_beside_the_field(office: Office) -> None:
    _paid(office, amount=600)
    page = office.url("/accounting/daily-revenue")
    got = office.supervisor.get(page + "?day_from=2026-12-01&day_to=2026-12-02&lang=ja")
    assert got.status_code == 200 and got.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(got.get_data().decode("utf-8-sig"))))
    assert rows[1] == ["2026-12-01", "手数料", "1", "600", "0", "600"]
    refused = office.supervisor.get(page + "?day_from=2026-12-02&day_to=2026-12-01&lang=ja")
    assert refused.status_code == 422
    assert 'id="day_to-error"' in refused.get_data(as_text=True)


def test_a_clerk_without_an_accounting_role_cannot_open_accounting(office: Office) -> None:
    for path in ("/accounting", "/accounting/daily-revenue?day_from=2026-12-01&day_to=2026-12-01"):
        assert office.clerk.get(office.url(path)).status_code == 403
    assert "/accounting" not in office.clerk.get(office.url("/")).get_data(as_text=True)


def test_the_accounting_staff_open_accounting_but_decide_no_refund(office: Office, sign_in) -> None:
    application_id = _paid(office)
    with office.db.transaction(office.tenant.id) as session:
        account = make_account(session, office.tenant, kind=AccountKind.STAFF, roles=["accountant"])
    accountant = sign_in(account)
    html = accountant.get(office.url("/accounting") + "?lang=ja").get_data(as_text=True)
    assert "収入日計" in html
    page = office.url(f"/applications/{application_id}/refunds")
    intent_id = _intent_id(office, application_id)
    post_form(
        office.clerk, page, {"intent_id": intent_id, "amount_jpy": "100", "reason": "not_issuable"}, form_url=page
    )
    (refund,) = _refund_rows(office)
    assert post_form(accountant, f"{page}/{refund.id}/approve", {}, form_url=page).status_code == 403
    assert _refund_rows(office)[0].status == "requested"
