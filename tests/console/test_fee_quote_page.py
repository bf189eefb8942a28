"""The fee on the console's application page (decision 0043): the quote's lines and total in yen, and the clerk's
form to fix the fee or grant 減免, refused beside the field with nothing changed, and closed to other
municipalities."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from madoguchi.payments.models import FeeQuote
from tests.console.conftest import HTTPS, Office, post_form, version_on
from tests.console.test_counter_filing import ANSWERS, _start


def _page(office: Office, application_id: uuid.UUID) -> str:
    return office.url(f"/applications/{application_id}")


def _post(office: Office, application_id: uuid.UUID, data: dict[str, str], client=None):
    return post_form(
        client or office.clerk,
        office.url(f"/applications/{application_id}/fee-quote"),
        data,
        form_url=_page(office, application_id),
    )


def _quotes(office: Office, application_id: uuid.UUID) -> list[tuple[int, str | None, bool]]:
    with office.db.transaction(office.tenant.id) as session:
        rows = session.execute(
            select(FeeQuote).where(FeeQuote.application_id == application_id).order_by(FeeQuote.created_at)
        ).scalars()
        return [(row.total_jpy, row.exemption_code, row.superseded_at is None) for row in rows]


def test_the_page_shows_the_quote_in_yen(office: Office) -> None:
    application_id = office.submitted(copies=2)

    html = office.clerk.get(_page(office, application_id)).get_data(as_text=True)

    assert 'id="console-fee-quote"' in html
    assert 'data-total="800"' in html and "800円" in html and "400円" in html
    assert "Fix the fee or grant an exemption" not in html  # Japanese only at this municipality
    assert "手数料の確定・減免" in html


def test_a_clerk_grants_an_exemption_and_the_page_shows_nothing_due(office: Office) -> None:
    application_id = office.submitted()

    done = _post(
        office,
        application_id,
        {"kind": "exemption", "exemption": "public_pension", "exemption_reason": "年金事務所への提出（現況届）"},
    )

    assert done.status_code == 303
    assert _quotes(office, application_id) == [(400, None, False), (0, "public_pension", True)]
    html = office.clerk.get(_page(office, application_id)).get_data(as_text=True)
    assert 'data-total="0"' in html and "年金事務所への提出（現況届）" in html


def test_a_fixed_fee_may_be_typed_in_full_width_digits(office: Office) -> None:
    application_id = office.submitted()

    done = _post(office, application_id, {"kind": "fixed", "fixed_fee_jpy": "１，２００円", "channel": "counter"})

    assert done.status_code == 303
    assert _quotes(office, application_id)[-1] == (1200, None, True)


def test_an_exemption_without_a_reason_is_refused_beside_the_field(office: Office) -> None:
    application_id = office.submitted()

    refused = _post(office, application_id, {"kind": "exemption", "exemption": "disaster", "exemption_reason": " "})

    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert 'id="exemption_reason-error"' in html or "field-error" in html
    assert "減免の理由を入力してください" in html
    assert _quotes(office, application_id) == [(400, None, True)]


def test_a_fee_that_is_not_a_number_is_refused(office: Office) -> None:
    application_id = office.submitted()

    refused = _post(office, application_id, {"kind": "fixed", "fixed_fee_jpy": "三百"})

    assert refused.status_code == 422
    assert _quotes(office, application_id) == [(400, None, True)]


def test_another_municipalitys_clerk_gets_404_and_a_resident_403(office: Office) -> None:
    application_id = office.submitted()
    body = {"kind": "exemption", "exemption": "disaster", "exemption_reason": "越境"}
    home = f"{HTTPS}/{office.tenant.slug}/"  # any page with a form gives the resident a CSRF token
    foreign = office.url(f"/applications/{application_id}/fee-quote", slug=office.other.slug)

    by_foreign_clerk = post_form(office.foreign_clerk, foreign, body, form_url=office.url("/", slug=office.other.slug))
    by_resident = post_form(
        office.resident, office.url(f"/applications/{application_id}/fee-quote"), body, form_url=home
    )

    assert (by_foreign_clerk.status_code, by_resident.status_code) == (404, 403)
    assert _quotes(office, application_id) == [(400, None, True)]


def test_the_counter_shows_the_fee_before_and_after_the_resident_confirms(office: Office) -> None:
    application_id = _start(office)
    form_url = office.url(f"/counter/{application_id}/form")
    form = office.clerk.get(form_url).get_data(as_text=True)
    post_form(office.clerk, form_url, {**ANSWERS, "version": version_on(form)}, form_url=form_url)
    confirm_url = office.url(f"/counter/{application_id}/confirm")

    confirm = office.clerk.get(confirm_url).get_data(as_text=True)
    assert 'id="counter-fee"' in confirm and 'data-total="800"' in confirm and "800円" in confirm
    assert _quotes(office, application_id) == []  # a preview until the resident confirms

    post_form(office.clerk, confirm_url, {"checked": "true", "version": version_on(confirm)}, form_url=confirm_url)
    done = office.clerk.get(office.url(f"/counter/{application_id}/done")).get_data(as_text=True)
    assert 'data-total="800"' in done and "収納する手数料" in done
    with office.db.transaction(office.tenant.id) as session:
        quote = session.execute(select(FeeQuote).where(FeeQuote.application_id == application_id)).scalar_one()
    assert (quote.channel, quote.total_jpy) == ("counter", 800)
