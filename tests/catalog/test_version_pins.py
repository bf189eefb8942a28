"""A tenant file may pin any published version of a procedure (issue 11, point 7): after 2.3.0 is published,
sakuragaoka-city's pin to 2.2.0 still passes ``catalog check`` and ``tenants sync``, its overrides checked
against 2.2.0 as published in the database; a pin to a version never published is one line naming the file
and the field."""

from __future__ import annotations

import shutil
from pathlib import Path

from click.testing import CliRunner

from madoguchi.cli import main
from madoguchi.db import Database
from tests.catalog.test_catalog_check_cli import set_in_yaml
from tests.catalog.test_upgrades import KEY, NEW_VERSION, OLD_VERSION, REPO, running_version, write_second_version
from tests.factories import tenants

CITY = "sakuragaoka-city"
#: Allowed by 2.2.0 (fee 200-450), refused by 2.3.0 (250-350): shows which version the overrides are checked by.
FEE_ONLY_THE_OLD_VERSION_ALLOWS = 200


def _catalog_with_1_1_0(root: Path) -> tuple[Path, Path]:
    services, tenants_dir = root / "services", root / "tenants"
    shutil.copytree(REPO / "services", services, ignore=shutil.ignore_patterns(KEY))
    write_second_version(services)
    shutil.copytree(REPO / "tenants", tenants_dir)
    city = tenants_dir / f"{CITY}.yaml"
    set_in_yaml(city, ["services", KEY, "version"], OLD_VERSION)
    set_in_yaml(city, ["services", KEY, "overrides", "fee"], FEE_ONLY_THE_OLD_VERSION_ALLOWS)
    for other in ("midorikawa-village", "shiomi-town"):  # unpinned: checked against 2.3.0
        set_in_yaml(tenants_dir / f"{other}.yaml", ["services", KEY, "overrides", "fee"], 300)
    return services, tenants_dir


def _run(runner: CliRunner, command: list[str], services: Path, tenants_dir: Path):
    return runner.invoke(main, [*command, "--services", str(services), "--tenants", str(tenants_dir)])


def test_a_pin_to_an_older_published_version_passes_check_and_sync(
    runner: CliRunner, db: Database, seeded: None, tmp_path: Path
) -> None:
    services, tenants_dir = _catalog_with_1_1_0(tmp_path)

    synced = _run(runner, ["tenants", "sync"], services, tenants_dir)
    assert synced.exit_code == 0, synced.output
    assert f"published {KEY} {NEW_VERSION}" in synced.output
    city = next(tenant for tenant in tenants(db) if tenant.slug == CITY)
    assert running_version(db, city) == (OLD_VERSION, {"fee": 200, "sla_days": 2, "auto_issue": True})

    checked = _run(runner, ["catalog", "check"], services, tenants_dir)
    assert checked.exit_code == 0, checked.output
    assert checked.output.startswith("ok:")

    # The same fee without the pin is checked against 2.3.0, the folder's version, and refused.
    city_file = tenants_dir / f"{CITY}.yaml"
    city_file.write_text(city_file.read_text(encoding="utf-8").replace(f"version: {OLD_VERSION}", ""), encoding="utf-8")
    unpinned = _run(runner, ["catalog", "check"], services, tenants_dir)
    assert unpinned.exit_code == 1 and f"services.{KEY}.overrides.fee" in unpinned.output


def test_a_pin_to_a_version_never_published_fails_in_one_line_naming_file_and_field(
    runner: CliRunner, db: Database, seeded: None, tmp_path: Path
) -> None:
    services, tenants_dir = _catalog_with_1_1_0(tmp_path)
    set_in_yaml(tenants_dir / f"{CITY}.yaml", ["services", KEY, "version"], "0.9.0")
    line = (
        f"{tenants_dir.as_posix()}/{CITY}.yaml: services.{KEY}.version: "
        f"version 0.9.0 of {KEY} is not published (available: {OLD_VERSION}, {NEW_VERSION})"
    )

    checked = _run(runner, ["catalog", "check"], services, tenants_dir)
    assert checked.exit_code == 1
    assert checked.stdout.splitlines() == [line]

    synced = _run(runner, ["tenants", "sync"], services, tenants_dir)
    assert synced.exit_code == 1
    assert synced.output.splitlines() == [line]
    assert "Traceback" not in synced.output
