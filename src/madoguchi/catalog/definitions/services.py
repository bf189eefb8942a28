"""Procedures (``services/<key>/``): reading a folder, checking its service.yaml against its form, loading it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from madoguchi.catalog.definitions.file_schemas import SERVICE_FILE_SCHEMA, structure_problems
from madoguchi.catalog.definitions.forms import (
    as_dict,
    check_form_conventions,
    check_schema_against_metaschema,
    field_values,
    form_field,
)
from madoguchi.catalog.definitions.problems import WHOLE_FILE, CatalogError, Problem, display, field_path, unique
from madoguchi.catalog.definitions.reading import read_json, read_yaml
from madoguchi.catalog.definitions.vocabulary import (
    EVIDENCE_DOCUMENTS,
    EXTRA_QUESTIONS_PROPERTY,
    IDENTITY_ASSURANCE_LEVELS,
    RANGE_SETTINGS,
    REGISTRY_FIELDS,
)
from madoguchi.catalog.definitions.workflows import check_workflow, system_can_issue

# --- Services ---------------------------------------------------------------------------------------------------------


def service_folders(services_dir: Path) -> list[Path]:
    """The procedure folders in ``services_dir``, sorted (hidden and ``_``-prefixed folders are skipped)."""
    services_dir = Path(services_dir)
    if not services_dir.is_dir():
        return []
    return sorted(p for p in services_dir.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))


def inspect_service(folder: Path) -> tuple[dict[str, Any] | None, list[Problem]]:
    """Read and check one procedure folder; return its content (best effort, ``None`` if unreadable) and problems."""
    folder = Path(folder)
    yaml_file, form_file = display(folder / "service.yaml"), display(folder / "form.json")
    if not folder.is_dir():
        return None, [Problem(display(folder), WHOLE_FILE, "not a directory")]
    service, problems = read_yaml(folder / "service.yaml", yaml_file)
    form, form_read_problems = read_json(folder / "form.json", form_file)
    problems += form_read_problems

    form_ok = False
    if form is not None:
        metaschema_problems = check_schema_against_metaschema(form, form_file)
        problems += metaschema_problems or check_form_conventions(form, form_file)
        form_ok = not metaschema_problems

    if service is None:
        return None, unique(problems)
    structure, broken = structure_problems(service, SERVICE_FILE_SCHEMA, yaml_file)
    problems += structure
    if None not in broken:
        problems += _check_service_rules(service, broken, folder.name, yaml_file)
        if form_ok:
            problems += _check_service_against_form(service, form, broken, yaml_file, form_file)
    # Best effort when form.json is broken, so tenants using this service are still checked against its settings.
    return {**service, "form": form if form is not None else {}}, unique(problems)


def _check_fee_rules(fee: dict[str, Any], file: str) -> list[Problem]:
    """Persons-based pricing names its unit (and only it does); a channel's fee is within the range too."""
    problems: list[Problem] = []
    if fee["per"] == "persons" and "persons_per_unit" not in fee:
        problems.append(Problem(file, "fee.persons_per_unit", "required when per is persons (e.g. 5: 1–5 persons = 1)"))
    if fee["per"] != "persons" and "persons_per_unit" in fee:
        problems.append(Problem(file, "fee.persons_per_unit", "only with per: persons"))
    low, high = fee["min"], fee["max"]
    for channel, amount in (fee.get("channels") or {}).items():
        if low <= high and not low <= amount <= high:
            message = f"{amount} is outside min..max ({low}..{high})"
            problems.append(Problem(file, f"fee.channels.{channel}", message))
    return problems


def _check_service_rules(service: dict[str, Any], broken: set[Any], folder_name: str, file: str) -> list[Problem]:
    """Rules within service.yaml that a structure schema cannot express."""
    problems: list[Problem] = []
    ok = [key for key in service if key not in broken]
    if "key" in ok and service["key"] != folder_name:
        problems.append(Problem(file, "key", f"{service['key']!r} must equal the folder name {folder_name!r}"))
    for name in RANGE_SETTINGS:
        if name in ok:
            setting = service[name]
            if setting["min"] > setting["max"]:
                problems.append(Problem(file, f"{name}.min", f"{setting['min']} is greater than max {setting['max']}"))
            elif not setting["min"] <= setting["default"] <= setting["max"]:
                message = f"{setting['default']} is outside min..max ({setting['min']}..{setting['max']})"
                problems.append(Problem(file, f"{name}.default", message))
    if "fee" in ok:
        problems += _check_fee_rules(service["fee"], file)
    if "auto_issue" in ok and service["auto_issue"]["default"] and not service["auto_issue"]["allowed"]:
        problems.append(Problem(file, "auto_issue.default", "cannot be true when auto_issue.allowed is false"))
    if "tenant_may_override" in ok:
        overridable = service["tenant_may_override"]
        for index, name in enumerate(overridable):
            where = f"tenant_may_override[{index}]"
            if name in RANGE_SETTINGS and name not in service:
                problems.append(Problem(file, where, f"{name!r} is not defined in this service"))
            if name == "auto_issue" and "auto_issue" in ok and not service["auto_issue"]["allowed"]:
                message = "auto_issue cannot be overridden when auto_issue.allowed is false"
                problems.append(Problem(file, where, message))
    if "eligible_applicants" in ok and "required_documents" in ok:
        keys = {document["key"] for document in service["required_documents"]}
        for relation, evidence in EVIDENCE_DOCUMENTS.items():
            if relation in service["eligible_applicants"] and evidence not in keys:
                message = f"{relation} applicants need their evidence: add a required document {evidence!r}"
                problems.append(Problem(file, "eligible_applicants", message))
    if "required_documents" in ok:
        seen: set[str] = set()
        for index, document in enumerate(service["required_documents"]):
            if document["key"] in seen:
                problems.append(Problem(file, f"required_documents[{index}].key", f"duplicate {document['key']!r}"))
            seen.add(document["key"])
    if "identity_assurance" in ok and "identity_assurance_when" in ok:
        base = IDENTITY_ASSURANCE_LEVELS.index(service["identity_assurance"])
        for index, condition in enumerate(service["identity_assurance_when"]):
            if IDENTITY_ASSURANCE_LEVELS.index(condition["level"]) <= base:
                message = (
                    f"{condition['level']!r} is not above the procedure's identity_assurance "
                    f"{service['identity_assurance']!r}: a condition can only raise the level"
                )
                problems.append(Problem(file, f"identity_assurance_when[{index}].level", message))
    if "prefill" in ok:
        for pointer, source in service["prefill"].items():
            if source not in REGISTRY_FIELDS:
                message = f"unknown registry field {source!r} (known: {', '.join(REGISTRY_FIELDS)})"
                problems.append(Problem(file, field_path(("prefill", pointer)), message))
    if "workflow" in ok:
        problems += check_workflow(service, file)
        transitions = service["workflow"]["transitions"]
        # A transition naming its own ``document`` issues that kind, not the output document.
        issues = any("issue_document" in (t.get("actions") or []) and not t.get("document") for t in transitions)
        if "output_document" in ok and service["output_document"] is not None and not issues:
            problems.append(Problem(file, "workflow.transitions", "no transition has the action issue_document"))
        if (
            "auto_issue" in ok
            and service["auto_issue"]["allowed"]
            and not system_can_issue(service["workflow"]["initial"], transitions)
        ):
            message = "auto-issue needs transitions the system role can take from submission to issue_document"
            problems.append(Problem(file, "auto_issue.allowed", message))
    return problems


def _check_service_against_form(
    service: dict[str, Any], form: dict[str, Any], broken: set[Any], file: str, form_file: str
) -> list[Problem]:
    """Cross-references from service.yaml into form.json: prefill targets, document conditions, reserved names."""
    problems: list[Problem] = []
    if "prefill" not in broken:
        for pointer in service["prefill"]:
            if form_field(form, pointer) is None:
                problems.append(Problem(file, field_path(("prefill", pointer)), "no such field in form.json"))
    if "required_documents" not in broken:
        for index, document in enumerate(service["required_documents"]):
            when = document.get("when")
            if when is not None:
                problems += _check_condition(form, when, f"required_documents[{index}].when", file)
    if "identity_assurance_when" not in broken:
        for index, condition in enumerate(service.get("identity_assurance_when") or []):
            problems += _check_condition(form, condition, f"identity_assurance_when[{index}]", file)
    relationship = form_field(form, "/requester/relationship")
    if "eligible_applicants" not in broken and relationship is not None:
        values = field_values(relationship) or []
        if set(values) != set(service["eligible_applicants"]):
            message = f"must match the values of the form's /requester/relationship ({', '.join(map(str, values))})"
            problems.append(Problem(file, "eligible_applicants", message))
    if (
        "tenant_may_override" not in broken
        and "extra_questions" in service["tenant_may_override"]
        and EXTRA_QUESTIONS_PROPERTY in as_dict(form.get("properties"))
    ):
        message = "is reserved for the tenant's extra questions"
        problems.append(Problem(form_file, field_path(("properties", EXTRA_QUESTIONS_PROPERTY)), message))
    return problems


def _check_condition(form: dict[str, Any], condition: Mapping[str, Any], where: str, file: str) -> list[Problem]:
    """A condition on one answer (``{field, equals}``) names a field of the form, and a value that field can take."""
    target = form_field(form, condition["field"])
    if target is None:
        return [Problem(file, f"{where}.field", "no such field in form.json")]
    values = field_values(target)
    if values is not None and condition["equals"] not in values:
        choices = ", ".join(map(str, values))
        message = f"{condition['equals']!r} is not a value of {condition['field']} (one of: {choices})"
        return [Problem(file, f"{where}.equals", message)]
    return []


def check_service(folder: Path) -> list[Problem]:
    """Every conformance problem of a procedure folder (``service.yaml`` + ``form.json``); never raises for content."""
    return inspect_service(Path(folder))[1]


def load_service(folder: Path) -> dict[str, Any]:
    """The parsed ``service.yaml`` of a procedure folder, with the parsed ``form.json`` under the key ``"form"``.

    Raises :class:`CatalogError` if the folder does not conform.
    """
    service, problems = inspect_service(Path(folder))
    if problems or service is None:
        raise CatalogError(problems)
    return service


def load_services(services_dir: Path) -> dict[str, dict[str, Any]]:
    """Every procedure in ``services_dir``, keyed by service key; raises :class:`CatalogError` listing all problems."""
    services_dir = Path(services_dir)
    if not services_dir.is_dir():
        raise CatalogError([Problem(display(services_dir), WHOLE_FILE, "services directory not found")])
    services: dict[str, dict[str, Any]] = {}
    problems: list[Problem] = []
    for folder in service_folders(services_dir):
        service, found = inspect_service(folder)
        problems += found
        if service is not None and not found:
            services[service["key"]] = service
    if problems:
        raise CatalogError(problems)
    return services


#: Published versions of each procedure as the database holds them: key -> version -> the service as loaded
#: (``service.yaml`` plus ``form``). The files hold only the current version of each procedure; a tenant may
#: stay pinned to any version published before it (until its admin adopts a newer one).
Published = Mapping[str, Mapping[str, Mapping[str, Any]]]


def pinnable_versions(service: Mapping[str, Any], published: Published | None) -> dict[str, Mapping[str, Any]]:
    """Every version of a procedure a tenant may pin: those published, and the one in the folder now."""
    versions: dict[str, Mapping[str, Any]] = dict((published or {}).get(service["key"], {}))
    if isinstance(service.get("version"), str):
        versions[service["version"]] = service
    return versions


def version_order(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version))
