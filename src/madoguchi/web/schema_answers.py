"""The answers of a procedure's JSON Schema form as text: the console's sections (with where each prefilled
answer came from) and the portal's review page (by the fields of ``schema_form``).

Titles and choice labels come from the schema's ``x-title`` / ``x-enum-titles`` in the page's language.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _

from madoguchi.applications import forms
from madoguchi.applications.operations import REGISTRY_SOURCE
from madoguchi.web.i18n import format_date_local, localized
from madoguchi.web.schema_form import Field


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


# --- The portal's review page: answers by the fields of its pages ----------------------------------------


def display(leaf: Field, value: Any) -> str | list[str]:
    """A saved answer as text: choice titles, 和暦/ISO dates, Yes/No, lists."""
    if value is None or value == "" or value == []:
        return ""
    if leaf.widget == "checkbox":
        return _("Yes") if value else _("No")
    labels = dict(leaf.options)
    if isinstance(value, list):
        return [labels.get(str(v), str(v)) for v in value]
    if leaf.widget == "date" or leaf.schema.get("format") == "date":
        try:
            return format_date_local(str(value))
        except ValueError:
            return str(value)
    if labels:
        return labels.get(str(value), str(value))
    unit = leaf.unit
    return f"{value} {unit}" if unit else str(value)


def answered(node: Field, data: Any) -> bool:
    if node.is_group:
        return any(answered(child, data) for child in node.children)
    value = forms.resolve(data, node.pointer, None)
    return value not in (None, "", [], False)
