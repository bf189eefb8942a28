"""Marshmallow schemas of the identity API, split by direction. Input is normalized here, once."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from madoguchi import jp
from madoguchi.identity import operations
from madoguchi.identity.models import StaffRole

ROLE_VALUES = [role.value for role in StaffRole]


class Email(fields.String):
    """An email address, normalized (NFKC, trimmed, domain lowercased); ``error_messages={"invalid_email": …}``
    words the refusal another way."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs["error_messages"] = {"invalid_email": "Not a valid email address.", **kwargs.get("error_messages", {})}
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return operations.normalize_email(text)
        except ValueError as error:
            raise self.make_error("invalid_email") from error


class Normalized(fields.String):
    """Typed text that is not a name: NFKC and trimmed (full-width digits become ASCII)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        return jp.normalize_input(super()._deserialize(value, attr, data, **kwargs))


class JapaneseDate(fields.Date):
    """A date in 西暦 or 和暦 (``1985-04-02``, ``1985/4/2``, ``昭和60年4月2日``, ``S60.4.2``), read by
    ``jp.parse_date``; a 和暦 date the era never had (平成31年5月1日) is refused saying when the era ran
    (decision 0035)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, str):
            try:
                return jp.parse_date(value)
            except jp.DateOutsideEra as outside:
                raise ValidationError(str(outside)) from None
            except ValueError:
                pass  # the field's own refusal
        return super()._deserialize(value, attr, data, **kwargs)


#: The longest display name, on the API and on the sign-up page.
DISPLAY_NAME_MAX_LENGTH = 100


def has_control_characters(text: str) -> bool:
    return any(ch < " " or ch == "\x7f" for ch in text)


def display_name_refused(text: str) -> bool:
    """The sign-up page's rule for a (trimmed, non-empty) display name: the API's length and characters."""
    return len(text) > DISPLAY_NAME_MAX_LENGTH or has_control_characters(text)


class DisplayName(fields.String):
    """A name as the person writes it: trimmed, nothing else changed; no control characters."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = jp.clean_name(super()._deserialize(value, attr, data, **kwargs))
        if has_control_characters(text):
            raise ValidationError("Must not contain control characters.")
        return text


def _password(**kwargs: Any) -> fields.String:
    # The policy (length, common passwords) is checked by the operation; this only bounds the input.
    return fields.String(load_only=True, validate=validate.Length(min=1, max=1024), **kwargs)


def _resident_code() -> Normalized:
    return Normalized(
        required=True,
        validate=validate.Regexp(r"^[0-9]{11}$", error="must be 11 digits"),
        metadata={"description": "住民票コード (11 digits) of the person in the resident register"},
    )


# --- Input -------------------------------------------------------------------------------------------


class SignUpSchema(Schema):
    email = Email(required=True, validate=validate.Length(max=254), metadata={"example": "hanako@example.jp"})
    password = _password(
        required=True, metadata={"description": "at least 12 characters, not the email, not a common password"}
    )
    display_name = DisplayName(required=True, validate=validate.Length(min=1, max=DISPLAY_NAME_MAX_LENGTH))


class EmailTokenSchema(Schema):
    token = fields.String(required=True, validate=validate.Length(min=1, max=200))


class PasswordResetRequestSchema(Schema):
    email = Email(required=True, validate=validate.Length(max=254), metadata={"example": "hanako@example.jp"})


class PasswordResetSchema(Schema):
    token = fields.String(
        required=True, validate=validate.Length(min=1, max=200), metadata={"description": "from the emailed link"}
    )
    password = _password(required=True, metadata={"description": "the new password: the same policy as at sign-up"})


class LoginSchema(Schema):
    email = Email(required=True, validate=validate.Length(max=254))
    password = _password(required=True)
    totp_code = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=20),
        metadata={"description": "6-digit code of the authenticator app (staff who set one up; tenant admins)"},
    )


class StaffCreateSchema(Schema):
    email = Email(required=True, validate=validate.Length(max=254))
    display_name = DisplayName(required=True, validate=validate.Length(min=1, max=DISPLAY_NAME_MAX_LENGTH))
    roles = fields.List(
        fields.String(validate=validate.OneOf(ROLE_VALUES)), required=True, validate=validate.Length(min=1, max=3)
    )
    password = _password(
        load_default=None, metadata={"description": "omit to have a one-time password generated and shown once"}
    )


class StaffUpdateSchema(Schema):
    roles = fields.List(fields.String(validate=validate.OneOf(ROLE_VALUES)), validate=validate.Length(min=1, max=3))
    disabled = fields.Boolean(metadata={"description": "true ends all of the account's sessions at once"})

    @validates_schema
    def _something(self, data: dict[str, Any], **kwargs: Any) -> None:
        if not data:
            raise ValidationError("Give roles, disabled, or both.", field_name="roles")


class AccountLookupArgsSchema(Schema):
    """Finding a resident's account by its address (the console's identity check)."""

    email = Email(required=True, validate=validate.Length(max=254))


class CounterIdentitySchema(Schema):
    resident_code = _resident_code()


class IdentityLetterRequestSchema(Schema):
    resident_code = _resident_code()
    birth_date = JapaneseDate(
        required=True, metadata={"example": "1985-04-02", "description": "西暦 or 和暦 (昭和60年4月2日, S60.4.2)"}
    )


class OneTimeCodeSchema(Schema):
    code = fields.String(required=True, validate=validate.Length(min=1, max=20))


class PasswordChangeSchema(Schema):
    current_password = _password(required=True)
    new_password = _password(required=True)


# --- Output ------------------------------------------------------------------------------------------


class AccountSchema(Schema):
    id = fields.UUID(required=True)
    email = fields.String(required=True)
    display_name = fields.String(required=True)
    kind = fields.String(required=True, metadata={"description": "resident or staff"})
    roles = fields.List(fields.String(), required=True, metadata={"description": "staff roles; empty for residents"})
    identity_assurance = fields.String(
        required=True,
        metadata={
            "description": "email (self-registered), verified (linked to the register by a letter or at the counter) "
            "or card (linked by the My Number Card); lowest first"
        },
    )
    resident_code = fields.String(
        allow_none=True, metadata={"description": "the linked person in the resident register, once verified"}
    )
    email_verified = fields.Boolean(required=True)
    totp_enabled = fields.Boolean(required=True)
    second_factor_pending = fields.Boolean(
        metadata={"description": "true: this session may only set up the authenticator app"}
    )


class LinkedCardSchema(Schema):
    issuer = fields.String(required=True, metadata={"description": "the card provider's issuer identifier (OIDC iss)"})
    linked_at = fields.DateTime(required=True)


class IdentityEvidenceSchema(Schema):
    method = fields.String(required=True, metadata={"description": "card, letter or counter"})
    level = fields.String(required=True, metadata={"description": "the identity assurance it gave"})
    verified_at = fields.DateTime(required=True)


class MeSchema(AccountSchema):
    """Your own account, with the card that signs it in and what verified it (decision 0048)."""

    card = fields.Nested(
        LinkedCardSchema,
        allow_none=True,
        required=True,
        metadata={"description": "the マイナンバーカード linked to the account (it can sign in with it), or null"},
    )
    identity_evidence = fields.List(
        fields.Nested(IdentityEvidenceSchema),
        required=True,
        metadata={"description": "what verified the account, newest first (never the card's data)"},
    )


class SessionSchema(Schema):
    account = fields.Nested(AccountSchema, required=True)
    second_factor = fields.String(
        required=True,
        metadata={"description": "not_required, done, or enrollment_required (the session may only set up TOTP)"},
    )
    expires_at = fields.DateTime(required=True)


class SignUpAcceptedSchema(Schema):
    email = fields.String(required=True)
    detail = fields.String(required=True)


class PasswordResetAcceptedSchema(Schema):
    detail = fields.String(required=True)


class StaffSchema(Schema):
    id = fields.UUID(required=True)
    email = fields.String(required=True)
    display_name = fields.String(required=True)
    roles = fields.List(fields.String(), required=True)
    disabled = fields.Boolean(required=True)
    totp_enabled = fields.Boolean(required=True)
    created_at = fields.DateTime(required=True)
    last_login_at = fields.DateTime(allow_none=True)


class StaffCreatedSchema(StaffSchema):
    initial_password = fields.String(
        allow_none=True, metadata={"description": "the generated one-time password, shown only in this response"}
    )


class TotpEnrollmentSchema(Schema):
    secret = fields.String(required=True, metadata={"description": "base32; shown only in this response"})
    otpauth_uri = fields.String(required=True, metadata={"description": "otpauth://totp/... for a QR code"})


class IdentityLetterSchema(Schema):
    detail = fields.String(required=True)
    expires_at = fields.DateTime(required=True)
