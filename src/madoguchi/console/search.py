"""Finding a person in the resident register at the counter: by kana, name, date of birth or resident code."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from flask_babel import lazy_gettext
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from madoguchi import jp
from madoguchi.registry import repository as registry

if TYPE_CHECKING:  # annotations only
    from madoguchi.registry.models import Person

MAX_RESULTS = 50
_SPACES = str.maketrans("", "", " \u3000")


def _katakana(text: str) -> str:
    """Hiragana typed at the counter matches the register's katakana."""
    return "".join(chr(ord(ch) + 0x60) if "\u3041" <= ch <= "\u3096" else ch for ch in text)


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
                date.fromisoformat(self.birth_date)
            except ValueError:
                found["birth_date"] = [lazy_gettext("Enter a real date, for example 1985-04-02.")]
        if self.resident_code and not (self.resident_code.isdigit() and len(self.resident_code) == 11):
            found["resident_code"] = [lazy_gettext("A resident code has 11 digits.")]
        return found


def people(session: Session, tenant_id: uuid.UUID, query: PersonQuery) -> list[Person]:
    """The people of this municipality's register matching every criterion given (at most MAX_RESULTS)."""
    return registry.search_people(
        session,
        tenant_id,
        name_kana=_katakana(query.name_kana.translate(_SPACES)) if query.name_kana else "",
        name=query.name.translate(_SPACES) if query.name else "",
        birth_date=date.fromisoformat(query.birth_date) if query.birth_date else None,
        resident_code=query.resident_code,
        limit=MAX_RESULTS,
    )
