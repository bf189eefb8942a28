"""Certificate pages: the resident downloads from the portal, staff download and revoke on the console (a
reason beside the field when missing), and nobody reaches another municipality's or person's certificate."""

from __future__ import annotations

import re

from flask.testing import FlaskClient
from sqlalchemy import select

from madoguchi.db import Database
from madoguchi.documents.models import IssuedDocument
from tests.documents.certificate_fixtures import HTTPS, World, only_document, submit, world

__all__ = ["world"]


def _post_form(client: FlaskClient, page_url: str, action: str, data: dict[str, str]):
    html = client.get(page_url).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert token, html[:500]
    return client.post(action, data={"csrf_token": token.group(1), **data}, headers={"Referer": f"{HTTPS}/"})


def _issued(world: World) -> tuple[dict, dict]:
    application = submit(world.a)
    return application, only_document(world.a, application["id"])


def test_the_resident_downloads_the_signed_pdf_from_the_application_page(world: World) -> None:
    application, document = _issued(world)
    page = world.a.resident.get(world.a.page(f"/applications/{application['id']}"))
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    link = f"/{world.a.tenant.slug}/documents/{document['id']}/pdf"
    assert link in html and "住民票の写し" in html
    response = world.a.resident.get(f"{HTTPS}{link}")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.get_data().startswith(b"%PDF-")


def test_no_one_else_downloads_the_residents_certificate(world: World) -> None:
    _, document = _issued(world)
    path = f"/documents/{document['id']}/pdf"
    assert world.a.neighbour.get(world.a.page(path)).status_code == 404
    # A resident of another municipality: not signed in here (sent to sign in), and 404 under their own.
    assert world.b.resident.get(world.a.page(path)).status_code == 303
    assert world.b.resident.get(world.b.page(path)).status_code == 404
    # Staff use the console, not the resident pages.
    assert world.a.clerk.get(world.a.page(path)).status_code == 403


def test_staff_find_the_document_from_the_application_and_download_it(world: World) -> None:
    application, document = _issued(world)
    html = world.a.clerk.get(world.a.page(f"/console/applications/{application['id']}")).get_data(as_text=True)
    page_path = f"/{world.a.tenant.slug}/console/documents/{document['id']}"
    assert page_path in html
    page = world.a.clerk.get(f"{HTTPS}{page_path}")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and document["serial"] in text and document["pdf_sha256"] in text
    pdf = world.a.clerk.get(f"{HTTPS}{page_path}/pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"


def test_staff_of_another_municipality_and_residents_cannot_reach_the_console_document(world: World) -> None:
    _, document = _issued(world)
    for path in (f"/console/documents/{document['id']}", f"/console/documents/{document['id']}/pdf"):
        assert world.b.clerk.get(world.b.page(path)).status_code == 404
        assert world.b.clerk.get(world.a.page(path)).status_code == 303  # not signed in to a
        assert world.a.resident.get(world.a.page(path)).status_code == 403


def test_revoking_needs_a_reason_shown_beside_the_field_and_changes_nothing_until_given(
    world: World, db: Database
) -> None:
    _, document = _issued(world)
    page_url = world.a.page(f"/console/documents/{document['id']}")
    action = world.a.page(f"/console/documents/{document['id']}/revocation")
    refused = _post_form(world.a.clerk, page_url, action, {"reason": "  "})
    html = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert 'id="reason-error"' in html and "取り消しの理由を入力してください" in html
    with db.transaction(world.a.tenant.id) as session:
        assert session.execute(select(IssuedDocument.revoked_at)).scalar_one() is None
    done = _post_form(world.a.clerk, page_url, action, {"reason": "氏名の記載誤り"})
    assert done.status_code == 303
    after = world.a.clerk.get(page_url).get_data(as_text=True)
    assert "取り消し済み" in after and "氏名の記載誤り" in after and 'name="reason"' not in after
    again = _post_form(world.a.clerk, page_url, action, {"reason": "再度"})  # e.g. a second browser tab
    assert again.status_code == 409 and "すでに取り消されています" in again.get_data(as_text=True)
    verify = world.a.resident.get(f"{HTTPS}/verify/{document['verification_code']}").get_data(as_text=True)
    assert "取り消し済み" in verify


def test_staff_of_another_municipality_cannot_revoke(world: World, db: Database) -> None:
    _, document = _issued(world)
    own_page = world.b.page(f"/console/documents/{document['id']}")
    action = world.b.page(f"/console/documents/{document['id']}/revocation")
    queue = world.b.page("/console/")
    response = _post_form(world.b.clerk, queue, action, {"reason": "他の自治体"})
    assert response.status_code == 404
    assert world.b.clerk.get(own_page).status_code == 404
    with db.transaction(world.a.tenant.id) as session:
        assert session.execute(select(IssuedDocument.revoked_at)).scalar_one() is None
