"""What the portal says about identity levels (issue 19, point 2; decision 0048): the level a procedure needs and
what raises it, on the procedure page; on the review page, before submitting, the level this request needs, the
resident's own and how to get there (the card, the letter, the counter), in Japanese and English."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from madoguchi.applications.assurance import card_available
from madoguchi.db import Database
from madoguchi.identity.models import Account, IdentityAssurance
from madoguchi.tenancy.models import Tenant
from tests.identity.conftest import add_account, signed_in
from tests.portal.conftest import HTTPS, Towns, application_id_of, load, start, submit, url

CARD_NEEDED_JA = "マイナンバーカードによる本人確認が必要です。"
CARD_NEEDED_EN = "You need to confirm your identity with your My Number Card."
HELD_BY_LETTER_JA = "郵送の確認コードまたは窓口で本人確認済みです"


def _next(response: Any) -> str:
    assert response.status_code == 303, response.get_data(as_text=True)
    return HTTPS + response.headers["Location"]


def _review_of_a_copy_with_the_individual_number(client: Any, tenant: Tenant) -> str:
    page = start(client, tenant, "residency-certificate")
    page = _next(submit(client, page, {"/applicant/phone": "090-1234-5678", "action": "continue"}))
    page = _next(submit(client, page, {"/requester/relationship": "self", "action": "continue"}))
    answers = {
        "/scope": "self",
        "/include/individual_number": "on",
        "/purpose": "other",
        "/purpose_detail": "勤務先への個人番号の提出（年末調整）",
        "/copies": "1",
        "action": "continue",
    }
    page = _next(submit(client, page, answers))
    return _next(submit(client, page, {"/delivery": "mail", "action": "continue"}))


def _to_card_level(db: Database, account: Account) -> None:
    with db.transaction(account.tenant_id) as session:
        stmt = update(Account).where(Account.id == account.id).values(identity_assurance=IdentityAssurance.CARD.value)
        session.execute(stmt)


def test_the_procedure_page_says_which_answers_need_the_card(app: Any, towns: Towns) -> None:
    a = towns.a
    html = a.client.get(url(a.tenant, "/procedures/residency-certificate?lang=ja")).get_data(as_text=True)
    assert "本人確認（アカウントと住民記録の連携）が必要です。" in html
    assert f"「個人番号（マイナンバー）」の場合： {CARD_NEEDED_JA}" in html
    assert f"「住民票コード」の場合： {CARD_NEEDED_JA}" in html
    b = towns.b  # midorikawa-village speaks Japanese only
    english = b.client.get(url(b.tenant, "/procedures/residency-certificate?lang=en")).get_data(as_text=True)
    assert f"If you answer Individual Number (My Number): {CARD_NEEDED_EN}" in english
    # Another person's income: an agent needs the card.
    tax = a.client.get(url(a.tenant, "/procedures/tax-certificate?lang=ja")).get_data(as_text=True)
    assert f"「請求する方と本人との関係: 代理人（委任状あり）」の場合： {CARD_NEEDED_JA}" in tax
    # A visitor not signed in reads the same; the card sign-in is offered where the municipality has it.
    visitor = app.test_client().get(url(a.tenant, "/procedures/residency-certificate?lang=ja")).get_data(as_text=True)
    assert f"「個人番号（マイナンバー）」の場合： {CARD_NEEDED_JA}" in visitor
    assert (f"/{a.tenant.slug}/card/sign-in" in visitor) == _card_available(app, a.tenant)


def test_an_email_level_resident_sees_what_is_missing_before_and_after_submitting(
    app: Any, towns: Towns, db: Database
) -> None:
    a = towns.a
    newcomer = signed_in(app, a.tenant, add_account(db, a.tenant))
    procedure = newcomer.get(url(a.tenant, "/procedures/residency-certificate?lang=ja")).get_data(as_text=True)
    assert "お使いのアカウントはメールアドレスの確認のみで、住民記録とは連携していません。" in procedure
    assert f"/{a.tenant.slug}/account/identity" in procedure  # the letter

    page = start(newcomer, a.tenant, "residency-certificate")
    applicant = {
        "/applicant/name": "新井　花子",
        "/applicant/name_kana": "アライ　ハナコ",
        "/applicant/birth_date": "1990-01-02",
        "/applicant/postal_code": "100-0001",
        "/applicant/address": "緑川村本町1番地",
        "action": "continue",
    }
    page = _next(submit(newcomer, page, applicant))
    page = _next(submit(newcomer, page, {"/requester/relationship": "self", "action": "continue"}))
    page = _next(submit(newcomer, page, {"/scope": "self", "/purpose": "school", "/copies": "1", "action": "continue"}))
    review = _next(submit(newcomer, page, {"/delivery": "counter", "action": "continue"}))
    html = newcomer.get(review + "?lang=ja").get_data(as_text=True)
    assert 'id="identity-need"' in html
    assert "本人確認（アカウントと住民記録の連携）が必要です。" in html
    assert "郵送で確認コードを受け取る" in html and f"/{a.tenant.slug}/account/identity" in html
    assert "窓口で：マイナンバーカード、運転免許証またはパスポートをお持ちください。" in html

    refused = submit(newcomer, review, {})
    assert refused.status_code == 403
    assert "この手続きには本人確認が必要です" in refused.get_data(as_text=True)
    assert load(db, a.tenant, application_id_of(review)).state == "draft"


def test_a_letter_verified_resident_asking_for_the_individual_number_is_told_the_card_is_needed(
    app: Any, towns: Towns, db: Database
) -> None:
    a = towns.b  # in Japanese and English
    review = _review_of_a_copy_with_the_individual_number(a.client, a.tenant)
    html = a.client.get(review + "?lang=ja").get_data(as_text=True)
    assert CARD_NEEDED_JA in html
    assert "次の回答のため、この確認が必要です：個人番号（マイナンバー）" in html
    assert HELD_BY_LETTER_JA in html
    # The letter leads to ``verified`` only: it is not offered for the card's level.
    assert "郵送で確認コードを受け取る" not in html
    if _card_available(app, a.tenant):
        assert f"/{a.tenant.slug}/account/card/link" in html
    else:
        assert "この市区町村では、マイナンバーカードによるオンラインでの本人確認を行っていません。" in html
    english = a.client.get(review + "?lang=en").get_data(as_text=True)
    assert CARD_NEEDED_EN in english
    assert "This applies because of your answer: Individual Number (My Number)." in english

    refused = submit(a.client, review, {})
    assert refused.status_code == 403
    # The language chosen last (English) stays.
    assert "This request needs your identity confirmed with your My Number Card." in refused.get_data(as_text=True)
    assert load(db, a.tenant, application_id_of(review)).state == "draft"


def test_a_card_level_resident_asking_for_the_individual_number_submits(towns: Towns, db: Database) -> None:
    a = towns.a
    _to_card_level(db, a.resident)
    review = _review_of_a_copy_with_the_individual_number(a.client, a.tenant)
    html = a.client.get(review + "?lang=ja").get_data(as_text=True)
    assert 'id="identity-need"' not in html

    done = _next(submit(a.client, review, {}))

    application = load(db, a.tenant, application_id_of(done))
    assert application.state == "submitted" and application.data["include"]["individual_number"] is True


def test_a_resident_of_another_municipality_does_not_see_the_review_page(towns: Towns) -> None:
    a, b = towns.a, towns.b
    review = _review_of_a_copy_with_the_individual_number(a.client, a.tenant)
    path = review.removeprefix(f"{HTTPS}/{a.tenant.slug}")
    # Signed in at sakuragaoka-city only: midorikawa-village asks them to sign in there, and shows nothing.
    elsewhere = b.client.get(review)
    assert elsewhere.status_code == 303 and "/login" in elsewhere.headers["Location"]
    assert "identity-need" not in elsewhere.get_data(as_text=True)
    assert b.client.get(url(b.tenant, path)).status_code == 404


def _card_available(app: Any, tenant: Any) -> bool:
    """Whether the card is offered there: the platform's settings are the app's."""
    with app.app_context():
        return card_available(tenant)
