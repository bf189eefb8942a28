"""Load and check the standard catalog (``services/``) and the tenant files (``tenants/``).

The catalog is data, not code. Each procedure is a folder holding ``service.yaml`` (settings, workflow,
required documents, prefill mapping) and ``form.json`` (the JSON Schema 2020-12 of its application form);
each municipality is one ``tenants/<slug>.yaml`` that switches procedures on and overrides only the
settings the standard lets it change. This module

- reads those files (:func:`load_service`, :func:`load_services`, :func:`load_tenant`, :func:`load_tenants`),
- checks that they conform (:func:`check_service`, :func:`check_tenant`, :func:`check_catalog`): every problem
  becomes a :class:`Problem` naming the file and the field, and checking never stops at the first one,
- computes what a tenant actually runs (:func:`effective_service`).

It is pure Python on purpose (no database, no Flask) so that ``madoguchi catalog check`` runs anywhere and
the application applies exactly the rules the checker enforces. ``docs/catalog-format.md`` describes the
formats for people writing a procedure or a tenant file.
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

__all__ = [
    "KNOWN_ACTIONS",
    "KNOWN_GUARDS",
    "KNOWN_ROLES",
    "OVERRIDABLE_SETTINGS",
    "REGISTRY_FIELDS",
    "CatalogError",
    "Problem",
    "check_catalog",
    "check_overrides",
    "check_service",
    "check_tenant",
    "default_catalog_dirs",
    "effective_service",
    "is_valid_local_government_code",
    "load_service",
    "load_services",
    "load_tenant",
    "load_tenants",
    "service_folders",
    "tenant_files",
]

# --- The closed vocabularies the workflow engine and the portal understand --------------------------------------------

KNOWN_ROLES = ("applicant", "clerk", "supervisor", "tenant_admin", "system")
KNOWN_GUARDS = ("form_valid", "required_documents_present", "identity_assurance_met", "comment_present", "assigned")
KNOWN_ACTIONS = ("notify_applicant", "issue_document", "record_decision", "notify_staff")
APPLICANT_KINDS = ("self", "household_member", "agent", "third_party")
IDENTITY_ASSURANCE_LEVELS = ("email", "verified")
TENANT_STATUSES = ("trial", "live", "suspended")
LOCALES = ("ja", "en")

#: Registry fields a form field may be prefilled from (once-only: what the municipality knows is not asked again).
REGISTRY_FIELDS = (
    "person.full_name",
    "person.full_name_kana",
    "person.family_name",
    "person.given_name",
    "person.family_name_kana",
    "person.given_name_kana",
    "person.birth_date",
    "person.sex",
    "person.postal_code",
    "person.address",
    "person.resident_code",
    "household.head_name",
)

#: Every setting a service may let tenants override (each service lists its own subset in ``tenant_may_override``).
OVERRIDABLE_SETTINGS = (
    "fee",
    "sla_days",
    "min_monthly_work_hours",
    "auto_issue",
    "extra_steps",
    "extra_questions",
    "instructions",
)
#: Overridable settings declared in service.yaml as ``{default, min, max}`` integers.
RANGE_SETTINGS = ("fee", "sla_days", "min_monthly_work_hours")

FORM_DIALECT = "https://json-schema.org/draft/2020-12/schema"
#: The keywords of JSON Schema 2020-12. Anything else in a form must be a UI hint starting with ``x-``: the
#: metaschema accepts unknown keywords, so a typo such as ``requird`` would otherwise silently do nothing.
SCHEMA_KEYWORDS = frozenset(Draft202012Validator.VALIDATORS) | {
    # Core and annotation keywords, which validate nothing and so are not in the validator table.
    "$schema", "$id", "$defs", "$anchor", "$dynamicAnchor", "$vocabulary", "$comment",
    "title", "description", "default", "examples", "deprecated", "readOnly", "writeOnly",
    "contentEncoding", "contentMediaType", "contentSchema", "then", "else",
}  # fmt: skip
#: The form property under which a tenant's extra questions are added.
EXTRA_QUESTIONS_PROPERTY = "extra"
MAX_EXTRA_QUESTIONS = 5
EXTRA_QUESTION_TYPES = ("string", "integer", "number", "boolean")
#: WCAG 2.1 AA (adopted by JIS X 8341-3) for normal text: the portal puts white text on the brand colour.
MIN_BRAND_CONTRAST = 4.5

# 都道府県コード (JIS X 0401) and the prefectures' official names.
PREFECTURES: dict[str, str] = {
    "01": "北海道",
    "02": "青森県",
    "03": "岩手県",
    "04": "宮城県",
    "05": "秋田県",
    "06": "山形県",
    "07": "福島県",
    "08": "茨城県",
    "09": "栃木県",
    "10": "群馬県",
    "11": "埼玉県",
    "12": "千葉県",
    "13": "東京都",
    "14": "神奈川県",
    "15": "新潟県",
    "16": "富山県",
    "17": "石川県",
    "18": "福井県",
    "19": "山梨県",
    "20": "長野県",
    "21": "岐阜県",
    "22": "静岡県",
    "23": "愛知県",
    "24": "三重県",
    "25": "滋賀県",
    "26": "京都府",
    "27": "大阪府",
    "28": "兵庫県",
    "29": "奈良県",
    "30": "和歌山県",
    "31": "鳥取県",
    "32": "島根県",
    "33": "岡山県",
    "34": "広島県",
    "35": "山口県",
    "36": "徳島県",
    "37": "香川県",
    "38": "愛媛県",
    "39": "高知県",
    "40": "福岡県",
    "41": "佐賀県",
    "42": "長崎県",
    "43": "熊本県",
    "44": "大分県",
    "45": "宮崎県",
    "46": "鹿児島県",
    "47": "沖縄県",
}

_KEBAB_RE = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
_SNAKE_RE = r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$"
_SEMVER_RE = r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$"
_POINTER_RE = r"^(?:/(?:[^/~]|~[01])+)+$"

#: Field used in a :class:`Problem` about a whole file rather than one of its fields.
WHOLE_FILE = "(file)"


# --- Problems ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One conformance problem: which file, which field in it, and what is wrong."""

    file: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.field}: {self.message}"


class CatalogError(Exception):
    """A catalog or tenant file could not be loaded because it does not conform; ``problems`` says why."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: list[Problem] = list(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems) or "invalid catalog")


def _field(parts: Iterable[str | int]) -> str:
    """Render a path inside a document the way people read it: ``workflow.transitions[2].to``."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_$][A-Za-z0-9_$-]*", part):
            text += f".{part}" if text else part
        else:
            text += f"[{json.dumps(part, ensure_ascii=False)}]"
    return text or WHOLE_FILE


#: The same rendering for other catalog modules (the upgrade diff names paths the way ``catalog check`` does).
field_path = _field


def _display(path: Path) -> str:
    """The file name as the user should see it: relative to the working directory when it is inside it."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except (ValueError, OSError):
        return path.as_posix()


def _unique(problems: Iterable[Problem]) -> list[Problem]:
    return list(dict.fromkeys(problems))


# --- Reading files ----------------------------------------------------------------------------------------------------


class _UniqueKeyLoader(yaml.SafeLoader):
    """A SafeLoader that rejects duplicate keys, which plain YAML silently resolves to the last one."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _value_node in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
            except TypeError:  # unhashable key: let the base class report it
                break
            if duplicate:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


class _DuplicateJSONKeyError(ValueError):
    pass


def _reject_duplicate_json_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateJSONKeyError(key)
        result[key] = value
    return result


def _read_text(path: Path, file: str) -> tuple[str | None, list[Problem]]:
    try:
        return path.read_text(encoding="utf-8-sig"), []
    except FileNotFoundError:
        return None, [Problem(file, WHOLE_FILE, "file not found")]
    except UnicodeDecodeError:
        return None, [Problem(file, WHOLE_FILE, "not UTF-8 text")]
    except OSError as exc:
        return None, [Problem(file, WHOLE_FILE, f"cannot read: {exc.strerror or exc}")]


def _read_yaml(path: Path, file: str) -> tuple[Any, list[Problem]]:
    """Parse a YAML file; on failure return ``None`` and a problem that gives the line and column."""
    text, problems = _read_text(path, file)
    if text is None:
        return None, problems
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 -- _UniqueKeyLoader is a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        return None, [Problem(file, WHOLE_FILE, f"invalid YAML{where}: {exc.problem or exc.context}")]
    except yaml.YAMLError as exc:
        return None, [Problem(file, WHOLE_FILE, f"invalid YAML: {exc}")]
    if data is None:
        return None, [Problem(file, WHOLE_FILE, "file is empty")]
    if not isinstance(data, dict):
        return None, [Problem(file, WHOLE_FILE, "must be a mapping of key: value at the top level")]
    return data, []


def _read_json(path: Path, file: str) -> tuple[Any, list[Problem]]:
    """Parse a JSON file that must hold an object; on failure return ``None`` and a problem with the position."""
    text, problems = _read_text(path, file)
    if text is None:
        return None, problems
    try:
        data = json.loads(text, object_pairs_hook=_reject_duplicate_json_keys)
    except json.JSONDecodeError as exc:
        return None, [Problem(file, WHOLE_FILE, f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}")]
    except _DuplicateJSONKeyError as exc:
        return None, [Problem(file, WHOLE_FILE, f"invalid JSON: duplicate key {exc.args[0]!r}")]
    if not isinstance(data, dict):
        return None, [Problem(file, WHOLE_FILE, "must be a JSON object at the top level")]
    return data, []


# --- Structure of the files, as JSON Schemas --------------------------------------------------------------------------
# ``x-message`` replaces jsonschema's wording for pattern/type/format errors on that node.

_TEXT: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": list(LOCALES),
    "properties": {locale: {"type": "string", "minLength": 1} for locale in LOCALES},
}
_KEBAB = {"type": "string", "pattern": _KEBAB_RE, "x-message": "must be kebab-case (lowercase, digits, hyphens)"}
_SNAKE = {"type": "string", "pattern": _SNAKE_RE, "x-message": "must be snake_case (lowercase letters, digits, _)"}
_SEMVER = {"type": "string", "pattern": _SEMVER_RE, "x-message": "must be a semantic version such as 1.0.0 (quoted)"}
_NAME_LIST = {"type": "array", "uniqueItems": True, "items": {"type": "string"}}


def _range_schema(minimum: int, maximum: int) -> dict[str, Any]:
    bound = {"type": "integer", "minimum": minimum, "maximum": maximum}
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["default", "min", "max"],
        "properties": {"default": bound, "min": bound, "max": bound},
    }


_STATE_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "title"],
    "properties": {"name": _SNAKE, "title": _TEXT, "description": _TEXT, "terminal": {"type": "boolean"}},
}
_TRANSITION_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "from", "to", "roles", "title"],
    "properties": {
        "name": _SNAKE,
        "from": {**_NAME_LIST, "minItems": 1},
        "to": {"type": "string"},
        "roles": {**_NAME_LIST, "minItems": 1},
        "guards": _NAME_LIST,
        "actions": _NAME_LIST,
        "title": _TEXT,
        "description": _TEXT,
        "required_by_law": {"type": "boolean"},
        # Four eyes: whoever last took one of the named transitions on an application may not take this one.
        "actor_differs_from": {**_NAME_LIST, "items": _SNAKE},
    },
}
_OPTIONAL_STEP_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["title", "transitions"],
    "properties": {
        "title": _TEXT,
        "description": _TEXT,
        "states": {"type": "array", "items": _STATE_SCHEMA},
        "replaces": _NAME_LIST,
        "transitions": {"type": "array", "minItems": 1, "items": _TRANSITION_SCHEMA},
    },
}
_WORKFLOW_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["initial", "states", "transitions"],
    "properties": {
        "initial": {"type": "string"},
        "states": {"type": "array", "minItems": 2, "items": _STATE_SCHEMA},
        "transitions": {"type": "array", "minItems": 1, "items": _TRANSITION_SCHEMA},
        "optional_steps": {"type": "object", "propertyNames": _SNAKE, "additionalProperties": _OPTIONAL_STEP_SCHEMA},
    },
}
_DOCUMENT_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["key", "title", "content_types", "max_bytes", "max_count"],
    "properties": {
        "key": _SNAKE,
        "title": _TEXT,
        "description": _TEXT,
        "when": {
            "type": "object",
            "additionalProperties": False,
            "required": ["field", "equals"],
            "properties": {
                "field": {"type": "string", "pattern": _POINTER_RE, "x-message": "must be a JSON pointer like /a/b"},
                "equals": {"type": ["string", "number", "boolean"]},
            },
        },
        "content_types": {
            "type": "array",
            "minItems": 1,
            "uniqueItems": True,
            "items": {"type": "string", "pattern": r"^[a-z]+/[a-z0-9.+-]+$", "x-message": "must be a media type"},
        },
        "max_bytes": {"type": "integer", "minimum": 1, "maximum": 50 * 1024 * 1024},
        "max_count": {"type": "integer", "minimum": 1, "maximum": 20},
    },
}
_SERVICE_FILE_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": [
        "key",
        "version",
        "title",
        "summary",
        "legal_basis",
        "eligible_applicants",
        "identity_assurance",
        "fee",
        "sla_days",
        "auto_issue",
        "required_documents",
        "prefill",
        "output_document",
        "retention",
        "workflow",
        "tenant_may_override",
    ],
    "properties": {
        "key": _KEBAB,
        "version": _SEMVER,
        "title": _TEXT,
        "summary": _TEXT,
        "legal_basis": {"type": "array", "minItems": 1, "items": _TEXT},
        "eligible_applicants": {
            "type": "array",
            "minItems": 1,
            "uniqueItems": True,
            "items": {"enum": list(APPLICANT_KINDS)},
        },
        "identity_assurance": {"enum": list(IDENTITY_ASSURANCE_LEVELS)},
        "fee": {
            **_range_schema(0, 100_000),
            "required": ["default", "min", "max", "currency", "per"],
            "properties": {
                **_range_schema(0, 100_000)["properties"],
                "currency": {"const": "JPY"},
                "per": {"enum": ["copy", "application"]},
            },
        },
        "sla_days": _range_schema(1, 365),
        "min_monthly_work_hours": _range_schema(0, 744),
        "auto_issue": {
            "type": "object",
            "additionalProperties": False,
            "required": ["allowed", "default"],
            "properties": {"allowed": {"type": "boolean"}, "default": {"type": "boolean"}},
        },
        "required_documents": {"type": "array", "items": _DOCUMENT_SCHEMA},
        "prefill": {
            "type": "object",
            "propertyNames": {"pattern": _POINTER_RE, "x-message": "must be a JSON pointer like /applicant/name"},
            "additionalProperties": {"type": "string"},
        },
        "output_document": {
            "type": ["object", "null"],
            "additionalProperties": False,
            "required": ["kind", "title"],
            "properties": {"kind": _SNAKE, "title": _TEXT},
        },
        "retention": {
            "type": "object",
            "additionalProperties": False,
            "required": ["years", "basis"],
            "properties": {"years": {"type": "integer", "minimum": 1, "maximum": 150}, "basis": _TEXT},
        },
        "workflow": _WORKFLOW_SCHEMA,
        "tenant_may_override": {"type": "array", "uniqueItems": True, "items": {"enum": list(OVERRIDABLE_SETTINGS)}},
    },
}
_TENANT_FILE_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": [
        "slug",
        "name",
        "local_government_code",
        "prefecture",
        "locales",
        "default_locale",
        "status",
        "contact",
        "services",
    ],
    "properties": {
        "slug": _KEBAB,
        "name": _TEXT,
        "local_government_code": {
            "type": "string",
            "pattern": "^[0-9]{6}$",
            "x-message": 'must be six digits written as a quoted string, e.g. "131016"',
        },
        "prefecture": {
            "type": "object",
            "additionalProperties": False,
            "required": ["code", *LOCALES],
            "properties": {
                "code": {"type": "string", "pattern": "^[0-9]{2}$", "x-message": 'must be two digits, quoted ("01")'},
                **_TEXT["properties"],
            },
        },
        "locales": {"type": "array", "minItems": 1, "uniqueItems": True, "items": {"enum": list(LOCALES)}},
        "default_locale": {"enum": list(LOCALES)},
        "status": {"enum": list(TENANT_STATUSES)},
        "branding": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "primary_color": {
                    "type": "string",
                    "pattern": "^#[0-9A-Fa-f]{6}$",
                    "x-message": 'must be a colour like "#1f5fa8" (quoted)',
                },
                "short_name": _TEXT,
            },
        },
        "contact": {
            "type": "object",
            "additionalProperties": False,
            "required": ["department", "phone", "email", "address", "hours"],
            "properties": {
                "department": _TEXT,
                "phone": {
                    "type": "string",
                    "pattern": r"^\+?[0-9][0-9-]{8,14}$",
                    "x-message": "must be a phone number",
                },
                "email": {
                    "type": "string",
                    "pattern": r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
                    "x-message": "must be an email address",
                },
                "address": _TEXT,
                "hours": _TEXT,
            },
        },
        "services": {
            "type": "object",
            "propertyNames": _KEBAB,
            "additionalProperties": {
                "type": ["object", "null"],
                "additionalProperties": False,
                "properties": {"version": _SEMVER, "overrides": {"type": "object"}},
            },
        },
    },
}
_EXTRA_QUESTION_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "title", "schema"],
    "properties": {"name": _SNAKE, "title": _TEXT, "schema": {"type": "object"}},
}
#: ``x-pages``: the pages of the form in order, each with its title; every top-level field names its page with
#: ``x-page``. Portal and console build the form from these alone, so a new procedure needs no code (decision 0020).
_X_PAGES_SCHEMA = {
    "type": "array",
    "minItems": 1,
    "items": {
        "type": "object",
        "additionalProperties": False,
        "required": ["name", "title"],
        "properties": {"name": _SNAKE, "title": _TEXT},
    },
}

# The 2020-12 metaschema with format checking on, so a broken ``pattern`` regex is reported too.
_META_VALIDATOR = Draft202012Validator(
    Draft202012Validator.META_SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER
)


def _describe_error(error: ValidationError, file: str, prefix: Sequence[str | int]) -> Iterator[Problem]:
    """Turn one jsonschema error into problems that name the offending field."""
    path = [*prefix, *error.absolute_path]
    if error.validator in ("anyOf", "oneOf") and error.context:
        yield from _describe_error(best_match(error.context), file, prefix)
        return
    if error.validator == "required" and isinstance(error.instance, dict):
        # jsonschema reports one error per missing key without naming it separately; duplicates are dropped later.
        for name in error.validator_value:
            if name not in error.instance:
                yield Problem(file, _field([*path, name]), "required key is missing")
        return
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = error.schema.get("properties", {})
        patterns = error.schema.get("patternProperties", {})
        for name in error.instance:
            if name not in known and not any(re.search(pattern, name) for pattern in patterns):
                hint: str | None = f" (expected one of: {', '.join(known)})" if known else ""
                yield Problem(file, _field([*path, name]), f"unknown key{hint}")
        return
    message = error.message
    hint = error.schema.get("x-message") if isinstance(error.schema, dict) else None
    if hint and error.validator in ("pattern", "type", "format"):
        message = hint
    if _from_property_names(error):
        path.append(error.instance)
        message = f"key {hint}" if hint else f"key {error.message}"
    yield Problem(file, _field(path), message)


def _from_property_names(error: ValidationError) -> bool:
    """Whether the error is about a key (``propertyNames``) rather than a value: then the key is the field."""
    schema_path = list(error.absolute_schema_path)
    return any(
        part == "propertyNames" and (index == 0 or schema_path[index - 1] != "properties")
        for index, part in enumerate(schema_path)
    )


def _structure_problems(
    instance: Any, schema: Mapping[str, Any], file: str, prefix: Sequence[str | int] = ()
) -> tuple[list[Problem], set[Any]]:
    """Validate ``instance`` against one of the structure schemas above.

    Returns the problems and the set of top-level keys (below ``prefix``) that have them, so that later
    checks can skip parts whose shape is wrong instead of tripping over them.
    """
    problems: list[Problem] = []
    broken: set[Any] = set()
    for error in Draft202012Validator(schema).iter_errors(instance):
        found = list(_describe_error(error, file, prefix))
        problems.extend(found)
        if error.absolute_path:
            broken.add(error.absolute_path[0])
        elif error.validator == "required" and isinstance(error.instance, dict):
            broken.update(name for name in error.validator_value if name not in error.instance)
        elif error.validator != "additionalProperties":
            broken.add(None)  # the value as a whole is wrong
    return _unique(problems), broken


# --- JSON Schema forms ------------------------------------------------------------------------------------------------


def _as_dict(value: Any) -> dict[Any, Any]:
    return value if isinstance(value, dict) else {}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _is_text(value: Any) -> TypeGuard[dict[str, Any]]:
    return isinstance(value, dict) and all(isinstance(value.get(loc), str) and value[loc] for loc in LOCALES)


def _check_schema_against_metaschema(schema: Any, file: str, prefix: Sequence[str | int] = ()) -> list[Problem]:
    """Validate a JSON Schema against the 2020-12 metaschema (what ``check_schema`` does), reporting every error."""
    problems = [p for error in _META_VALIDATOR.iter_errors(schema) for p in _describe_error(error, file, prefix)]
    return _unique(problems)


def _check_form_conventions(form: dict[str, Any], file: str) -> list[Problem]:
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
    problems, broken = _structure_problems(form["x-pages"], _X_PAGES_SCHEMA, file, ("x-pages",))
    if broken:
        return problems
    names = [page["name"] for page in form["x-pages"]]
    for index, name in enumerate(names):
        if name in names[:index]:
            problems.append(Problem(file, _field(("x-pages", index, "name")), "another page has this name"))
    used = set()
    for name, field in _as_dict(form.get("properties")).items():
        page = _as_dict(field).get("x-page")
        used.add(page)
        if page not in names:
            where = _field(("properties", name, "x-page"))
            problems.append(Problem(file, where, f"must name one of the pages in x-pages: {', '.join(names)}"))
    for index, name in enumerate(names):
        if name not in used:
            problems.append(Problem(file, _field(("x-pages", index)), f"no field is on page {name!r}"))
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
                Problem(file, _field((*path, reference)), "write the schema inline: forms are read without resolving")
            )
    _check_keywords(schema, path, file, problems)
    if is_field:
        _check_field_titles(schema, path, file, problems)
    _check_enum_titles(schema, path, file, problems)
    properties = schema.get("properties")
    if schema.get("type") == "object" or isinstance(properties, dict):
        if schema.get("additionalProperties") is not False:
            problems.append(
                Problem(file, _field((*path, "additionalProperties")), "must be false: every object lists its fields")
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
    if isinstance(schema.get("items"), dict):
        _check_declared(schema["items"], (*path, "items"), file, problems, is_field=False)


def _check_keywords(schema: dict[str, Any], path: tuple[str | int, ...], file: str, problems: list[Problem]) -> None:
    for keyword in schema:
        if keyword not in SCHEMA_KEYWORDS and not str(keyword).startswith("x-"):
            message = f"unknown keyword {keyword!r}: JSON Schema ignores it (UI hints start with x-)"
            problems.append(Problem(file, _field((*path, keyword)), message))


def _check_field_titles(
    schema: dict[str, Any], path: tuple[str | int, ...], file: str, problems: list[Problem]
) -> None:
    title, x_title = schema.get("title"), schema.get("x-title")
    if not isinstance(title, str) or not title:
        problems.append(Problem(file, _field((*path, "title")), "every field needs a title (Japanese)"))
    if not _is_text(x_title):
        problems.append(Problem(file, _field((*path, "x-title")), "every field needs x-title with ja and en"))
    elif isinstance(title, str) and title and x_title["ja"] != title:
        problems.append(Problem(file, _field((*path, "title")), "must equal x-title.ja"))


def _check_enum_titles(schema: dict[str, Any], path: tuple[str | int, ...], file: str, problems: list[Problem]) -> None:
    values = schema.get("enum")
    if not isinstance(values, list):
        return
    titles = schema.get("x-enum-titles")
    where = _field((*path, "x-enum-titles"))
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
            problems.append(Problem(file, _field((*path, "required", index)), message))
    if not check_properties or not isinstance(branch.get("properties"), dict):
        return
    for name, sub in branch["properties"].items():
        if name not in known:
            message = f"{name!r} is not a field of this object"
            problems.append(Problem(file, _field((*path, "properties", name)), message))
        elif isinstance(sub, dict):
            _check_branch(sub, (*path, "properties", name), known[name], file, problems)


def _form_field(form: Any, pointer: str) -> dict[str, Any] | None:
    """The schema of the form field a JSON pointer names (following ``properties``), or ``None``."""
    node = form
    for raw in pointer.split("/")[1:]:
        part = raw.replace("~1", "/").replace("~0", "~")
        properties = node.get("properties") if isinstance(node, dict) else None
        if not isinstance(properties, dict) or not isinstance(properties.get(part), dict):
            return None
        node = properties[part]
    return node if isinstance(node, dict) else None


def _field_values(schema: dict[str, Any]) -> list[Any] | None:
    if isinstance(schema.get("enum"), list):
        return schema["enum"]
    if "const" in schema:
        return [schema["const"]]
    if schema.get("type") == "boolean":
        return [True, False]
    return None


# --- Workflows --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    """A state or transition together with where it is written in service.yaml (for problem messages)."""

    item: dict[str, Any]
    path: tuple[str | int, ...]
    step: str | None = None


def _apply_steps(workflow: Mapping[str, Any], steps: Sequence[str]) -> tuple[list[_Entry], list[_Entry]]:
    """The states and transitions of ``workflow`` with the named optional steps applied, in declaration order.

    A step's transitions take the place of the first transition it replaces; its states go just before the
    state that transition led to (so ``awaiting_approval`` sits before ``approved``).
    """
    states = [_Entry(item, ("workflow", "states", i)) for i, item in enumerate(workflow.get("states") or [])]
    transitions = [
        _Entry(item, ("workflow", "transitions", i)) for i, item in enumerate(workflow.get("transitions") or [])
    ]
    for step_name, step in (workflow.get("optional_steps") or {}).items():
        if step_name not in steps:
            continue
        base = ("workflow", "optional_steps", step_name)
        replaced = set(step.get("replaces") or [])
        replaced_positions = [i for i, entry in enumerate(transitions) if entry.item.get("name") in replaced]
        insert_at = replaced_positions[0] if replaced_positions else len(transitions)
        anchor_state = transitions[insert_at].item.get("to") if replaced_positions else None
        kept_before = [entry for entry in transitions[:insert_at] if entry.item.get("name") not in replaced]
        kept_after = [entry for entry in transitions[insert_at:] if entry.item.get("name") not in replaced]
        added = [
            _Entry(item, (*base, "transitions", i), step_name) for i, item in enumerate(step.get("transitions") or [])
        ]
        transitions = [*kept_before, *added, *kept_after]

        new_states = [_Entry(item, (*base, "states", i), step_name) for i, item in enumerate(step.get("states") or [])]
        names = [entry.item.get("name") for entry in states]
        if anchor_state in names:
            position = names.index(anchor_state)
        else:
            terminal = [i for i, entry in enumerate(states) if entry.item.get("terminal")]
            position = terminal[0] if terminal else len(states)
        states[position:position] = new_states
    return states, transitions


def _check_workflow_graph(
    initial: Any, states: list[_Entry], transitions: list[_Entry], file: str, context: str = ""
) -> list[Problem]:
    """Check a (possibly step-extended) workflow: names, references, vocabularies, reachability, dead ends."""
    problems: list[Problem] = []
    by_name: dict[str, _Entry] = {}
    for entry in states:
        name = entry.item["name"]
        if name in by_name:
            problems.append(Problem(file, _field((*entry.path, "name")), f"duplicate state {name!r}{context}"))
        else:
            by_name[name] = entry
    terminal = {name for name, entry in by_name.items() if entry.item.get("terminal")}
    if initial not in by_name:
        problems.append(Problem(file, "workflow.initial", f"unknown state {initial!r}"))
    elif initial in terminal:
        problems.append(Problem(file, "workflow.initial", "the initial state cannot be terminal"))
    if not terminal:
        problems.append(Problem(file, "workflow.states", "no terminal state: mark at least one with terminal: true"))

    seen_transitions: set[str] = set()
    for entry in transitions:
        transition, path = entry.item, entry.path
        if transition["name"] in seen_transitions:
            problems.append(
                Problem(file, _field((*path, "name")), f"duplicate transition {transition['name']!r}{context}")
            )
        seen_transitions.add(transition["name"])
        for index, source in enumerate(transition["from"]):
            if source not in by_name:
                problems.append(Problem(file, _field((*path, "from", index)), f"unknown state {source!r}"))
            elif source in terminal:
                problems.append(
                    Problem(file, _field((*path, "from", index)), f"{source!r} is terminal: nothing may leave it")
                )
        if transition["to"] not in by_name:
            problems.append(Problem(file, _field((*path, "to")), f"unknown state {transition['to']!r}"))
        for key, known, noun in (
            ("roles", KNOWN_ROLES, "role"),
            ("guards", KNOWN_GUARDS, "guard"),
            ("actions", KNOWN_ACTIONS, "action"),
        ):
            for index, value in enumerate(transition.get(key) or []):
                if value not in known:
                    message = f"unknown {noun} {value!r} (known: {', '.join(known)})"
                    problems.append(Problem(file, _field((*path, key, index)), message))

    for entry in transitions:
        for index, name in enumerate(entry.item.get("actor_differs_from") or []):
            if name not in seen_transitions:
                where = _field((*entry.path, "actor_differs_from", index))
                problems.append(Problem(file, where, f"unknown transition {name!r}{context}"))
            elif name == entry.item["name"]:
                where = _field((*entry.path, "actor_differs_from", index))
                problems.append(Problem(file, where, "a transition cannot be separate from itself"))

    if initial in by_name:
        reached = _reachable(initial, [entry.item for entry in transitions])
        for name, entry in by_name.items():
            if name not in reached:
                message = f"state {name!r} cannot be reached from {initial!r}{context}"
                problems.append(Problem(file, _field((*entry.path, "name")), message))
    leaving = {source for entry in transitions for source in entry.item["from"]}
    for name, entry in by_name.items():
        if name not in terminal and name not in leaving:
            message = f"state {name!r} is not terminal but no transition leaves it{context}"
            problems.append(Problem(file, _field((*entry.path, "name")), message))
    return problems


def _reachable(initial: str, transitions: Sequence[Mapping[str, Any]]) -> set[str]:
    reached, frontier = {initial}, [initial]
    while frontier:
        state = frontier.pop()
        for transition in transitions:
            if state in transition["from"] and transition["to"] not in reached:
                reached.add(transition["to"])
                frontier.append(transition["to"])
    return reached


def _system_can_issue(initial: str, transitions: Sequence[Mapping[str, Any]]) -> bool:
    """Whether, once submitted, the ``system`` role alone can carry an application to an ``issue_document`` action.

    Auto-issue means exactly that: a verified resident's request is issued without a person deciding.
    """
    submitted = {t["to"] for t in transitions if initial in t["from"]}
    reached, frontier = set(submitted), list(submitted)
    while frontier:
        state = frontier.pop()
        for transition in transitions:
            usable = "system" in transition["roles"] and "comment_present" not in (transition.get("guards") or [])
            if state not in transition["from"] or not usable:
                continue
            if "issue_document" in (transition.get("actions") or []):
                return True
            if transition["to"] not in reached:
                reached.add(transition["to"])
                frontier.append(transition["to"])
    return False


def _check_four_eyes(
    step_name: str, step: Mapping[str, Any], base_transitions: Mapping[str, Mapping[str, Any]], file: str
) -> list[Problem]:
    """An approval step (上長決裁) means four eyes: a decision taken from a state the step adds must name, in
    ``actor_differs_from``, every transition into that state, so the recommender cannot also approve.

    The rule is structural, so a new catalog version cannot drop it for any procedure that has such a step,
    and tenants cannot reach it (they only switch steps on; ``actor_differs_from`` is not an override).
    """
    problems: list[Problem] = []
    added_states = {state.get("name") for state in step.get("states") or []}
    candidates = [*(step.get("transitions") or []), *base_transitions.values()]
    for index, decision in enumerate(step.get("transitions") or []):
        if "record_decision" not in (decision.get("actions") or []):
            continue
        sources = [state for state in decision.get("from") or [] if state in added_states]
        into = sorted({t["name"] for t in candidates if t.get("to") in sources and t is not decision})
        missing = [name for name in into if name not in (decision.get("actor_differs_from") or [])]
        if missing:
            where = _field(("workflow", "optional_steps", step_name, "transitions", index, "actor_differs_from"))
            message = (
                f"four eyes: {decision['name']!r} decides what {', '.join(map(repr, missing))} recommended, so it "
                f"must list {'them' if len(missing) > 1 else 'it'} here (whoever recommended cannot also approve)"
            )
            problems.append(Problem(file, where, message))
    return problems


def _check_workflow(service: dict[str, Any], file: str) -> list[Problem]:
    """The base workflow, each optional step's own rules, and the workflow with each step (and all) applied."""
    workflow = service["workflow"]
    states, transitions = _apply_steps(workflow, [])
    problems = _check_workflow_graph(workflow["initial"], states, transitions, file)
    base_names = {t["name"]: t for t in workflow["transitions"]}
    steps = workflow.get("optional_steps") or {}
    for step_name, step in steps.items():
        for index, name in enumerate(step.get("replaces") or []):
            where = _field(("workflow", "optional_steps", step_name, "replaces", index))
            if name not in base_names:
                problems.append(Problem(file, where, f"unknown transition {name!r}"))
            elif base_names[name].get("required_by_law"):
                problems.append(Problem(file, where, f"transition {name!r} is required by law and cannot be replaced"))
    for step_name, step in steps.items():
        problems += _check_four_eyes(step_name, step, base_names, file)
    if problems:
        return problems  # combinations of a broken base would only repeat its problems
    combinations = [[name] for name in steps]
    if len(steps) > 1:
        combinations.append(list(steps))
    for combination in combinations:
        states, transitions = _apply_steps(workflow, combination)
        context = f" (with optional step{'s' if len(combination) > 1 else ''} {', '.join(combination)})"
        problems += _check_workflow_graph(workflow["initial"], states, transitions, file, context)
    return _unique(problems)


# --- Services ---------------------------------------------------------------------------------------------------------


def service_folders(services_dir: Path) -> list[Path]:
    """The procedure folders in ``services_dir``, sorted (hidden and ``_``-prefixed folders are skipped)."""
    services_dir = Path(services_dir)
    if not services_dir.is_dir():
        return []
    return sorted(p for p in services_dir.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))


def _inspect_service(folder: Path) -> tuple[dict[str, Any] | None, list[Problem]]:
    """Read and check one procedure folder; return its content (best effort, ``None`` if unreadable) and problems."""
    folder = Path(folder)
    yaml_file, form_file = _display(folder / "service.yaml"), _display(folder / "form.json")
    if not folder.is_dir():
        return None, [Problem(_display(folder), WHOLE_FILE, "not a directory")]
    service, problems = _read_yaml(folder / "service.yaml", yaml_file)
    form, form_read_problems = _read_json(folder / "form.json", form_file)
    problems += form_read_problems

    form_ok = False
    if form is not None:
        metaschema_problems = _check_schema_against_metaschema(form, form_file)
        problems += metaschema_problems or _check_form_conventions(form, form_file)
        form_ok = not metaschema_problems

    if service is None:
        return None, _unique(problems)
    structure, broken = _structure_problems(service, _SERVICE_FILE_SCHEMA, yaml_file)
    problems += structure
    if None not in broken:
        problems += _check_service_rules(service, broken, folder.name, yaml_file)
        if form_ok:
            problems += _check_service_against_form(service, form, broken, yaml_file, form_file)
    # Best effort when form.json is broken, so tenants using this service are still checked against its settings.
    return {**service, "form": form if form is not None else {}}, _unique(problems)


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
    if "eligible_applicants" in ok and "required_documents" in ok and "agent" in service["eligible_applicants"]:
        keys = {document["key"] for document in service["required_documents"]}
        if "power_of_attorney" not in keys:
            message = "agents need a power of attorney: add a required document 'power_of_attorney'"
            problems.append(Problem(file, "eligible_applicants", message))
    if "required_documents" in ok:
        seen: set[str] = set()
        for index, document in enumerate(service["required_documents"]):
            if document["key"] in seen:
                problems.append(Problem(file, f"required_documents[{index}].key", f"duplicate {document['key']!r}"))
            seen.add(document["key"])
    if "prefill" in ok:
        for pointer, source in service["prefill"].items():
            if source not in REGISTRY_FIELDS:
                message = f"unknown registry field {source!r} (known: {', '.join(REGISTRY_FIELDS)})"
                problems.append(Problem(file, _field(("prefill", pointer)), message))
    if "workflow" in ok:
        problems += _check_workflow(service, file)
        transitions = service["workflow"]["transitions"]
        issues = any("issue_document" in (t.get("actions") or []) for t in transitions)
        if "output_document" in ok and service["output_document"] is not None and not issues:
            problems.append(Problem(file, "workflow.transitions", "no transition has the action issue_document"))
        if (
            "auto_issue" in ok
            and service["auto_issue"]["allowed"]
            and not _system_can_issue(service["workflow"]["initial"], transitions)
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
            if _form_field(form, pointer) is None:
                problems.append(Problem(file, _field(("prefill", pointer)), "no such field in form.json"))
    if "required_documents" not in broken:
        for index, document in enumerate(service["required_documents"]):
            when = document.get("when")
            if when is None:
                continue
            target = _form_field(form, when["field"])
            if target is None:
                problems.append(Problem(file, f"required_documents[{index}].when.field", "no such field in form.json"))
                continue
            values = _field_values(target)
            if values is not None and when["equals"] not in values:
                choices = ", ".join(map(str, values))
                message = f"{when['equals']!r} is not a value of {when['field']} (one of: {choices})"
                problems.append(Problem(file, f"required_documents[{index}].when.equals", message))
    relationship = _form_field(form, "/requester/relationship")
    if "eligible_applicants" not in broken and relationship is not None:
        values = _field_values(relationship) or []
        if set(values) != set(service["eligible_applicants"]):
            message = f"must match the values of the form's /requester/relationship ({', '.join(map(str, values))})"
            problems.append(Problem(file, "eligible_applicants", message))
    if (
        "tenant_may_override" not in broken
        and "extra_questions" in service["tenant_may_override"]
        and EXTRA_QUESTIONS_PROPERTY in _as_dict(form.get("properties"))
    ):
        message = "is reserved for the tenant's extra questions"
        problems.append(Problem(form_file, _field(("properties", EXTRA_QUESTIONS_PROPERTY)), message))
    return problems


def check_service(folder: Path) -> list[Problem]:
    """Every conformance problem of a procedure folder (``service.yaml`` + ``form.json``); never raises for content."""
    return _inspect_service(Path(folder))[1]


def load_service(folder: Path) -> dict[str, Any]:
    """The parsed ``service.yaml`` of a procedure folder, with the parsed ``form.json`` under the key ``"form"``.

    Raises :class:`CatalogError` if the folder does not conform.
    """
    service, problems = _inspect_service(Path(folder))
    if problems or service is None:
        raise CatalogError(problems)
    return service


def load_services(services_dir: Path) -> dict[str, dict[str, Any]]:
    """Every procedure in ``services_dir``, keyed by service key; raises :class:`CatalogError` listing all problems."""
    services_dir = Path(services_dir)
    if not services_dir.is_dir():
        raise CatalogError([Problem(_display(services_dir), WHOLE_FILE, "services directory not found")])
    services: dict[str, dict[str, Any]] = {}
    problems: list[Problem] = []
    for folder in service_folders(services_dir):
        service, found = _inspect_service(folder)
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


def _versions(service: Mapping[str, Any], published: Published | None) -> dict[str, Mapping[str, Any]]:
    """Every version of a procedure a tenant may pin: those published, and the one in the folder now."""
    versions: dict[str, Mapping[str, Any]] = dict((published or {}).get(service["key"], {}))
    if isinstance(service.get("version"), str):
        versions[service["version"]] = service
    return versions


def _version_order(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version))


# --- Tenants ----------------------------------------------------------------------------------------------------------


def _local_government_code_check_digit(body: str) -> int:
    """JIS X 0402 check digit of the five-digit body of a 全国地方公共団体コード.

    Kept local (rather than imported from ``madoguchi.jp``) so the catalog checker has no dependency on the
    application package; both implement the same published algorithm.
    """
    total = sum(weight * int(digit) for weight, digit in zip((6, 5, 4, 3, 2), body, strict=True))
    return (11 - total % 11) % 10


def is_valid_local_government_code(code: str) -> bool:
    """Whether ``code`` is six ASCII digits whose last digit is the JIS X 0402 check digit of the first five."""
    if not isinstance(code, str) or re.fullmatch(r"[0-9]{6}", code) is None:
        return False
    return int(code[5]) == _local_government_code_check_digit(code[:5])


def _contrast_with_white(color: str) -> float:
    """WCAG 2.1 contrast ratio between ``#rrggbb`` and white."""

    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    red, green, blue = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    luminance = 0.2126 * linear(red) + 0.7152 * linear(green) + 0.0722 * linear(blue)
    return 1.05 / (luminance + 0.05)


def tenant_files(tenants_dir: Path) -> list[Path]:
    """The tenant files (``*.yaml``) in ``tenants_dir``, sorted."""
    tenants_dir = Path(tenants_dir)
    if not tenants_dir.is_dir():
        return []
    return sorted(p for p in tenants_dir.glob("*.yaml") if p.is_file() and not p.name.startswith("."))


def _inspect_tenant(
    path: Path, services: Mapping[str, Mapping[str, Any] | None] | None, published: Published | None = None
) -> tuple[dict[str, Any] | None, list[Problem]]:
    """Read and check one tenant file; ``services=None`` skips the checks that need the catalog. A version pin
    is checked against ``published`` (what the database holds) as well as the folder's version."""
    path = Path(path)
    file = _display(path)
    tenant, problems = _read_yaml(path, file)
    if tenant is None:
        return None, problems
    structure, broken = _structure_problems(tenant, _TENANT_FILE_SCHEMA, file)
    problems += structure
    if None in broken:
        return None, problems
    ok = {key for key in tenant if key not in broken}

    if "slug" in ok and tenant["slug"] != path.stem:
        problems.append(Problem(file, "slug", f"{tenant['slug']!r} must equal the file name {path.stem!r}"))
    code = tenant.get("local_government_code") if "local_government_code" in ok else None
    if code is not None and not is_valid_local_government_code(code):
        expected = _local_government_code_check_digit(code[:5])
        message = f"wrong check digit: {code[:5]} takes {expected} ({code[:5]}{expected}), JIS X 0402"
        problems.append(Problem(file, "local_government_code", message))
    if "prefecture" in ok:
        prefecture = tenant["prefecture"]
        if prefecture["code"] not in PREFECTURES:
            problems.append(Problem(file, "prefecture.code", f"unknown prefecture code {prefecture['code']!r} (01–47)"))
        else:
            if code is not None and code[:2] != prefecture["code"]:
                message = f"{prefecture['code']!r} does not match the first two digits of local_government_code {code}"
                problems.append(Problem(file, "prefecture.code", message))
            official = PREFECTURES[prefecture["code"]]
            if prefecture["ja"] != official:
                message = f"prefecture {prefecture['code']} is {official}, not {prefecture['ja']!r}"
                problems.append(Problem(file, "prefecture.ja", message))
    if "locales" in ok:
        if "ja" not in tenant["locales"]:
            problems.append(Problem(file, "locales", "must include 'ja'"))
        if "default_locale" in ok and tenant["default_locale"] not in tenant["locales"]:
            problems.append(Problem(file, "default_locale", f"{tenant['default_locale']!r} is not one of locales"))
    color = (tenant.get("branding") or {}).get("primary_color") if "branding" in ok else None
    if color is not None and (ratio := _contrast_with_white(color)) < MIN_BRAND_CONTRAST:
        message = (
            f"{color} gives {ratio:.1f}:1 contrast with white text; "
            f"at least {MIN_BRAND_CONTRAST}:1 is needed (WCAG 2.1 AA, JIS X 8341-3)"
        )
        problems.append(Problem(file, "branding.primary_color", message))

    if "services" in ok:
        tenant["services"] = {
            key: {"version": (entry or {}).get("version"), "overrides": (entry or {}).get("overrides") or {}}
            for key, entry in tenant["services"].items()
        }
        if services is not None:
            problems += _check_tenant_services(tenant["services"], services, file, published)
    return tenant, _unique(problems)


def _check_tenant_services(
    enabled: Mapping[str, Mapping[str, Any]],
    services: Mapping[str, Mapping[str, Any] | None],
    file: str,
    published: Published | None = None,
) -> list[Problem]:
    problems: list[Problem] = []
    for key, entry in enabled.items():
        if key not in services:
            message = f"unknown service (known: {', '.join(sorted(services)) or 'none'})"
            problems.append(Problem(file, _field(("services", key)), message))
            continue
        service = services[key]
        if service is None:
            continue  # the service folder exists but cannot be read; that is reported against the service
        versions = _versions(service, published)
        pinned = entry["version"]
        if pinned is not None and pinned not in versions:
            available = ", ".join(sorted(versions, key=_version_order))
            message = f"version {pinned} of {key} is not published (available: {available})"
            problems.append(Problem(file, _field(("services", key, "version")), message))
            continue  # no definition to check the overrides against: the pin is the one problem
        # Overrides must fit the version the tenant runs: the pinned one, as published, else the folder's.
        runs = versions[pinned] if pinned is not None else service
        problems += _check_overrides(runs, entry["overrides"], file, ("services", key, "overrides"))
    return problems


def check_tenant(path: Path, services: Mapping[str, Mapping[str, Any]]) -> list[Problem]:
    """Every conformance problem of one tenant file against the procedures in ``services`` (keyed by key)."""
    return _inspect_tenant(Path(path), services)[1]


def load_tenant(path: Path, services: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """The parsed tenant file, with ``services`` normalised to ``{key: {"version": str|None, "overrides": dict}}``.

    Without ``services`` only the file itself is checked; pass the loaded catalog to check the enabled
    procedures and overrides too. Raises :class:`CatalogError` if the file does not conform.
    """
    tenant, problems = _inspect_tenant(Path(path), services)
    if problems or tenant is None:
        raise CatalogError(problems)
    return tenant


def load_tenants(
    tenants_dir: Path, services: Mapping[str, Mapping[str, Any]] | None = None
) -> dict[str, dict[str, Any]]:
    """Every tenant file in ``tenants_dir``, keyed by slug; raises :class:`CatalogError` listing all problems."""
    tenants_dir = Path(tenants_dir)
    if not tenants_dir.is_dir():
        raise CatalogError([Problem(_display(tenants_dir), WHOLE_FILE, "tenants directory not found")])
    tenants: dict[str, dict[str, Any]] = {}
    problems = _check_tenant_set(tenants_dir)
    for path in tenant_files(tenants_dir):
        tenant, found = _inspect_tenant(path, services)
        problems += found
        if tenant is not None and not found:
            tenants[tenant["slug"]] = tenant
    if problems:
        raise CatalogError(problems)
    return tenants


def _check_tenant_set(tenants_dir: Path) -> list[Problem]:
    """Problems across tenant files: misnamed files and local government codes used twice."""
    problems = [
        Problem(_display(path), WHOLE_FILE, "tenant files end in .yaml; this file is ignored")
        for path in sorted(tenants_dir.glob("*.yml"))
    ]
    owners: dict[str, str] = {}
    for path in tenant_files(tenants_dir):
        tenant, _ = _read_yaml(path, _display(path))
        code = tenant.get("local_government_code") if tenant is not None else None
        if not isinstance(code, str):
            continue
        if code in owners:
            message = f"{code} is already used by {owners[code]}"
            problems.append(Problem(_display(path), "local_government_code", message))
        else:
            owners[code] = _display(path)
    return problems


# --- Overrides and the effective service ------------------------------------------------------------------------------


def _check_overrides(
    service: Mapping[str, Any], overrides: Any, file: str, prefix: tuple[str | int, ...]
) -> list[Problem]:
    if not isinstance(overrides, dict):
        return [Problem(file, _field(prefix), "must be a mapping of setting: value")]
    allowed = [name for name in _as_list(service.get("tenant_may_override")) if name in _OVERRIDE_CHECKS]
    problems: list[Problem] = []
    for name, value in overrides.items():
        where = (*prefix, name)
        if name not in allowed:
            message = f"{name!r} is not a setting this procedure lets a tenant change (allowed: {', '.join(allowed)})"
            problems.append(Problem(file, _field(where), message))
            continue
        problems += _OVERRIDE_CHECKS[name](service, value, file, where)
    if problems:
        return problems

    # Settings that are each fine alone must still combine into a workflow that works. (A standard workflow that
    # cannot auto-issue at all is reported once, against the service.)
    workflow: Any = service.get("workflow")
    steps = overrides.get("extra_steps") or []
    auto_issue = overrides.get("auto_issue", _as_dict(service.get("auto_issue")).get("default", False))
    if auto_issue and steps and not _structure_problems(workflow, _WORKFLOW_SCHEMA, "")[0]:
        _, standard = _apply_steps(workflow, [])
        _, extended = _apply_steps(workflow, steps)
        initial = workflow["initial"]
        if _system_can_issue(initial, [e.item for e in standard]) and not _system_can_issue(
            initial, [e.item for e in extended]
        ):
            message = (
                f"auto-issue is impossible with the extra steps {', '.join(steps)}: a person must act before issuing"
            )
            setting = "auto_issue" if "auto_issue" in overrides else "extra_steps"
            problems.append(Problem(file, _field((*prefix, setting)), message))
    return problems


def _check_range_override(
    service: Mapping[str, Any], value: Any, file: str, where: tuple[str | int, ...]
) -> list[Problem]:
    setting = _as_dict(service.get(str(where[-1])))
    if isinstance(value, bool) or not isinstance(value, int):
        return [Problem(file, _field(where), f"must be a whole number, not {value!r}")]
    low, high = setting.get("min"), setting.get("max")
    if isinstance(low, int) and isinstance(high, int) and not low <= value <= high:
        return [Problem(file, _field(where), f"{value} is outside the allowed range {low}..{high}")]
    return []


def _check_auto_issue_override(
    service: Mapping[str, Any], value: Any, file: str, where: tuple[str | int, ...]
) -> list[Problem]:
    if not isinstance(value, bool):
        return [Problem(file, _field(where), "must be true or false")]
    if value and not _as_dict(service.get("auto_issue")).get("allowed"):
        return [Problem(file, _field(where), "this procedure does not allow auto-issue")]
    return []


def _check_extra_steps_override(
    service: Mapping[str, Any], value: Any, file: str, where: tuple[str | int, ...]
) -> list[Problem]:
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        return [Problem(file, _field(where), "must be a list of optional step names")]
    available = list(_as_dict(_as_dict(service.get("workflow")).get("optional_steps")))
    problems = []
    for index, name in enumerate(value):
        if name not in available:
            message = f"unknown optional step {name!r} (available: {', '.join(available) or 'none'})"
            problems.append(Problem(file, _field((*where, index)), message))
        elif name in value[:index]:
            problems.append(Problem(file, _field((*where, index)), f"{name!r} is listed twice"))
    return problems


def _check_extra_questions_override(
    service: Mapping[str, Any], value: Any, file: str, where: tuple[str | int, ...]
) -> list[Problem]:
    if not isinstance(value, list):
        return [Problem(file, _field(where), "must be a list of questions")]
    problems: list[Problem] = []
    if len(value) > MAX_EXTRA_QUESTIONS:
        message = f"at most {MAX_EXTRA_QUESTIONS} extra questions: procedures stay close to the standard"
        problems.append(Problem(file, _field(where), message))
    form_fields = set(_as_dict(_as_dict(service.get("form")).get("properties"))) | {EXTRA_QUESTIONS_PROPERTY}
    names: set[str] = set()
    for index, question in enumerate(value):
        here = (*where, index)
        found, broken = _structure_problems(question, _EXTRA_QUESTION_SCHEMA, file, here)
        problems += found
        if None in broken:
            continue
        if "name" not in broken:
            name = question["name"]
            if name in form_fields:
                problems.append(Problem(file, _field((*here, "name")), f"{name!r} is already a field of the form"))
            elif name in names:
                problems.append(Problem(file, _field((*here, "name")), f"duplicate question {name!r}"))
            names.add(name)
        if "schema" not in broken:
            problems += _check_question_schema(question, file, (*here, "schema"))
    return problems


def _check_question_schema(question: Mapping[str, Any], file: str, where: tuple[str | int, ...]) -> list[Problem]:
    schema = question["schema"]
    problems = _check_schema_against_metaschema(schema, file, where)
    if problems:
        return problems
    if schema.get("type") not in EXTRA_QUESTION_TYPES:
        message = f"must be one of {', '.join(EXTRA_QUESTION_TYPES)}: extra questions are single answers"
        problems.append(Problem(file, _field((*where, "type")), message))
    for keyword in ("$ref", "$dynamicRef", "properties", "items"):
        if keyword in schema:
            problems.append(Problem(file, _field((*where, keyword)), "not allowed in an extra question"))
    if "title" in schema or "x-title" in schema:
        problems.append(Problem(file, _field(where), "put the question's title in title:, not in the schema"))
    _check_keywords(schema, where, file, problems)
    _check_enum_titles(schema, where, file, problems)
    return problems


def _check_instructions_override(
    service: Mapping[str, Any], value: Any, file: str, where: tuple[str | int, ...]
) -> list[Problem]:
    return _structure_problems(value, _TEXT, file, where)[0]


_OverrideCheck = Callable[[Mapping[str, Any], Any, str, tuple[str | int, ...]], list[Problem]]
_OVERRIDE_CHECKS: dict[str, _OverrideCheck] = {
    "fee": _check_range_override,
    "sla_days": _check_range_override,
    "min_monthly_work_hours": _check_range_override,
    "auto_issue": _check_auto_issue_override,
    "extra_steps": _check_extra_steps_override,
    "extra_questions": _check_extra_questions_override,
    "instructions": _check_instructions_override,
}


def check_overrides(service: Mapping[str, Any], overrides: Any, *, file: str = "overrides") -> list[Problem]:
    """Problems of a tenant's overrides for ``service`` (as loaded), e.g. before saving a change from the console.

    Fields are reported as ``overrides.<setting>``; ``file`` names the source in the problems.
    """
    return _check_overrides(service, overrides, file, ("overrides",))


def _state_view(entry: _Entry) -> dict[str, Any]:
    item = entry.item
    view = {"name": item["name"], "title": item["title"], "terminal": bool(item.get("terminal", False))}
    if "description" in item:
        view["description"] = item["description"]
    return view


def _transition_view(entry: _Entry) -> dict[str, Any]:
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
    problems = _check_overrides(service, overrides, str(service.get("key", "service")), ("overrides",))
    if problems:
        raise CatalogError(problems)
    service = copy.deepcopy(dict(service))
    overrides = copy.deepcopy(overrides)
    workflow = service["workflow"]
    chosen = overrides.get("extra_steps") or []
    steps = [name for name in workflow.get("optional_steps") or {} if name in chosen]
    states, transitions = _apply_steps(workflow, steps)
    effective: dict[str, Any] = {
        "key": service["key"],
        "version": service["version"],
        "title": service["title"],
        "summary": service["summary"],
        "legal_basis": service["legal_basis"],
        "fee": overrides.get("fee", service["fee"]["default"]),
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
        "eligible_applicants": service["eligible_applicants"],
        "output_document": service["output_document"],
        "retention": service["retention"],
    }
    if "min_monthly_work_hours" in service:
        default_hours = service["min_monthly_work_hours"]["default"]
        effective["min_monthly_work_hours"] = overrides.get("min_monthly_work_hours", default_hours)
    return effective


# --- The whole catalog ------------------------------------------------------------------------------------------------


def default_catalog_dirs() -> tuple[Path, Path]:
    """Where ``services/`` and ``tenants/`` are.

    ``$MADOGUCHI_SERVICES_DIR`` and ``$MADOGUCHI_TENANTS_DIR`` win; otherwise the folders at the repository root
    (``Path(madoguchi.__file__).resolve().parents[2]``, computed here from this module's own path). That holds
    for a source checkout and an editable install; an installed wheel has no catalog beside it and needs the
    variables.
    """
    repository = Path(__file__).resolve().parents[3]
    services = os.environ.get("MADOGUCHI_SERVICES_DIR") or repository / "services"
    tenants = os.environ.get("MADOGUCHI_TENANTS_DIR") or repository / "tenants"
    return Path(services), Path(tenants)


def check_catalog(services_dir: Path, tenants_dir: Path, published: Published | None = None) -> list[Problem]:
    """Every conformance problem of every procedure in ``services_dir`` and every tenant file in ``tenants_dir``.

    ``published`` holds the versions already published (from the database): a tenant pinned to one of them is
    checked against that version's definition, not against the folder's newer one.

    Never raises for bad content: unreadable files, wrong structure and broken references all become
    problems, in a stable order (services by folder name, then tenants by file name).
    """
    services_dir, tenants_dir = Path(services_dir), Path(tenants_dir)
    problems: list[Problem] = []
    # Keyed by folder, and ``None`` for an unreadable one, so a tenant is not told that a service it enables is
    # unknown when the service's own file is the problem (reported once, against that file).
    services: dict[str, dict[str, Any] | None] = {}
    if not services_dir.is_dir():
        problems.append(Problem(_display(services_dir), WHOLE_FILE, "services directory not found"))
    for folder in service_folders(services_dir):
        service, found = _inspect_service(folder)
        problems += found
        services[folder.name] = service
    if not tenants_dir.is_dir():
        problems.append(Problem(_display(tenants_dir), WHOLE_FILE, "tenants directory not found"))
        return _unique(problems)
    problems += _check_tenant_set(tenants_dir)
    for path in tenant_files(tenants_dir):
        problems += _inspect_tenant(path, services, published)[1]
    return _unique(problems)
