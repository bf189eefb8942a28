"""The payments of an application in the API: what the fee stands at, and the staff's recordings of counter payments
and 定額小為替, with problem+json by field when refused and nothing changed (decision 0047)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import func, select

from madoguchi import jp
from madoguchi.payments.models import PaymentIntent, PostalOrder
from tests.payments.conftest import HTTPS, Desk, split


def _url(desk: Desk, application_id: uuid.UUID, tail: str = "/payments", slug: str | None = None) -> str:
    return f"{HTTPS}/api/v1/t/{slug or desk.tenant.slug}/applications/{application_id}{tail}"


def _intents(desk: Desk, application_id: uuid.UUID) -> int:
    with desk.db.transaction(desk.tenant.id) as session:
        return session.execute(
            select(func.count()).select_from(PaymentIntent).where(PaymentIntent.application_id == application_id)
        ).scalar_one()


def test_staff_and_the_applicant_read_the_fee_and_the_application_carries_its_summary(desk: Desk, sign_in) -> None:
    application_id = desk.submitted()
    clerk = sign_in(desk.clerk_account)
    payments = clerk.get(_url(desk, application_id))
    assert payments.status_code == 200, payments.json
    body = payments.json
    assert body["status"] == "due" and body["amount_due_jpy"] == desk.fee and body["paid_jpy"] == 0
    assert body["collected"] is True and body["currency"] == "JPY"
    assert body["quote"]["total_jpy"] == desk.fee and body["quote"]["items"][0]["kind"] == "fee"
    assert body["intents"] == [] and body["postal_orders"] == []
    application = clerk.get(_url(desk, application_id, ""))
    assert application.json["payment"]["amount_due_jpy"] == desk.fee
    assert application.json["payment"]["status"] == "due"
    listing = clerk.get(f"{HTTPS}/api/v1/t/{desk.tenant.slug}/applications/")
    assert all(item["payment"] is None for item in listing.json["items"])  # lists leave it out
    mine = sign_in(desk.resident_account).get(_url(desk, application_id))
    assert mine.status_code == 200 and mine.json["amount_due_jpy"] == desk.fee


def test_a_clerk_records_cash_once_with_its_key_and_the_resident_sees_it_without_the_note(desk: Desk, sign_in) -> None:
    application_id = desk.submitted()
    clerk = sign_in(desk.clerk_account)
    headers = {"Idempotency-Key": "cash-1"}
    body = {"mode": "cash", "receipt_number": "領-0042"}
    first = clerk.post(_url(desk, application_id, "/payments/counter"), json=body, headers=headers)
    assert first.status_code == 201, first.json
    assert first.json["intent"]["status"] == "succeeded" and first.json["intent"]["mode"] == "counter_cash"
    assert first.json["intent"]["note"] == "領-0042" and first.json["intent"]["amount_jpy"] == desk.fee
    assert [e["kind"] for e in first.json["intent"]["events"]] == ["created", "succeeded"]
    assert first.json["payment"]["status"] == "paid" and first.json["payment"]["amount_due_jpy"] == 0
    again = clerk.post(_url(desk, application_id, "/payments/counter"), json=body, headers=headers)
    assert again.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true"
    assert again.json["intent"]["id"] == first.json["intent"]["id"]
    # Another clerk's double click with the same key (no stored response for them): the same intent, 200.
    other = sign_in(desk.supervisor_account).post(
        _url(desk, application_id, "/payments/counter"), json=body, headers=headers
    )
    assert other.status_code == 200 and other.json["intent"]["id"] == first.json["intent"]["id"]
    assert _intents(desk, application_id) == 1
    seen = sign_in(desk.resident_account).get(_url(desk, application_id)).json
    assert seen["status"] == "paid" and seen["intents"][0]["note"] is None
    assert seen["intents"][0]["recorded_by_account_id"] is None


def test_counter_payments_are_refused_by_field_as_problem_json_and_nothing_is_recorded(desk: Desk, sign_in) -> None:
    application_id = desk.submitted()
    clerk = sign_in(desk.clerk_account)
    url = _url(desk, application_id, "/payments/counter")
    cases = [
        ({"mode": "cash"}, {}, "Idempotency-Key"),
        ({"mode": "cash", "amount_jpy": desk.fee + 50}, {"Idempotency-Key": "a"}, "amount_jpy"),
        ({"mode": "cheque"}, {"Idempotency-Key": "b"}, "mode"),
        ({"mode": "cash", "amount_jpy": "三百"}, {"Idempotency-Key": "c"}, "amount_jpy"),
    ]
    for body, headers, field in cases:
        response = clerk.post(url, json=body, headers=headers)
        assert response.status_code == 422, (body, response.json)
        assert response.content_type == "application/problem+json"
        assert field in response.json["errors"], response.json
    assert _intents(desk, application_id) == 0


def test_only_staff_record_and_another_municipality_sees_nothing(desk: Desk, sign_in) -> None:
    application_id = desk.submitted()
    resident = sign_in(desk.resident_account)
    refused = resident.post(
        _url(desk, application_id, "/payments/counter"), json={"mode": "cash"}, headers={"Idempotency-Key": "r"}
    )
    assert refused.status_code == 403
    foreign = sign_in(desk.foreign_clerk_account)
    for slug in (desk.tenant.slug, desk.other.slug):
        assert foreign.get(_url(desk, application_id, slug=slug)).status_code == 404
        posted = foreign.post(
            _url(desk, application_id, "/payments/counter", slug=slug),
            json={"mode": "cash"},
            headers={"Idempotency-Key": f"f-{slug}"},
        )
        assert posted.status_code == 404
    assert _intents(desk, application_id) == 0


def test_postal_orders_in_the_api_excess_expired_and_denominations(desk: Desk, sign_in) -> None:
    application_id = desk.submitted()
    clerk = sign_in(desk.clerk_account)
    url = _url(desk, application_id, "/postal-orders")
    today = jp.today()
    recent = (today - timedelta(days=5)).isoformat()
    wrong = clerk.post(
        url,
        json={"orders": [{"face_value": 600, "issued_on": recent}], "received_on": today.isoformat()},
        headers={"Idempotency-Key": "p0"},
    )
    assert wrong.status_code == 422 and "orders/0/face_value" in wrong.json["errors"], wrong.json
    orders = [{"face_value": v, "issued_on": recent} for v in [*split(desk.fee), 100]]
    stale = {"face_value": 50, "issued_on": (today - timedelta(days=300)).isoformat(), "number": "99-1"}
    body = {"orders": [*orders, stale], "received_on": today.isoformat()}
    excess = clerk.post(url, json=body, headers={"Idempotency-Key": "p1"})
    assert excess.status_code == 422 and "by 100 yen" in excess.json["errors"]["excess_returned"][0]
    with desk.db.transaction(desk.tenant.id) as session:
        assert session.execute(select(func.count()).select_from(PostalOrder)).scalar_one() == 0
    returned = clerk.post(url, json={**body, "excess_returned": True}, headers={"Idempotency-Key": "p2"})
    assert returned.status_code == 201, returned.json
    record = returned.json["record"]
    assert record["excess_jpy"] == 100 and record["excess_returned"] and record["expired_count"] == 1
    assert record["orders"][-1] == {
        "face_value": 50,
        "issued_on": stale["issued_on"],
        "number": "99-1",
        "expired": True,
    }
    assert returned.json["payment"]["amount_due_jpy"] == 0
    seen = clerk.get(_url(desk, application_id)).json
    assert seen["postal_orders"][0]["id"] == record["id"] and seen["intents"][0]["mode"] == "postal_order"


def test_the_payment_operations_are_in_the_openapi_document(app, desk: Desk) -> None:
    paths = app.test_client().get("/api/v1/openapi.json").json["paths"]
    base = "/api/v1/t/{tenant}/applications/{application_id}"
    assert "get" in paths[f"{base}/payments"]
    for tail in ("/payments/counter", "/postal-orders"):
        operation = paths[base + tail]["post"]
        assert {"403", "404", "409", "422"} <= set(operation["responses"])
        assert any(p["name"] == "Idempotency-Key" and p["required"] for p in operation["parameters"])


def test_the_applicant_starts_an_online_payment_once_per_key_staff_and_other_towns_cannot(desk: Desk, sign_in) -> None:
    application_id = desk.submitted()
    resident = sign_in(desk.resident_account)
    headers = {"Idempotency-Key": "pay-online-1"}
    started = resident.post(_url(desk, application_id), headers=headers)
    assert started.status_code == 201, started.json
    assert started.json["intent"]["status"] == "requires_payment" and started.json["intent"]["amount_jpy"] == desk.fee
    assert "/fake-pay/" in started.json["redirect_url"]
    assert started.json["payment"]["amount_due_jpy"] == desk.fee
    again = resident.post(_url(desk, application_id), headers=headers)
    assert again.json["intent"]["id"] == started.json["intent"]["id"]
    assert _intents(desk, application_id) == 1
    # Without a key nothing starts (a retried request must not pay twice).
    keyless = resident.post(_url(desk, application_id))
    assert keyless.status_code == 422 and "Idempotency-Key" in keyless.json["errors"]
    # Staff take money at the counter instead; another municipality's staff do not see the application at all.
    staff = sign_in(desk.clerk_account).post(_url(desk, application_id), headers={"Idempotency-Key": "pay-staff"})
    assert staff.status_code == 403, staff.json
    foreign = sign_in(desk.foreign_clerk_account).post(
        _url(desk, application_id, slug=desk.other.slug), headers={"Idempotency-Key": "pay-foreign"}
    )
    assert foreign.status_code == 404
    assert _intents(desk, application_id) == 1


def test_nothing_payable_online_is_409_and_starts_nothing(desk: Desk, sign_in) -> None:
    application_id = desk.submitted()
    sign_in(desk.clerk_account).post(
        _url(desk, application_id, "/payments/counter"), json={"mode": "cash"}, headers={"Idempotency-Key": "c"}
    )
    paid = sign_in(desk.resident_account).post(_url(desk, application_id), headers={"Idempotency-Key": "late"})
    assert paid.status_code == 409, paid.json
    assert _intents(desk, application_id) == 1  # the cash payment only
