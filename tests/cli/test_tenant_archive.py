"""`madoguchi tenants export|import|archive-keys`, as an operator runs them between two installations."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from madoguchi.cli import main
from madoguchi.config import Settings
from madoguchi.platform import portability
from tests.platform import test_portability_support as support
from tests.platform.test_portability_support import (
    AUTO_ISSUE,
    Installation,
    assert_nothing_imported,
    read_archive,
    seed_tenant,
    write_archive,
)

# The two installations (fixtures).
source, target, source_keys, transfer_key, archive = (
    support.source,
    support.target,
    support.source_keys,
    support.transfer_key,
    support.archive,
)

#: The CLI runs in this process with its own CliRunner; the export opens a REPEATABLE READ transaction of its own.
pytestmark = pytest.mark.commits


def _env(installation: Installation, **overrides: str) -> dict[str, str]:
    """The MADOGUCHI_* variables of one installation, as its operator's shell would have them."""
    settings = installation.settings
    env = {
        "MADOGUCHI_DATABASE_URL": settings.database_url,
        "MADOGUCHI_MIGRATION_DATABASE_URL": settings.migration_database_url,
        "MADOGUCHI_DATA_DIR": str(settings.data_dir),
        "MADOGUCHI_DATA_KEY": settings.data_key,
        "MADOGUCHI_AUDIT_KEY": settings.audit_key,
        "MADOGUCHI_STORAGE_URL": settings.storage_url,
        "MADOGUCHI_PUBLIC_URL": settings.public_url,
        "MADOGUCHI_SERVICES_DIR": str(settings.services_dir),
        "MADOGUCHI_TENANTS_DIR": str(settings.tenants_dir),
        "MADOGUCHI_ARCHIVE_SIGNING_KEY": settings.archive_signing_key,
        "MADOGUCHI_ARCHIVE_TRUSTED_KEYS": settings.archive_trusted_keys,
        "MADOGUCHI_ARCHIVE_TRANSFER_KEY": settings.archive_transfer_key,
    }
    return {**env, **overrides}


def test_export_then_import_moves_the_tenant_to_the_other_installation(
    source: Installation, target: Installation, tmp_path: Path
) -> None:
    seed_tenant(source)
    runner = CliRunner()
    path = tmp_path / "sakuragaoka.tar.gz"

    exported = runner.invoke(main, ["tenants", "export", AUTO_ISSUE, str(path)], env=_env(source))
    assert exported.exit_code == 0, exported.output
    assert f"exported {AUTO_ISSUE}:" in exported.stdout and "2 files to" in exported.stdout
    assert f"exporting {AUTO_ISSUE}" in exported.stderr  # the progress bar (its label, off a terminal)
    assert "Individual Numbers" in exported.stderr and "encrypted with the transfer key" in exported.stderr

    imported = runner.invoke(main, ["tenants", "import", str(path)], env=_env(target))
    assert imported.exit_code == 0, imported.output
    assert f"imported {AUTO_ISSUE}:" in imported.stdout
    assert "without passwords" in imported.stdout
    assert "importing sakuragaoka.tar.gz" in imported.stderr

    verified = runner.invoke(main, ["audit", "verify", "--tenant", AUTO_ISSUE], env=_env(target))
    assert verified.exit_code == 0, verified.output
    assert "audit chain intact" in verified.output
    # The imported records keep the source installation's MACs: without its audit key they cannot be checked.
    own_key_only = target.settings.audit_key.split(",")[0]
    unverifiable = runner.invoke(
        main, ["audit", "verify", "--tenant", AUTO_ISSUE], env=_env(target, MADOGUCHI_AUDIT_KEY=own_key_only)
    )
    assert unverifiable.exit_code == 1
    assert "does not hold the key 'test-1'" in unverifiable.output


def test_tampered_archive_is_refused_in_one_line_and_nothing_is_imported(target: Installation, archive: Path) -> None:
    members = read_archive(archive)
    members["tables/accounts.jsonl"] = members["tables/accounts.jsonl"].replace(b'"kind":"staff"', b'"kind":"stafe"')
    write_archive(archive, members)

    result = CliRunner().invoke(main, ["tenants", "import", str(archive)], env=_env(target))

    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "Error: tables/accounts.jsonl does not match its SHA-256 in the manifest (corrupted or altered)"
    ]
    assert_nothing_imported(target)


def test_archive_from_an_untrusted_installation_is_refused(target: Installation, archive: Path) -> None:
    untrusting = _env(target, MADOGUCHI_ARCHIVE_TRUSTED_KEYS="")
    result = CliRunner().invoke(main, ["tenants", "import", str(archive)], env=untrusting)

    assert result.exit_code == 1
    assert "which this installation does not trust" in result.stderr
    assert_nothing_imported(target)


def test_export_without_a_transfer_key_warns_that_individual_numbers_stay_behind(
    source: Installation, tmp_path: Path
) -> None:
    seed_tenant(source)
    path = tmp_path / "archive.tar.gz"
    result = CliRunner().invoke(
        main, ["tenants", "export", AUTO_ISSUE, str(path)], env=_env(source, MADOGUCHI_ARCHIVE_TRANSFER_KEY="")
    )
    assert result.exit_code == 0, result.output
    assert "WARNING: Individual Numbers (個人番号) are NOT in this archive" in result.stderr


def test_export_refuses_unknown_tenant_missing_key_and_existing_file(source: Installation, tmp_path: Path) -> None:
    runner = CliRunner()
    path = tmp_path / "archive.tar.gz"

    unknown = runner.invoke(main, ["tenants", "export", "atlantis", str(path)], env=_env(source))
    assert unknown.exit_code == 1 and "unknown tenant 'atlantis'" in unknown.stderr

    unsigned = runner.invoke(
        main, ["tenants", "export", AUTO_ISSUE, str(path)], env=_env(source, MADOGUCHI_ARCHIVE_SIGNING_KEY="")
    )
    assert unsigned.exit_code == 1 and "MADOGUCHI_ARCHIVE_SIGNING_KEY is not set" in unsigned.stderr
    assert not path.exists()

    path.write_bytes(b"an earlier archive")
    existing = runner.invoke(main, ["tenants", "export", AUTO_ISSUE, str(path)], env=_env(source))
    assert existing.exit_code == 2 and "--force" in existing.stderr
    assert path.read_bytes() == b"an earlier archive"


def test_import_of_a_file_that_is_not_an_archive_is_refused(target: Installation, tmp_path: Path) -> None:
    path = tmp_path / "notes.tar.gz"
    path.write_text("not an archive")
    result = CliRunner().invoke(main, ["tenants", "import", str(path)], env=_env(target))
    assert result.exit_code == 1
    assert "notes.tar.gz is damaged or not a tenant archive" in result.stderr
    assert_nothing_imported(target)


def test_archive_keys_prints_a_working_key_set() -> None:
    result = CliRunner().invoke(main, ["tenants", "archive-keys"])
    assert result.exit_code == 0, result.output
    values = dict(line.split("=", 1) for line in result.stdout.splitlines() if line.startswith("MADOGUCHI_"))
    settings = Settings(
        archive_signing_key=values["MADOGUCHI_ARCHIVE_SIGNING_KEY"],
        archive_transfer_key=values["MADOGUCHI_ARCHIVE_TRANSFER_KEY"],
    )
    keys = portability.ArchiveKeys.from_settings(settings)
    assert keys.signing is not None and keys.transfer is not None
    assert portability.public_key_text(keys.signing.public_key()) == values["MADOGUCHI_ARCHIVE_TRUSTED_KEYS"]
