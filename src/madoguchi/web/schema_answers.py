"""A procedure's JSON Schema form as the console shows it: answers read-only (with their source) and,
for counter filing, the fields the register did not fill, as plain HTML inputs.

Titles and choice labels come from the schema's ``x-title`` / ``x-enum-titles`` in the page's language.
Fields are named by their JSON pointer (``/requester/relationship``) and identified in the page by
``field-requester-relationship``, the id the error summary links to.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict

from madoguchi.applications import forms
from madoguchi.applications.operations import REGISTRY_SOURCE
from madoguchi.web.i18n import format_date_local, localized


def field_id(ptr: str) -> str:
    return "field" + ptr.replace("/", "-").replace("_", "-")


def title_of(schema: dict[str, Any], fallback: str = "") -> str:
    return localized(schema.get("x-title")) or schema.get("title") or fallback


def source_label(source: dict[str, Any] | None) -> str:
    if not source:
        return ""
    if source.get("source") == REGISTRY_SOURCE:
        return _("From the resident register")
    return _("Prefilled")


@dataclass
class Answer:
    pointer: str
    label: str
    value: str
    source: str = ""


@dataclass
class Section:
    title: str
    answers: list[Answer] = field(default_factory=list)


def _display(schema: dict[str, Any], value: Any) -> str:
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if "enum" in schema and isinstance(value, str):
        return localized((schema.get("x-enum-titles") or {}).get(value)) or value
    if schema.get("format") == "date" and isinstance(value, str):
        try:
            return format_date_local(value)
        except ValueError:
            return value
    if isinstance(value, list):
        items = schema.get("items") or {}
        return ", ".join(_display(items, v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{title_of((schema.get('properties') or {}).get(k, {}), k)}: {v}" for k, v in value.items())
    return str(value)


def answer_sections(form_schema: dict[str, Any], data: dict[str, Any], sources: dict[str, Any]) -> list[Section]:
    """The answers given, grouped by the form's top-level objects, in the schema's order."""
    general = Section(_("Request"))
    sections: list[Section] = []

    def walk(schema: dict[str, Any], ptr: str, section: Section) -> None:
        for name, sub in (schema.get("properties") or {}).items():
            child = f"{ptr}/{name}"
            value = forms.resolve(data, child, None)
            if value is None:
                continue
            if sub.get("type") == "object":
                walk(sub, child, section)
            else:
                label = title_of(sub, name)
                section.answers.append(Answer(child, label, _display(sub, value), source_label(sources.get(child))))

    for name, sub in (form_schema.get("properties") or {}).items():
        if sub.get("type") == "object":
            section = Section(title_of(sub, name))
            walk(sub, f"/{name}", section)
            if section.answers:
                sections.append(section)
        elif forms.resolve(data, f"/{name}", None) is not None:
            walk({"properties": {name: sub}}, "", general)
    return [*sections, general] if general.answers else sections


# ------------------------------------------------------------------------------------- counter inputs


@dataclass
class Input:
    """One input of the counter form; ``kind``: text, textarea, date, number, radio, select, checkbox(es)."""

    pointer: str
    id: str
    label: str
    kind: str
    hint: str = ""
    options: list[tuple[str, str]] = field(default_factory=list)
    value: Any = None
    required: bool = False
    group: str = ""


def supports(form_schema: dict[str, Any]) -> bool:
    """Whether these plain inputs can render the form (lists of objects, e.g. guardians, they cannot)."""
    for _ptr, schema, _required in _leaves(form_schema):
        if schema.get("type") == "array" and (schema.get("items") or {}).get("type") == "object":
            return False
    return True


def _leaves(schema: dict[str, Any], ptr: str = "", required: bool = True) -> Iterator[tuple[str, dict[str, Any], bool]]:
    needed = set(schema.get("required") or ())
    for name, sub in (schema.get("properties") or {}).items():
        child = f"{ptr}/{name}"
        if sub.get("type") == "object":
            yield from _leaves(sub, child, required and name in needed)
        else:
            yield child, sub, required and name in needed


def _group_title(form_schema: dict[str, Any], ptr: str) -> str:
    parts = ptr.strip("/").split("/")[:-1]
    node, titles = form_schema, []
    for part in parts:
        node = (node.get("properties") or {}).get(part) or {}
        titles.append(title_of(node, part))
    return " / ".join(titles)


def inputs(
    form_schema: dict[str, Any], data: dict[str, Any], sources: dict[str, Any], household: list[tuple[str, str]]
) -> list[Input]:
    """Inputs for every field the register did not fill; ``household`` is (resident code, name) pairs."""
    found: list[Input] = []
    for ptr, schema, required in _leaves(form_schema):
        if ptr in sources:
            continue
        value = forms.resolve(data, ptr, schema.get("default"))
        hint = localized(schema.get("x-description"))
        entry = Input(ptr, field_id(ptr), title_of(schema, ptr), "text", hint, value=value, required=required)
        entry.group = _group_title(form_schema, ptr)
        titles = schema.get("x-enum-titles") or {}
        if "enum" in schema:
            entry.options = [(str(v), localized(titles.get(v)) or str(v)) for v in schema["enum"]]
            entry.kind = "radio" if schema.get("x-widget") == "radio" or len(schema["enum"]) <= 4 else "select"
        elif schema.get("type") == "boolean":
            entry.kind = "checkbox"
        elif schema.get("type") == "integer":
            entry.kind = "number"
        elif schema.get("type") == "array":
            entry.kind = "checkboxes"
            entry.options = household
            entry.value = value or []
        elif schema.get("format") == "date":
            entry.kind = "date"
        elif schema.get("x-widget") == "textarea":
            entry.kind = "textarea"
        found.append(entry)
    return found


def parse(form_schema: dict[str, Any], sources: dict[str, Any], posted: MultiDict[str, str]) -> dict[str, Any]:
    """The answers posted for the counter form's inputs, as form data (empty inputs left out)."""
    data: dict[str, Any] = {}
    for ptr, schema, _required in _leaves(form_schema):
        if ptr in sources:
            continue
        kind = schema.get("type")
        if kind == "boolean":
            forms.assign(data, ptr, posted.get(ptr) == "true")
            continue
        if kind == "array":
            chosen = [v for v in posted.getlist(ptr) if v]
            if chosen:
                forms.assign(data, ptr, chosen)
            continue
        raw = (posted.get(ptr) or "").strip()
        if not raw:
            continue
        if kind == "integer":
            try:
                forms.assign(data, ptr, int(raw))
            except ValueError:
                forms.assign(data, ptr, raw)  # the schema check then says "must be of type integer"
        else:
            forms.assign(data, ptr, raw)
    return data


def field_errors_by_id(errors: dict[str, list[str]]) -> dict[str, list[str]]:
    """Errors keyed by JSON pointer (from the operations) re-keyed by the id of the field in the page."""
    return {("form" if ptr in ("", "/") else field_id(ptr)): list(messages) for ptr, messages in errors.items()}
