"""Finding a person in the resident register at the counter: by kana, name, date of birth or resident code.

Names and readings are matched folded (異体字, variation selectors, ひらがな/カタカナ, half-width: decision 0035) by the
registry's repository; the date of birth may be typed in 和暦 (S60.4.2) or 西暦."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask_babel import lazy_gettext
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from madoguchi import jp
from madoguchi.registry import repository as registry
from madoguchi.web.form_input import date_outside_era

if TYPE_CHECKING:  # annotations only
    from madoguchi.registry.models import Person

MAX_RESULTS = 50


@dataclass
class PersonQuery:
    name_kana: str = ""
    name: str = ""
    birth_date: str = ""
    resident_code: str = ""

    @classmethod
    def from_args(cls, args: MultiDict[str, str]) -> PersonQuery:
        return cls(
            name_kana=args.get("name_kana", "").strip(),
            name=args.get("name", "").strip(),
            birth_date=jp.normalize_input(args.get("birth_date", "")).strip(),
            resident_code=jp.normalize_input(args.get("resident_code", "")).strip(),
        )

    def problems(self) -> dict[str, list[object]]:
        """Field id -> messages; empty when the query can run."""
        found: dict[str, list[object]] = {}
        if not (self.name_kana or self.name or self.birth_date or self.resident_code):
            found["name_kana"] = [
                lazy_gettext("Enter at least one of these: name in kana, name, date of birth, resident code.")
            ]
        if self.birth_date:
            try:
                jp.parse_date(self.birth_date)
            except jp.DateOutsideEra as outside:
                found["birth_date"] = [date_outside_era(outside)]
            except ValueError:
                found["birth_date"] = [
                    lazy_gettext("Enter a real date, for example 1985-04-02, 昭和60年4月2日 or S60.4.2.")
                ]
        if self.resident_code and not (self.resident_code.isdigit() and len(self.resident_code) == 11):
            found["resident_code"] = [lazy_gettext("A resident code has 11 digits.")]
        return found


def people(session: Session, tenant_id: uuid.UUID, query: PersonQuery) -> list[Person]:
    """The people of this municipality's register matching every criterion given (at most MAX_RESULTS)."""
    return registry.search_people(
        session,
        tenant_id,
        name_kana=query.name_kana,
        name=query.name,
        birth_date=jp.parse_date(query.birth_date) if query.birth_date else None,
        resident_code=query.resident_code,
        limit=MAX_RESULTS,
    )
