"""Four eyes on the console's application page: the supervisor who recommended sees no approve button and a
note saying why; a post of it anyway is refused beside the actions; another supervisor approves.

shiomi-town runs the residency certificate with the optional supervisor approval step (上長決裁).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from madoguchi.applications import operations
from madoguchi.applications.models import Application
from madoguchi.db import Database
from madoguchi.identity.actors import Actor
from madoguchi.identity.models import Account, AccountKind
from madoguchi.tenancy.models import Tenant
from tests.api.conftest import HTTPS, sign_in  # noqa: F401 - the fixture, for these tests
from tests.api.test_applications_api import RESIDENCY
from tests.console.conftest import post_form, version_on
from tests.factories import make_account, make_household, make_person, tenants

NOTE_JA = "推薦した職員は決裁できません。"
NOTE_EN = "The staff member who recommended cannot approve."


@dataclass
class Town:
    tenant: Tenant
    db: Database
    resident_account: Account
    supervisor_account: Account
    supervisor: FlaskClient
    second_supervisor: FlaskClient
    foreign_supervisor: FlaskClient

    def page(self, application_id: uuid.UUID, slug: str | None = None) -> str:
        return f"{HTTPS}/{slug or self.tenant.slug}/console/applications/{application_id}"

    def recommended_by_supervisor(self) -> uuid.UUID:
        with self.db.transaction(self.tenant.id) as session:
            tenant = session.merge(self.tenant)
            resident = Actor.of(session.merge(self.resident_account))
            supervisor = Actor.of(session.merge(self.supervisor_account))
            application = operations.create_draft(session, tenant, resident, "residency-certificate", RESIDENCY)
            operations.submit(session, tenant, resident, application.id)
            for name in ("start_review", "recommend_approval"):
                operations.transition(session, tenant, supervisor, application.id, name)
            return application.id

    def state(self, application_id: uuid.UUID) -> str:
        with self.db.transaction(self.tenant.id) as session:
            return session.execute(select(Application.state).where(Application.id == application_id)).scalar_one()


@pytest.fixture
def town(db: Database, seeded: None, sign_in) -> Town:  # noqa: F811
    found = {t.slug: t for t in tenants(db)}
    tenant, other = found["shiomi-town"], found["midorikawa-village"]
    with db.transaction(tenant.id) as session:
        person = make_person(session, tenant, make_household(session, tenant), given_name="𠮷太郎")
        resident_account = make_account(session, tenant, person=person)
        supervisor = make_account(session, tenant, kind=AccountKind.STAFF, roles=["clerk", "supervisor"])
        second = make_account(session, tenant, kind=AccountKind.STAFF, roles=["supervisor"])
    with db.transaction(other.id) as session:
        foreign = make_account(session, other, kind=AccountKind.STAFF, roles=["clerk", "supervisor"])
    return Town(tenant, db, resident_account, supervisor, sign_in(supervisor), sign_in(second), sign_in(foreign))


def test_the_recommender_sees_no_approve_button_and_the_reason(town: Town) -> None:
    application_id = town.recommended_by_supervisor()

    html = town.supervisor.get(town.page(application_id)).get_data(as_text=True)
    assert 'value="approve"' not in html
    assert 'value="return_to_review"' in html  # what they may still do is offered
    assert NOTE_JA in html
    english = town.supervisor.get(town.page(application_id) + "?lang=en").get_data(as_text=True)
    assert NOTE_EN in english


def test_another_supervisor_sees_the_approve_button_and_no_note(town: Town) -> None:
    application_id = town.recommended_by_supervisor()
    url = town.page(application_id)

    html = town.second_supervisor.get(url).get_data(as_text=True)
    assert 'value="approve"' in html and NOTE_JA not in html
    response = post_form(
        town.second_supervisor,
        f"{url}/transitions",
        {"transition": "approve", "version": version_on(html)},
        form_url=url,
    )
    assert response.status_code == 303
    assert town.state(application_id) == "approved"


def test_a_posted_approve_from_the_recommender_is_refused_beside_the_actions(town: Town) -> None:
    application_id = town.recommended_by_supervisor()
    url = town.page(application_id)
    version = version_on(town.supervisor.get(url).get_data(as_text=True))

    response = post_form(
        town.supervisor, f"{url}/transitions", {"transition": "approve", "version": version}, form_url=url
    )

    assert response.status_code == 403
    html = response.get_data(as_text=True)
    assert html.count(NOTE_JA) >= 2  # in the error summary and beside the actions
    assert town.state(application_id) == "awaiting_approval"


def test_a_supervisor_of_another_municipality_cannot_approve_it(town: Town) -> None:
    """Signed in elsewhere: this console sends them to sign in; through their own console it does not exist."""
    application_id = town.recommended_by_supervisor()
    here = town.foreign_supervisor.get(town.page(application_id))
    assert here.status_code == 303 and f"/{town.tenant.slug}/login?next=" in here.headers["Location"]
    other = "midorikawa-village"
    response = post_form(
        town.foreign_supervisor,
        town.page(application_id, slug=other) + "/transitions",
        {"transition": "approve"},
        form_url=f"{HTTPS}/{other}/console/",
    )
    assert response.status_code == 404
    assert town.state(application_id) == "awaiting_approval"
