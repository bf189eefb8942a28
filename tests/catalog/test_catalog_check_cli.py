"""``madoguchi catalog check``: what a catalog author sees on the command line, and the exit status CI relies on."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from madoguchi.cli.catalog import catalog

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def copied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the shipped catalog, with the working directory set to it (so paths print relative)."""
    shutil.copytree(REPO / "services", tmp_path / "services")
    shutil.copytree(REPO / "tenants", tmp_path / "tenants")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MADOGUCHI_SERVICES_DIR", raising=False)
    monkeypatch.delenv("MADOGUCHI_TENANTS_DIR", raising=False)
    return tmp_path


def set_in_yaml(path: Path, keys: list[str], value: object) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    node = data
    for key in keys[:-1]:
        node = node[key]
    node[keys[-1]] = value
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def test_shipped_catalog_passes(copied: Path) -> None:
    result = CliRunner().invoke(catalog, ["check", "--services", "services", "--tenants", "tenants"])

    assert result.exit_code == 0, result.output
    assert result.stdout == "ok: 3 services, 3 tenants\n"


def test_without_options_or_environment_it_checks_the_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MADOGUCHI_SERVICES_DIR", raising=False)
    monkeypatch.delenv("MADOGUCHI_TENANTS_DIR", raising=False)

    result = CliRunner().invoke(catalog, ["check"])

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("ok: 3 services, ")


def test_fee_outside_the_range_fails_with_one_line_naming_file_and_field(copied: Path) -> None:
    tenant = copied / "tenants/shiomi-town.yaml"
    set_in_yaml(tenant, ["services", "residency-certificate", "overrides", "fee"], 100)

    result = CliRunner().invoke(catalog, ["check", "--services", "services", "--tenants", "tenants"])

    assert result.exit_code == 1
    assert result.stdout == (
        "tenants/shiomi-town.yaml: services.residency-certificate.overrides.fee: 100 is outside the allowed range "
        "200..450\n"
    )
    assert result.stderr == "catalog check: 1 problem\n"


def test_override_not_in_tenant_may_override_fails(copied: Path) -> None:
    tenant = copied / "tenants/midorikawa-village.yaml"
    set_in_yaml(tenant, ["services", "childcare-admission"], {"overrides": {"auto_issue": True}})

    result = CliRunner().invoke(catalog, ["check", "--services", "services", "--tenants", "tenants"])

    assert result.exit_code == 1
    assert result.stdout == (
        "tenants/midorikawa-village.yaml: services.childcare-admission.overrides.auto_issue: 'auto_issue' is not a "
        "setting this procedure lets a tenant change (allowed: sla_days, min_monthly_work_hours, max_preferences, "
        "extra_steps, extra_questions, instructions)\n"
    )


def test_every_problem_in_every_file_is_listed_in_order(copied: Path) -> None:
    set_in_yaml(copied / "services/tax-certificate/service.yaml", ["identity_assurance"], "password")
    set_in_yaml(copied / "tenants/sakuragaoka-city.yaml", ["local_government_code"], "202980")
    set_in_yaml(copied / "tenants/shiomi-town.yaml", ["locales"], ["ja", "fr"])

    result = CliRunner().invoke(catalog, ["check", "--services", "services", "--tenants", "tenants"])

    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "services/tax-certificate/service.yaml: identity_assurance: "
        "'password' is not one of ['email', 'verified', 'card']",
        "tenants/sakuragaoka-city.yaml: local_government_code: wrong check digit: 20298 takes 3 (202983), JIS X 0402",
        "tenants/shiomi-town.yaml: locales[1]: 'fr' is not one of ['ja', 'en']",
    ]
    assert result.stderr == "catalog check: 3 problems\n"


def test_folders_come_from_the_environment_when_no_option_is_given(
    copied: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_in_yaml(copied / "tenants/shiomi-town.yaml", ["services", "tax-certificate", "version"], "3.0.0")
    monkeypatch.setenv("MADOGUCHI_SERVICES_DIR", str(copied / "services"))
    monkeypatch.setenv("MADOGUCHI_TENANTS_DIR", str(copied / "tenants"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # files outside the working directory print as given

    result = CliRunner().invoke(catalog, ["check"])

    assert result.exit_code == 1
    assert result.stdout == (
        f"{copied.as_posix()}/tenants/shiomi-town.yaml: services.tax-certificate.version: "
        "version 3.0.0 of tax-certificate is not published (available: 2.2.0)\n"
    )


def test_missing_folders_are_reported_not_crashed_on(copied: Path) -> None:
    result = CliRunner().invoke(catalog, ["check", "--services", "nowhere", "--tenants", "tenants"])

    assert result.exit_code == 1
    assert result.stdout.splitlines()[0] == "nowhere: (file): services directory not found"


def test_check_is_listed_in_help() -> None:
    result = CliRunner().invoke(catalog, ["--help"])

    assert result.exit_code == 0
    assert "check" in result.stdout
