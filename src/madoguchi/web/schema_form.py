"""An application form as pages of fields, built from the procedure's JSON Schema, and the way back.

The schema's ``x-pages`` lists the pages in order with their titles, and each top-level property names its
page with ``x-page`` (the stored form keeps the written order, decision 0020). Every property becomes a
``Field`` with a widget chosen from its type and ``x-widget``. Posted form values are read back into JSON
(integers, booleans, lists, rows of objects), and schema errors become short messages in the reader's language,
keyed by JSON pointer like everything else (``/applicant/phone``).

Prefilled fields (``application.prefill_sources``) are shown, never asked: they are not inputs, and the
values from the register are put back before validation.
"""

from __future__ import annotations

import copy
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from flask_babel import gettext as _
from sqlalchemy.orm import Session

from madoguchi import jp
from madoguchi.applications import drafts, forms, hooks
from madoguchi.applications import operations as applications
from madoguchi.errors import ValidationFailed
from madoguchi.registry import tax_items
from madoguchi.registry.models import Person
from madoguchi.web.form_input import date_outside_era
from madoguchi.web.i18n import localized

if TYPE_CHECKING:  # annotations only
    from madoguchi.applications.models import Application

Options = list[tuple[str, str]]

_LEAF_WIDGETS = {"textarea", "date", "month", "tel"}


def _properties(schema: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """An object's properties in the order the form author wrote them (the stored form keeps it, see 0020)."""
    return list((schema.get("properties") or {}).items())


@dataclass
class Field:
    pointer: str
    schema: dict[str, Any]
    widget: str
    required: bool = False
    prefilled: bool = False
    options: Options = field(default_factory=list)
    children: list[Field] = field(default_factory=list)
    #: For a row of a list of objects: its 1-based number ("Guardian 2").
    row: int | None = None
    #: What the municipality's data adds to the hint (the 1月1日 rule for someone who moved here).
    note: str = ""

    @property
    def id(self) -> str:
        return "f" + re.sub(r"[^A-Za-z0-9_-]", "-", self.pointer)

    @property
    def name(self) -> str:
        return self.pointer

    @property
    def label(self) -> str:
        text = localized(self.schema.get("x-title") or self.schema.get("title"))
        return f"{text} {self.row}" if self.row else text

    @property
    def hint(self) -> str | None:
        hint = localized(self.schema.get("x-description")) if self.schema.get("x-description") else ""
        example = self.schema.get("x-placeholder")
        if example:
            hint = f"{hint} {_('For example: %(example)s', example=example)}".strip()
        if self.note:
            hint = f"{hint} {self.note}".strip()
        return hint or None

    @property
    def is_group(self) -> bool:
        return self.widget in ("group", "rows")

    @property
    def unit(self) -> str | None:
        return self.schema.get("x-unit")

    @property
    def anchor_field(self) -> Field:
        """The input the error summary links to: the field, or the first input inside a group."""
        if self.is_group:
            for child in self.children:
                if not child.prefilled:
                    return child.anchor_field
        return self

    @property
    def anchor(self) -> str:
        return self.anchor_field.id

    def leaves(self) -> list[Field]:
        if not self.is_group:
            return [self]
        return [leaf for child in self.children for leaf in child.leaves()]

    def all_prefilled(self) -> bool:
        return all(leaf.prefilled for leaf in self.leaves())


@dataclass
class Page:
    key: str
    number: int
    title: str
    fields: list[Field]

    def leaves(self) -> list[Field]:
        return [leaf for f in self.fields for leaf in f.leaves()]

    @property
    def fills_from_register(self) -> bool:
        """Whether a household-member picker on this page fills its block from the register (each child)."""
        return any(leaf.schema.get("x-prefill") for leaf in self.leaves() if leaf.options)

    def owns(self, pointer: str) -> bool:
        return any(pointer == f.pointer or pointer.startswith(f.pointer + "/") for f in self.fields)

    def field_for(self, pointer: str) -> Field | None:
        """The deepest field on this page at or above ``pointer``."""
        best: Field | None = None
        stack = list(self.fields)
        while stack:
            node = stack.pop()
            if pointer == node.pointer or pointer.startswith(node.pointer + "/"):
                if best is None or len(node.pointer) > len(best.pointer):
                    best = node
                stack.extend(node.children)
        return best

    def anchor_for(self, pointer: str, id_of: Callable[[Field], str] = lambda field: field.id) -> str:
        """The id of the input an error at ``pointer`` is shown beside (``form`` for the form as a whole)."""
        best = self.field_for(pointer)
        return id_of(best.anchor_field) if best else "form"


@dataclass
class Choices:
    """Options that come from the municipality's data rather than the schema."""

    household_members: Options = field(default_factory=list)
    facilities: Options = field(default_factory=list)
    #: The fiscal years the register has a tax assessment of the applicant for (None: not known, every year
    #: since the form's minimum is offered and the answer is checked when it is saved), and why some are not.
    fiscal_years: list[int] | None = None
    fiscal_year_note: str = ""


def household_member_options(members: Iterable[Person]) -> Options:
    """The household-member picker's options: name and 続柄, a member removed from the register marked as such
    (they can be picked for a copy of the 除票, not of the 住民票)."""
    options = []
    for member in members:
        label = f"{member.full_name}（{member.relation_to_head}）" if member.relation_to_head else member.full_name
        options.append((member.resident_code, f"{label}［{_('removed record')}］" if member.is_removed else label))
    return options


def _enum_options(schema: Mapping[str, Any]) -> Options:
    titles = schema.get("x-enum-titles") or {}
    return [(str(v), localized(titles.get(str(v))) or str(v)) for v in schema.get("enum", [])]


def tax_year_title(year: int) -> str:
    """A fiscal year of inhabitant tax as certificates name it: 令和7年度（令和6年中所得） / FY2025 (income of 2024)."""
    income_year = jp.income_year_for_fiscal_year(year)
    return localized({"ja": jp.tax_year_label_ja(year), "en": f"FY{year} (income of {income_year})"})


def tax_year_options(years: list[int]) -> Options:
    """The given fiscal years, newest first, as a certificate names them."""
    return [(str(year), tax_year_title(year)) for year in sorted(years, reverse=True)]


def fiscal_year_options(minimum: int, today: date | None = None) -> Options:
    """Every fiscal year a certificate can be asked for, newest first (when the applicant's years are not known)."""
    newest = jp.fiscal_year_of(today or jp.today())
    return tax_year_options(list(range(minimum, newest + 1)))


def tax_year_note(years: list[int], became_resident_on: date | None, today: date | None = None) -> str:
    """Why years are missing from the list: no assessment at all, or (the 1月1日 rule) the person lived elsewhere
    on 1 January of the recent ones; empty when nothing needs saying."""
    notes = []
    if not years:
        notes.append(_("This municipality has no inhabitant tax assessment for you."))
    if became_resident_on is not None:
        elsewhere = tax_items.latest_year_assessed_elsewhere(became_resident_on)
        if elsewhere >= jp.fiscal_year_of(today or jp.today()) - RECENT_YEARS:
            notes.append(
                _(
                    "You became a resident here on %(since)s. The tax of a fiscal year is assessed by the municipality"
                    " where you lived on 1 January of it: for %(year)s and earlier, ask the municipality where you"
                    " lived then.",
                    since=_date_text(became_resident_on),
                    year=_fiscal_year_text(elsewhere),
                )
            )
    return " ".join(notes)


#: How far back the portal explains the 1月1日 rule to someone who moved here (certificates are asked for the
#: last few years).
RECENT_YEARS = 5


def _date_text(day: date) -> str:
    return localized({"ja": jp.to_wareki(day), "en": day.isoformat()})


def _fiscal_year_text(year: int) -> str:
    return localized({"ja": jp.fiscal_year_label_ja(year), "en": f"FY{year}"})


def _node(pointer: str, schema: dict[str, Any], required: bool, prefilled: set[str], choices: Choices) -> Field:
    kind = schema.get("type")
    widget = schema.get("x-widget")
    if kind == "object":
        needed = set(schema.get("required") or [])
        children = [
            _node(f"{pointer}/{name}", sub, name in needed, prefilled, choices) for name, sub in _properties(schema)
        ]
        node = Field(pointer, schema, "group", required, children=children)
        node.prefilled = bool(children) and all(c.prefilled for c in children)
        return node
    if kind == "array":
        items = schema.get("items") or {}
        if items.get("type") == "object":
            rows = [
                _node(f"{pointer}/{i}", {**items, "x-title": schema.get("x-title")}, False, prefilled, choices)
                for i in range(int(schema.get("maxItems") or 2))
            ]
            for number, row in enumerate(rows, start=1):
                row.row = number
            return Field(pointer, schema, "rows", required, children=rows)
        if widget == "facility-ranking":
            return Field(pointer, schema, "facilities", required, options=choices.facilities)
        if widget == "household-member-picker":
            return Field(pointer, schema, "members", required, options=choices.household_members)
        return Field(pointer, schema, "checkboxes", required, options=_enum_options(items))
    if pointer in prefilled:
        return Field(pointer, schema, "text", required, prefilled=True)
    if kind == "boolean":
        return Field(pointer, schema, "checkbox", required)
    if kind == "integer":
        if widget == "fiscal-year":
            years = choices.fiscal_years
            options = (
                tax_year_options(years) if years is not None else fiscal_year_options(int(schema.get("minimum", 2019)))
            )
            return Field(pointer, schema, "select", required, options=options, note=choices.fiscal_year_note)
        return Field(pointer, schema, "number", required)
    if "enum" in schema:
        return Field(
            pointer, schema, "radio" if widget == "radio" else "select", required, options=_enum_options(schema)
        )
    if widget == "household-member-picker":
        return Field(pointer, schema, "select", required, options=choices.household_members)
    if widget == "facility":
        return Field(pointer, schema, "select", required, options=choices.facilities)
    if schema.get("format") == "date":
        return Field(pointer, schema, "date", required)
    return Field(pointer, schema, widget if widget in _LEAF_WIDGETS else "text", required)


def pages(form: dict[str, Any], prefill_sources: Mapping[str, Any], choices: Choices | None = None) -> list[Page]:
    """The form's pages in the order and with the titles of its ``x-pages``; each top-level field is on the page
    its ``x-page`` names, in the order the form lists them. A form without ``x-pages`` is one page."""
    choices = choices or Choices()
    prefilled = set(prefill_sources)
    needed = set(form.get("required") or [])
    declared = form.get("x-pages") or [{"name": None, "title": form.get("x-title") or form.get("title")}]
    result = []
    for number, page in enumerate(declared, start=1):
        fields = [
            _node(f"/{name}", schema, name in needed, prefilled, choices)
            for name, schema in _properties(form)
            if page["name"] is None or schema.get("x-page") == page["name"]
        ]
        result.append(Page(page["name"] or "main", number, localized(page["title"]), fields))
    return result


# --- Values shown in inputs -------------------------------------------------------------------------


def _raw(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else ""
    if isinstance(value, list):
        return [str(v) for v in value]
    return "" if value is None else str(value)


def values_from_data(page: Page, data: Any) -> dict[str, Any]:
    """Pointer -> what each input of ``page`` shows for the saved ``data``."""
    return {leaf.pointer: _raw(forms.resolve(data, leaf.pointer, None)) for leaf in page.leaves()}


def values_from_form(page: Page, posted: Any) -> dict[str, Any]:
    """Pointer -> what the resident posted, to show it again beside the errors, normalized as it would be stored
    (〒4982323 shows as 498-2323, ﾔﾏﾀﾞ as ヤマダ), so the page shows what the answer became."""
    values: dict[str, Any] = {}
    for leaf in page.leaves():
        if leaf.widget in ("facilities", "members", "checkboxes"):
            values[leaf.pointer] = posted.getlist(leaf.name)
        else:
            text = str(posted.get(leaf.name, ""))
            values[leaf.pointer] = forms.normalize_value(leaf.schema, text.strip()) if text.strip() else text
    return values


# --- Reading a posted page back into JSON --------------------------------------------------------------


def _text(posted: Any, name: str) -> str:
    return str(posted.get(name, "")).strip()


def _read_leaf(leaf: Field, posted: Any, errors: dict[str, list[str]]) -> tuple[bool, Any]:
    """(given, value) for one input."""
    if leaf.widget == "checkbox":
        return True, bool(posted.get(leaf.name))
    if leaf.widget in ("facilities", "members", "checkboxes"):
        chosen = [str(v).strip() for v in posted.getlist(leaf.name) if str(v).strip()]
        return bool(chosen), chosen
    text = _text(posted, leaf.name)
    if not text:
        return False, None
    if leaf.schema.get("type") == "integer":
        try:
            return True, int(unicodedata.normalize("NFKC", text).replace(",", ""))
        except ValueError:
            errors.setdefault(leaf.pointer, []).append(_("Enter a whole number, like 3."))
            return False, None
    return True, text


def _read_rows(rows: Field, posted: Any, errors: dict[str, list[str]], row_maps: dict[str, list[int]]) -> list[Any]:
    """The rows of a list of objects that have answers (empty blocks left out), remembering which were kept."""
    found, kept = [], []
    for index, row in enumerate(rows.children):
        answers = _read_group(row, posted, errors, row_maps)
        if _has_answers(answers):
            found.append(answers)
            kept.append(index)
    row_maps[rows.pointer] = kept
    return found


def _read_group(
    group: Field, posted: Any, errors: dict[str, list[str]], row_maps: dict[str, list[int]]
) -> dict[str, Any]:
    base = len(group.pointer)
    out: dict[str, Any] = {}
    for child in group.children:
        if child.prefilled:
            continue
        if child.widget == "group":
            nested = _read_group(child, posted, errors, row_maps)
            if nested:
                out[child.pointer[base + 1 :]] = nested
            continue
        if child.widget == "rows":
            # A list inside a group (the household's 同居親族): kept only when some row is answered.
            found = _read_rows(child, posted, errors, row_maps)
            if found:
                out[child.pointer[base + 1 :]] = found
            continue
        given, value = _read_leaf(child, posted, errors)
        if given:
            out[child.pointer[base + 1 :]] = value
    return out


def _has_answers(row: Mapping[str, Any]) -> bool:
    """Whether a block was filled in: an unticked box, or a group of them (a child's health), is no answer."""
    return any(_has_answers(v) if isinstance(v, dict) else v not in (None, "", False, []) for v in row.values())


@dataclass
class ReadPage:
    data: dict[str, Any]
    errors: dict[str, list[str]]
    #: For lists of rows: (pointer of the list, indices of the rows kept), to map errors back to the inputs.
    row_maps: dict[str, list[int]]

    def input_pointer(self, pointer: str) -> str:
        """An error pointer in the saved data -> the pointer of the input the resident typed it in. Lists inside
        rows are keyed by their input pointer, so the outer list is mapped first (shortest pointer first)."""
        for list_pointer in sorted(self.row_maps, key=len):
            kept = self.row_maps[list_pointer]
            prefix = list_pointer + "/"
            if pointer.startswith(prefix):
                index, _sep, rest = pointer[len(prefix) :].partition("/")
                if index.isdigit() and int(index) < len(kept):
                    pointer = f"{prefix}{kept[int(index)]}" + (f"/{rest}" if rest else "")
        return pointer


def read_page(page: Page, posted: Any, saved: dict[str, Any], prefill_sources: Mapping[str, Any]) -> ReadPage:
    """The draft's data with this page's answers replaced by the posted ones (prefilled values kept)."""
    data = copy.deepcopy(saved)
    errors: dict[str, list[str]] = {}
    row_maps: dict[str, list[int]] = {}
    for top in page.fields:
        name = top.pointer[1:]
        data.pop(name, None)
        if top.widget == "group":
            value = _read_group(top, posted, errors, row_maps)
            if value:
                data[name] = value
        elif top.widget == "rows":
            rows = _read_rows(top, posted, errors, row_maps)
            if rows:
                data[name] = rows
        elif not top.prefilled:
            given, value = _read_leaf(top, posted, errors)
            if given:
                data[name] = value
    for pointer in prefill_sources:
        registered = forms.resolve(saved, pointer, None)
        if registered is not None:
            forms.assign(data, pointer, registered)
    return ReadPage(data, errors, row_maps)


# --- Messages -------------------------------------------------------------------------------------------


def schema_at(form: Mapping[str, Any], pointer: str) -> dict[str, Any]:
    node: Any = form
    for token in [t for t in pointer.split("/")[1:] if t]:
        if token.isdigit() and node.get("type") == "array":
            node = node.get("items") or {}
        else:
            node = (node.get("properties") or {}).get(token) or {}
    return dict(node)


def friendly(form: Mapping[str, Any], pointer: str, message: str, value: Any = None) -> str:
    """A message from ``applications.forms`` (English, technical) as a resident should read it; ``value`` is the
    answer refused, where the message depends on it (a 和暦 date its era never had)."""
    if isinstance(message, hooks.Worded):
        return str(message)  # a cross-check's message, already worded for the reader
    schema = schema_at(form, pointer)
    if message == drafts.NOT_IN_HOUSEHOLD:
        return _("Choose a member of your household from the list.")
    if message.startswith(forms.DATE_OUTSIDE_ERA) and isinstance(value, str):
        try:
            jp.parse_date(value)
        except jp.DateOutsideEra as outside:
            return date_outside_era(outside)
        except ValueError:
            pass
    kind = schema.get("type")
    if message == "is required":
        if "enum" in schema or kind in ("boolean", "array") or schema.get("x-widget") == "fiscal-year":
            return _("Choose an answer.")
        return _("Enter this.")
    if "resident register" in message:
        return _("This comes from your resident record and cannot be changed here.")
    if message.startswith("must be one of") or (message.startswith("must be ") and "type" not in message):
        return _("This answer is not possible with your other answers: choose another.")
    if "non-unique" in message:
        return _("Choose each one only once.")
    if message == "is not a valid date" or message.startswith(forms.DATE_OUTSIDE_ERA):
        return _("Enter a real date, like 2026-04-01 or 令和8年4月1日.")
    if message == "is not in the expected format":
        if schema.get("x-placeholder"):
            return _("Check the format, like %(example)s.", example=schema["x-placeholder"])
        if schema.get("x-widget") == "month":
            return _("Enter a year and month, like 2027-04.")
        if forms.is_kana_field(schema):
            return _("Enter in full-width katakana (全角カタカナ) or hiragana.")
        return _("Check the format.")
    if "is greater than" in message or "is less than" in message:
        if "maximum" in schema and "minimum" in schema:
            return _("Enter a number from %(min)d to %(max)d.", min=schema["minimum"], max=schema["maximum"])
        if "minimum" in schema:
            return _("Enter %(min)d or more.", min=schema["minimum"])
        return _("Enter %(max)d or less.", max=schema["maximum"])
    if "too long" in message:
        if kind == "array":
            return _("Choose at most %(max)d.", max=schema.get("maxItems", 0))
        return _("Use at most %(max)d characters.", max=schema.get("maxLength", 0))
    if "too short" in message or "non-empty" in message:
        return _("Choose an answer.") if kind == "array" else _("Enter this.")
    if message.startswith("must be of type"):
        return _("Enter a whole number, like 3.") if kind == "integer" else _("Check this answer.")
    if message == "is not a field of this form":
        return _("This is not a question of this form.")
    return _register_words(message, clerk=False) or _("Check this answer.")


def _pattern(template: str) -> re.Pattern[str]:
    """A regular expression matching ``template`` filled in: ``{fiscal_year}`` a year, ``{since}`` an ISO date."""
    fields = {"fiscal_year": "(?P<fiscal_year>[0-9]{4})", "since": "(?P<since>[0-9]{4}-[0-9]{2}-[0-9]{2})"}
    parts = re.split(r"\{(\w+)\}", template)
    seen: set[str] = set()
    pattern = ""
    for i, part in enumerate(parts):
        if i % 2 == 0:
            pattern += re.escape(part)
        else:
            pattern += f"(?P={part})" if part in seen else fields[part]
            seen.add(part)
    return re.compile(f"^{pattern}$")


_REGISTER_PATTERNS = {
    "no_assessment": _pattern(tax_items.NO_ASSESSMENT),
    "lived_elsewhere": _pattern(tax_items.LIVED_ELSEWHERE),
    "taxed": _pattern(tax_items.TAXED_THAT_YEAR),
}


def _register_words(message: str, *, clerk: bool) -> str | None:
    """What the register said of an answer (``registry.tax_items``) in the reader's language: to the resident
    ("you"), or to the clerk (the person in the third person). None for any other message."""
    found = next(((kind, m) for kind, pattern in _REGISTER_PATTERNS.items() if (m := pattern.match(message))), None)
    if found is None:
        return None
    kind, match = found
    year = int(match["fiscal_year"])
    since = match.groupdict().get("since")
    params = {
        "year": _fiscal_year_text(year),
        "day": _date_text(date(year, 1, 1)),
        "since": _date_text(date.fromisoformat(since)) if since else "",
    }
    words = {
        "no_assessment": (
            _(
                "There is no tax assessment of %(year)s for you: choose a year from the list. A new fiscal year's"
                " assessments are usually ready in June.",
                **params,
            ),
            _("The register has no tax assessment of %(year)s for this person.", **params),
        ),
        "lived_elsewhere": (
            _(
                "On %(day)s you lived in another municipality (you became a resident here on %(since)s). The tax of"
                " %(year)s was assessed by the municipality where you lived on that day: ask that municipality for"
                " this certificate.",
                **params,
            ),
            _(
                "The person lived in another municipality on %(day)s (resident here since %(since)s): that"
                " municipality assessed the tax of %(year)s.",
                **params,
            ),
        ),
        "taxed": (
            _(
                "You were taxed in %(year)s, so a certificate of non-taxation cannot be issued: choose a tax"
                " certificate or an income certificate.",
                **params,
            ),
            _("The person was taxed in %(year)s: a certificate of non-taxation cannot be issued.", **params),
        ),
    }
    return words[kind][1 if clerk else 0]


def register_reason(message: str) -> str | None:
    """Why the register cannot support a certificate, worded for the clerk, or None for another message."""
    return _register_words(message, clerk=True)


def fill_picked(
    session: Session,
    application: Application,
    page: Page,
    read: ReadPage,
    id_of: Callable[[Field], str] = lambda field: field.id,
) -> dict[str, list[str]]:
    """Rows of ``read`` whose household-member picker is set get that member's registered name, reading, date of
    birth and sex before the page is checked (so a picked child needs nothing typed); errors, keyed by input, for a
    pick outside the household."""
    try:
        applications.fill_picked(session, application, read.data)
    except ValidationFailed as refused:
        form = application.settings_snapshot["form"]
        found: dict[str, list[str]] = {}
        for pointer, messages in (refused.errors or {}).items():
            anchor = page.anchor_for(read.input_pointer(pointer), id_of)
            found.setdefault(anchor, []).extend(friendly(form, pointer, m) for m in messages)
        return found
    return {}


def page_errors(
    form: dict[str, Any],
    page: Page,
    read: ReadPage,
    *,
    complete: bool,
    id_of: Callable[[Field], str] = lambda field: field.id,
    picked: Mapping[str, list[str]] | None = None,
) -> dict[str, list[str]]:
    """Errors of ``page`` (keyed by the id of the input, ``id_of``), conversion errors first (and ``picked``, those
    of :func:`fill_picked`); ``complete`` also asks for the page's required answers (Continue), without it only
    wrong answers count (Save for later)."""
    found: dict[str, list[str]] = {}
    for pointer, messages in read.errors.items():
        found.setdefault(page.anchor_for(pointer, id_of), []).extend(messages)
    for anchor, messages in (picked or {}).items():
        found.setdefault(anchor, []).extend(messages)
    checked = forms.field_errors(form, forms.normalize(form, read.data), partial=not complete)
    for pointer, messages in checked.items():
        if not page.owns(pointer):
            continue
        anchor = page.anchor_for(read.input_pointer(pointer), id_of)
        if anchor in found and any(p for p in read.errors if page.anchor_for(p, id_of) == anchor):
            continue  # the conversion error already says it
        for message in messages:
            text = friendly(form, pointer, message, forms.resolve(read.data, pointer, None))
            if text not in found.setdefault(anchor, []):
                found[anchor].append(text)
    return found


# --- The counter form: the questions the register did not answer, all on one page ----------------------------


def counter_id(leaf: Field) -> str:
    """The console's id for an input: ``/requester/relationship`` -> ``field-requester-relationship``."""
    return "field" + leaf.pointer.replace("/", "-").replace("_", "-")


@dataclass
class Input:
    """One input of the counter form; ``kind``: text, textarea, date, number, radio, select, checkbox(es), ranking
    (``size`` selects in order)."""

    pointer: str
    id: str
    label: str
    kind: str
    hint: str = ""
    options: Options = field(default_factory=list)
    value: Any = None
    required: bool = False
    #: The titles of the groups the input is in ("Who is requesting / Agent").
    group: str = ""
    #: How many choices a ranking offers (the tenant's maximum).
    size: int = 0


_COUNTER_KINDS = {"checkbox", "textarea", "number", "date", "radio", "select"}
_LISTS = {"checkboxes", "members", "facilities"}


def _counter_kind(leaf: Field) -> str:
    if "enum" in leaf.schema and leaf.widget in ("radio", "select"):
        # At the counter the clerk reads the choices out: a few are shown at once, a long list is a select.
        return "radio" if leaf.widget == "radio" or len(leaf.options) <= 4 else "select"
    if leaf.widget == "facilities":
        return "ranking"  # ranked: one select per choice, as on the portal
    if leaf.widget in _LISTS:
        return "checkboxes"
    return leaf.widget if leaf.widget in _COUNTER_KINDS else "text"


def counter_page(form: dict[str, Any], prefill_sources: Mapping[str, Any], choices: Choices | None = None) -> Page:
    """Every page's questions on one page, in the order of the pages: the counter asks them in one sitting."""
    every = pages(form, prefill_sources, choices)
    return Page("counter", 1, localized(form.get("x-title")), [top for page in every for top in page.fields])


def counter_inputs(page: Page, data: Any, posted: Mapping[str, Any] | None = None) -> list[Input]:
    """The inputs of the counter ``page`` (prefilled fields left out) showing ``data``, or what was ``posted``
    (``values_from_form``) when it is shown again beside its errors."""
    found: list[Input] = []

    def walk(nodes: list[Field], required: bool, groups: list[str]) -> None:
        for node in nodes:
            if node.prefilled:
                continue
            needed = required and node.required
            if node.is_group:
                walk(node.children, needed, [*groups, node.label])
                continue
            value = forms.resolve(data, node.pointer, node.schema.get("default"))
            if posted is not None:
                value = posted.get(node.pointer)
            if node.widget in _LISTS:
                value = value or []
            kind = _counter_kind(node)
            hint = node.hint or ""
            found.append(Input(node.pointer, counter_id(node), node.label, kind, hint, node.options, value, needed))
            found[-1].group = " / ".join(groups)
            found[-1].size = int(node.schema.get("maxItems") or 0)

    walk(page.fields, True, [])
    return found


def refusal_errors(
    form: Mapping[str, Any], page: Page, errors: Mapping[str, list[str]], id_of: Callable[[Field], str]
) -> dict[str, list[str]]:
    """Errors an operation refused the answers with (keyed by JSON pointer), keyed by the input they belong to."""
    found: dict[str, list[str]] = {}
    for pointer, messages in errors.items():
        anchor = page.anchor_for(pointer, id_of) if page.owns(pointer) else "form"
        found.setdefault(anchor, []).extend(friendly(form, pointer, m) for m in messages)
    return found
