"""Fixtures for the certificate tests: two municipalities with residents and staff signed in over HTTP,
and helpers to issue a certificate through the API and to check a PDF with pyHanko.

a = sakuragaoka-city (auto-issue for verified residents), b = midorikawa-village (a clerk issues).
Import the fixtures into a test module with ``from tests.documents.certificate_fixtures import *``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from io import BytesIO
from typing import Any

import pytest
from flask.testing import FlaskClient
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from madoguchi.config import Settings
from madoguchi.db import Database
from madoguchi.documents import signing
from madoguchi.identity.models import Account, AccountKind
from madoguchi.registry.models import Person
from madoguchi.tenancy.models import Tenant
from tests.factories import make_account, make_household, make_person, make_tax, tenants
from tests.world import RESIDENCY, client_of

HTTPS = "https://localhost"
TAX = {
    "requester": {"relationship": "self"},
    "fiscal_year": 2025,
    "kind": "taxation",
    "purpose": "loan",
    "copies": 1,
    "delivery": "electronic",
}


@dataclass
class Town:
    tenant: Tenant
    person: Person
    resident: FlaskClient
    neighbour: FlaskClient
    clerk: FlaskClient
    resident_account: Account
    clerk_account: Account

    def api(self, path: str) -> str:
        return f"{HTTPS}/api/v1/t/{self.tenant.slug}{path}"

    def page(self, path: str) -> str:
        return f"{HTTPS}/{self.tenant.slug}{path}"


@dataclass
class World:
    a: Town  # sakuragaoka-city: auto-issue
    b: Town  # midorikawa-village: a clerk issues


def _town(app: Any, db: Database, tenant: Tenant) -> Town:
    with db.transaction(tenant.id) as session:
        household = make_household(session, tenant)
        person = make_person(session, tenant, household, family_name="髙橋", given_name="美咲")
        make_tax(session, tenant, person, fiscal_year=2025)
        neighbour = make_person(session, tenant, given_name="次郎")
        resident = make_account(session, tenant, person=person)
        other = make_account(session, tenant, person=neighbour)
        clerk = make_account(session, tenant, kind=AccountKind.STAFF, roles=["clerk", "supervisor"])
    return Town(
        tenant=tenant,
        person=person,
        resident=client_of(app, db, resident),
        neighbour=client_of(app, db, other),
        clerk=client_of(app, db, clerk),
        resident_account=resident,
        clerk_account=clerk,
    )


@pytest.fixture
def world(app: Any, db: Database, seeded: None) -> World:
    by_slug = {t.slug: t for t in tenants(db)}
    return World(
        a=_town(app, db, by_slug["sakuragaoka-city"]),
        b=_town(app, db, by_slug["midorikawa-village"]),
    )


def submit(town: Town, procedure: str = "residency-certificate", data: dict[str, Any] | None = None) -> dict[str, Any]:
    """File and submit as the town's resident; returns the application after submission."""
    created = town.resident.post(
        town.api("/applications/"), json={"procedure": procedure, "data": RESIDENCY if data is None else data}
    )
    assert created.status_code == 201, created.json
    submitted = town.resident.post(town.api(f"/applications/{created.json['id']}/submit"))
    assert submitted.status_code == 200, submitted.json
    return submitted.json


def issue_after_approval(town: Town) -> tuple[dict[str, Any], Any]:
    """Submit as the resident, then start review, approve and issue as the clerk: the application and the issue's
    response (for the tests of an issue that must fail)."""
    application = submit(town)
    url = town.api(f"/applications/{application['id']}/transitions")
    for step in ("start_review", "approve"):
        assert town.clerk.post(url, json={"transition": step}).status_code == 200
    return application, town.clerk.post(url, json={"transition": "issue"})


def issue_by_clerk(town: Town) -> dict[str, Any]:
    application = submit(town)
    url = town.api(f"/applications/{application['id']}/transitions")
    for step in ("start_review", "approve", "issue"):
        response = town.clerk.post(url, json={"transition": step})
        assert response.status_code == 200, response.json
    return response.json


def only_document(town: Town, application_id: str, client: FlaskClient | None = None) -> dict[str, Any]:
    response = (client or town.resident).get(town.api(f"/applications/{application_id}/documents"))
    assert response.status_code == 200, response.json
    assert len(response.json) == 1
    return response.json[0]


def download(town: Town, document_id: str, client: FlaskClient | None = None) -> bytes:
    response = (client or town.resident).get(town.api(f"/documents/{document_id}/pdf"))
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/pdf"
    return response.get_data()


def platform_ca(settings: Settings) -> Any:
    return signing.KeyStore(settings).ca_certificate()


def pyhanko_status(data: bytes, ca: Any) -> Any:
    """pyHanko's own verdict on the (only) signature, trusting nothing but the platform CA.

    Through ``signing.run_sync``: pyHanko's synchronous wrapper calls ``asyncio.run``, which fails in a test
    worker where Playwright's sync API (the browser tests) has left an event loop running."""
    reader = PdfFileReader(BytesIO(data))
    assert len(reader.embedded_signatures) == 1
    context = ValidationContext(trust_roots=[ca], allow_fetching=False)
    return signing.run_sync(lambda: async_validate_pdf_signature(reader.embedded_signatures[0], context))


def pdftotext(data: bytes, tmp_path: Any) -> str:
    """The text poppler extracts (in content order, runs of whitespace as one space: poppler turns the
    ideographic space between family and given name into a word gap). Skips without poppler-utils unless
    MADOGUCHI_REQUIRE_PDFTOOLS=1."""
    tool = shutil.which("pdftotext")
    if tool is None:
        if os.environ.get("MADOGUCHI_REQUIRE_PDFTOOLS") == "1":
            pytest.fail("pdftotext is required (MADOGUCHI_REQUIRE_PDFTOOLS=1): install poppler-utils")
        pytest.skip("pdftotext (poppler-utils) is not installed")
    path = tmp_path / "certificate.pdf"
    path.write_bytes(data)
    out = subprocess.run([tool, "-raw", "-enc", "UTF-8", str(path), "-"], check=True, capture_output=True, text=True)
    return " ".join(out.stdout.split())


def spaced(name: str) -> str:
    """A registry name as pdftotext shows it: ``髙橋　美咲`` -> ``髙橋 美咲``."""
    return " ".join(name.split())


def flip_one_byte(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]
