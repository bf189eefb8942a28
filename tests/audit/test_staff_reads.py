"""Staff reads of residents' data leave exactly one record each, in the tenant they happened in, and the app
cannot change or remove those records."""

from __future__ import annotations

import io
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import select
from werkzeug.datastructures import FileStorage

from madoguchi import context
from madoguchi.audit import access
from madoguchi.audit.models import AccessEvent
from madoguchi.cli import main
from madoguchi.db import Database
from tests.conftest import Backend
from tests.console.conftest import HTTPS, Office
from tests.documents.certificate_fixtures import World, issue_by_clerk, only_document
from tests.documents.conftest import multipart, pdf_bytes
from tests.documents.test_attachments import AGENT


def _reads(db: Database, tenant_id: uuid.UUID) -> list[AccessEvent]:
    """The reads by staff and apps (the system's own uses, such as a prefill when a draft starts, are left out:
    tests/audit/test_data_use_ledger.py covers them)."""
    with db.transaction(tenant_id) as session:
        stmt = select(AccessEvent).where(AccessEvent.actor_type != access.SYSTEM).order_by(AccessEvent.at)
        return list(session.execute(stmt).scalars())


def _api(office: Office, path: str) -> str:
    return f"{HTTPS}/api/v1/t/{office.tenant.slug}{path}"


def _one_new_read(db: Database, tenant_id: uuid.UUID, before: int) -> AccessEvent:
    reads = _reads(db, tenant_id)
    assert len(reads) == before + 1, [(r.action, r.operation) for r in reads]
    return reads[-1]


def test_clerk_opening_an_application_page_leaves_one_record(office: Office) -> None:
    application_id = office.submitted()
    assert _reads(office.db, office.tenant.id) == []  # filing and submitting is not a staff read
    response = office.clerk.get(office.url(f"/applications/{application_id}"))
    assert response.status_code == 200
    read = _one_new_read(office.db, office.tenant.id, 0)
    assert (read.actor_type, read.actor, read.actor_roles) == ("staff", f"account:{office.clerk_account.id}", ["clerk"])
    assert (read.action, read.channel) == (access.VIEW_APPLICATION, "console")
    assert read.operation == "GET /<tenant>/console/applications/<uuid:application_id>"
    assert (read.object_type, read.object_id) == ("application", str(application_id))
    assert read.application_id == application_id
    assert read.subject_person_id == office.parent.id and read.subject_account_id == office.resident_account.id
    assert set(read.data_categories) == {access.APPLICATION_FORM, access.APPLICATION_HISTORY, access.BASIC4}
    assert read.purpose == f"application {application_id}" and read.key_id == "test-1"


def test_staff_api_get_of_an_application_leaves_one_record(office: Office) -> None:
    application_id = office.submitted()
    response = office.supervisor.get(_api(office, f"/applications/{application_id}"))
    assert response.status_code == 200, response.json
    read = _one_new_read(office.db, office.tenant.id, 0)
    assert (read.actor, read.channel, read.action) == (
        f"account:{office.supervisor_account.id}",
        "api",
        access.VIEW_APPLICATION,
    )
    assert read.operation == "GET /api/v1/t/<tenant>/applications/<uuid:application_id>"
    assert read.data_categories == [access.APPLICATION_FORM] and read.subject_person_id == office.parent.id
    assert sorted(read.actor_roles) == ["clerk", "supervisor"]


def test_clerk_viewing_a_person_in_the_register_leaves_one_record(office: Office) -> None:
    response = office.clerk.get(office.url(f"/counter/people/{office.child.id}"))
    assert response.status_code == 200 and "陽葵" in response.get_data(as_text=True)
    read = _one_new_read(office.db, office.tenant.id, 0)
    assert (read.action, read.object_type, read.object_id) == (access.VIEW_REGISTRY, "person", str(office.child.id))
    assert read.subject_person_id == office.child.id and read.application_id is None
    assert set(read.data_categories) == {access.BASIC4, access.HOUSEHOLD}
    assert read.operation == "GET /<tenant>/console/counter/people/<uuid:person_id>"
    assert read.purpose == "counter filing"


def test_a_resident_reading_their_own_application_leaves_no_record(office: Office) -> None:
    application_id = office.submitted()
    assert office.resident.get(_api(office, f"/applications/{application_id}")).status_code == 200
    assert office.resident.get(f"{HTTPS}/{office.tenant.slug}/applications/{application_id}").status_code == 200
    assert _reads(office.db, office.tenant.id) == []


def test_a_refused_read_leaves_no_record_and_other_tenants_never_see_a_tenants_reads(
    office: Office, backend: Backend
) -> None:
    application_id = office.submitted()
    # Staff of another municipality, under either municipality's address: refused, and nothing recorded anywhere.
    assert office.foreign_clerk.get(office.url(f"/applications/{application_id}")).status_code in (303, 404)
    foreign_page = office.url(f"/applications/{application_id}", slug=office.other.slug)
    assert office.foreign_clerk.get(foreign_page).status_code == 404
    assert office.foreign_clerk.get(_api(office, f"/applications/{application_id}")).status_code == 404
    assert _reads(office.db, office.tenant.id) == [] and _reads(office.db, office.other.id) == []
    assert office.clerk.get(office.url(f"/applications/{application_id}")).status_code == 200
    assert len(_reads(office.db, office.tenant.id)) == 1
    assert _reads(office.db, office.other.id) == []  # the ORM's tenant criterion
    if backend.is_postgres:
        # And row-level security, with no ORM in the way: the app role bound to B sees none of A's rows.
        engine = sa.create_engine(backend.app_url, poolclass=sa.pool.NullPool)
        with engine.begin() as conn:
            conn.execute(sa.text("select set_config('app.tenant_id', :t, true)"), {"t": str(office.other.id)})
            assert conn.execute(sa.text("select count(*) from access_events")).scalar_one() == 0
        engine.dispose()


def _submitted_with_attachment(office: Office) -> tuple[str, dict[str, Any]]:
    created = office.resident.post(
        _api(office, "/applications/"), json={"procedure": "residency-certificate", "data": AGENT}
    )
    assert created.status_code == 201, created.json
    application_id = created.json["id"]
    file = FileStorage(io.BytesIO(pdf_bytes()), "委任状.pdf", "file", content_type="application/pdf")
    body, body_type = multipart({"document_key": "power_of_attorney", "file": file})
    uploaded = office.resident.post(
        _api(office, f"/applications/{application_id}/attachments"), data=body, content_type=body_type
    )
    assert uploaded.status_code == 201, uploaded.json
    assert office.resident.post(_api(office, f"/applications/{application_id}/submit")).status_code == 200
    return application_id, uploaded.json


def test_attachment_downloads_by_staff_leave_one_record_each(office: Office) -> None:
    application_id, attachment = _submitted_with_attachment(office)
    # The resident downloading their own upload: nothing.
    assert office.resident.get(attachment["download_url"], base_url="https://localhost").status_code == 200
    assert _reads(office.db, office.tenant.id) == []
    api_download = office.clerk.get(
        _api(office, f"/applications/{application_id}/attachments/{attachment['id']}/content")
    )
    assert api_download.status_code == 200
    read = _one_new_read(office.db, office.tenant.id, 0)
    assert (read.action, read.channel, read.object_type) == (access.DOWNLOAD_ATTACHMENT, "api", "attachment")
    assert read.object_id == attachment["id"] and str(read.application_id) == application_id
    assert read.data_categories == [access.ATTACHMENTS] and read.subject_person_id == office.parent.id
    page_download = office.clerk.get(office.url(f"/applications/{application_id}/documents/{attachment['id']}"))
    assert page_download.status_code == 200
    read = _one_new_read(office.db, office.tenant.id, 1)
    assert (read.action, read.channel) == (access.DOWNLOAD_ATTACHMENT, "console")
    assert read.operation == "GET /<tenant>/console/applications/<uuid:application_id>/documents/<uuid:attachment_id>"


def test_certificate_downloads_by_staff_leave_one_record_each(world: World, db: Database) -> None:
    town = world.b
    application = issue_by_clerk(town)
    document = only_document(town, application["id"])
    before = len(_reads(db, town.tenant.id))  # the clerk's API work on the application so far
    assert town.resident.get(town.api(f"/documents/{document['id']}/pdf")).status_code == 200
    assert len(_reads(db, town.tenant.id)) == before  # the resident's own certificate
    assert town.clerk.get(town.api(f"/documents/{document['id']}/pdf")).status_code == 200
    read = _one_new_read(db, town.tenant.id, before)
    assert (read.action, read.channel, read.object_type) == (access.DOWNLOAD_CERTIFICATE, "api", "issued_document")
    assert read.object_id == document["id"] and str(read.application_id) == application["id"]
    assert read.subject_person_id == town.person.id and read.subject_account_id == town.resident_account.id
    assert read.data_categories == [access.CERTIFICATE] and read.actor == f"account:{town.clerk_account.id}"
    assert town.clerk.get(town.page(f"/console/documents/{document['id']}/pdf")).status_code == 200
    read = _one_new_read(db, town.tenant.id, before + 1)
    assert (read.action, read.channel) == (access.DOWNLOAD_CERTIFICATE, "console")


def test_api_reads_that_record_take_the_sqlite_write_lock_up_front(app) -> None:
    """A deferred SQLite transaction that reads and then inserts fails when another commit came in between."""
    some = uuid.uuid4()
    recording = [
        f"/api/v1/t/x/applications/{some}",
        f"/api/v1/t/x/applications/{some}/attachments/{some}/content",
        f"/api/v1/t/x/documents/{some}/pdf",
        # An attachment list names the resident's files; the history holds their comments (issue 20).
        f"/api/v1/t/x/applications/{some}/attachments",
        f"/api/v1/t/x/applications/{some}/history",
        "/api/v1/t/x/applications/",
    ]
    for path in [*recording, "/api/v1/t/x/procedures", f"/api/v1/t/x/documents/{some}"]:
        with app.test_request_context(path, method="GET"):
            from flask import request

            assert context._writes_on_read(request.url_rule.endpoint) == (path in recording), path


def _tamper(backend: Backend, sql: str, params: dict[str, Any]) -> None:
    """As the database owner (a rogue DBA), around the guards the app role is held to."""
    engine = sa.create_engine(backend.owner_url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        if backend.is_postgres:
            conn.exec_driver_sql("ALTER TABLE access_events NO FORCE ROW LEVEL SECURITY")
        else:
            conn.exec_driver_sql("DROP TRIGGER access_events_no_update")
        conn.execute(sa.text(sql), params)
        if backend.is_postgres:
            conn.exec_driver_sql("ALTER TABLE access_events FORCE ROW LEVEL SECURITY")
    engine.dispose()


@pytest.mark.commits  # the owner role changes rows on a connection of its own
def test_the_app_cannot_change_or_delete_read_records_and_an_edit_is_found(
    office: Office, backend: Backend, runner
) -> None:
    application_id = office.submitted()
    assert office.clerk.get(office.url(f"/applications/{application_id}")).status_code == 200
    read = _reads(office.db, office.tenant.id)[0]
    for statement in (
        "update access_events set actor = 'account:nobody' where id = :id",
        "delete from access_events where id = :id",
    ):
        # The app's own connection (on PostgreSQL the app role, bound to the right tenant).
        with pytest.raises(sa.exc.DBAPIError) as refused, office.db.transaction(office.tenant.id) as session:
            session.execute(sa.text(statement), {"id": read.id if backend.is_postgres else read.id.hex})
        message = str(refused.value.orig)
        assert ("permission denied" in message) if backend.is_postgres else ("append-only" in message)
    assert _reads(office.db, office.tenant.id)[0].actor == read.actor
    # The staff read, and the system's prefill when the draft started.
    assert "2 data-use entries" in runner.invoke(main, ["audit", "verify", "--tenant", office.tenant.slug]).output
    _tamper(
        backend,
        "update access_events set actor = 'account:someone-else' where id = :id",
        {"id": read.id if backend.is_postgres else read.id.hex},
    )
    result = runner.invoke(main, ["audit", "verify", "--tenant", office.tenant.slug])
    assert result.exit_code == 1
    assert f"data-use entry {read.id} was modified after it was written" in result.output
