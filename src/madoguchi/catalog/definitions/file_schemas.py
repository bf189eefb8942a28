"""The structure of ``service.yaml`` and ``tenants/<slug>.yaml`` as JSON Schemas, and their errors as Problems."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from madoguchi.catalog.definitions.problems import Problem, field_path, unique
from madoguchi.catalog.definitions.vocabulary import (
    APPLICANT_KINDS,
    IDENTITY_ASSURANCE_LEVELS,
    KEBAB_RE,
    LOCALES,
    OVERRIDABLE_SETTINGS,
    POINTER_RE,
    SEMVER_RE,
    SNAKE_RE,
    TENANT_STATUSES,
)

# --- Structure of the files, as JSON Schemas --------------------------------------------------------------------------
# ``x-message`` replaces jsonschema's wording for pattern/type/format errors on that node.

TEXT: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": list(LOCALES),
    "properties": {locale: {"type": "string", "minLength": 1} for locale in LOCALES},
}
_KEBAB = {"type": "string", "pattern": KEBAB_RE, "x-message": "must be kebab-case (lowercase, digits, hyphens)"}
_SNAKE = {"type": "string", "pattern": SNAKE_RE, "x-message": "must be snake_case (lowercase letters, digits, _)"}
_SEMVER = {"type": "string", "pattern": SEMVER_RE, "x-message": "must be a semantic version such as 1.0.0 (quoted)"}
_NAME_LIST = {"type": "array", "uniqueItems": True, "items": {"type": "string"}}


def _range_schema(minimum: int, maximum: int) -> dict[str, Any]:
    bound = {"type": "integer", "minimum": minimum, "maximum": maximum}
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["default", "min", "max"],
        "properties": {"default": bound, "min": bound, "max": bound},
    }


#: The highest fee a procedure may charge, in yen: a bound against typos, far above any 手数料条例.
MAX_FEE = 100_000
#: How a procedure's fee counts: per copy, once per application, or per copy by units of persons (住民票 5人単位).
FEE_PER = ("copy", "application", "persons")
#: Channels a fee may differ by (as ``payments.models.CHANNELS``: the catalog sits below payments).
FEE_CHANNELS = ("counter", "online", "convenience")
_YEN = {
    "type": "integer",
    "minimum": 0,
    "maximum": MAX_FEE,
    "x-message": f"must be a whole number of yen, 0 to {MAX_FEE}",
}
_FEE_CHANNELS = {
    "type": "object",
    "additionalProperties": False,
    "minProperties": 1,
    "properties": dict.fromkeys(FEE_CHANNELS, _YEN),
}
#: Exemption (減免) codes a tenant may let its clerks grant (as ``payments.models.EXEMPTIONS``).
EXEMPTION_CODES = ("public_assistance", "public_pension", "government_office", "disaster", "other")
PAYMENT_PROVIDERS = ("fake", "stripe")
#: How a resident pays online: before anything is issued, or after a clerk fixed the fee (事後決済).
ONLINE_PAYMENT_MODES = ("prepay", "after_fee_fixed")
COUNTER_MODES = ("cash", "terminal")
#: The tenant's ``payments`` section (decision 0043): absent, fees are not collected through Madoguchi.
PAYMENTS_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["provider", "online"],
    "properties": {
        "provider": {"enum": list(PAYMENT_PROVIDERS)},
        "online": {"enum": list(ONLINE_PAYMENT_MODES)},
        "expires_after_hours": {
            "type": "integer",
            "minimum": 1,
            "maximum": 720,
            "x-message": "must be a whole number of hours, 1 to 720 (30 days)",
        },
        # システム利用料: its own line on the quote, not 手数料 revenue.
        "surcharge": {
            "type": "object",
            "additionalProperties": False,
            "required": ["amount", "label"],
            "properties": {
                "amount": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 1000,
                    "x-message": "must be a whole number of yen, 1 to 1000",
                },
                "label": TEXT,
            },
        },
        "exemptions": {"type": "array", "uniqueItems": True, "items": {"enum": list(EXEMPTION_CODES)}},
        "revenue_item": TEXT,
        "counter_modes": {"type": "array", "uniqueItems": True, "items": {"enum": list(COUNTER_MODES)}},
    },
}

_STATE_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "title"],
    "properties": {"name": _SNAKE, "title": TEXT, "description": TEXT, "terminal": {"type": "boolean"}},
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
        "title": TEXT,
        "description": TEXT,
        "required_by_law": {"type": "boolean"},
        # Four eyes: whoever last took one of the named transitions on an application may not take this one.
        "actor_differs_from": {**_NAME_LIST, "items": _SNAKE},
        # The document kind this transition's issue_document issues instead of output_document (支給認定証 on
        # certify, 保留通知書 on waitlist): a procedure may issue more than one kind of document.
        "document": _SNAKE,
    },
}
_OPTIONAL_STEP_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["title", "transitions"],
    "properties": {
        "title": TEXT,
        "description": TEXT,
        "states": {"type": "array", "items": _STATE_SCHEMA},
        "replaces": _NAME_LIST,
        "transitions": {"type": "array", "minItems": 1, "items": _TRANSITION_SCHEMA},
    },
}
WORKFLOW_SCHEMA = {
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
#: A condition on one answer of the form: ``{field: <JSON pointer>, equals: <value>}``.
_WHEN_PROPERTIES = {
    "field": {"type": "string", "pattern": POINTER_RE, "x-message": "must be a JSON pointer like /a/b"},
    "equals": {"type": ["string", "number", "boolean"]},
}
_WHEN_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["field", "equals"],
    "properties": _WHEN_PROPERTIES,
}
#: The level a procedure needs when an answer asks for more (個人番号 on a 住民票: ``card``); decision 0048.
_ASSURANCE_WHEN_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["field", "equals", "level"],
    "properties": {**_WHEN_PROPERTIES, "level": {"enum": list(IDENTITY_ASSURANCE_LEVELS)}},
}
_DOCUMENT_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["key", "title", "content_types", "max_bytes", "max_count"],
    "properties": {
        "key": _SNAKE,
        "title": TEXT,
        "description": TEXT,
        "when": _WHEN_SCHEMA,
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
SERVICE_FILE_SCHEMA = {
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
        "title": TEXT,
        "summary": TEXT,
        "legal_basis": {"type": "array", "minItems": 1, "items": TEXT},
        "eligible_applicants": {
            "type": "array",
            "minItems": 1,
            "uniqueItems": True,
            "items": {"enum": list(APPLICANT_KINDS)},
        },
        "identity_assurance": {"enum": list(IDENTITY_ASSURANCE_LEVELS)},
        "identity_assurance_when": {"type": "array", "items": _ASSURANCE_WHEN_SCHEMA},
        "fee": {
            **_range_schema(0, MAX_FEE),
            "required": ["default", "min", "max", "currency", "per"],
            "properties": {
                **_range_schema(0, MAX_FEE)["properties"],
                "currency": {"const": "JPY"},
                # persons: per copy, each started group of ``persons_per_unit`` persons is one 件 (5人単位).
                "per": {"enum": list(FEE_PER)},
                "persons_per_unit": {"type": "integer", "minimum": 1, "maximum": 100},
                # The standard's fee per channel where it differs from ``default`` (コンビニ交付 is often cheaper).
                "channels": _FEE_CHANNELS,
            },
        },
        "sla_days": _range_schema(1, 365),
        "min_monthly_work_hours": _range_schema(0, 744),
        # Childcare: how many facilities each child may rank. 30 is the most any municipality asks for (spec 1.2).
        "max_preferences": _range_schema(1, 30),
        "auto_issue": {
            "type": "object",
            "additionalProperties": False,
            "required": ["allowed", "default"],
            "properties": {"allowed": {"type": "boolean"}, "default": {"type": "boolean"}},
        },
        "required_documents": {"type": "array", "items": _DOCUMENT_SCHEMA},
        "prefill": {
            "type": "object",
            "propertyNames": {"pattern": POINTER_RE, "x-message": "must be a JSON pointer like /applicant/name"},
            "additionalProperties": {"type": "string"},
        },
        "output_document": {
            "type": ["object", "null"],
            "additionalProperties": False,
            "required": ["kind", "title"],
            "properties": {"kind": _SNAKE, "title": TEXT},
        },
        "retention": {
            "type": "object",
            "additionalProperties": False,
            "required": ["years", "basis"],
            "properties": {"years": {"type": "integer", "minimum": 1, "maximum": 150}, "basis": TEXT},
        },
        "workflow": WORKFLOW_SCHEMA,
        "tenant_may_override": {"type": "array", "uniqueItems": True, "items": {"enum": list(OVERRIDABLE_SETTINGS)}},
    },
}
#: A monthly fee in yen (保育料の月額): the national ceiling is far below this bound.
_FEE = {"type": "integer", "minimum": 0, "maximum": 200_000, "x-message": "must be a whole number of yen, 0 to 200000"}
TENANT_FILE_SCHEMA = {
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
        "name": TEXT,
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
                **TEXT["properties"],
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
                "short_name": TEXT,
            },
        },
        "contact": {
            "type": "object",
            "additionalProperties": False,
            "required": ["department", "phone", "email", "address", "hours"],
            "properties": {
                "department": TEXT,
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
                "address": TEXT,
                "hours": TEXT,
            },
        },
        # The municipality's own closed days (臨時閉庁日) beyond 土日祝 and 年末年始 (decision 0034).
        "closed_days": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["day"],
                "properties": {
                    "day": {
                        "type": "string",
                        "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
                        "x-message": "must be a date written YYYY-MM-DD, e.g. 2027-05-06",
                    },
                    "reason": {"type": "string", "maxLength": 100},
                },
            },
        },
        # The residents' data-use ledger (わたしのデータの利用記録): how long its entries are kept (default 7 years,
        # as 番号法's 情報提供等記録; docs/data-use-ledger.md).
        "data_use_ledger": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "retention_years": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 30,
                    "x-message": "must be a whole number of years, 1 to 30",
                },
            },
        },
        "issuer": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "title": {"type": "string", "minLength": 1, "maxLength": 40},
                "name": {"type": "string", "minLength": 1, "maxLength": 40},
                "seal": {
                    "type": "string",
                    "pattern": r"^[a-z0-9][a-z0-9/_-]*\.png$",
                    "x-message": "must be a .png file in the tenants folder, e.g. seals/shiomi-town.png",
                },
            },
        },
        # 保育料 (monthly childcare fee) of 0–2歳児クラス by the household's 市町村民税所得割額 (decision 0042).
        "childcare_fees": {
            "type": "object",
            "additionalProperties": False,
            "required": ["brackets"],
            "properties": {
                "brackets": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": 40,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["standard", "short"],
                        "properties": {
                            "label": {"type": "string", "minLength": 1, "maxLength": 20},
                            "below": {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": 100_000_000,
                                "x-message": "must be a whole number of yen, e.g. 48600 (所得割額 below it)",
                            },
                            "standard": _FEE,
                            "short": _FEE,
                        },
                    },
                },
            },
        },
        "payments": PAYMENTS_SCHEMA,
        # Open data (issue 20, docs/open-data.md): population for the per-1,000-residents figures, the license and
        # attribution of the published files, whether to publish at all, and the declared cost per transaction.
        "open_data": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "publish": {"type": "boolean"},
                # 住民基本台帳人口 on January 1
                "population": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 20_000_000,
                },
                "population_as_of": {
                    "type": "string",
                    "pattern": "^[0-9]{4}-01-01$",
                    "x-message": "must be the January 1 the population was counted, e.g. 2026-01-01",
                },
                # PDL-1.0: 公共データ利用規約 第1.0版 (the default)
                "license": {"enum": ["PDL-1.0", "CC-BY-4.0"]},
                "attribution": {"type": "string", "minLength": 1, "maxLength": 200},
                # childcare-round-results: publish each class's lowest placed score (when 3 or more were placed)
                "publish_lowest_placed_score": {"type": "boolean"},
                "cost_per_transaction_jpy": {
                    "oneOf": [
                        {"type": "number", "minimum": 0, "maximum": 10_000_000},
                        {
                            "type": "object",
                            "propertyNames": _KEBAB,
                            "additionalProperties": {"type": "number", "minimum": 0, "maximum": 10_000_000},
                        },
                    ],
                    "x-message": "must be yen per transaction, e.g. 850, or one per procedure key",
                },
                "national_procedure_ids": {
                    "type": "object",
                    "propertyNames": _KEBAB,
                    "additionalProperties": {"type": "string", "minLength": 1, "maxLength": 40},
                },
            },
        },
        # Sign-in with the マイナンバーカード through the platform's provider (decision 0048); off when absent.
        "card_sign_in": {
            "type": "object",
            "additionalProperties": False,
            "required": ["enabled"],
            "properties": {"enabled": {"type": "boolean"}},
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
EXTRA_QUESTION_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "title", "schema"],
    "properties": {"name": _SNAKE, "title": TEXT, "schema": {"type": "object"}},
}
#: ``x-pages``: the pages of the form in order, each with its title; every top-level field names its page with
#: ``x-page``. Portal and console build the form from these alone, so a new procedure needs no code (decision 0020).
X_PAGES_SCHEMA = {
    "type": "array",
    "minItems": 1,
    "items": {
        "type": "object",
        "additionalProperties": False,
        "required": ["name", "title"],
        "properties": {"name": _SNAKE, "title": TEXT},
    },
}

# The 2020-12 metaschema with format checking on, so a broken ``pattern`` regex is reported too.
META_VALIDATOR = Draft202012Validator(
    Draft202012Validator.META_SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER
)


def describe_error(error: ValidationError, file: str, prefix: Sequence[str | int]) -> Iterator[Problem]:
    """Turn one jsonschema error into problems that name the offending field."""
    path = [*prefix, *error.absolute_path]
    if error.validator in ("anyOf", "oneOf") and error.context:
        yield from describe_error(best_match(error.context), file, prefix)
        return
    if error.validator == "required" and isinstance(error.instance, dict):
        # jsonschema reports one error per missing key without naming it separately; duplicates are dropped later.
        for name in error.validator_value:
            if name not in error.instance:
                yield Problem(file, field_path([*path, name]), "required key is missing")
        return
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = error.schema.get("properties", {})
        patterns = error.schema.get("patternProperties", {})
        for name in error.instance:
            if name not in known and not any(re.search(pattern, name) for pattern in patterns):
                hint: str | None = f" (expected one of: {', '.join(known)})" if known else ""
                yield Problem(file, field_path([*path, name]), f"unknown key{hint}")
        return
    message = error.message
    hint = error.schema.get("x-message") if isinstance(error.schema, dict) else None
    if hint and error.validator in ("pattern", "type", "format"):
        message = hint
    if _from_property_names(error):
        path.append(error.instance)
        message = f"key {hint}" if hint else f"key {error.message}"
    yield Problem(file, field_path(path), message)


def _from_property_names(error: ValidationError) -> bool:
    """Whether the error is about a key (``propertyNames``) rather than a value: then the key is the field."""
    schema_path = list(error.absolute_schema_path)
    return any(
        part == "propertyNames" and (index == 0 or schema_path[index - 1] != "properties")
        for index, part in enumerate(schema_path)
    )


def structure_problems(
    instance: Any, schema: Mapping[str, Any], file: str, prefix: Sequence[str | int] = ()
) -> tuple[list[Problem], set[Any]]:
    """Validate ``instance`` against one of the structure schemas above.

    Returns the problems and the set of top-level keys (below ``prefix``) that have them, so that later
    checks can skip parts whose shape is wrong instead of tripping over them.
    """
    problems: list[Problem] = []
    broken: set[Any] = set()
    for error in Draft202012Validator(schema).iter_errors(instance):
        found = list(describe_error(error, file, prefix))
        problems.extend(found)
        if error.absolute_path:
            broken.add(error.absolute_path[0])
        elif error.validator == "required" and isinstance(error.instance, dict):
            broken.update(name for name in error.validator_value if name not in error.instance)
        elif error.validator != "additionalProperties":
            broken.add(None)  # the value as a whole is wrong
    return unique(problems), broken
