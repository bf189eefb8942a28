"""The answers of a procedure's JSON Schema form as text: the console's sections (with where each prefilled
answer came from) and the portal's review page (by the fields of ``schema_form``).

Titles and choice labels come from the schema's ``x-title`` / ``x-enum-titles`` in the page's language.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask_babel import get_locale
from flask_babel import gettext as _

from madoguchi.applications import forms
from madoguchi.applications.operations import REGISTRY_SOURCE
from madoguchi.web.i18n import format_date_local, localized
from madoguchi.web.schema_form import Field, schema_at


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


def _display(schema: dict[str, Any], value: Any, facilities: Mapping[str, str] | None = None) -> str:
    facilities = facilities or {}
    if schema.get("x-widget") == "facility-ranking" and isinstance(value, list):
        # Ranked: "1. さくら保育園、2. ..." by name (the code when the municipality no longer has it).
        return _list_separator().join(f"{rank}. {facilities.get(str(v), str(v))}" for rank, v in enumerate(value, 1))
    if schema.get("x-widget") == "facility" and isinstance(value, str):
        return facilities.get(value, value)
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
        return ", ".join(_display(items, v, facilities) for v in value)
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        return ", ".join(
            f"{title_of(properties.get(k, {}), k)}: {_display(properties.get(k, {}), v, facilities)}"
            for k, v in value.items()
        )
    return str(value)


def _list_separator() -> str:
    return "、" if str(get_locale() or "ja") == "ja" else ", "


def _is_rows(schema: Mapping[str, Any]) -> bool:
    return schema.get("type") == "array" and (schema.get("items") or {}).get("type") == "object"


def answer_sections(
    form_schema: dict[str, Any],
    data: dict[str, Any],
    sources: dict[str, Any],
    facilities: Mapping[str, str] | None = None,
) -> list[Section]:
    """The answers given, grouped by the form's top-level objects, in the schema's order; each row of a top-level
    list of objects (a childcare application's children, its guardians) is a section of its own ("Child 2"), a
    list inside an object labels its rows' answers ("Relative 1: Name"). Choices show their titles and facilities
    their names (``facilities``: code -> name)."""
    general = Section(_("Request"))
    sections: list[Section] = []

    def walk(schema: dict[str, Any], ptr: str, section: Section, prefix: str = "") -> None:
        for name, sub in (schema.get("properties") or {}).items():
            child = f"{ptr}/{name}"
            value = forms.resolve(data, child, None)
            if value is None:
                continue
            if sub.get("type") == "object":
                walk(sub, child, section, prefix)
            elif _is_rows(sub) and isinstance(value, list):
                for number in range(1, len(value) + 1):
                    row_prefix = f"{prefix}{title_of(sub['items'], name)} {number}: "
                    walk(sub["items"], f"{child}/{number - 1}", section, row_prefix)
            else:
                label = prefix + title_of(sub, name)
                shown = _display(sub, value, facilities)
                section.answers.append(Answer(child, label, shown, source_label(sources.get(child))))

    for name, sub in (form_schema.get("properties") or {}).items():
        value = forms.resolve(data, f"/{name}", None)
        if sub.get("type") == "object":
            section = Section(title_of(sub, name))
            walk(sub, f"/{name}", section)
            if section.answers:
                sections.append(section)
        elif _is_rows(sub) and isinstance(value, list):
            for number in range(1, len(value) + 1):
                section = Section(f"{title_of(sub['items'], name)} {number}")
                walk(sub["items"], f"/{name}/{number - 1}", section)
                if section.answers:
                    sections.append(section)
        elif value is not None:
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
    if leaf.widget == "facilities" and isinstance(value, list):
        return [f"{rank}. {labels.get(str(v), str(v))}" for rank, v in enumerate(value, 1)]
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


@dataclass(frozen=True)
class Provenance:
    """Where a prefilled answer came from: which register, as of which day (issue 20, point 5)."""

    label: str
    source: str
    field: str
    as_of: str


def provenance(form: Mapping[str, Any], prefill_sources: Mapping[str, Any]) -> list[Provenance]:
    """Each prefilled answer with its register and the day it was read, in the form's words (an application
    prefilled before the day was kept shows none)."""
    rows = []
    for pointer, source in prefill_sources.items():
        as_of = source.get("as_of") if isinstance(source, Mapping) else None
        rows.append(
            Provenance(
                label=title_of(schema_at(dict(form), pointer), pointer),
                source=source_label(dict(source) if isinstance(source, Mapping) else None),
                field=str(source.get("field", "")) if isinstance(source, Mapping) else "",
                as_of=format_date_local(as_of) if as_of else "",
            )
        )
    return rows
