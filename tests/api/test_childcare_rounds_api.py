"""The allocation rounds API: a clerk runs a round, a supervisor who did not compute it approves, the open numbers
download as JSON and CSV; residents, tenant admins and other municipalities are refused."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import pytest
from flask.testing import FlaskClient

from madoguchi.applications.models import Application
from madoguchi.db import Database
from madoguchi.documents.models import IssuedDocument
from madoguchi.identity.models import AccountKind
from tests.api.conftest import HTTPS
from tests.childcare.rounds_world import Household, Kid, add_facilities, born, file_application
from tests.factories import make_account, make_household, make_person, tenants

TOWN = "midorikawa-village"


@dataclass
class Office:
    slug: str
    clerk: FlaskClient
    supervisor: FlaskClient
    resident: FlaskClient
    admin: FlaskClient
    foreign_clerk: FlaskClient

    def url(self, path: str = "", slug: str | None = None) -> str:
        return f"{HTTPS}/api/v1/t/{slug or self.slug}/childcare/rounds{path}"


@pytest.fixture
def office(db: Database, sign_in, seeded) -> Office:
    by_slug = {tenant.slug: tenant for tenant in tenants(db)}
    tenant, other = by_slug[TOWN], by_slug["shiomi-town"]
    with db.transaction(tenant.id) as session:
        add_facilities(session, tenant)
        one = born(2025, 10, 1)
        for name in ("髙橋　結", "𠮷田　陽", "渡邊󠄂　蓮"):
            file_application(session, tenant, Household(kids=[Kid(name, one, ["HK-01", "HK-02"])]))
        person = make_person(session, tenant, make_household(session, tenant))
        accounts = [
            make_account(session, tenant, kind=AccountKind.STAFF, roles=["clerk"]),
            make_account(session, tenant, kind=AccountKind.STAFF, roles=["supervisor"]),
            make_account(session, tenant, person=person),
            make_account(session, tenant, kind=AccountKind.STAFF, roles=["tenant_admin"]),
        ]
    with db.transaction(other.id) as session:
        accounts.append(make_account(session, other, kind=AccountKind.STAFF, roles=["clerk", "supervisor"]))
    return Office(TOWN, *(sign_in(account) for account in accounts))


ROUND = {"label_ja": "令和9年4月一次", "label_en": "April 2027, first", "intake_month": "2027-04", "kind": "first"}


def test_a_clerk_runs_a_round_and_another_supervisor_approves_it(office: Office, db: Database) -> None:
    created = office.clerk.post(office.url(), json=ROUND)
    assert created.status_code == 201, created.json
    round_id = created.json["id"]
    assert created.json["status"] == "draft"
    assert {"facility_code": "HK-01", "age_class": 1, "seats": 2} in created.json["seats"]

    seats = office.clerk.put(
        office.url(f"/{round_id}/seats"), json={"seats": [{"facility_code": "HK-01", "age_class": 1, "seats": 1}]}
    )
    assert seats.status_code == 200 and {"facility_code": "HK-01", "age_class": 1, "seats": 1} in seats.json["seats"]

    for step in ("freeze", "compute"):
        done = office.clerk.post(office.url(f"/{round_id}/{step}"))
        assert done.status_code == 200, done.json
    assert done.json["status"] == "computed" and done.json["stats"]["entries"] == 3

    refused = office.clerk.post(office.url(f"/{round_id}/approve"))
    assert refused.status_code == 403 and refused.content_type == "application/problem+json"
    too_early = office.clerk.post(office.url(f"/{round_id}/publish"))
    assert too_early.status_code == 409 and too_early.content_type == "application/problem+json"
    assert office.supervisor.post(office.url(f"/{round_id}/approve")).json["status"] == "approved"

    results = office.clerk.get(office.url(f"/{round_id}/results"))
    assert sorted(r["outcome"] for r in results.json) == ["placed", "placed", "waitlisted"]

    numbers = office.clerk.get(office.url(f"/{round_id}/open-numbers"))
    row = next(r for r in numbers.json if (r["facility_code"], r["age_class"]) == ("HK-01", 1))
    assert row["seats"] == 1 and row["listed_by"] == 3 and row["placed"] == 1
    assert row["facility_name_ja"] == "ひかり保育園" and row["lowest_placed_score"] is not None
    download = office.clerk.get(office.url(f"/{round_id}/open-numbers?format=csv"))
    assert download.status_code == 200 and download.mimetype == "text/csv"
    assert 'filename="allocation-2027-04-first.csv"' in download.headers["Content-Disposition"]
    table = list(csv.DictReader(io.StringIO(download.get_data().decode("utf-8"))))
    assert {"HK-01", "HK-02"} <= {r["facility_code"] for r in table}
    assert next(r for r in table if r["facility_code"] == "HK-01" and r["age_class"] == "1")["placed"] == "1"

    published = office.clerk.post(office.url(f"/{round_id}/publish"))
    assert published.status_code == 200 and published.json["status"] == "published"
    assert published.json["stats"]["published"] == {"allocate": 2, "waitlist": 1}
    tenant = next(t for t in tenants(db) if t.slug == TOWN)
    with db.transaction(tenant.id) as session:
        states = sorted(a.state for a in session.query(Application).filter_by(service_key="childcare-admission"))
    assert states == ["approved", "approved", "waitlisted"]
    with db.transaction(tenant.id) as session:
        kinds = [d.kind for d in session.query(IssuedDocument)]
    assert kinds == ["childcare_waitlist"]  # the waitlisted household's 保留通知書, issued on publication


def test_bad_input_is_a_problem_and_changes_nothing(office: Office) -> None:
    refused = office.clerk.post(office.url(), json={**ROUND, "intake_month": "2027年4月"})
    assert refused.status_code == 422 and refused.content_type == "application/problem+json"
    assert "intake_month" in refused.json["errors"]
    assert office.clerk.get(office.url()).json == []
    round_id = office.clerk.post(office.url(), json=ROUND).json["id"]
    unknown = office.clerk.put(
        office.url(f"/{round_id}/seats"),
        json={
            "seats": [
                {"facility_code": "HK-01", "age_class": 1, "seats": 0},
                {"facility_code": "NOPE", "age_class": 1, "seats": 1},
            ]
        },
    )
    assert unknown.status_code == 422 and "seats.NOPE.1" in unknown.json["errors"]
    seats = office.clerk.get(office.url(f"/{round_id}")).json["seats"]
    assert {"facility_code": "HK-01", "age_class": 1, "seats": 2} in seats


def test_only_the_municipalitys_clerks_and_supervisors_see_rounds(office: Office) -> None:
    round_id = office.clerk.post(office.url(), json=ROUND).json["id"]
    for caller in (office.resident, office.admin):
        assert caller.get(office.url()).status_code == 403
        assert caller.get(office.url(f"/{round_id}")).status_code == 403
        assert caller.post(office.url(f"/{round_id}/freeze")).status_code == 403
    # Another municipality's staff: its credentials are not valid here, and this round is not in its own.
    assert office.foreign_clerk.get(office.url(f"/{round_id}")).status_code == 404
    assert office.foreign_clerk.get(office.url(f"/{round_id}", slug="shiomi-town")).status_code == 404
    assert office.foreign_clerk.post(office.url(f"/{round_id}/freeze", slug="shiomi-town")).status_code == 404
    assert office.clerk.get(office.url(f"/{round_id}")).json["status"] == "draft"
