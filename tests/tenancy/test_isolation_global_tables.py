"""What the app role can read, on PostgreSQL, in the five tables that carry ``tenant_id`` but were global
(issue 12, point 6; decision 0015): with no tenant bound, and bound to one tenant.

Each table gets one row of tenant A and one of tenant B, written the way the app writes them; then raw SQL (no ORM
criterion) asks what is visible. ``certificate_verifications`` is under row-level security and crosses tenants only
through ``certificate_verification_lookup``; the other four stay readable across tenants for the reasons decision
0015 gives, and this test pins exactly that, so a change either way is noticed.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy import text

from madoguchi.db import Database, utcnow
from madoguchi.documents.models import CertificateVerification
from madoguchi.identity.models import WebSession
from madoguchi.oauth.models import OAuthAuthorizationCode, OAuthClient, OAuthToken
from madoguchi.tenancy.models import Tenant
from tests.factories import make_account, tenants

pytestmark = pytest.mark.postgres_only

TABLES = ("web_sessions", "oauth_clients", "oauth_authorization_codes", "oauth_tokens", "certificate_verifications")
#: Whether the app role reads the other tenant's rows of a table (and, with no tenant bound, any row at all).
CROSSES_TENANTS = {
    "web_sessions": True,
    "oauth_clients": True,
    "oauth_authorization_codes": True,
    "oauth_tokens": True,
    "certificate_verifications": False,
}


def _digest() -> str:
    return hashlib.sha256(secrets.token_bytes(32)).hexdigest()


def _rows_of(db: Database, tenant: Tenant) -> dict[str, str]:
    """One row per table for ``tenant``; returns the verification code (for the lookup function)."""
    now = utcnow()
    with db.transaction(tenant.id) as session:
        client = OAuthClient(
            tenant_id=tenant.id,
            client_id=f"pin-{secrets.token_hex(8)}",
            name="ピン留めテスト",
            created_by="test",
        )
        session.add(client)
        session.flush()
        account = make_account(session, tenant).id
        session.add_all(
            [
                WebSession(
                    token_hash=_digest(), tenant_id=tenant.id, account_id=account, expires_at=now + timedelta(hours=1)
                ),
                OAuthAuthorizationCode(
                    code_hash=_digest(),
                    tenant_id=tenant.id,
                    oauth_client_id=client.id,
                    account_id=account,
                    redirect_uri="https://vendor.example/callback",
                    scope="applications:read",
                    code_challenge="x" * 43,
                    code_challenge_method="S256",
                    expires_at=now + timedelta(minutes=1),
                ),
                OAuthToken(
                    tenant_id=tenant.id,
                    oauth_client_id=client.id,
                    account_id=account,
                    family_id=uuid.uuid4(),
                    grant_type="authorization_code",
                    scope="applications:read",
                    access_token_hash=_digest(),
                    access_expires_at=now + timedelta(hours=1),
                ),
            ]
        )
        code = secrets.token_hex(6).upper()
        session.add(
            CertificateVerification(code=code, tenant_id=tenant.id, document_id=uuid.uuid4(), pdf_sha256=_digest())
        )
    return {"code": code}


@pytest.fixture
def two_tenants(db: Database, seeded: None) -> tuple[Tenant, Tenant, dict[str, str], dict[str, str]]:
    tenant_a, tenant_b = tenants(db)[:2]
    return tenant_a, tenant_b, _rows_of(db, tenant_a), _rows_of(db, tenant_b)


def _visible(db: Database, bound: uuid.UUID | None, table: str, among: set[uuid.UUID]) -> set[uuid.UUID]:
    with db.transaction(bound) as session:
        seen = session.execute(text(f"select distinct tenant_id from {table}")).scalars()  # the five names above
        return set(seen) & among


@pytest.mark.parametrize("table", TABLES)
def test_what_the_app_role_reads_with_no_tenant_and_with_another_tenant(db: Database, two_tenants, table: str) -> None:
    tenant_a, tenant_b, _, _ = two_tenants
    both = {tenant_a.id, tenant_b.id}
    crosses = CROSSES_TENANTS[table]
    assert _visible(db, None, table, both) == (both if crosses else set())
    assert _visible(db, tenant_a.id, table, both) == (both if crosses else {tenant_a.id})
    assert _visible(db, tenant_b.id, table, both) == (both if crosses else {tenant_b.id})


def test_the_verification_lookup_returns_only_the_row_asked_for(db: Database, two_tenants) -> None:
    tenant_a, tenant_b, _, rows_b = two_tenants
    lookup = "select * from certificate_verification_lookup(:code, :sha256)"
    for bound in (None, tenant_a.id):
        with db.transaction(bound) as session:
            found = session.execute(text(lookup), {"code": rows_b["code"], "sha256": None}).mappings().all()
            assert [(row["code"], row["tenant_id"]) for row in found] == [(rows_b["code"], tenant_b.id)]
            assert set(found[0]) == {"code", "tenant_id", "document_id", "pdf_sha256"}
            for code, sha256 in ((None, None), ("%", None), ("ZZZZZZZZZZZZ", "%")):
                assert session.execute(text(lookup), {"code": code, "sha256": sha256}).all() == []


def test_a_verification_row_of_another_tenant_cannot_be_written(db: Database, two_tenants) -> None:
    tenant_a, tenant_b, _, _ = two_tenants
    insert = text(
        "insert into certificate_verifications (code, tenant_id, document_id, pdf_sha256, created_at) "
        "values (:code, :tenant, :document, :sha256, now())"
    )
    values = {"code": "PINNED000001", "tenant": tenant_b.id, "document": uuid.uuid4(), "sha256": _digest()}
    with pytest.raises(sa.exc.ProgrammingError, match="row-level security"), db.transaction(tenant_a.id) as session:
        session.execute(insert, values)
