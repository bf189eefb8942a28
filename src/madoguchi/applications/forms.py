"""Validating application data against a procedure's JSON Schema, with errors keyed by field.

Errors are keyed by JSON pointer (``/applicant/birth_date``), the same pointers the catalog's prefill
mapping and the portal's fields use. A draft may be incomplete, so draft validation drops "required"
errors and keeps the rest (a wrong date is wrong in a draft too).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from jsonschema import Draft202012Validator, ValidationError

from madoguchi import jp

_MISSING = object()


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


def _is_code_like(schema: dict[str, Any]) -> bool:
    """Fields of digits and Latin letters (postal codes, phone numbers, dates, e-mail), never names."""
    pattern = schema.get("pattern", "")
    return schema.get("format") in ("date", "email", "date-time") or "\\d" in pattern or "0-9" in pattern


def normalize(schema: dict[str, Any], data: Any) -> Any:
    """NFKC + trim for code-like strings typed full-width (１００－０００１ -> 100-0001), once, at the edge.

    Names and free text are left exactly as typed (外字 and ideographic spaces included): registry names hold
    characters outside JIS levels 1-2 and ideographic variation sequences that NFKC would change or drop.
    """
    if isinstance(data, dict):
        properties = schema.get("properties") or {}
        return {k: normalize(properties.get(k) or {}, v) for k, v in data.items()}
    if isinstance(data, list):
        items = schema.get("items") or {}
        return [normalize(items, v) for v in data]
    if isinstance(data, str) and _is_code_like(schema):
        return jp.normalize_input(data)
    return data
