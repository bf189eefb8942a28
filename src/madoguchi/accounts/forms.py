"""The sign-in pages' forms (WTForms through Flask-WTF): the one way a page reads what a visitor typed.

Each form normalizes its input once, here (email addresses and passwords NFKC as the API's schemas do them,
names trimmed and nothing else) and says what is wrong beside each field, in the page's language. The rules
themselves are identity's: the password policy (``password_policy``), the shape of an email address
(``operations.normalize_email``) and of a display name (``schemas``), shared with the API.

Flask-WTF also checks the CSRF token of each form (the same token ``CSRFProtect`` checks for every POST).
These forms belong with the pages (``madoguchi.accounts.views``); the rules they apply stay in identity.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask_babel import get_locale, lazy_gettext
from flask_wtf import FlaskForm
from wtforms import Field, Form, HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, InputRequired, ValidationError

from madoguchi import jp
from madoguchi.identity import operations, password_policy, schemas

ENTER_THIS = lazy_gettext("Enter this.")


def _when_given(normalize: Callable[[str], str]) -> Callable[[str | None], str | None]:
    """A WTForms filter: ``normalize`` what was typed (a field left out of the request stays None)."""
    return lambda value: normalize(value) if value else value


def _email_address(form: Form, field: Field) -> None:
    try:
        field.data = operations.normalize_email(field.data)
    except ValueError:
        raise ValidationError(lazy_gettext("Enter an email address like name@example.jp.")) from None


def _display_name(form: Form, field: Field) -> None:
    if schemas.display_name_refused(field.data):
        raise ValidationError(lazy_gettext("Use at most 100 characters."))


class _PageForm(FlaskForm):
    def field_errors(self) -> dict[str, list[str]]:
        """Messages per field, as the templates show them beside each field."""
        return {name: [str(m) for m in messages] for name, messages in self.errors.items() if name != "csrf_token"}

    def typed(self, *names: str) -> dict[str, str]:
        """What the visitor typed into ``names``, to fill the form in again."""
        return {name: (self[name].raw_data or [""])[0] for name in names}


class _PasswordPolicyMixin:
    """A new password: the policy's messages (more than one at once) beside the field."""

    def password_owner(self) -> str | None:
        raise NotImplementedError

    def validate_password(self, field: Field) -> None:
        codes = password_policy.problems(field.data, email=self.password_owner())
        field.errors.extend(password_policy.messages(codes, str(get_locale())))


def _new_password() -> PasswordField:
    # NFKC, as NIST SP 800-63B advises and the API does: "ｐａｓｓ" typed on a Japanese keyboard is "pass".
    return PasswordField(validators=[InputRequired(ENTER_THIS)], filters=[_when_given(operations.normalize_password)])


class CredentialsForm(_PageForm):
    """Signing in: an email address and a password (checked by the operation, not here)."""

    email = StringField(validators=[DataRequired(ENTER_THIS), _email_address])
    password = PasswordField(validators=[InputRequired(ENTER_THIS)])


class SignUpForm(_PasswordPolicyMixin, _PageForm):
    display_name = StringField(
        validators=[DataRequired(ENTER_THIS), _display_name], filters=[_when_given(jp.clean_name)]
    )
    email = StringField(validators=[DataRequired(ENTER_THIS), _email_address])
    password = _new_password()

    def password_owner(self) -> str | None:
        return None if self.email.errors else self.email.data


class EmailForm(_PageForm):
    """Asking for a password reset link."""

    email = StringField(validators=[DataRequired(ENTER_THIS), _email_address])


class NewPasswordForm(_PasswordPolicyMixin, _PageForm):
    """A new password for a known address (a reset link, an invitation)."""

    password = _new_password()

    def __init__(self, *, email: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._email = email

    def password_owner(self) -> str | None:
        return self._email


class CodeForm(_PageForm):
    """A code from the authenticator app."""

    code = StringField(validators=[DataRequired(ENTER_THIS)])


class EnrollmentForm(_PageForm):
    """The authenticator set-up: ask for a key (any step but "confirm"), or confirm it with a first code."""

    step = HiddenField()
    code = StringField()

    def confirming(self) -> bool:
        return self.step.data == "confirm"
