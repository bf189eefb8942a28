"""The public catalog API (DESIGN §8), error format, OpenAPI document and docs page."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from openapi_spec_validator import validate
from sqlalchemy import update

from madoguchi.db import Database
from madoguchi.tenancy.models import Tenant
from tests.factories import many_tenants, tenants

PROCEDURE_KEYS = {"residency-certificate", "tax-certificate", "childcare-admission"}


def test_healthz_and_readyz_answer(client) -> None:
    assert client.get("/healthz").json == {"status": "ok"}
    assert client.get("/readyz").json == {"status": "ready"}


def test_tenants_lists_every_served_municipality_with_its_code(client, db: Database) -> None:
    response = client.get("/api/v1/tenants")
    assert "Link" not in response.headers  # all on one page
    body = response.json
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
            if isinstance(fee, dict):  # a fee per channel (decision 0043): the amount shown is the online one
                assert listed[key]["fee"]["amount"] == fee["online"], (tenant.slug, key)
                assert listed[key]["fee"]["by_channel"] == fee, (tenant.slug, key)
            elif fee is not None:
                assert listed[key]["fee"]["amount"] == fee, (tenant.slug, key)
        page = client.get(f"/{tenant.slug}/").get_data(as_text=True)
        others = [t.name_ja for t in tenants(db) if t.id != tenant.id]
        assert not any(name in page for name in others)


# --- Pages of the tenant list ---------------------------------------------------------------------------


@pytest.fixture
def bulk_towns(db: Database, seeded: None) -> list[Tenant]:
    """2,520 more municipalities: every fourth suspended, every fourth deleted (neither is served)."""
    with db.transaction() as session:
        return many_tenants(session, 2_520, statuses=("live", "trial", "suspended", "deleted"))


def _next_link(response: Any) -> str | None:
    found = re.fullmatch(r'<([^>]+)>; rel="next"', response.headers.get("Link", ""))
    return found.group(1) if found else None


def test_paging_through_the_tenant_list_gets_every_served_municipality_exactly_once(
    client, db: Database, bulk_towns: list[Tenant]
) -> None:
    seen: list[str] = []
    url: str | None = "/api/v1/tenants?limit=100"
    pages = 0
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.get_data(as_text=True)
        assert len(response.json) <= 100
        seen += [t["slug"] for t in response.json]
        url, pages = _next_link(response), pages + 1
        if url:
            assert parse_qs(urlsplit(url).query)["limit"] == ["100"]
    served = [t.slug for t in tenants(db) if t.status in ("live", "trial")]
    assert len(served) == 3 + 1_260
    assert sorted(seen) == sorted(served) and seen == sorted(seen)  # each once, by slug
    assert Counter(seen).most_common(1)[0][1] == 1
    assert pages == 13


def test_the_tenant_list_pages_by_twenty_unless_asked(client, bulk_towns: list[Tenant]) -> None:
    first = client.get("/api/v1/tenants")
    assert len(first.json) == 20 and _next_link(first)
    following = client.get(_next_link(first))
    assert len(following.json) == 20
    assert following.json[0]["slug"] > first.json[-1]["slug"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("after=not-a-cursor", "after"),
        ("after=WyJ4Il0", None),  # a cursor of this shape that names no municipality: simply the rest
        ("after=eyJhIjogMX0", "after"),  # base64 JSON, but not a cursor of this list
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=many", "limit"),
    ],
)
def test_a_bad_cursor_or_limit_of_the_tenant_list_is_a_422_problem(client, query: str, field: str | None) -> None:
    response = client.get(f"/api/v1/tenants?{query}")
    if field is None:
        assert response.status_code == 200
        return
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    assert field in response.json["errors"]


def test_the_front_page_lists_municipalities_a_page_at_a_time_each_once(
    client, db: Database, bulk_towns: list[Tenant]
) -> None:
    seen: list[str] = []
    url: str | None = "/"
    while url:
        page = client.get(url).get_data(as_text=True)
        slugs = re.findall(r'<li class="card"><a href="/([a-z0-9-]+)/">', page)
        assert 0 < len(slugs) <= 100
        seen += slugs
        found = re.search(r'<a href="([^"]+)" rel="next">', page)
        url = found.group(1).replace("&amp;", "&") if found else None
    assert sorted(seen) == sorted(t.slug for t in tenants(db) if t.status in ("live", "trial"))
    assert len(seen) == len(set(seen)) == 1_263


def test_the_openapi_document_describes_the_tenant_list_pages(client) -> None:
    operation = client.get("/api/v1/openapi.json").json["paths"]["/api/v1/tenants"]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {"limit", "after"}
    assert "Link" in operation["responses"]["200"]["headers"]
