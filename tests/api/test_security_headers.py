"""Security headers: CSP without framing, nosniff, Referrer-Policy, HSTS over HTTPS, no-store for personal data."""

from __future__ import annotations

from madoguchi.db import Database
from tests.api.conftest import HTTPS
from tests.factories import make_account, make_person, tenants


def test_pages_forbid_framing_sniffing_and_foreign_scripts(client, db: Database) -> None:
    response = client.get(f"/{tenants(db)[0].slug}/")
    policy = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy
    assert "script-src 'self';" in policy and "unsafe-inline" not in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in response.headers  # plain http: HSTS would be ignored anyway
    assert "no-store" not in response.headers.get("Cache-Control", "")  # public page, nobody signed in


def test_hsts_over_https(client, db: Database) -> None:
    response = client.get(f"/{tenants(db)[0].slug}/", base_url=HTTPS)
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_answers_to_a_signed_in_caller_are_not_stored(db: Database, sign_in) -> None:
    tenant = tenants(db)[0]
    with db.transaction(tenant.id) as session:
        account = make_account(session, tenant, person=make_person(session, tenant))
    response = sign_in(account).get(f"{HTTPS}/api/v1/t/{tenant.slug}/applications/")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"


def test_only_the_api_docs_page_may_run_inline_scripts(client) -> None:
    assert "'unsafe-inline'" in client.get("/api/v1/docs").headers["Content-Security-Policy"]
    assert "'unsafe-inline'" not in client.get("/api/v1/openapi.json").headers["Content-Security-Policy"]
