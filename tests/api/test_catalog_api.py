"""The public catalog API (DESIGN §8), error format, OpenAPI document and docs page."""

from __future__ import annotations

from openapi_spec_validator import validate
from sqlalchemy import update

from madoguchi.db import Database
from madoguchi.tenancy.models import Tenant
from tests.factories import tenants

PROCEDURE_KEYS = {"residency-certificate", "tax-certificate", "childcare-admission"}


def test_healthz_and_readyz_answer(client) -> None:
    assert client.get("/healthz").json == {"status": "ok"}
    assert client.get("/readyz").json == {"status": "ready"}


def test_tenants_lists_every_served_municipality_with_its_code(client, db: Database) -> None:
    body = client.get("/api/v1/tenants").json
    assert [t["slug"] for t in body] == [t.slug for t in tenants(db)]
    for entry in body:
        assert len(entry["local_government_code"]) == 6
        assert entry["name"]["ja"] and entry["name"]["en"]


def test_each_tenant_lists_the_three_standard_procedures(client, db: Database) -> None:
    for tenant in tenants(db):
        response = client.get(f"/api/v1/t/{tenant.slug}/procedures")
        assert response.status_code == 200
        procedures = response.json
        assert {p["key"] for p in procedures} == PROCEDURE_KEYS
        for procedure in procedures:
            assert procedure["version"]
            assert procedure["title"]["ja"] and procedure["title"]["en"]
            assert procedure["fee"]["currency"] == "JPY"


def test_procedure_detail_carries_form_schema_and_workflow(client, db: Database) -> None:
    tenant = tenants(db)[0]
    body = client.get(f"/api/v1/t/{tenant.slug}/procedures/residency-certificate").json
    assert body["form"]["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert body["workflow"]["initial"] == "draft"
    assert {"submit", "approve", "issue"} <= {t["name"] for t in body["workflow"]["transitions"]}


def test_tenant_overrides_show_in_the_fee(client, db: Database) -> None:
    fees = {
        t.slug: next(
            p["fee"]["amount"]
            for p in client.get(f"/api/v1/t/{t.slug}/procedures").json
            if p["key"] == "residency-certificate"
        )
        for t in tenants(db)
    }
    assert all(200 <= fee <= 450 for fee in fees.values())


def test_unknown_tenant_is_a_404_problem(client) -> None:
    response = client.get("/api/v1/t/atlantis/procedures")
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert response.json["status"] == 404
    assert response.json["type"].endswith("not-found")


def test_procedure_the_tenant_does_not_offer_is_a_404(client, db: Database) -> None:
    tenant = tenants(db)[0]
    response = client.get(f"/api/v1/t/{tenant.slug}/procedures/dog-licence")
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"


def test_suspended_tenant_answers_403_everywhere_and_leaves_the_list(client, db: Database) -> None:
    tenant = tenants(db)[0]
    with db.transaction() as session:
        session.execute(update(Tenant).where(Tenant.id == tenant.id).values(status="suspended"))
    for path in (
        f"/api/v1/t/{tenant.slug}/procedures",
        f"/api/v1/t/{tenant.slug}/procedures/tax-certificate",
        f"/{tenant.slug}/",
    ):
        response = client.get(path)
        assert response.status_code == 403, path
        assert response.json["type"].endswith("tenant-suspended")
    assert tenant.slug not in [t["slug"] for t in client.get("/api/v1/tenants").json]


def test_wrong_method_is_405_with_allow_header(client, db: Database) -> None:
    response = client.post("/api/v1/tenants", json={})
    assert response.status_code == 405
    assert response.mimetype == "application/problem+json"
    assert "GET" in response.headers["Allow"]


def test_unknown_path_is_a_404_problem(client) -> None:
    response = client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"


def test_openapi_document_is_valid_openapi_3(client) -> None:
    spec = client.get("/api/v1/openapi.json").json
    validate(spec)
    assert spec["openapi"].startswith("3.")
    assert "/api/v1/t/{tenant}/procedures/{key}" in spec["paths"]


def test_docs_page_loads_its_assets_from_this_server(client) -> None:
    page = client.get("/api/v1/docs").get_data(as_text=True)
    assert "/api/v1/docs/assets/swagger-ui-bundle.js" in page
    assert "cdn" not in page.lower() and "unpkg" not in page.lower()
    asset = client.get("/api/v1/docs/assets/swagger-ui-bundle.js")
    assert asset.status_code == 200
    asset.close()


def test_landing_page_lists_procedures_in_japanese_and_english(client, db: Database) -> None:
    tenant = next(t for t in tenants(db) if "en" in t.profile.get("locales", []))
    ja = client.get(f"/{tenant.slug}/").get_data(as_text=True)
    en = client.get(f"/{tenant.slug}/?lang=en").get_data(as_text=True)
    assert '<html lang="ja">' in ja and "住民票" in ja and tenant.name_ja in ja
    assert '<html lang="en">' in en and "residency certificate" in en and tenant.name_en in en


def test_a_municipality_offering_only_japanese_stays_in_japanese(client, db: Database) -> None:
    tenant = next(t for t in tenants(db) if t.profile.get("locales") == ["ja"])
    page = client.get(f"/{tenant.slug}/?lang=en").get_data(as_text=True)
    assert '<html lang="ja">' in page and "English" not in page


def test_each_tenant_reads_only_its_own_procedure_settings(client, db: Database, settings) -> None:
    from madoguchi.catalog import definitions

    specs = definitions.load_tenants(settings.tenants_dir)
    for tenant in tenants(db):
        listed = {p["key"]: p for p in client.get(f"/api/v1/t/{tenant.slug}/procedures").json}
        for key, service in specs[tenant.slug]["services"].items():
            fee = (service.get("overrides") or {}).get("fee")
            if fee is not None:
                assert listed[key]["fee"]["amount"] == fee, (tenant.slug, key)
        page = client.get(f"/{tenant.slug}/").get_data(as_text=True)
        others = [t.name_ja for t in tenants(db) if t.id != tenant.id]
        assert not any(name in page for name in others)
