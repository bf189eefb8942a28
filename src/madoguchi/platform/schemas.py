"""Marshmallow schemas of the platform's input (the admin API and the platform admin pages load the same ones):
a new municipality and an invitation of its tenant admin. Input is normalized here, once."""

from __future__ import annotations

import unicodedata
from typing import Any

from marshmallow import Schema, ValidationError, fields, pre_load, validate

from madoguchi import jp
from madoguchi.identity.schemas import Email


class Slug(fields.String):
    """A municipality's slug as typed: full-width letters and digits count as ASCII (NFKC), trimmed, lowercased."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        return jp.normalize_input(super()._deserialize(value, attr, data, **kwargs)).lower()


class TenantCreateSchema(Schema):
    """A new municipality as the platform admin writes it (the API's body, the new-tenant page's form)."""

    slug = Slug(required=True, metadata={"example": "hanamizuki-town"})
    name_ja = fields.String(required=True, metadata={"example": "花水木町"})
    name_en = fields.String(required=True, metadata={"example": "Hanamizuki Town"})
    local_government_code = fields.String(
        required=True, metadata={"description": "全国地方公共団体コード: six digits, the last a check digit"}
    )
    prefecture_code = fields.String(
        load_default=None, metadata={"description": "JIS X 0401 (two digits); default: the code's first two"}
    )
    locales = fields.List(fields.String(), load_default=lambda: ["ja", "en"])
    default_locale = fields.String(load_default="ja")
    services = fields.List(
        fields.String(), load_default=list, metadata={"description": "procedure keys of the published catalog"}
    )

    @pre_load
    def normalize(self, data: Any, **_kwargs: Any) -> Any:
        """Full-width digits and letters typed on a Japanese keyboard count as their ASCII selves."""
        if not isinstance(data, dict):
            return data
        cleaned = dict(data)
        for name in ("local_government_code", "prefecture_code", "name_ja", "name_en"):
            if isinstance(cleaned.get(name), str):
                value = cleaned[name].strip()
                cleaned[name] = value if name.startswith("name_") else unicodedata.normalize("NFKC", value)
        return cleaned


class TenantDeleteConfirmationSchema(Schema):
    """Deleting a municipality from the admin page: its slug, typed again (compared with the tenant's by the page)."""

    confirm_slug = Slug(required=True)


#: The refusal of a display name with control or format characters.
NOT_PRINTABLE = "Use letters, digits and punctuation only."
INVALID_EMAIL = "Enter an email address like name@example.jp."


def _printable(value: str) -> None:
    if any(unicodedata.category(character).startswith("C") for character in value):
        raise ValidationError(NOT_PRINTABLE)


class InvitationCreateSchema(Schema):
    """Inviting a tenant admin: the address (normalized), the name to greet them by (blank: the address's local
    part) and the language of the invitation email."""

    email = Email(
        required=True,
        error_messages={"invalid_email": INVALID_EMAIL},
        metadata={"example": "admin@hanamizuki.example.jp"},
    )
    display_name = fields.String(load_default=None, validate=[validate.Length(min=1, max=100), _printable])
    locale = fields.String(load_default=None, validate=validate.OneOf(["ja", "en"]))

    @pre_load
    def blank_name_is_no_name(self, data: Any, **_kwargs: Any) -> Any:
        """A name left blank on the page (or spaces alone) is a name not given."""
        if isinstance(data, dict) and isinstance(data.get("display_name"), str):
            data = {**data, "display_name": data["display_name"].strip() or None}
        return data
