"""Finding a person in the resident register at the counter: by kana, name, date of birth or resident code."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from flask_babel import lazy_gettext
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from madoguchi import jp
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
    stmt = select(Person).where(Person.tenant_id == tenant_id)
    if query.name_kana:
        kana = _katakana(query.name_kana.translate(_SPACES))
        stmt = stmt.where((Person.family_name_kana + Person.given_name_kana).contains(kana, autoescape=True))
    if query.name:
        stmt = stmt.where(
            (Person.family_name + Person.given_name).contains(query.name.translate(_SPACES), autoescape=True)
        )
    if query.birth_date:
        stmt = stmt.where(Person.birth_date == date.fromisoformat(query.birth_date))
    if query.resident_code:
        stmt = stmt.where(Person.resident_code == query.resident_code)
    order = (Person.family_name_kana, Person.given_name_kana, Person.birth_date, Person.id)
    return list(session.execute(stmt.order_by(*order).limit(MAX_RESULTS)).scalars())
