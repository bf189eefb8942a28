"""The effective settings are computed once per (published content, overrides); a caller that may change them gets
its own copy, the pages that only show them share one read-only value."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from madoguchi.catalog import definitions, operations
from madoguchi.catalog.models import ServiceVersion, TenantService
from madoguchi.readonly import ReadOnlyDict, ReadOnlyList

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


def test_shared_settings_and_views_refuse_every_change_at_any_depth() -> None:
    version, adopted = _version(), TenantService(service_key="residency-certificate", overrides={"fee": 400})
    shared = operations.shared_effective_settings(adopted, version)
    view = operations.procedure_summary(adopted, version)
    assert shared is operations.shared_effective_settings(adopted, version)  # no copy on the read path
    assert view is operations.procedure_summary(adopted, version)
    changes = [
        lambda: shared.__setitem__("fee", 1),
        lambda: shared["form"]["properties"].clear(),
        lambda: shared["workflow"]["states"].append({}),
        lambda: shared["workflow"]["states"][0].update(name="x"),
        lambda: view["fee"].pop("amount"),
        lambda: view["required_documents"].sort(),
    ]
    for change in changes:
        with pytest.raises(TypeError, match="read-only"):
            change()
    assert operations.effective_settings(adopted, version)["fee"] == 400


def test_read_only_values_serialise_and_copy_as_plain_json() -> None:
    version, adopted = _version(), TenantService(service_key="residency-certificate", overrides={"fee": 400})
    shared = operations.shared_effective_settings(adopted, version)
    assert isinstance(shared, ReadOnlyDict) and isinstance(shared["workflow"]["states"], ReadOnlyList)
    assert json.loads(json.dumps(shared, ensure_ascii=False)) == shared
    thawed = copy.deepcopy(shared)
    assert type(thawed) is dict and type(thawed["workflow"]["states"]) is list
    thawed["workflow"]["states"].append({"name": "extra"})  # a copy changes freely
    assert len(shared["workflow"]["states"]) + 1 == len(thawed["workflow"]["states"])
    assert type(copy.copy(shared)) is dict
