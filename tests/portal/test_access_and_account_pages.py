"""Who may see portal pages, connected apps with revoke, and identity verification by letter."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from madoguchi.db import Database
from madoguchi.identity import operations as identity
from madoguchi.identity.models import Account, IdentityVerification
from madoguchi.oauth import operations as oauth
from madoguchi.oauth.models import OAuthConsent
from madoguchi.outbox import OutboxMessage
from tests.conftest import DATA_KEY
from tests.identity.conftest import add_account, signed_in, staff_account
from tests.portal.conftest import Towns, application_id_of, start, submit, url

PORTAL_PAGES = (
    "/applications/",
    "/notices/",
    "/account/connected-apps",
    "/account/identity",
    "/account/data-use",
    "/account/data-use/csv",
)


def test_a_resident_of_another_municipality_is_sent_to_sign_in_and_sees_nothing(towns: Towns) -> None:
    a, b = towns.a, towns.b
    b_application = application_id_of(start(b.client, b.tenant, "residency-certificate"))
    for path in (*PORTAL_PAGES, f"/applications/{b_application}", f"/applications/{b_application}/form/1"):
        response = a.client.get(url(b.tenant, path))
        assert response.status_code == 303, path
        assert response.headers["Location"].startswith(f"/{b.tenant.slug}/login?next=")


def test_another_municipalitys_application_id_under_my_municipality_is_not_found(towns: Towns) -> None:
    a, b = towns.a, towns.b
    b_application = application_id_of(start(b.client, b.tenant, "residency-certificate"))
    for path in ("", "/form/1", "/review", "/submitted"):
        response = a.client.get(url(a.tenant, f"/applications/{b_application}{path}"))
        assert response.status_code == 404, path
    withdraw = submit(
        a.client, url(a.tenant, "/applications/"), {}, action=url(a.tenant, f"/applications/{b_application}/withdraw")
    )
    assert withdraw.status_code == 404


def test_another_residents_application_is_not_found(app: Any, towns: Towns, db: Database) -> None:
    a = towns.a
    mine = application_id_of(start(a.client, a.tenant, "residency-certificate"))
    neighbour = signed_in(app, a.tenant, add_account(db, a.tenant))
    for path in ("", "/form/1", "/review"):
        assert neighbour.get(url(a.tenant, f"/applications/{mine}{path}")).status_code == 404
    assert mine not in neighbour.get(url(a.tenant, "/applications/")).get_data(as_text=True)


def test_staff_get_403_on_resident_pages(app: Any, towns: Towns, db: Database) -> None:
    a = towns.a
    clerk = signed_in(app, a.tenant, staff_account(db, a.tenant, "clerk"))
    for path in PORTAL_PAGES:
        assert clerk.get(url(a.tenant, path)).status_code == 403, path


def test_procedure_pages_are_public_and_say_what_a_resident_needs(client: Any, towns: Towns) -> None:
    response = client.get(url(towns.a.tenant, "/procedures/residency-certificate"))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    for text in ("住民票の写し", "手数料", "申請できる方", "委任状", "本人確認", "ログインして申請する"):
        assert text in html
    assert client.get(url(towns.a.tenant, "/procedures/no-such-procedure")).status_code == 404


def test_a_resident_sees_and_revokes_a_connected_app(towns: Towns, db: Database) -> None:
    a = towns.a
    with db.transaction(a.tenant.id) as session:
        registration = oauth.ClientRegistration(
            name="Kurashi Navi",
            redirect_uris=["https://vendor.example.jp/callback"],
            grant_types=["authorization_code"],
            scopes=[],
            public=False,
            homepage_url="https://vendor.example.jp/",
        )
        client, _secret = oauth.create_client(session, a.tenant.id, registration, actor="test")
        account = session.execute(select(Account).where(Account.id == a.resident.id)).scalar_one()
        oauth.record_consent(session, client, account, {"applications:read"}, actor="test")
    page = url(a.tenant, "/account/connected-apps")
    html = a.client.get(page).get_data(as_text=True)
    assert "Kurashi Navi" in html and "あなたの申請とその状況を見る" in html
    with db.transaction(a.tenant.id) as session:
        consent_id = session.execute(select(OAuthConsent.id)).scalar_one()

    assert (
        submit(
            towns.b.client,
            url(towns.b.tenant, "/account/connected-apps"),
            {},
            action=url(towns.b.tenant, f"/account/connected-apps/{consent_id}/revoke"),
        ).status_code
        == 404
    )
    revoked = submit(a.client, page, {}, action=url(a.tenant, f"/account/connected-apps/{consent_id}/revoke"))
    assert revoked.status_code == 303
    with db.transaction(a.tenant.id) as session:
        assert session.execute(select(OAuthConsent)).first() is None
    assert "Kurashi Navi" not in a.client.get(page).get_data(as_text=True)


def test_identity_verification_by_letter_code(app: Any, towns: Towns, db: Database) -> None:
    a = towns.a
    with db.transaction(a.tenant.id) as session:  # a person in the register that has no account yet
        from tests.factories import make_person

        person = make_person(session, a.tenant, given_name="花子", given_name_kana="ハナコ")
    newcomer_account = add_account(db, a.tenant)
    newcomer = signed_in(app, a.tenant, newcomer_account)
    page = url(a.tenant, "/account/identity")
    html = newcomer.get(page).get_data(as_text=True)
    assert "窓口" in html and "住民票コード" in html

    wrong = submit(
        newcomer, page, {"resident_code": person.resident_code, "birth_date": "2000-01-01"}, action=page + "/letter"
    )
    assert wrong.status_code == 422
    assert 'href="#resident_code"' in wrong.get_data(as_text=True)

    sent = submit(
        newcomer,
        page,
        {"resident_code": person.resident_code, "birth_date": person.birth_date.isoformat()},
        action=page + "/letter",
    )
    assert sent.status_code == 303
    with db.transaction(a.tenant.id) as session:
        letter = session.execute(select(OutboxMessage).where(OutboxMessage.topic == "notify.letter")).scalar_one()
    code = identity.open_letter_code(letter.payload, a.tenant.id, DATA_KEY)

    bad = submit(newcomer, page, {"code": "WRONGCODE"}, action=page + "/code")
    assert bad.status_code == 422
    assert 'href="#code"' in bad.get_data(as_text=True)
    with db.transaction(a.tenant.id) as session:
        assert session.execute(select(IdentityVerification.attempts)).scalar_one() == 1

    good = submit(newcomer, page, {"code": code}, action=page + "/code")
    assert good.status_code == 303
    with db.transaction(a.tenant.id) as session:
        linked = session.execute(select(Account).where(Account.id == newcomer_account.id)).scalar_one()
    assert linked.person_id == person.id and linked.is_verified
