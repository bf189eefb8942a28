"""Identity levels through the API (issue 19, point 2; decision 0048): a procedure lists the level it needs and the
answers that raise it; submitting below the level answers 403 ``identity-assurance-required`` naming the level
needed, the account's own and the ways to get there, and changes nothing."""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import update

from madoguchi.applications.assurance import card_available
from madoguchi.applications.models import Application, SettingsSnapshot
from madoguchi.applications.snapshots import snapshot_hash
from madoguchi.db import Database
from madoguchi.identity.models import Account, IdentityAssurance
from madoguchi.tenancy.models import Tenant
from tests.api.conftest import HTTPS
from tests.factories import make_account, make_attachment, make_household, make_person, tenants
from tests.world import PRINCIPAL, RESIDENCY, residency_by_agent

PROBLEM_TYPE = "urn:madoguchi:problem:identity-assurance-required"
#: 個人番号 on the copy: the law asks for a purpose; the residency certificate then needs the card.
WITH_INDIVIDUAL_NUMBER: dict[str, Any] = {
    **RESIDENCY,
    "include": {"individual_number": True},
    "purpose_detail": "勤務先への個人番号の提出（年末調整）",
}


@dataclass
class Residents:
    tenant: Tenant
    other: Tenant
    #: Signed up, email confirmed, not linked to the register.
    email: FlaskClient
    #: Linked to the register by a letter (or at the counter).
    verified: FlaskClient
    #: Linked by the card.
    card: FlaskClient
    #: Linked by the card, at another municipality.
    foreign_card: FlaskClient

    def url(self, path: str = "", slug: str | None = None) -> str:
        return f"{HTTPS}/api/v1/t/{slug or self.tenant.slug}{path}"


def _card_account(session, tenant: Tenant, given_name: str) -> Account:
    person = make_person(session, tenant, make_household(session, tenant), given_name=given_name)
    account = make_account(session, tenant, person=person)
    account.identity_assurance = IdentityAssurance.CARD.value
    session.flush()
    return account


@pytest.fixture
def residents(db: Database, sign_in, seeded) -> Residents:
    tenant, other = tenants(db)[0], tenants(db)[2]
    with db.transaction(tenant.id) as session:
        email = make_account(session, tenant)
        verified = make_account(session, tenant, person=make_person(session, tenant, make_household(session, tenant)))
        card = _card_account(session, tenant, "𠮷子")
    with db.transaction(other.id) as session:
        foreign = _card_account(session, other, "髙志")
    return Residents(tenant, other, sign_in(email), sign_in(verified), sign_in(card), sign_in(foreign))


def _draft(r: Residents, client: FlaskClient, data: dict[str, Any], key: str = "residency-certificate") -> uuid.UUID:
    created = client.post(r.url("/applications/"), json={"procedure": key, "data": data})
    assert created.status_code == 201, created.json
    return uuid.UUID(created.json["id"])


def _state(db: Database, tenant: Tenant, application_id: uuid.UUID) -> tuple[str, Any]:
    with db.transaction(tenant.id) as session:
        application = session.get(Application, application_id)
        assert application is not None
        return application.state, application.submitted_at


def test_procedures_name_their_level_and_the_answers_that_raise_it(residents: Residents) -> None:
    listed = residents.email.get(residents.url("/procedures"))
    assert listed.status_code == 200
    by_key = {p["key"]: p for p in listed.json}
    assert by_key["residency-certificate"]["identity_assurance"] == "verified"
    assert by_key["residency-certificate"]["identity_assurance_when"] == [
        {"field": "/include/individual_number", "equals": True, "level": "card"},
        {"field": "/include/resident_record_code", "equals": True, "level": "card"},
    ]
    detail = residents.email.get(residents.url("/procedures/tax-certificate")).json
    assert detail["identity_assurance"] == "verified"
    assert [(c["equals"], c["level"]) for c in detail["identity_assurance_when"]] == [
        ("agent", "card"),
        ("legal_representative", "card"),
    ]


def test_an_email_level_resident_is_told_the_procedure_needs_a_verified_identity(
    residents: Residents, db: Database
) -> None:
    application_id = _draft(residents, residents.email, {**RESIDENCY, "applicant": dict(PRINCIPAL)})

    refused = residents.email.post(residents.url(f"/applications/{application_id}/submit"))

    assert refused.status_code == 403
    assert refused.mimetype == "application/problem+json"
    problem = refused.json
    assert problem["type"] == PROBLEM_TYPE and problem["status"] == 403
    assert problem["required_identity_assurance"] == "verified"
    assert problem["identity_assurance"] == "email"
    card = ["card"] if _card_offered(residents) else []
    assert problem["ways"] == [*card, "letter", "counter"]
    assert _state(db, residents.tenant, application_id) == ("draft", None)


def test_a_letter_verified_resident_asking_for_the_individual_number_needs_the_card(
    residents: Residents, db: Database
) -> None:
    application_id = _draft(residents, residents.verified, WITH_INDIVIDUAL_NUMBER)

    refused = residents.verified.post(residents.url(f"/applications/{application_id}/submit"))

    assert refused.status_code == 403, refused.json
    problem = refused.json
    assert problem["type"] == PROBLEM_TYPE
    assert (problem["required_identity_assurance"], problem["identity_assurance"]) == ("card", "verified")
    # The letter and the counter lead to ``verified`` only: the card is the one way, where the municipality offers it.
    assert problem["ways"] == (["card"] if _card_offered(residents) else [])
    assert "My Number Card" in problem["detail"]
    assert _state(db, residents.tenant, application_id) == ("draft", None)


def test_the_same_resident_without_the_individual_number_submits(residents: Residents, db: Database) -> None:
    application_id = _draft(residents, residents.verified, {**RESIDENCY, "include": {"individual_number": False}})

    submitted = residents.verified.post(residents.url(f"/applications/{application_id}/submit"))

    assert submitted.status_code == 200, submitted.json
    assert _state(db, residents.tenant, application_id)[0] == "submitted"


def test_a_card_level_resident_asking_for_the_individual_number_submits(residents: Residents, db: Database) -> None:
    application_id = _draft(residents, residents.card, WITH_INDIVIDUAL_NUMBER)

    submitted = residents.card.post(residents.url(f"/applications/{application_id}/submit"))

    assert submitted.status_code == 200, submitted.json
    assert _state(db, residents.tenant, application_id)[0] == "submitted"


def test_an_application_started_before_the_raised_levels_keeps_its_own_rule(residents: Residents, db: Database) -> None:
    application_id = _draft(residents, residents.verified, WITH_INDIVIDUAL_NUMBER)
    with db.transaction(residents.tenant.id) as session:  # the snapshot as written before decision 0048
        application = session.get(Application, application_id)
        assert application is not None
        settings = copy.deepcopy(application.settings_snapshot)
        content = {k: v for k, v in settings.items() if k != "identity_assurance_when"}
        older = SettingsSnapshot(tenant_id=residents.tenant.id, hash=snapshot_hash(content), content=content)
        session.add(older)
        session.flush()
        session.execute(
            update(Application).where(Application.id == application_id).values(settings_snapshot_hash=older.hash)
        )

    submitted = residents.verified.post(residents.url(f"/applications/{application_id}/submit"))

    assert submitted.status_code == 200, submitted.json


def test_an_agent_requesting_another_persons_tax_certificate_needs_the_card(residents: Residents, db: Database) -> None:
    tax = {
        "applicant": dict(PRINCIPAL),
        "requester": residency_by_agent("渡邊󠄂 花子")["requester"],
        "fiscal_year": 2025,
        "kind": "income",
        "purpose": "other",
        "purpose_detail": "扶養認定",
        "copies": 1,
        "delivery": "mail",
    }
    application_id = _draft(residents, residents.verified, tax, key="tax-certificate")
    with db.transaction(residents.tenant.id) as session:
        make_attachment(session, residents.tenant, application_id, "power_of_attorney")

    refused = residents.verified.post(residents.url(f"/applications/{application_id}/submit"))

    assert refused.status_code == 403, refused.json
    assert refused.json["required_identity_assurance"] == "card"
    assert _state(db, residents.tenant, application_id) == ("draft", None)


def test_a_card_level_resident_of_another_municipality_does_not_find_the_application(
    residents: Residents, db: Database
) -> None:
    application_id = _draft(residents, residents.verified, WITH_INDIVIDUAL_NUMBER)

    # Their card counts where they live: here the application is simply not there (404), not a level problem.
    elsewhere = residents.foreign_card.post(residents.url(f"/applications/{application_id}/submit"))
    assert elsewhere.status_code == 404 and elsewhere.json["type"] == "urn:madoguchi:problem:not-found"
    across = residents.foreign_card.post(
        residents.url(f"/applications/{application_id}/submit", slug=residents.other.slug)
    )
    assert across.status_code == 404
    assert _state(db, residents.tenant, application_id) == ("draft", None)


def _card_offered(residents: Residents) -> bool:
    """Whether the municipality offers the card (the platform's settings are the app's)."""
    with residents.email.application.app_context():
        return card_available(residents.tenant)
