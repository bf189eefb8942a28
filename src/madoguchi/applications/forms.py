"""Validating application data against a procedure's JSON Schema, with errors keyed by field.

Errors are keyed by JSON pointer (``/applicant/birth_date``), the same pointers the catalog's prefill
mapping and the portal's fields use. A draft may be incomplete, so draft validation drops "required"
errors and keeps the rest (a wrong date is wrong in a draft too).

Before validation, :func:`normalize` makes what people type acceptable where the meaning is certain (decision
0035): a postal code in any common form becomes ``NNN-NNNN``, a reading typed half-width becomes full-width, a
date in 和暦 or with slashes becomes ISO, full-width digits become ASCII. The normalized value is what is stored
and shown back. Names and free text are never touched.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from jsonschema import Draft202012Validator, ValidationError

from madoguchi import jp

_MISSING = object()
#: The start of the message for a 和暦 date its era never had (平成31年5月1日).
DATE_OUTSIDE_ERA = "is not a date of that era"


def pointer(path: Any) -> str:
    return "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in path) if path else "/"


def resolve(data: Any, ptr: str, default: Any = _MISSING) -> Any:
    """The value at a JSON pointer, or ``default`` (raises KeyError without one)."""
    node = data
    for token in _tokens(ptr):
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            if default is _MISSING:
                raise KeyError(ptr)
            return default
    return node


def assign(data: dict[str, Any], ptr: str, value: Any) -> None:
    """Set the value at a JSON pointer into nested objects, creating the objects on the way."""
    tokens = _tokens(ptr)
    node = data
    for token in tokens[:-1]:
        node = node.setdefault(token, {})
    node[tokens[-1]] = value


def _tokens(ptr: str) -> list[str]:
    if not ptr.startswith("/"):
        raise ValueError(f"not a JSON pointer: {ptr!r}")
    return [t.replace("~1", "/").replace("~0", "~") for t in ptr[1:].split("/")]


def _friendly(error: ValidationError) -> str:
    v = error.validator
    if v == "enum":
        return "must be one of: " + ", ".join(str(x) for x in error.validator_value)
    if v == "type":
        return f"must be of type {error.validator_value}"
    if v == "pattern":
        return "is not in the expected format"
    if v == "format":
        if error.validator_value == "date" and isinstance(error.instance, str):
            try:
                jp.parse_date(error.instance)
            except jp.DateOutsideEra as outside:
                return f"{DATE_OUTSIDE_ERA}: {outside}"
            except ValueError:
                pass
        return f"is not a valid {error.validator_value}"
    if v == "const":
        return f"must be {error.validator_value!r}"
    return error.message


def _iter_leaf_errors(errors: Iterator[ValidationError]) -> Iterator[ValidationError]:
    for error in errors:
        # oneOf/anyOf/if-then wrap the useful errors: report those, not "is not valid under any schema".
        if error.context:
            yield from _iter_leaf_errors(iter(error.context))
        else:
            yield error


def field_errors(schema: dict[str, Any], data: Any, *, partial: bool = False) -> dict[str, list[str]]:
    """Per-field messages; empty when valid. ``partial`` ignores missing required fields (drafts)."""
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    found: dict[str, list[str]] = {}

    def add(ptr: str, message: str) -> None:
        messages = found.setdefault(ptr, [])
        if message not in messages:
            messages.append(message)

    for error in _iter_leaf_errors(validator.iter_errors(data)):
        base = list(error.absolute_path)
        if error.validator == "required":
            if partial:
                continue
            instance = error.instance if isinstance(error.instance, dict) else {}
            for name in error.validator_value:
                if name not in instance:
                    add(pointer([*base, name]), "is required")
        elif error.validator in ("additionalProperties", "unevaluatedProperties"):
            allowed = set((error.schema.get("properties") or {}).keys())
            extras = [k for k in (error.instance or {}) if k not in allowed] if isinstance(error.instance, dict) else []
            for name in extras or [""]:
                add(pointer([*base, name]) if name else pointer(base), "is not a field of this form")
        else:
            add(pointer(base), _friendly(error))
    return found


def _is_code_like(schema: Mapping[str, Any]) -> bool:
    """Fields of digits and Latin letters (postal codes, phone numbers, dates, e-mail), never names."""
    pattern = schema.get("pattern", "")
    return schema.get("format") in ("date", "email", "date-time") or "\\d" in pattern or "0-9" in pattern


def is_kana_field(schema: Mapping[str, Any]) -> bool:
    """A reading (フリガナ): its pattern allows the katakana block."""
    return "\\u30a0" in schema.get("pattern", "").lower()


def is_postal_code_field(schema: Mapping[str, Any]) -> bool:
    return schema.get("x-autocomplete") == "postal-code" or schema.get("pattern") == POSTAL_CODE_PATTERN


POSTAL_CODE_PATTERN = "^[0-9]{3}-[0-9]{4}$"


def normalize_value(schema: Mapping[str, Any], value: str) -> str:
    """One typed string as it is stored: postal codes, readings, dates and codes made canonical, names untouched.

    A value that cannot be made canonical is returned NFKC-normalized, for validation to refuse it.
    """
    if schema.get("format") == "date":
        try:
            return jp.parse_date(value).isoformat()
        except ValueError:
            return jp.normalize_input(value)
    if is_postal_code_field(schema):
        try:
            return jp.normalize_postal_code(value)
        except ValueError:
            return jp.normalize_input(value)
    if is_kana_field(schema):
        return jp.normalize_kana(value)
    if _is_code_like(schema):
        return jp.normalize_input(value)
    return value


def normalize(schema: dict[str, Any], data: Any) -> Any:
    """Every string of ``data`` as :func:`normalize_value` makes it, once, at the edge (１００－０００１ -> 100-0001,
    〒4982323 -> 498-2323, ﾔﾏﾀﾞ -> ヤマダ, 令和8年12月7日 -> 2026-12-07).

    Names and free text are left exactly as typed (外字 and ideographic spaces included): registry names hold
    characters outside JIS levels 1-2 and ideographic variation sequences that NFKC would change or drop.
    """
    if isinstance(data, dict):
        properties = schema.get("properties") or {}
        return {k: normalize(properties.get(k) or {}, v) for k, v in data.items()}
    if isinstance(data, list):
        items = schema.get("items") or {}
        return [normalize(items, v) for v in data]
    if isinstance(data, str):
        return normalize_value(schema, data)
    return data
