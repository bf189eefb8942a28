"""Issued certificates over the API: auto-issue and the clerk's path end in a signed PDF that pyHanko
validates against the platform CA; who may download; revocation by staff with a reason."""

from __future__ import annotations

import hashlib

from pyhanko.sign.validation.status import SignatureCoverageLevel
from sqlalchemy import func, select

from madoguchi.applications import operations
from madoguchi.audit.models import AuditRecord
from madoguchi.db import Database
from madoguchi.documents import certificates
from madoguchi.documents.models import CertificateVerification, IssuedDocument
from madoguchi.documents.storage import LocalStorage
from madoguchi.identity.actors import Actor
from tests.documents.certificate_fixtures import (
    RESIDENCY,
    TAX,
    World,
    download,
    issue_by_clerk,
    only_document,
    pdftotext,
    platform_ca,
    pyhanko_status,
    spaced,
    submit,
    world,
)
from tests.factories import make_account, make_person, tenants

__all__ = ["world"]


def _assert_signed_by_platform(data: bytes, settings) -> None:
    status = pyhanko_status(data, platform_ca(settings))
    assert status.intact and status.valid and status.trusted
    assert status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    assert status.md_algorithm == "sha256"


def test_auto_issue_gives_a_verified_resident_a_signed_residency_certificate_with_no_clerk(
    world: World, settings, tmp_path
) -> None:
    application = submit(world.a)
    assert application["state"] == "issued"
    document = only_document(world.a, application["id"])
    assert document["kind"] == "residency_certificate" and document["title"] == "住民票の写し"
    assert len(document["verification_code"]) == 12 and document["revoked"] is False
    assert document["revoked_reason"] is None
    data = download(world.a, document["id"])
    assert hashlib.sha256(data).hexdigest() == document["pdf_sha256"] and len(data) == document["pdf_size"]
    _assert_signed_by_platform(data, settings)
    text = pdftotext(data, tmp_path)
    assert spaced("髙橋　美咲") in text and "住民票の写し" in text
    assert document["serial"] in text
    code = document["verification_code"]
    assert f"{code[:4]}-{code[4:8]}-{code[8:]}" in text and f"/verify/{code}" in text
    assert "桜ヶ丘市長" in text and "令和" in text


def test_auto_issued_tax_certificate_states_the_assessment(world: World, settings, tmp_path) -> None:
    application = submit(world.a, "tax-certificate", TAX)
    assert application["state"] == "issued"
    document = only_document(world.a, application["id"])
    data = download(world.a, document["id"])
    _assert_signed_by_platform(data, settings)
    text = pdftotext(data, tmp_path)
    assert "課税証明書" in text and "令和7年度" in text and "4,360,000円" in text and spaced("髙橋　美咲") in text


def test_clerk_issue_produces_the_same_signed_certificate(world: World, settings, tmp_path) -> None:
    application = submit(world.b)
    assert application["state"] == "submitted"  # no auto-issue in this municipality
    assert world.b.resident.get(world.b.api(f"/applications/{application['id']}/documents")).json == []
    issued = issue_by_clerk(world.b)
    document = only_document(world.b, issued["id"])
    data = download(world.b, document["id"], world.b.clerk)
    _assert_signed_by_platform(data, settings)
    assert "緑川村長" in pdftotext(data, tmp_path)


def test_download_names_the_certificate_in_japanese_per_rfc_6266(world: World) -> None:
    document = only_document(world.a, submit(world.a)["id"])
    response = world.a.resident.get(world.a.api(f"/documents/{document['id']}/pdf"))
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=UTF-8''%E4%BD%8F%E6%B0%91%E7%A5%A8%E3%81%AE%E5%86%99%E3%81%97_" in disposition
    assert response.headers["Cache-Control"] == "private, no-store"


def test_another_resident_and_another_municipality_get_404(world: World) -> None:
    application = submit(world.a)
    document = only_document(world.a, application["id"])
    for client in (world.a.neighbour, world.b.resident, world.b.clerk):
        for path in (f"/documents/{document['id']}", f"/documents/{document['id']}/pdf"):
            assert client.get(world.a.api(path)).status_code in (403, 404)
        assert client.get(world.a.api(f"/applications/{application['id']}/documents")).status_code in (403, 404)
    # Staff of b asking under their own municipality's URL: the document is simply not there.
    assert world.b.clerk.get(world.b.api(f"/documents/{document['id']}")).status_code == 404
    assert world.b.clerk.get(world.b.api(f"/documents/{document['id']}/pdf")).status_code == 404


def test_staff_see_the_document_with_its_state(world: World) -> None:
    application = submit(world.a)
    document = only_document(world.a, application["id"], world.a.clerk)
    response = world.a.clerk.get(world.a.api(f"/documents/{document['id']}"))
    assert response.status_code == 200 and response.json["serial"] == document["serial"]


def test_clerk_revokes_with_a_reason_audited_and_verification_reports_it(world: World, db: Database) -> None:
    document = only_document(world.a, submit(world.a)["id"])
    url = world.a.api(f"/documents/{document['id']}/revocation")
    response = world.a.clerk.post(url, json={"reason": "記載誤りのため再発行"})
    assert response.status_code == 200, response.json
    assert response.json["revoked"] is True and response.json["revoked_reason"] == "記載誤りのため再発行"
    again = world.a.clerk.post(url, json={"reason": "二度目"})
    assert again.status_code == 409 and again.mimetype == "application/problem+json"
    seen_by_resident = world.a.resident.get(world.a.api(f"/documents/{document['id']}")).json
    assert seen_by_resident["revoked"] is True and seen_by_resident["revoked_reason"] is None
    verified = world.a.resident.get(f"https://localhost/api/v1/verifications/{document['verification_code']}")
    assert verified.json["status"] == "revoked" and verified.json["revoked_at"]
    with db.transaction(world.a.tenant.id) as session:
        records = session.execute(select(AuditRecord).where(AuditRecord.action == "document.revoke")).scalars().all()
    assert [r.data["reason"] for r in records] == ["記載誤りのため再発行"]


def test_revocation_needs_a_reason_and_staff_and_changes_nothing_otherwise(world: World, db: Database) -> None:
    document = only_document(world.a, submit(world.a)["id"])
    url = world.a.api(f"/documents/{document['id']}/revocation")
    missing = world.a.clerk.post(url, json={"reason": ""})
    assert missing.status_code == 422 and "reason" in missing.json["errors"]
    blank = world.a.clerk.post(url, json={"reason": "   "})
    assert blank.status_code == 422 and "reason" in blank.json["errors"]
    too_long = world.a.clerk.post(url, json={"reason": "あ" * 501})
    assert too_long.status_code == 422
    assert world.a.resident.post(url, json={"reason": "要らない"}).status_code == 403
    assert world.b.clerk.post(url, json={"reason": "他の自治体"}).status_code in (403, 404)
    own_url_of_b = world.b.api(f"/documents/{document['id']}/revocation")
    assert world.b.clerk.post(own_url_of_b, json={"reason": "他の自治体"}).status_code == 404
    with db.transaction(world.a.tenant.id) as session:
        row = session.execute(select(IssuedDocument)).scalar_one()
    assert row.revoked_at is None and row.revoked_reason is None


def test_each_issue_registers_one_verification_row_in_its_tenant_without_personal_data(
    world: World, db: Database
) -> None:
    submit(world.a)
    issue_by_clerk(world.b)
    columns = set(CertificateVerification.__table__.columns.keys())
    assert columns == {"code", "tenant_id", "document_id", "pdf_sha256", "created_at"}
    codes = {}
    for town in (world.a, world.b):
        with db.transaction(town.tenant.id) as session:
            (row,) = session.execute(select(CertificateVerification)).scalars().all()
            assert row.tenant_id == town.tenant.id
            codes[town.tenant.id] = row.code
            # Inside a tenant only its own document exists (ORM criteria; RLS too on PostgreSQL).
            assert session.execute(select(func.count()).select_from(IssuedDocument)).scalar_one() == 1
    with db.transaction() as session:
        # Bound to no tenant, nothing is listed; the public lookup still finds each row by its code.
        assert session.execute(select(CertificateVerification)).scalars().all() == []
        for tenant_id, code in codes.items():
            found = certificates.find_verification(session, code=code)
            assert found is not None and found.tenant_id == tenant_id


def test_operations_outside_the_app_issue_with_the_certificates_set_by_using(db: Database, settings, seeded) -> None:
    tenant = next(t for t in tenants(db) if t.slug == "sakuragaoka-city")
    storage = LocalStorage(settings.data_dir / "elsewhere")
    with db.transaction(tenant.id) as session, certificates.using(certificates.Certificates(settings, storage)):
        actor = Actor.of(make_account(session, tenant, person=make_person(session, tenant)))
        application = operations.create_draft(session, tenant, actor, "residency-certificate", RESIDENCY)
        operations.submit(session, tenant, actor, application.id)
        document = session.execute(select(IssuedDocument)).scalar_one()
    data = storage.get(document.pdf_storage_key, tenant_id=tenant.id)
    assert hashlib.sha256(data).hexdigest() == document.pdf_sha256
    _assert_signed_by_platform(data, settings)
