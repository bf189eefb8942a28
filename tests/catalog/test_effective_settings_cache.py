"""The effective settings are computed once per (published content, overrides), and every caller gets its own copy."""

from __future__ import annotations

from pathlib import Path

from madoguchi.catalog import definitions, operations
from madoguchi.catalog.models import ServiceVersion, TenantService

REPO = Path(__file__).resolve().parents[2]


def _version(content_sha256: str | None = None) -> ServiceVersion:
    service = definitions.load_services(REPO / "services")["residency-certificate"]
    definition = {k: v for k, v in service.items() if k != "form"}
    digest = operations.content_hash(definition, service["form"]) if content_sha256 is None else content_sha256
    return ServiceVersion(
        key=service["key"],
        version=str(service["version"]),
        definition=definition,
        form_schema=service["form"],
        content_sha256=digest,
    )


def test_each_caller_gets_its_own_copy_of_the_settings() -> None:
    version, adopted = _version(), TenantService(service_key="residency-certificate", overrides={"fee": 400})
    first = operations.effective_settings(adopted, version)
    first["fee"] = 1
    first["form"]["properties"].clear()
    second = operations.effective_settings(adopted, version)
    assert second["fee"] == 400 and second["form"]["properties"]


def test_other_overrides_or_other_content_are_computed_anew() -> None:
    version = _version()
    at_400 = operations.effective_settings(
        TenantService(service_key="residency-certificate", overrides={"fee": 400}), version
    )
    at_350 = operations.effective_settings(
        TenantService(service_key="residency-certificate", overrides={"fee": 350}), version
    )
    assert (at_400["fee"], at_350["fee"]) == (400, 350)

    changed = _version()
    changed.definition = {**changed.definition, "sla_days": {**changed.definition["sla_days"], "default": 7}}
    changed.content_sha256 = operations.content_hash(changed.definition, changed.form_schema)
    adopted = TenantService(service_key="residency-certificate", overrides={})
    assert operations.effective_settings(adopted, version)["sla_days"] == 3
    assert operations.effective_settings(adopted, changed)["sla_days"] == 7
