"""The fee on the portal's review page, before anything is sent (decision 0043): an unsaved preview, 300円 in
Japanese and ¥300 in English, the システム利用料 as its own line; nothing is stored until submit."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from madoguchi.applications import operations as ops
from madoguchi.db import Database
from madoguchi.identity.actors import Actor
from madoguchi.identity.models import Account
from madoguchi.payments.models import FeeQuote
from madoguchi.tenancy.models import Tenant
from madoguchi.tenancy.resolution import serving_tenants
from tests.portal.conftest import Town, Towns, url
from tests.world import RESIDENCY


def _draft(db: Database, town: Town, **answers: object) -> uuid.UUID:
    with db.transaction(town.tenant.id) as session:
        actor = Actor.of(session.get(Account, town.resident.id))
        tenant = session.get(Tenant, town.tenant.id)
        return ops.create_draft(session, tenant, actor, "residency-certificate", {**RESIDENCY, **answers}).id


def _stored(db: Database, town: Town, application_id: uuid.UUID) -> list[FeeQuote]:
    with db.transaction(town.tenant.id) as session:
        return list(session.execute(select(FeeQuote).where(FeeQuote.application_id == application_id)).scalars())


def test_the_review_page_shows_the_total_in_yen_in_each_language_and_stores_nothing(db, towns: Towns) -> None:
    city = towns.b  # sakuragaoka-city: 300円 a copy online, Japanese and English
    application_id = _draft(db, city, scope="whole_household", copies=2)
    review = url(city.tenant, f"/applications/{application_id}/review")

    ja = city.client.get(review).get_data(as_text=True)
    en = city.client.get(f"{review}?lang=en").get_data(as_text=True)

    assert 'id="review-fee"' in ja and 'data-total="600"' in ja
    assert "600円" in ja and "（2人分）" in ja and "合計" in ja
    assert "¥600" in en and "¥300" in en and "600円" not in en
    assert _stored(db, city, application_id) == []


def test_the_surcharge_is_its_own_line_on_the_review_page(app, db, towns: Towns) -> None:
    city = towns.b
    with db.transaction() as session:
        tenant = session.get(Tenant, city.tenant.id)
        assert tenant is not None
        label = {"ja": "システム利用料", "en": "System fee"}
        payments = {"provider": "fake", "online": "prepay", "surcharge": {"amount": 50, "label": label}}
        tenant.profile = {**(tenant.profile or {}), "payments": payments}
    serving_tenants(app).forget(city.tenant.slug)  # the profile is cached per process for a few seconds
    application_id = _draft(db, city)

    html = city.client.get(url(city.tenant, f"/applications/{application_id}/review")).get_data(as_text=True)

    assert 'data-kind="surcharge"' in html and "システム利用料" in html and "50円" in html
    assert 'data-total="350"' in html and 'id="surcharge-note"' in html
