"""The applications API over HTTP: residents file and follow, staff process, with ETags and idempotency."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from madoguchi.api.auth import COUNTERS_EXTENSION
from madoguchi.applications import operations
from madoguchi.applications.models import Application
from madoguchi.db import Database, utcnow
from madoguchi.idempotency_keys import IdempotencyKey
from madoguchi.identity.actors import Actor
from madoguchi.identity.models import Account, AccountKind
from tests.api.conftest import HTTPS
from tests.factories import make_account, make_household, make_person, tenants
from tests.world import RESIDENCY


@dataclass
class Callers:
    tenant: object
    resident: FlaskClient
    other_resident: FlaskClient
    clerk: FlaskClient
    supervisor: FlaskClient
    foreign_clerk: FlaskClient
    resident_account: Account
    clerk_account: Account
    resident_code: str

    def url(self, path: str = "", slug: str | None = None) -> str:
        return f"{HTTPS}/api/v1/t/{slug or self.tenant.slug}/applications{path}"


@pytest.fixture
def callers(db: Database, sign_in, seeded) -> Callers:
    tenant, other = tenants(db)[0], tenants(db)[2]
    with db.transaction(tenant.id) as session:
        household = make_household(session, tenant)
        parent = make_person(session, tenant, household)
        neighbour = make_person(session, tenant, given_name="次郎")
        resident_account = make_account(session, tenant, person=parent)
        other_account = make_account(session, tenant, person=neighbour)
        clerk = make_account(session, tenant, kind=AccountKind.STAFF, roles=["clerk"])
        supervisor = make_account(session, tenant, kind=AccountKind.STAFF, roles=["clerk", "supervisor"])
        code = parent.resident_code
    with db.transaction(other.id) as session:
        foreign = make_account(session, other, kind=AccountKind.STAFF, roles=["clerk", "supervisor"])
    return Callers(
        tenant,
        sign_in(resident_account),
        sign_in(other_account),
        sign_in(clerk),
        sign_in(supervisor),
        sign_in(foreign),
        resident_account,
        clerk,
        code,
    )


def _create(c: Callers, client: FlaskClient | None = None, data=RESIDENCY, **extra):
    return (client or c.resident).post(c.url("/"), json={"procedure": "residency-certificate", "data": data}, **extra)


def _submitted(c: Callers) -> str:
    application_id = _create(c).json["id"]
    assert c.resident.post(c.url(f"/{application_id}/submit")).status_code == 200
    return application_id


def _count(db: Database, tenant) -> int:
    with db.transaction(tenant.id) as session:
        return session.execute(select(func.count()).select_from(Application)).scalar_one()


def test_anonymous_caller_gets_401_problem(client, db) -> None:
    response = client.get(f"/api/v1/t/{tenants(db)[0].slug}/applications/")
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"


def test_resident_creates_a_prefilled_draft_with_an_etag(callers: Callers) -> None:
    response = _create(callers)
    assert response.status_code == 201, response.json
    body = response.json
    assert body["state"] == "draft" and body["channel"] == "online"
    assert body["data"]["applicant"]["name"] == "髙橋　一郎"
    assert body["prefill_sources"]["/applicant/name"]["source"] == "resident_register"
    assert response.headers["ETag"] == f'"{body["version"]}"'
    assert "submit" in [t["name"] for t in body["available_transitions"]]


def test_form_data_of_the_wrong_shape_is_422_with_field_errors_and_creates_nothing(callers: Callers, db) -> None:
    response = _create(callers, data={**RESIDENCY, "copies": "many"})
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert "/copies" in response.json["errors"]
    missing = callers.resident.post(callers.url("/"), json={"data": {}})
    assert missing.status_code == 422 and "procedure" in missing.json["errors"]
    assert _count(db, callers.tenant) == 0


def test_update_needs_the_current_version(callers: Callers) -> None:
    created = _create(callers).json
    url = callers.url(f"/{created['id']}")
    assert callers.resident.put(url, json={"data": RESIDENCY}).status_code == 428
    ok = callers.resident.put(
        url, json={"data": {**RESIDENCY, "copies": 2}}, headers={"If-Match": f'"{created["version"]}"'}
    )
    assert ok.status_code == 200 and ok.json["data"]["copies"] == 2
    stale = callers.resident.put(url, json={"data": RESIDENCY}, headers={"If-Match": f'"{created["version"]}"'})
    assert stale.status_code == 412
    garbage = callers.resident.put(url, json={"data": RESIDENCY}, headers={"If-Match": "yesterday"})
    assert garbage.status_code == 422


def test_incomplete_submission_lists_missing_fields(callers: Callers) -> None:
    created = _create(callers, data={"copies": 1}).json
    response = callers.resident.post(callers.url(f"/{created['id']}/submit"))
    assert response.status_code == 422
    assert {"/purpose", "/scope"} <= set(response.json["errors"])


def test_other_resident_and_other_tenant_get_404_and_nothing_changes(callers: Callers, db: Database) -> None:
    application_id = _submitted(callers)
    url = callers.url(f"/{application_id}")
    assert callers.other_resident.get(url).status_code == 404
    assert callers.other_resident.post(f"{url}/transitions", json={"transition": "withdraw"}).status_code == 404
    # A clerk of another municipality, on this municipality's URL and on their own.
    assert callers.foreign_clerk.get(url).status_code == 404
    foreign_slug = tenants(db)[2].slug
    assert callers.foreign_clerk.get(callers.url(f"/{application_id}", slug=foreign_slug)).status_code == 404
    assert (
        callers.foreign_clerk.post(
            callers.url(f"/{application_id}/transitions", slug=foreign_slug), json={"transition": "start_review"}
        ).status_code
        == 404
    )
    assert callers.resident.get(url).json["state"] == "submitted"


def test_staff_queue_hides_resident_drafts_and_filters(callers: Callers) -> None:
    draft_id = _create(callers).json["id"]
    submitted_id = _submitted(callers)
    queue = callers.clerk.get(callers.url("/")).json["items"]
    assert [a["id"] for a in queue] == [submitted_id]
    assert draft_id not in [a["id"] for a in callers.resident.get(callers.url("/?state=submitted")).json["items"]]
    assert callers.clerk.get(callers.url("/?procedure=tax-certificate")).json["items"] == []
    assert callers.clerk.get(callers.url("/?assignee=none")).json["items"][0]["id"] == submitted_id
    assert callers.clerk.get(callers.url("/?assignee=me")).json["items"] == []
    assert callers.clerk.get(callers.url("/?overdue=true")).json["items"] == []
    assert callers.resident.get(callers.url("/?overdue=true")).status_code == 403
    assert callers.clerk.get(callers.url("/?assignee=bob")).status_code == 422


def test_overdue_filter_uses_the_due_date(callers: Callers, db: Database) -> None:
    late_id = _submitted(callers)
    _submitted(callers)
    with db.transaction(callers.tenant.id) as session:
        session.execute(
            update(Application)
            .where(Application.id == uuid.UUID(late_id))
            .values(due_on=date.today() - timedelta(days=1))
        )
    items = callers.clerk.get(callers.url("/?overdue=true")).json["items"]
    assert [a["id"] for a in items] == [late_id] and items[0]["overdue"] is True


def test_keyset_pagination_walks_every_item_once(callers: Callers) -> None:
    ids = [_submitted(callers) for _ in range(5)]
    seen, cursor = [], None
    while True:
        url = callers.url("/?limit=2" + (f"&after={cursor}" if cursor else ""))
        page = callers.clerk.get(url).json
        seen += [a["id"] for a in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids
    newest = callers.clerk.get(callers.url("/?order=newest&limit=5")).json["items"]
    assert [a["id"] for a in newest] == list(reversed(ids))
    assert callers.clerk.get(callers.url("/?after=not-a-cursor")).status_code == 422
    assert callers.clerk.get(callers.url("/?limit=1000")).status_code == 422


def test_clerk_works_an_application_to_issue_with_history(callers: Callers) -> None:
    application_id = _submitted(callers)
    url = callers.url(f"/{application_id}/transitions")
    assert callers.clerk.post(url, json={"transition": "start_review"}).status_code == 200
    no_comment = callers.clerk.post(url, json={"transition": "request_more_info"})
    assert no_comment.status_code == 422 and "comment" in no_comment.json["errors"]
    asked = callers.clerk.post(url, json={"transition": "request_more_info", "comment": "用途を詳しく"})
    assert asked.json["state"] == "more_info_requested"
    version = callers.resident.get(callers.url(f"/{application_id}")).json["version"]
    callers.resident.put(
        callers.url(f"/{application_id}"),
        headers={"If-Match": str(version)},
        json={"data": {**RESIDENCY, "purpose": "other", "purpose_detail": "奨学金"}},
    )
    assert callers.resident.post(url, json={"transition": "respond"}).json["state"] == "in_review"
    assert callers.resident.post(url, json={"transition": "approve"}).status_code == 403
    assert callers.clerk.post(url, json={"transition": "approve"}).json["state"] == "approved"
    assert callers.clerk.post(url, json={"transition": "issue"}).json["state"] == "issued"
    history = callers.resident.get(callers.url(f"/{application_id}/history")).json
    assert [e["action"] for e in history] == [
        "create",
        "submit",
        "start_review",
        "request_more_info",
        "update",
        "respond",
        "approve",
        "issue",
    ]
    assert history[3]["comment"] == "用途を詳しく"
    wrong_state = callers.clerk.post(url, json={"transition": "approve"})
    assert wrong_state.status_code == 409 and wrong_state.mimetype == "application/problem+json"


def test_assignment(callers: Callers) -> None:
    application_id = _submitted(callers)
    url = callers.url(f"/{application_id}/assignee")
    assigned = callers.supervisor.put(url, json={"assignee_id": str(callers.clerk_account.id)})
    assert assigned.status_code == 200 and assigned.json["assignee_id"] == str(callers.clerk_account.id)
    assert callers.clerk.get(callers.url("/?assignee=me")).json["items"][0]["id"] == application_id
    assert callers.resident.put(url, json={"assignee_id": None}).status_code == 403
    assert callers.supervisor.put(url, json={"assignee_id": str(callers.resident_account.id)}).status_code == 422


def test_counter_filing_by_resident_code(callers: Callers) -> None:
    response = callers.clerk.post(
        callers.url("/"),
        json={"procedure": "residency-certificate", "data": RESIDENCY, "resident_code": callers.resident_code},
    )
    assert response.status_code == 201
    assert response.json["channel"] == "counter"
    assert response.json["data"]["applicant"]["name"] == "髙橋　一郎"
    unknown = callers.clerk.post(
        callers.url("/"), json={"procedure": "residency-certificate", "resident_code": "99999999999"}
    )
    assert unknown.status_code == 404
    malformed = callers.clerk.post(callers.url("/"), json={"procedure": "residency-certificate", "resident_code": "12"})
    assert malformed.status_code == 422
    by_resident = callers.resident.post(
        callers.url("/"), json={"procedure": "residency-certificate", "resident_code": callers.resident_code}
    )
    assert by_resident.status_code == 403


def test_same_idempotency_key_and_body_returns_the_same_response_and_one_row(callers: Callers, db) -> None:
    headers = {"Idempotency-Key": "order-42"}
    first = _create(callers, headers=headers)
    second = _create(callers, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json["id"] == second.json["id"]
    assert second.headers["Idempotent-Replayed"] == "true"
    assert _count(db, callers.tenant) == 1


def test_same_idempotency_key_with_another_body_is_422(callers: Callers, db) -> None:
    headers = {"Idempotency-Key": "order-43"}
    assert _create(callers, headers=headers).status_code == 201
    other = _create(callers, data={**RESIDENCY, "copies": 2}, headers=headers)
    assert other.status_code == 422 and "Idempotency-Key" in other.json["errors"]
    assert _count(db, callers.tenant) == 1


def _post_over_an_in_flight_claim(callers: Callers, db, *, claimed_seconds_ago: float) -> Any:
    """POST with a key whose in_flight claim was committed (as decision 0004's version did) that long ago."""
    body = json.dumps({"procedure": "residency-certificate", "data": RESIDENCY}).encode()
    path = f"/api/v1/t/{callers.tenant.slug}/applications/"
    digest = hashlib.sha256()
    for part in (b"POST", path.encode(), body):
        digest.update(part)
        digest.update(b"\0")
    with db.transaction(callers.tenant.id) as session:
        session.add(
            IdempotencyKey(
                caller=f"account:{callers.resident_account.id}",
                key="busy",
                request_hash=digest.hexdigest(),
                status="in_flight",
                claimed_at=utcnow() - timedelta(seconds=claimed_seconds_ago),
            )
        )
    return callers.resident.post(
        callers.url("/"), data=body, content_type="application/json", headers={"Idempotency-Key": "busy"}
    )


def test_idempotency_key_still_in_flight_is_409(callers: Callers, db) -> None:
    assert _post_over_an_in_flight_claim(callers, db, claimed_seconds_ago=1).status_code == 409
    assert _count(db, callers.tenant) == 0


def test_an_in_flight_claim_older_than_the_stale_window_is_taken_over(callers: Callers, db) -> None:
    response = _post_over_an_in_flight_claim(callers, db, claimed_seconds_ago=60)
    assert response.status_code == 201, response.json
    assert _count(db, callers.tenant) == 1
    with db.transaction(callers.tenant.id) as session:
        (row,) = session.execute(select(IdempotencyKey).where(IdempotencyKey.key == "busy")).scalars()
        assert row.status == "completed" and row.response_status == 201


def test_idempotency_keys_are_scoped_per_caller(callers: Callers, db) -> None:
    headers = {"Idempotency-Key": "same-key"}
    mine = _create(callers, headers=headers).json["id"]
    theirs = _create(callers, client=callers.other_resident, headers=headers).json["id"]
    assert mine != theirs and _count(db, callers.tenant) == 2


def test_a_failed_request_stores_its_answer_for_the_key(callers: Callers, db) -> None:
    headers = {"Idempotency-Key": "bad-1"}
    first = _create(callers, data={"copies": "x"}, headers=headers)
    again = _create(callers, data={"copies": "x"}, headers=headers)
    assert first.status_code == again.status_code == 422
    assert again.headers.get("Idempotent-Replayed") == "true"


def test_rate_limit_answers_429_with_retry_after(app, callers: Callers) -> None:
    app.config["MADOGUCHI"] = replace(app.config["MADOGUCHI"], api_rate_limit="3/minute")
    codes = [callers.resident.get(callers.url("/")).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    limited = callers.resident.get(callers.url("/"))
    assert limited.mimetype == "application/problem+json"
    assert int(limited.headers["Retry-After"]) > 0


def test_the_rate_limit_also_counts_every_caller_from_one_address_together(app, callers: Callers) -> None:
    app.config["MADOGUCHI"] = replace(app.config["MADOGUCHI"], api_rate_limit="3/minute")
    clients = (callers.resident, callers.other_resident, callers.resident, callers.other_resident)
    assert [client.get(callers.url("/")).status_code for client in clients] == [200, 200, 200, 429]


def test_the_rate_limit_counts_in_the_configured_store_without_the_in_process_counters(app, callers: Callers) -> None:
    """What production's shared store (redis://) does: the same limits, counted through Flask-Limiter's store."""
    app.extensions.pop(COUNTERS_EXTENSION)
    app.config["MADOGUCHI"] = replace(app.config["MADOGUCHI"], api_rate_limit="3/minute")
    codes = [callers.resident.get(callers.url("/")).status_code for _ in range(2)]
    codes += [callers.other_resident.get(callers.url("/")).status_code for _ in range(2)]
    assert codes == [200, 200, 200, 429]
    assert int(callers.resident.get(callers.url("/")).headers["Retry-After"]) > 0


def test_staff_comments_are_internal_notes_the_applicant_does_not_see(callers: Callers, db) -> None:
    application_id = uuid.UUID(_submitted(callers))
    with db.transaction(callers.tenant.id) as session:
        tenant = session.merge(callers.tenant)
        actor = Actor.of(session.merge(callers.clerk_account))
        operations.add_comment(session, tenant, actor, application_id, "本人確認書類は窓口で確認済み")
    staff_view = callers.clerk.get(callers.url(f"/{application_id}/history")).json
    resident_view = callers.resident.get(callers.url(f"/{application_id}/history")).json
    assert [e["comment"] for e in staff_view if e["action"] == "comment"] == ["本人確認書類は窓口で確認済み"]
    assert [e["action"] for e in resident_view] == ["create", "submit"]
