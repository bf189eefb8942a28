"""Checks of a procedure's ``form.json``: a JSON Schema 2020-12 with titles in every locale for every field."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, TypeGuard

from madoguchi.catalog.definitions.file_schemas import (
    META_VALIDATOR,
    X_PAGES_SCHEMA,
    describe_error,
    structure_problems,
)
from madoguchi.catalog.definitions.problems import Problem, field_path, unique
from madoguchi.catalog.definitions.vocabulary import FORM_DIALECT, LOCALES, REGISTRY_FIELDS, SCHEMA_KEYWORDS

# --- JSON Schema forms ------------------------------------------------------------------------------------------------


def as_dict(value: Any) -> dict[Any, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _is_text(value: Any) -> TypeGuard[dict[str, Any]]:
    return isinstance(value, dict) and all(isinstance(value.get(loc), str) and value[loc] for loc in LOCALES)


def check_schema_against_metaschema(schema: Any, file: str, prefix: Sequence[str | int] = ()) -> list[Problem]:
    """Validate a JSON Schema against the 2020-12 metaschema (what ``check_schema`` does), reporting every error."""
    problems = [p for error in META_VALIDATOR.iter_errors(schema) for p in describe_error(error, file, prefix)]
    return unique(problems)


def check_form_conventions(form: dict[str, Any], file: str) -> list[Problem]:
    """Madoguchi's rules for forms on top of the metaschema: titles in ja/en, closed objects, checked conditions."""
    problems: list[Problem] = []
    if form.get("$schema") != FORM_DIALECT:
        problems.append(Problem(file, "$schema", f'must be "{FORM_DIALECT}"'))
    if form.get("type") != "object":
        problems.append(Problem(file, "type", 'must be "object"'))
    _check_declared(form, (), file, problems, is_field=True)
    if "x-pages" in form:
        problems += _check_pages(form, file)
    return problems


def _check_pages(form: dict[str, Any], file: str) -> list[Problem]:
    """``x-pages`` is well formed, and every top-level field is on one of its pages and every page has a field."""
    problems, broken = structure_problems(form["x-pages"], X_PAGES_SCHEMA, file, ("x-pages",))
    if broken:
        return problems
    names = [page["name"] for page in form["x-pages"]]
    for index, name in enumerate(names):
        if name in names[:index]:
            problems.append(Problem(file, field_path(("x-pages", index, "name")), "another page has this name"))
    used = set()
    for name, field in as_dict(form.get("properties")).items():
        page = as_dict(field).get("x-page")
        used.add(page)
        if page not in names:
            where = field_path(("properties", name, "x-page"))
            problems.append(Problem(file, where, f"must name one of the pages in x-pages: {', '.join(names)}"))
    for index, name in enumerate(names):
        if name not in used:
            problems.append(Problem(file, field_path(("x-pages", index)), f"no field is on page {name!r}"))
    return problems


def _check_declared(
    schema: Any, path: tuple[str | int, ...], file: str, problems: list[Problem], *, is_field: bool
) -> None:
    """Walk the declared fields (``properties``, ``items``) of a form schema and check each one."""
    if not isinstance(schema, dict):
        return
    for reference in ("$ref", "$dynamicRef"):
        if reference in schema:
            problems.append(
                Problem(
                    file, field_path((*path, reference)), "write the schema inline: forms are read without resolving"
                )
            )
    check_keywords(schema, path, file, problems)
    if is_field:
        _check_field_titles(schema, path, file, problems)
    check_enum_titles(schema, path, file, problems)
    properties = schema.get("properties")
    if schema.get("type") == "object" or isinstance(properties, dict):
        if schema.get("additionalProperties") is not False:
            problems.append(
                Problem(
                    file, field_path((*path, "additionalProperties")), "must be false: every object lists its fields"
                )
            )
        _check_branch(schema, path, schema, file, problems, check_properties=False)
        for keyword in ("if", "then", "else"):
            _check_branch(schema.get(keyword), (*path, keyword), schema, file, problems)
        all_of = schema.get("allOf")
        for index, member in enumerate(all_of if isinstance(all_of, list) else []):
            _check_branch(member, (*path, "allOf", index), schema, file, problems)
            for keyword in ("if", "then", "else"):
                member_branch = member.get(keyword) if isinstance(member, dict) else None
                _check_branch(member_branch, (*path, "allOf", index, keyword), schema, file, problems)
        for name, sub in (properties or {}).items():
            _check_declared(sub, (*path, "properties", name), file, problems, is_field=True)
            _check_picker_prefill(sub, properties or {}, (*path, "properties", name), file, problems)
    if isinstance(schema.get("items"), dict):
        _check_declared(schema["items"], (*path, "items"), file, problems, is_field=False)


def _check_picker_prefill(
    field: Any, siblings: dict[str, Any], path: tuple[str | int, ...], file: str, problems: list[Problem]
) -> None:
    """``x-prefill`` on a household-member picker maps fields of the same object to registry fields."""
    prefill = field.get("x-prefill") if isinstance(field, dict) else None
    if prefill is None:
        return
    where = field_path((*path, "x-prefill"))
    if field.get("x-widget") != "household-member-picker" or not isinstance(prefill, dict):
        problems.append(Problem(file, where, "only a household-member-picker fills fields: {field: registry field}"))
        return
    for name, source in prefill.items():
        if name not in siblings:
            problems.append(Problem(file, f"{where}.{name}", "no such field beside the picker"))
        elif source not in REGISTRY_FIELDS:
            problems.append(Problem(file, f"{where}.{name}", f"unknown registry field {source!r}"))


def check_keywords(schema: dict[str, Any], path: tuple[str | int, ...], file: str, problems: list[Problem]) -> None:
    for keyword in schema:
        if keyword not in SCHEMA_KEYWORDS and not str(keyword).startswith("x-"):
            message = f"unknown keyword {keyword!r}: JSON Schema ignores it (UI hints start with x-)"
            problems.append(Problem(file, field_path((*path, keyword)), message))


def _check_field_titles(
    schema: dict[str, Any], path: tuple[str | int, ...], file: str, problems: list[Problem]
) -> None:
    title, x_title = schema.get("title"), schema.get("x-title")
    if not isinstance(title, str) or not title:
        problems.append(Problem(file, field_path((*path, "title")), "every field needs a title (Japanese)"))
    if not _is_text(x_title):
        problems.append(Problem(file, field_path((*path, "x-title")), "every field needs x-title with ja and en"))
    elif isinstance(title, str) and title and x_title["ja"] != title:
        problems.append(Problem(file, field_path((*path, "title")), "must equal x-title.ja"))


def check_enum_titles(schema: dict[str, Any], path: tuple[str | int, ...], file: str, problems: list[Problem]) -> None:
    values = schema.get("enum")
    if not isinstance(values, list):
        return
    titles = schema.get("x-enum-titles")
    where = field_path((*path, "x-enum-titles"))
    if not isinstance(titles, dict):
        problems.append(Problem(file, where, "an enum needs x-enum-titles: a ja/en title for each value"))
        return
    keys = [value if isinstance(value, str) else json.dumps(value) for value in values]
    for key in keys:
        if not _is_text(titles.get(key)):
            problems.append(Problem(file, where, f"no ja/en title for value {key!r}"))
    for key in titles:
        if key not in keys:
            problems.append(Problem(file, where, f"title for {key!r}, which is not one of the enum values"))


def _check_branch(
    branch: Any,
    path: tuple[str | int, ...],
    declared: Any,
    file: str,
    problems: list[Problem],
    *,
    check_properties: bool = True,
) -> None:
    """Names used by ``required`` or by a condition must be declared fields (typos otherwise pass silently)."""
    if not isinstance(branch, dict) or not isinstance(declared, dict):
        return
    known = declared["properties"] if isinstance(declared.get("properties"), dict) else {}
    required = branch.get("required")
    for index, name in enumerate(required if isinstance(required, list) else []):
        if name not in known:
            message = f"{name!r} is not a field of this object"
            problems.append(Problem(file, field_path((*path, "required", index)), message))
    if not check_properties or not isinstance(branch.get("properties"), dict):
        return
    for name, sub in branch["properties"].items():
        if name not in known:
            message = f"{name!r} is not a field of this object"
            problems.append(Problem(file, field_path((*path, "properties", name)), message))
        elif isinstance(sub, dict):
            _check_branch(sub, (*path, "properties", name), known[name], file, problems)


def form_field(form: Any, pointer: str) -> dict[str, Any] | None:
    """The schema of the form field a JSON pointer names (following ``properties``), or ``None``."""
    node = form
    for raw in pointer.split("/")[1:]:
        part = raw.replace("~1", "/").replace("~0", "~")
        properties = node.get("properties") if isinstance(node, dict) else None
        if not isinstance(properties, dict) or not isinstance(properties.get(part), dict):
            return None
        node = properties[part]
    return node if isinstance(node, dict) else None


def field_values(schema: dict[str, Any]) -> list[Any] | None:
    if isinstance(schema.get("enum"), list):
        return schema["enum"]
    if "const" in schema:
        return [schema["const"]]
    if schema.get("type") == "boolean":
        return [True, False]
    return None
