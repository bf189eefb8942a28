"""HTML form input loaded through the API's marshmallow schemas, so both front doors apply one set of rules
(lengths, allowed values, normalisation) and a page only says, per field, how it words a refusal."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from flask_babel import gettext as _
from marshmallow import Schema, ValidationError, fields, validate

from madoguchi import jp

Errors = dict[str, list[str]]


def load(
    schema: Schema, values: Mapping[str, Any], messages: Mapping[str, tuple[Any, Any]]
) -> tuple[dict[str, Any] | None, Errors]:
    """``values`` (read from the form) loaded by ``schema``: (data, {}) or (None, errors per field).

    ``messages[field]`` is (the message when the field was left empty, the message when it is wrong); the second
    may be a function of the schema's messages, for a field refused for more than one reason. Errors come in the
    order of ``values``, the order of the form, so the error summary lists them as the page shows the fields.
    """
    try:
        return schema.load(values), {}
    except ValidationError as error:
        refused = error.normalized_messages()
        errors: Errors = {}
        for name in [*values, *(name for name in refused if name not in values)]:
            if name not in refused:
                continue
            when_empty, when_wrong = messages[name] if name in messages else messages["form"]
            if _blank(values.get(name)):
                errors[name] = [str(when_empty)]
            else:
                errors[name] = [str(when_wrong(refused[name]) if callable(when_wrong) else when_wrong)]
        return None, errors


def _blank(value: Any) -> bool:
    """Whether a field was left empty (spaces alone count as empty: the person typed nothing)."""
    return value is None or value == [] or (isinstance(value, str) and not value.strip())


@cache
def confirmation(name: str) -> type[Schema]:
    """The schema of a page's confirmation box ("I have checked …") named ``name``: ticked, or refused. A box sends
    its value only when ticked; any true value a checkbox may carry (true, yes, on, 1) counts."""
    return Schema.from_dict({name: fields.Boolean(required=True, validate=validate.Equal(True))}, name="Confirmation")


def date_outside_era(outside: jp.DateOutsideEra) -> str:
    """The refusal of a 和暦 date its era never had (平成31年5月1日), saying when the era ran."""
    if outside.last is None:
        first = jp.to_wareki(outside.first)
        return _("%(era)s began on %(first)s: check the era and the year.", era=outside.era, first=first)
    return _(
        "%(era)s ran from %(first)s to %(last)s: check the era and the year.",
        era=outside.era,
        first=jp.to_wareki(outside.first),
        last=jp.to_wareki(outside.last),
    )
