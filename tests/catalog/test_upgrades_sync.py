"""``madoguchi tenants sync`` publishes a new version of a procedure but moves no tenant onto it: each stays on
the version it runs until its tenant admin adopts the new one."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml
from click.testing import CliRunner

from madoguchi.cli import main
from madoguchi.db import Database
from tests.catalog.test_upgrades import KEY, OLD_VERSION, REPO, running_version
from tests.factories import tenants

PATCH_VERSION = "1.0.1"


def _catalog_with_a_patch_release(root: Path) -> tuple[Path, Path]:
    """services/ with the residency certificate at 1.0.1 (a reworded summary), and tenants/ without pins."""
    services, tenants_dir = root / "services", root / "tenants"
    shutil.copytree(REPO / "services", services)
    shutil.copytree(REPO / "tenants", tenants_dir)
    service_file = services / KEY / "service.yaml"
    service = yaml.safe_load(service_file.read_text(encoding="utf-8"))
    service["version"] = PATCH_VERSION
    service["summary"]["en"] = service["summary"]["en"].replace("Request a copy", "Ask for a copy")
    service_file.write_text(yaml.safe_dump(service, allow_unicode=True, sort_keys=False), encoding="utf-8")
    for tenant_file in tenants_dir.glob("*.yaml"):
        tenant = yaml.safe_load(tenant_file.read_text(encoding="utf-8"))
        (tenant["services"].get(KEY) or {}).pop("version", None)  # a pin to 2.0.0 would no longer pass the check
        tenant_file.write_text(yaml.safe_dump(tenant, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return services, tenants_dir


def test_tenants_sync_publishes_the_new_version_and_leaves_every_tenant_on_its_own(
    runner: CliRunner, db: Database, seeded: None, tmp_path: Path
) -> None:
    services, tenants_dir = _catalog_with_a_patch_release(tmp_path)

    result = runner.invoke(main, ["tenants", "sync", "--services", str(services), "--tenants", str(tenants_dir)])

    assert result.exit_code == 0, result.output
    assert f"published {KEY} {PATCH_VERSION}" in result.output
    assert {tenant.slug: running_version(db, tenant)[0] for tenant in tenants(db)} == {
        tenant.slug: OLD_VERSION for tenant in tenants(db)
    }


def test_a_new_version_that_drops_four_eyes_is_not_published(
    runner: CliRunner, db: Database, seeded: None, tmp_path: Path
) -> None:
    """A catalog upgrade cannot switch the four-eyes rule of 上長決裁 off: the check refuses it, nothing changes."""
    services, tenants_dir = _catalog_with_a_patch_release(tmp_path)
    service_file = services / KEY / "service.yaml"
    service = yaml.safe_load(service_file.read_text(encoding="utf-8"))
    approve = next(
        t for t in service["workflow"]["optional_steps"]["supervisor_approval"]["transitions"] if t["name"] == "approve"
    )
    del approve["actor_differs_from"]
    service_file.write_text(yaml.safe_dump(service, allow_unicode=True, sort_keys=False), encoding="utf-8")

    result = runner.invoke(main, ["tenants", "sync", "--services", str(services), "--tenants", str(tenants_dir)])

    assert result.exit_code == 1
    assert "supervisor_approval.transitions[1].actor_differs_from: four eyes" in result.output
    assert f"published {KEY} {PATCH_VERSION}" not in result.output
    assert {running_version(db, tenant)[0] for tenant in tenants(db)} == {OLD_VERSION}
