"""URL converters the surfaces share: ``<date:day>`` for a calendar day in a path (a closed day of the
municipality), so a malformed one is a 404 from routing and a view gets a ``date``."""

from __future__ import annotations

from datetime import date
from typing import Any

from werkzeug.routing import BaseConverter, ValidationError


class IsoDateConverter(BaseConverter):
    """``YYYY-MM-DD``, a real date (2027-02-30 does not match)."""

    regex = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"

    def to_python(self, value: str) -> date:
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValidationError() from None

    def to_url(self, value: Any) -> str:
        return value.isoformat() if isinstance(value, date) else str(value)


class YearMonthConverter(BaseConverter):
    """``YYYY-MM``, a month (an open-data period): 2025-13 does not match. The view gets the text."""

    regex = r"[0-9]{4}-(?:0[1-9]|1[0-2])"


def openapi_schema(_converter: IsoDateConverter) -> dict[str, str]:
    """How the OpenAPI document describes a ``<date:...>`` path parameter (flask-smorest's converter hook)."""
    return {"type": "string", "format": "date"}


def openapi_month_schema(_converter: YearMonthConverter) -> dict[str, str]:
    return {"type": "string", "pattern": "^[0-9]{4}-(0[1-9]|1[0-2])$", "example": "2026-11"}


def init_app(app: Any) -> None:
    """Register the converters (before any blueprint: a rule is compiled with the converters known then)."""
    app.url_map.converters["date"] = IsoDateConverter
    app.url_map.converters["month"] = YearMonthConverter
