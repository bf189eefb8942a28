"""A tenant's overrides of a procedure: checking them, and the effective service a tenant actually runs."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from madoguchi.catalog.definitions.file_schemas import (
    EXTRA_QUESTION_SCHEMA,
    FEE_CHANNELS,
    TEXT,
    WORKFLOW_SCHEMA,
    structure_problems,
)
from madoguchi.catalog.definitions.forms import (
    as_dict,
    as_list,
    check_enum_titles,
    check_keywords,
    check_schema_against_metaschema,
)
from madoguchi.catalog.definitions.problems import CatalogError, Problem, field_path
from madoguchi.catalog.definitions.vocabulary import EXTRA_QUESTION_TYPES, EXTRA_QUESTIONS_PROPERTY, MAX_EXTRA_QUESTIONS
from madoguchi.catalog.definitions.workflows import Entry, apply_steps, system_can_issue

# --- Overrides and the effective service ------------------------------------------------------------------------------


def check_overrides_at(
    service: Mapping[str, Any], overrides: Any, file: str, prefix: tuple[str | int, ...]
) -> list[Problem]:
    if not isinstance(overrides, dict):
        return [Problem(file, field_path(prefix), "must be a mapping of setting: value")]
    allowed = [name for name in as_list(service.get("tenant_may_override")) if name in _OVERRIDE_CHECKS]
    problems: list[Problem] = []
    for name, value in overrides.items():
        where = (*prefix, name)
        if name not in allowed:
            message = f"{name!r} is not a setting this procedure lets a tenant change (allowed: {', '.join(allowed)})"
            problems.append(Problem(file, field_path(where), message))
            continue
        problems += _OVERRIDE_CHECKS[name](service, value, file, where)
    if problems:
        return problems

    # Settings that are each fine alone must still combine into a workflow that works. (A standard workflow that
    # cannot auto-issue at all is reported once, against the service.)
    workflow: Any = service.get("workflow")
    steps = overrides.get("extra_steps") or []
    auto_issue = overrides.get("auto_issue", as_dict(service.get("auto_issue")).get("default", False))
    if auto_issue and steps and not structure_problems(workflow, WORKFLOW_SCHEMA, "")[0]:
        _, standard = apply_steps(workflow, [])
        _, extended = apply_steps(workflow, steps)
        initial = workflow["initial"]
        if system_can_issue(initial, [e.item for e in standard]) and not system_can_issue(
            initial, [e.item for e in extended]
        ):
            message = (
                f"auto-issue is impossible with the extra steps {', '.join(steps)}: a person must act before issuing"
            )
            setting = "auto_issue" if "auto_issue" in overrides else "extra_steps"
            problems.append(Problem(file, field_path((*prefix, setting)), message))
    return problems


def _check_range_override(
    service: Mapping[str, Any], value: Any, file: str, where: tuple[str | int, ...], *, setting: str | None = None
) -> list[Problem]:
    bounds = as_dict(service.get(setting or str(where[-1])))
    if isinstance(value, bool) or not isinstance(value, int):
        return [Problem(file, field_path(where), f"must be a whole number, not {value!r}")]
    low, high = bounds.get("min"), bounds.get("max")
    if isinstance(low, int) and isinstance(high, int) and not low <= value <= high:
        return [Problem(file, field_path(where), f"{value} is outside the allowed range {low}..{high}")]
    return []


def _check_fee_override(
    service: Mapping[str, Any], value: Any, file: str, where: tuple[str | int, ...]
) -> list[Problem]:
    """A number (every channel) or a map ``{counter, online, convenience, persons_per_unit}``: each fee within the
    standard's range, and a unit of persons only where the standard prices by persons."""
    if not isinstance(value, dict):
        return _check_range_override(service, value, file, where)
    fee = as_dict(service.get("fee"))
    known = (*FEE_CHANNELS, "persons_per_unit") if fee.get("per") == "persons" else FEE_CHANNELS
    if not value:
        return [Problem(file, field_path(where), f"must give a fee for at least one of: {', '.join(FEE_CHANNELS)}")]
    problems: list[Problem] = []
    for name, amount in value.items():
        if name not in known:
            message = f"unknown key (expected one of: {', '.join(known)})"
            problems.append(Problem(file, field_path((*where, name)), message))
        elif name == "persons_per_unit":
            if isinstance(amount, bool) or not isinstance(amount, int) or not 1 <= amount <= 100:
                message = f"must be a whole number of persons, 1 to 100, not {amount!r}"
                problems.append(Problem(file, field_path((*where, name)), message))
        else:
            problems += _check_range_override(service, amount, file, (*where, name), setting="fee")
    return problems


def fee_by_channel(fee: Mapping[str, Any], override: Any) -> dict[str, int]:
    """The fee of each channel: the tenant's number for all of them, else its map over the standard's channel
    fees over the standard's default."""
    if isinstance(override, int):
        return dict.fromkeys(FEE_CHANNELS, override)
    standard = {**dict.fromkeys(FEE_CHANNELS, fee["default"]), **(fee.get("channels") or {})}
    chosen = {name: amount for name, amount in (override or {}).items() if name in FEE_CHANNELS}
    return {**standard, **chosen}


def _check_auto_issue_override(
    service: Mapping[str, Any], value: Any, file: str, where: tuple[str | int, ...]
) -> list[Problem]:
    if not isinstance(value, bool):
        return [Problem(file, field_path(where), "must be true or false")]
    if value and not as_dict(service.get("auto_issue")).get("allowed"):
        return [Problem(file, field_path(where), "this procedure does not allow auto-issue")]
    return []


def _check_extra_steps_override(
    service: Mapping[str, Any], value: Any, file: str, where: tuple[str | int, ...]
) -> list[Problem]:
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        return [Problem(file, field_path(where), "must be a list of optional step names")]
    available = list(as_dict(as_dict(service.get("workflow")).get("optional_steps")))
    problems = []
    for index, name in enumerate(value):
        if name not in available:
            message = f"unknown optional step {name!r} (available: {', '.join(available) or 'none'})"
            problems.append(Problem(file, field_path((*where, index)), message))
        elif name in value[:index]:
            problems.append(Problem(file, field_path((*where, index)), f"{name!r} is listed twice"))
    return problems


def _check_extra_questions_override(
    service: Mapping[str, Any], value: Any, file: str, where: tuple[str | int, ...]
) -> list[Problem]:
    if not isinstance(value, list):
        return [Problem(file, field_path(where), "must be a list of questions")]
    problems: list[Problem] = []
    if len(value) > MAX_EXTRA_QUESTIONS:
        message = f"at most {MAX_EXTRA_QUESTIONS} extra questions: procedures stay close to the standard"
        problems.append(Problem(file, field_path(where), message))
    form_fields = set(as_dict(as_dict(service.get("form")).get("properties"))) | {EXTRA_QUESTIONS_PROPERTY}
    names: set[str] = set()
    for index, question in enumerate(value):
        here = (*where, index)
        found, broken = structure_problems(question, EXTRA_QUESTION_SCHEMA, file, here)
        problems += found
        if None in broken:
            continue
        if "name" not in broken:
            name = question["name"]
            if name in form_fields:
                problems.append(Problem(file, field_path((*here, "name")), f"{name!r} is already a field of the form"))
            elif name in names:
                problems.append(Problem(file, field_path((*here, "name")), f"duplicate question {name!r}"))
            names.add(name)
        if "schema" not in broken:
            problems += _check_question_schema(question, file, (*here, "schema"))
    return problems


def _check_question_schema(question: Mapping[str, Any], file: str, where: tuple[str | int, ...]) -> list[Problem]:
    schema = question["schema"]
    problems = check_schema_against_metaschema(schema, file, where)
    if problems:
        return problems
    if schema.get("type") not in EXTRA_QUESTION_TYPES:
        message = f"must be one of {', '.join(EXTRA_QUESTION_TYPES)}: extra questions are single answers"
        problems.append(Problem(file, field_path((*where, "type")), message))
    for keyword in ("$ref", "$dynamicRef", "properties", "items"):
        if keyword in schema:
            problems.append(Problem(file, field_path((*where, keyword)), "not allowed in an extra question"))
    if "title" in schema or "x-title" in schema:
        problems.append(Problem(file, field_path(where), "put the question's title in title:, not in the schema"))
    check_keywords(schema, where, file, problems)
    check_enum_titles(schema, where, file, problems)
    return problems


def _check_instructions_override(
    service: Mapping[str, Any], value: Any, file: str, where: tuple[str | int, ...]
) -> list[Problem]:
    return structure_problems(value, TEXT, file, where)[0]


_OverrideCheck = Callable[[Mapping[str, Any], Any, str, tuple[str | int, ...]], list[Problem]]
_OVERRIDE_CHECKS: dict[str, _OverrideCheck] = {
    "fee": _check_fee_override,
    "sla_days": _check_range_override,
    "min_monthly_work_hours": _check_range_override,
    "max_preferences": _check_range_override,
    "auto_issue": _check_auto_issue_override,
    "extra_steps": _check_extra_steps_override,
    "extra_questions": _check_extra_questions_override,
    "instructions": _check_instructions_override,
}


def check_overrides(service: Mapping[str, Any], overrides: Any, *, file: str = "overrides") -> list[Problem]:
    """Problems of a tenant's overrides for ``service`` (as loaded), e.g. before saving a change from the console.

    Fields are reported as ``overrides.<setting>``; ``file`` names the source in the problems.
    """
    return check_overrides_at(service, overrides, file, ("overrides",))


def _state_view(entry: Entry) -> dict[str, Any]:
    item = entry.item
    view = {"name": item["name"], "title": item["title"], "terminal": bool(item.get("terminal", False))}
    if "description" in item:
        view["description"] = item["description"]
    if item.get("document"):
        view["document"] = item["document"]  # the kind its issue_document issues (decisions 0041, 0042)
    return view


def _transition_view(entry: Entry) -> dict[str, Any]:
    item = entry.item
    view = {
        "name": item["name"],
        "title": item["title"],
        "from": list(item["from"]),
        "to": item["to"],
        "roles": list(item["roles"]),
        "guards": list(item.get("guards") or []),
        "actions": list(item.get("actions") or []),
        "required_by_law": bool(item.get("required_by_law", False)),
        "actor_differs_from": list(item.get("actor_differs_from") or []),
        "step": entry.step,
    }
    if "description" in item:
        view["description"] = item["description"]
    if item.get("document"):
        view["document"] = item["document"]  # the kind its issue_document issues (decisions 0041, 0042)
    return view


def _form_with_extra_questions(form: Mapping[str, Any], questions: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    extended = copy.deepcopy(dict(form))
    if not questions:
        return extended
    title = {"ja": "追加の質問", "en": "Additional questions"}
    extended.setdefault("properties", {})[EXTRA_QUESTIONS_PROPERTY] = {
        "type": "object",
        "title": title["ja"],
        "x-title": dict(title),
        "x-page": EXTRA_QUESTIONS_PROPERTY,
        "additionalProperties": False,
        "properties": {
            question["name"]: {
                **copy.deepcopy(question["schema"]),
                "title": question["title"]["ja"],
                "x-title": dict(question["title"]),
            }
            for question in questions
        },
    }
    if "x-pages" in extended:
        extended["x-pages"].append({"name": EXTRA_QUESTIONS_PROPERTY, "title": title})
    return extended


def effective_service(service: Mapping[str, Any], overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The settings a tenant actually runs: the standard ``service`` (as loaded) with the tenant's ``overrides``.

    The workflow has the chosen optional steps applied (replaced transitions removed, the step's states and
    transitions added; each transition says which ``step`` it came from, ``None`` for the standard), and the
    form gets the tenant's extra questions as optional fields under ``"extra"``. Pure: the inputs are never
    modified and the result shares nothing with them. Raises :class:`CatalogError` if the overrides do not
    conform (see :func:`check_overrides`).
    """
    overrides = dict(overrides or {})
    problems = check_overrides_at(service, overrides, str(service.get("key", "service")), ("overrides",))
    if problems:
        raise CatalogError(problems)
    service = copy.deepcopy(dict(service))
    overrides = copy.deepcopy(overrides)
    workflow = service["workflow"]
    chosen = overrides.get("extra_steps") or []
    steps = [name for name in workflow.get("optional_steps") or {} if name in chosen]
    states, transitions = apply_steps(workflow, steps)
    by_channel = fee_by_channel(service["fee"], overrides.get("fee"))
    effective: dict[str, Any] = {
        "key": service["key"],
        "version": service["version"],
        "title": service["title"],
        "summary": service["summary"],
        "legal_basis": service["legal_basis"],
        # ``fee`` stays one number (the online fee, what every page showed before channels); the quote reads
        # ``fee_by_channel`` (decision 0043).
        "fee": by_channel["online"],
        "fee_by_channel": by_channel,
        "fee_per": service["fee"]["per"],
        "currency": service["fee"]["currency"],
        "sla_days": overrides.get("sla_days", service["sla_days"]["default"]),
        "auto_issue": bool(overrides.get("auto_issue", service["auto_issue"]["default"])),
        "instructions": overrides.get("instructions"),
        "extra_steps": steps,
        "workflow": {
            "initial": workflow["initial"],
            "states": [_state_view(entry) for entry in states],
            "transitions": [_transition_view(entry) for entry in transitions],
        },
        "form": _form_with_extra_questions(service.get("form") or {}, overrides.get("extra_questions") or []),
        "required_documents": service["required_documents"],
        "prefill": service["prefill"],
        "identity_assurance": service["identity_assurance"],
        # Answers that raise the level (個人番号 asked for: ``card``); snapshots from before decision 0048 lack it.
        "identity_assurance_when": service.get("identity_assurance_when") or [],
        "eligible_applicants": service["eligible_applicants"],
        "output_document": service["output_document"],
        "retention": service["retention"],
    }
    if service["fee"]["per"] == "persons":
        effective["persons_per_unit"] = as_dict(overrides.get("fee")).get(
            "persons_per_unit", service["fee"]["persons_per_unit"]
        )
    if "min_monthly_work_hours" in service:
        default_hours = service["min_monthly_work_hours"]["default"]
        effective["min_monthly_work_hours"] = overrides.get("min_monthly_work_hours", default_hours)
    if "max_preferences" in service:
        most = overrides.get("max_preferences", service["max_preferences"]["default"])
        effective["max_preferences"] = most
        _limit_lists(effective["form"], "max_preferences", most)
    return effective


def _limit_lists(schema: Any, setting: str, most: int) -> None:
    """Lists the form says ``setting`` governs (``x-tenant-setting``) take at most ``most`` items: the form ships the
    standard's largest ``maxItems``, the tenant's number is what its residents are offered and validated against."""
    if isinstance(schema, dict):
        if schema.get("type") == "array" and schema.get("x-tenant-setting") == setting:
            schema["maxItems"] = min(int(schema.get("maxItems", most)), most)
        for value in schema.values():
            _limit_lists(value, setting, most)
    elif isinstance(schema, list):
        for value in schema:
            _limit_lists(value, setting, most)
