"""Which language an email is in (the resident's choice, within the municipality's locales), the schema behind
it, and the notices inbox that goes with the emails (an issued certificate gives a notice; unread counts)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy import select

from madoguchi import models  # noqa: F401 - every model in the metadata
from madoguchi.identity.models import Account
from madoguchi.notify.models import EmailDelivery, Notice
from tests.notify.conftest import HTTPS, drain, submit_application
from tests.support.schema import schema_differences

#: The outbox worker sends on threads of its own, so these tests commit for real.
pytestmark = pytest.mark.commits


def _account(db, town) -> Account:
    with db.transaction(town.tenant.id) as session:
        return session.execute(select(Account).where(Account.id == town.resident_account.id)).scalar_one()


def _deliveries(db, town) -> list[EmailDelivery]:
    with db.transaction(town.tenant.id) as session:
        return list(session.execute(select(EmailDelivery).order_by(EmailDelivery.created_at)).scalars())


# SQLite's reflection cannot read the queue's expression indexes on applications (decision 0024); this test
# compares other tables.
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based index")
def test_the_migration_matches_the_models(backend) -> None:
    assert [d for d in schema_differences(backend.owner_url) if "email_deliveries" in repr(d)] == []
    engine = sa.create_engine(backend.owner_url, poolclass=sa.pool.NullPool)
    try:
        assert "locale" in {c["name"] for c in sa.inspect(engine).get_columns("accounts")}
    finally:
        engine.dispose()


def test_a_resident_who_switches_to_english_gets_english_emails_and_notices(app, db, towns, settings, sign_in) -> None:
    _, town = towns  # sakuragaoka-city: Japanese and English; residency certificates auto-issued
    resident = sign_in(town.resident_account)
    assert resident.get(f"{HTTPS}/{town.slug}/notices/?lang=en").status_code == 200
    assert _account(db, town).locale == "en"

    submit_application(db, town)  # submitted, then approved and issued with no clerk
    with app.app_context():  # the worker renders the emails with the app's translations
        drain(db, settings)
    deliveries = _deliveries(db, town)
    assert [d.template for d in deliveries] == ["application.submitted", "application.approved", "application.issued"]
    assert {d.locale for d in deliveries} == {"en"} and {d.status for d in deliveries} == {"sent"}
    assert deliveries[-1].subject.startswith("[Sakuragaoka")

    # The inbox has a notice for each of the same events, "issued" included, all unread.
    with db.transaction(town.tenant.id) as session:
        notices = list(session.execute(select(Notice).order_by(Notice.created_at)).scalars())
    assert [n.kind for n in notices] == ["application.submitted", "application.approved", "application.issued"]
    inbox = resident.get(f"{HTTPS}/{town.slug}/notices/").get_data(as_text=True)
    assert '<span class="count">3</span>' in inbox
    issued = notices[-1]
    assert resident.get(f"{HTTPS}/{town.slug}/notices/{issued.id}").status_code == 200
    assert '<span class="count">2</span>' in resident.get(f"{HTTPS}/{town.slug}/notices/").get_data(as_text=True)


def test_a_language_the_municipality_does_not_offer_is_not_used(app, db, towns, settings, sign_in) -> None:
    town, _ = towns  # midorikawa-village: Japanese only
    sign_in(town.resident_account).get(f"{HTTPS}/{town.slug}/notices/?lang=en")
    assert _account(db, town).locale is None
    with db.transaction(town.tenant.id) as session:
        session.get(Account, town.resident_account.id).locale = "en"  # chosen earlier, say, before a change
    submit_application(db, town)
    with app.app_context():  # the worker renders the emails with the app's translations
        drain(db, settings)
    [delivery] = _deliveries(db, town)
    assert delivery.locale == "ja" and "申請を受け付けました" in delivery.subject


def test_staff_choosing_a_language_does_not_change_any_account(db, towns, sign_in) -> None:
    _, town = towns
    sign_in(town.clerk).get(f"{HTTPS}/{town.slug}/console/?lang=en")
    with db.transaction(town.tenant.id) as session:
        assert session.get(Account, town.clerk.id).locale is None
