"""Two installations for tenant archive tests (shared by tests/platform and tests/cli): the source with a seeded
municipality, and a target with a fresh database on the same backend, its own data key, signing key and folder.

The target is a copy of the migrated SQLite template, or a second PostgreSQL database used as the app role under
row-level security.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import shutil
import tarfile
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from madoguchi import migrate
from madoguchi.applications import operations as ops
from madoguchi.audit.keys import generate_key
from madoguchi.config import Settings
from madoguchi.crypto import Sealer
from madoguchi.db import Database, utcnow
from madoguchi.documents import certificates
from madoguchi.documents.backend import Storage, new_key
from madoguchi.documents.models import Attachment, IssuedDocument
from madoguchi.documents.storage import storage_for
from madoguchi.identity.models import Account
from madoguchi.notify.models import Notice, WebhookSubscription
from madoguchi.oauth.models import OAuthClient, secret_hash
from madoguchi.platform import portability
from madoguchi.tenancy.models import Tenant
from tests.conftest import AUDIT_KEY, REPO, Backend, _truncate_all
from tests.factories import make_household, make_person, make_tax, resident, staff, tenants
from tests.world import RESIDENCY

AUTO_ISSUE = "sakuragaoka-city"
INDIVIDUAL_NUMBER = "123456789018"
ATTACHMENT_BYTES = b"%PDF-1.4\n% a scanned power of attorney\n%%EOF\n"
VENDOR_SECRET = "vendor secret"


# ------------------------------------------------------------------------------------------ installations


@dataclass
class Installation:
    settings: Settings
    db: Database

    @property
    def storage(self) -> Storage:
        return storage_for(self.settings)


def archive_keys() -> dict[str, str]:
    return portability.generate_keys()


#: The second PostgreSQL database of this process (one per xdist worker), made on first use.
_postgres_targets: dict[str, Backend] = {}


def postgres_target_database(request: pytest.FixtureRequest) -> Backend:
    """A second migrated PostgreSQL database: the other installation. Emptied by the caller before each test."""
    worker_id: str = request.getfixturevalue("worker_id")
    if worker_id not in _postgres_targets:
        server = request.getfixturevalue("postgres_server")
        owner_url, app_url = server.create_database(f"archive_target_{worker_id}")
        migrate.upgrade(Settings(database_url=app_url, migration_database_url=owner_url))
        _postgres_targets[worker_id] = Backend("postgresql", app_url, owner_url)
    return _postgres_targets[worker_id]


@pytest.fixture
def transfer_key() -> str:
    return archive_keys()["archive_transfer_key"]


@pytest.fixture
def source_keys() -> dict[str, str]:
    return archive_keys()


@pytest.fixture
def source(settings: Settings, db: Database, seeded: None, tmp_path: Path, source_keys, transfer_key) -> Installation:
    configured = replace(
        settings,
        storage_url=f"file://{tmp_path / 'source-documents'}",
        archive_signing_key=source_keys["archive_signing_key"],
        archive_transfer_key=transfer_key,
        public_url="https://madoguchi.source.example",
    )
    return Installation(configured, db)


def public_key_of(installation: Installation) -> str:
    """The public key that installations trusting ``installation`` list."""
    signing = portability.ArchiveKeys.from_settings(installation.settings).signing
    assert signing is not None
    return portability.public_key_text(signing.public_key())


def fresh_installation(
    request: pytest.FixtureRequest, *, postgres: bool, folder: Path, trusted_keys: str, transfer_key: str
) -> Installation:
    """Another installation: a fresh database, its own data key, signing key and document folder."""
    if postgres:
        database = postgres_target_database(request)
        _truncate_all(database.owner_url)
        app_url, owner_url = database.app_url, database.owner_url
    else:
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(request.getfixturevalue("sqlite_template"), folder / "madoguchi.db")
        app_url = owner_url = f"sqlite:///{folder / 'madoguchi.db'}"
    own = archive_keys()
    configured = Settings(
        data_dir=folder,
        database_url=app_url,
        migration_database_url=owner_url,
        services_dir=REPO / "services",
        tenants_dir=REPO / "tenants",
        secret_key="other-secret",
        data_key=Sealer.generate_key(),
        # Its own audit key first (new records), then the source installation's, to verify imported chains.
        audit_key=f"{generate_key(folder.name)},{AUDIT_KEY}",
        storage_url=f"file://{folder / 'documents'}",
        archive_signing_key=own["archive_signing_key"],
        archive_trusted_keys=trusted_keys,
        archive_transfer_key=transfer_key,
        public_url=f"https://madoguchi.{folder.name}.example",
    )
    return Installation(
        configured, Database(configured.effective_database_url, pool_size=2, audit_key=configured.audit_key)
    )


@pytest.fixture
def target(request: pytest.FixtureRequest, backend: Backend, tmp_path: Path, source_keys, transfer_key):
    """The installation the tenant moves to, on the same backend as the source."""
    installation = fresh_installation(
        request,
        postgres=backend.is_postgres,
        folder=tmp_path / "target",
        trusted_keys=source_keys["archive_trusted_keys"],
        transfer_key=transfer_key,
    )
    yield installation
    installation.db.dispose()


@pytest.fixture
def archive(source: Installation, tmp_path: Path) -> Path:
    """The source's seeded municipality, exported."""
    seed_tenant(source)
    path = tmp_path / "archive.tar.gz"
    export(source, AUTO_ISSUE, path)
    return path


# ------------------------------------------------------------------------------------------------ seeding


@dataclass
class Seeded:
    tenant: Tenant
    person_id: uuid.UUID
    account_id: uuid.UUID
    attachment_key: str
    subscription_id: uuid.UUID
    other_tenant_person_id: uuid.UUID


def seed_tenant(installation: Installation) -> Seeded:
    """A municipality with a registry, accounts with secrets, applications with history, an issued document,
    an attachment file, a notice, a vendor app and a webhook subscription — and a neighbour with its own data."""
    db, settings = installation.db, installation.settings
    everyone = tenants(db)
    tenant = next(t for t in everyone if t.slug == AUTO_ISSUE)
    neighbour = next(t for t in everyone if t.slug != AUTO_ISSUE)
    sealer = Sealer(settings.data_key)
    with db.transaction(neighbour.id) as session:
        other_person = make_person(session, neighbour)
    with db.transaction(tenant.id) as session:
        household = make_household(session, tenant)
        parent = make_person(
            session, tenant, household, individual_number_encrypted=sealer.seal(tenant.id, INDIVIDUAL_NUMBER)
        )
        make_person(session, tenant, household, given_name="陽葵", relation_to_head="子")
        make_tax(session, tenant, parent, fiscal_year=2025)
        applicant = resident(session, tenant, parent)
        clerk = staff(session, tenant, "clerk")
        account = session.get(Account, applicant.account_id)
        assert account is not None
        account.password_hash = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA"
        account.totp_secret_encrypted = sealer.seal(account.id, "JBSWY3DPEHPK3PXP")
        account.totp_enabled_at = utcnow()
        account.totp_last_counter = 123
        client = OAuthClient(
            tenant_id=tenant.id,
            client_id=f"vendor-{uuid.uuid4().hex[:12]}",
            client_secret_hash=secret_hash(VENDOR_SECRET),
            name="Vendor app",
            redirect_uris=["https://vendor.example/callback"],
            grant_types=["authorization_code"],
            scopes=["applications:read"],
            created_by="account:admin",
        )
        session.add(client)
        session.flush()
        subscription = WebhookSubscription(
            tenant_id=tenant.id,
            client_id=client.id,
            url="https://vendor.example/hooks",
            events=["application.submitted"],
            secret_sealed=sealer.seal(tenant.id, "whsec_c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0cw=="),
            created_by=f"client:{client.id}",
        )
        session.add(subscription)
        session.flush()
        result = (parent.id, applicant.account_id, subscription.id)
    with db.transaction(tenant.id) as session:
        application = ops.create_draft(session, tenant, applicant, "residency-certificate", RESIDENCY)
        application_id = application.id
    # Auto-issue: the issued document with its signed PDF in storage, audit records and outbox messages.
    issuer = certificates.Certificates(settings, installation.storage)
    with certificates.using(issuer), db.transaction(tenant.id) as session:
        ops.submit(session, tenant, applicant, application_id)
    with db.transaction(tenant.id) as session:
        second = ops.create_draft(session, tenant, applicant, "residency-certificate", RESIDENCY)
        storage_key = new_key(tenant.id, "attachments")
        installation.storage.put(storage_key, ATTACHMENT_BYTES, tenant_id=tenant.id, content_type="application/pdf")
        session.add(
            Attachment(
                tenant_id=tenant.id,
                application_id=second.id,
                document_key="power_of_attorney",
                original_name="委任状.pdf",
                content_type="application/pdf",
                size_bytes=len(ATTACHMENT_BYTES),
                sha256="0" * 64,
                storage_key=storage_key,
            )
        )
        session.add(Notice(tenant_id=tenant.id, account_id=applicant.account_id, kind="application.issued"))
        ops.add_comment(session, tenant, clerk, second.id, "please bring the original")
    with db.transaction(tenant.id) as session:
        issued = session.execute(sa.select(IssuedDocument)).scalar_one()
        assert issued.pdf_storage_key, "the auto-issue tenant issues a signed certificate at submission"
    return Seeded(tenant, result[0], result[1], storage_key, result[2], other_person.id)


# ------------------------------------------------------------------------------------------------ helpers


def read_archive(path: Path) -> dict[str, bytes]:
    with tarfile.open(path, "r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}


def write_archive(path: Path, members: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def comparable(members: dict[str, bytes]) -> dict[str, Any]:
    """The archive's content without what differs between two exports by design (time, installation, signature)."""
    manifest = json.loads(members["manifest.json"])
    del manifest["created_at"], manifest["source_installation"]
    content: dict[str, Any] = {name: data for name, data in members.items() if name not in portability.SIGNATURE}
    content["manifest.json"] = manifest
    return content


def resign(members: dict[str, bytes], settings: Settings) -> None:
    """Re-list ``members`` in their manifest and sign it with ``settings``' key: an archive that a trusted
    installation signed, but whose content is wrong."""
    manifest = json.loads(members["manifest.json"])
    unsigned = (portability.MANIFEST, portability.SIGNATURE)
    manifest["members"] = {
        name: {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
        for name, data in members.items()
        if name not in unsigned
    }
    signing = portability.ArchiveKeys.from_settings(settings).signing
    assert signing is not None
    manifest_bytes = json.dumps(manifest, sort_keys=True, ensure_ascii=False, indent=1).encode()
    members["manifest.json"] = manifest_bytes
    members["manifest.sig"] = json.dumps(
        {
            "algorithm": "Ed25519",
            "key_id": portability.key_id(signing.public_key()),
            "signature": base64.b64encode(signing.sign(manifest_bytes)).decode(),
        }
    ).encode()


def table_rows(members: dict[str, bytes], table: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in members[f"tables/{table}.jsonl"].decode().splitlines()]


def assert_nothing_imported(target: Installation) -> None:
    with target.db.transaction() as session:
        assert session.execute(sa.select(sa.func.count()).select_from(Tenant)).scalar_one() == 0
    for table in portability.archived_tables():
        if table.name in portability.REFERENCE_TABLES:
            continue
        engine = sa.create_engine(target.settings.effective_migration_url, poolclass=sa.pool.NullPool)
        with engine.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one() == 0, table.name
        engine.dispose()
    documents = target.storage.root  # targets keep documents in a local folder
    assert not documents.exists() or not any(p.is_file() for p in documents.rglob("*"))


def export(installation: Installation, slug: str, path: Path) -> portability.ArchiveSummary:
    return portability.export_tenant(installation.db, installation.storage, installation.settings, slug, path)


def import_(installation: Installation, path: Path) -> portability.ArchiveSummary:
    return portability.import_tenant(installation.db, installation.storage, installation.settings, path)
