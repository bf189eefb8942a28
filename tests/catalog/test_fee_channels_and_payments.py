"""The catalog's fee per channel and per units of persons, and the tenant file's ``payments`` section (decision
0043): what ``catalog check`` says, line by line, and what the effective settings and the profile hold."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from madoguchi.catalog import operations
from madoguchi.catalog.definitions.overrides import effective_service
from madoguchi.catalog.definitions.services import load_services
from madoguchi.catalog.definitions.tenants import load_tenants
from madoguchi.cli.catalog import catalog
from madoguchi.platform.provisioning import _tenant_values
from tests.catalog.test_catalog_check_cli import REPO, copied, set_in_yaml
from tests.factories import tenants

#: A payments section that passes: each test breaks one field of it.
PAYMENTS = {
    "provider": "fake",
    "online": "after_fee_fixed",
    "expires_after_hours": 168,
    "surcharge": {"amount": 50, "label": {"ja": "システム利用料", "en": "System fee"}},
    "exemptions": ["public_assistance", "disaster"],
    "revenue_item": {"ja": "手数料", "en": "Fees"},
    "counter_modes": ["cash"],
}
__all__ = ["copied"]  # the fixture, shared with the other catalog check tests


def _edit(path: Path, keys: list[str], value: object) -> None:
    """``set_in_yaml`` that also writes the mappings on the way that are not there yet."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    node = data
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    node[keys[-1]] = value
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def _check() -> list[str]:
    result = CliRunner().invoke(catalog, ["check", "--services", "services", "--tenants", "tenants"])
    lines = [line for line in result.output.splitlines() if line.strip() and not line.startswith("catalog check:")]
    return lines if result.exit_code else []


def _line_of(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if text in line)


def test_a_channel_fee_outside_the_range_is_reported_on_its_line(copied: Path) -> None:
    tenant = copied / "tenants/shiomi-town.yaml"
    _edit(tenant, ["services", "residency-certificate", "overrides", "fee"], {"counter": 200, "convenience": 100})

    problems = _check()

    line = _line_of(tenant, "convenience: 100")
    assert problems[0] == (
        f"tenants/shiomi-town.yaml:{line}: services.residency-certificate.overrides.fee.convenience: "
        "100 is outside the allowed range 200..450"
    )


@pytest.mark.parametrize(
    ("fee", "message"),
    [
        ({"counter": "三百"}, "overrides.fee.counter: must be a whole number, not '三百'"),
        (
            {"fax": 300},
            "overrides.fee.fax: unknown key (expected one of: counter, online, convenience, persons_per_unit)",
        ),
        ({"persons_per_unit": 0}, "overrides.fee.persons_per_unit: must be a whole number of persons, 1 to 100, not 0"),
        ({}, "overrides.fee: must give a fee for at least one of: counter, online, convenience"),
    ],
    ids=["not-a-number", "unknown-channel", "no-persons", "empty"],
)
def test_a_fee_map_names_what_is_wrong(copied: Path, fee: dict[str, object], message: str) -> None:
    _edit(copied / "tenants/shiomi-town.yaml", ["services", "residency-certificate", "overrides", "fee"], fee)

    problems = _check()

    assert len(problems) == 1 and problems[0].endswith(message), problems


def test_persons_per_unit_is_only_for_a_fee_by_persons(copied: Path) -> None:
    _edit(
        copied / "tenants/shiomi-town.yaml",
        ["services", "tax-certificate", "overrides", "fee"],
        {"persons_per_unit": 5},
    )

    problems = _check()

    assert problems and problems[0].endswith("unknown key (expected one of: counter, online, convenience)")


@pytest.mark.parametrize(
    ("fee", "field", "message"),
    [
        ({"per": "persons"}, "fee.persons_per_unit", "required when per is persons"),
        ({"persons_per_unit": 5, "per": "copy"}, "fee.persons_per_unit", "only with per: persons"),
        ({"channels": {"convenience": 100}}, "fee.channels.convenience", "100 is outside min..max (200..450)"),
        ({"channels": {}}, "fee.channels", "should be non-empty"),
        ({"per": "household"}, "fee.per", "is not one of"),
    ],
    ids=["persons-without-unit", "unit-without-persons", "channel-outside", "no-channels", "unknown-per"],
)
def test_a_service_fee_that_does_not_add_up_is_reported(copied: Path, fee: dict[str, object], field, message) -> None:
    service = copied / "services/tax-certificate/service.yaml"
    data = yaml.safe_load(service.read_text(encoding="utf-8"))
    data["fee"] = {**data["fee"], **fee}
    service.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")

    problems = _check()

    assert any(f"service.yaml: {field}: " in p and message in p for p in problems), problems


@pytest.mark.parametrize(
    ("keys", "value", "message"),
    [
        (["provider"], "paypal", "provider: 'paypal' is not one of ['fake', 'stripe']"),
        (["online"], "later", "online: 'later' is not one of ['prepay', 'after_fee_fixed']"),
        (["surcharge", "amount"], 5000, "surcharge.amount: 5000 is greater than the maximum of 1000"),
        (["exemptions"], ["public_assistance", "students"], "exemptions[1]: 'students' is not one of"),
        (["surcharge", "amount"], "五十円", "surcharge.amount: must be a whole number of yen, 1 to 1000"),
        (["expires_after_hours"], 0, "expires_after_hours: 0 is less than the minimum of 1"),
        (["counter_modes"], ["cash", "cheque"], "counter_modes[1]: 'cheque' is not one of"),
    ],
    ids=["provider", "online", "surcharge", "exemption", "surcharge-text", "expiry", "counter-mode"],
)
def test_a_bad_payments_section_is_reported_on_its_line(copied: Path, keys: list[str], value, message: str) -> None:
    tenant = copied / "tenants/shiomi-town.yaml"
    set_in_yaml(tenant, ["payments"], PAYMENTS)
    assert _check() == []
    _edit(tenant, ["payments", *keys], value)

    problems = _check()

    assert len(problems) == 1, problems
    assert problems[0].startswith("tenants/shiomi-town.yaml:") and f": payments.{message}" in problems[0]
    line = int(problems[0].split(":")[1])
    written = value[-1] if isinstance(value, list) else keys[-1]
    assert str(written) in tenant.read_text(encoding="utf-8").splitlines()[line - 1]


def test_the_shipped_tenants_price_per_channel_and_provisioning_copies_payments_to_the_profile() -> None:
    services = load_services(REPO / "services")
    tenants = load_tenants(REPO / "tenants", services)
    residency = services["residency-certificate"]

    city = effective_service(residency, tenants["sakuragaoka-city"]["services"]["residency-certificate"]["overrides"])
    town = effective_service(residency, tenants["shiomi-town"]["services"]["residency-certificate"]["overrides"])
    standard = effective_service(residency, {})

    assert (city["fee"], city["fee_by_channel"]) == (300, {"counter": 300, "online": 300, "convenience": 250})
    # A single number is every channel's fee, the standard's cheaper convenience-store fee included.
    assert town["fee_by_channel"] == {"counter": 200, "online": 200, "convenience": 200}
    assert standard["fee_by_channel"] == {"counter": 300, "online": 300, "convenience": 300}
    # The standard's own fee per channel, where it has one, comes before its default.
    cheaper = {**residency, "fee": {**residency["fee"], "channels": {"convenience": 200}}}
    assert effective_service(cheaper, {"fee": {"counter": 350}})["fee_by_channel"] == {
        "counter": 350,
        "online": 300,
        "convenience": 200,
    }
    assert (city["fee_per"], city["persons_per_unit"]) == ("persons", 5)
    assert "persons_per_unit" not in effective_service(services["tax-certificate"], {})

    # Provisioning copies the section to the profile as written; a tenant without one gets none.
    town_spec = {**tenants["shiomi-town"], "payments": PAYMENTS}
    assert _tenant_values(town_spec)["profile"]["payments"] == PAYMENTS
    assert "payments" not in _tenant_values(tenants["midorikawa-village"])["profile"]


def test_a_settings_form_with_one_fee_keeps_a_fee_per_channel_it_did_not_change(db, seeded) -> None:
    city = next(tenant for tenant in tenants(db) if tenant.slug == "sakuragaoka-city")
    per_channel = {"counter": 300, "online": 300, "convenience": 250}

    with db.transaction(city.id) as session:
        kept = operations.change_overrides(
            session, city.id, "residency-certificate", {"fee": 300, "sla_days": 3}, actor="test"
        )
        assert (kept.overrides["fee"], kept.overrides["sla_days"]) == (per_channel, 3)
        changed = operations.change_overrides(session, city.id, "residency-certificate", {"fee": 350}, actor="test")
        assert changed.overrides["fee"] == 350


def test_the_demo_tenants_collect_as_the_brief_says() -> None:
    tenants = load_tenants(REPO / "tenants", load_services(REPO / "services"))
    profiles = {slug: _tenant_values(spec)["profile"] for slug, spec in tenants.items()}

    city, town = profiles["sakuragaoka-city"]["payments"], profiles["shiomi-town"]["payments"]
    assert (city["provider"], city["online"], "surcharge" in city) == ("fake", "prepay", False)
    assert (town["provider"], town["online"], town["surcharge"]["amount"]) == ("fake", "after_fee_fixed", 50)
    assert "payments" not in profiles["midorikawa-village"]  # collects at its counter
