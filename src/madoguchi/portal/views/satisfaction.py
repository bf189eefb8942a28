"""The satisfaction question on the resident's pages (decision 0049): what the panel shows, and reading its form.

The panel sits on the page a resident sees right after submitting (journey ``submitted``) and on the application's
page once a decision was made (journey ``issued``): one optional 5-point question, a comment box, "Send" and
"Skip". Nothing is required; sending neither a score nor a comment is a skip and stores nothing. The form posts
to ``portal.answer_satisfaction`` (in ``applications``), which re-renders the page with the errors beside the
fields, or goes back to it with a thank-you.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext

from madoguchi.context import current_tenant, db_session
from madoguchi.errors import ValidationFailed
from madoguchi.satisfaction import operations as satisfaction

if TYPE_CHECKING:
    from madoguchi.applications.models import Application

#: The scale as the resident reads it, best first.
SCORE_LABELS = {
    5: lazy_gettext("Very satisfied"),
    4: lazy_gettext("Satisfied"),
    3: lazy_gettext("Neither satisfied nor dissatisfied"),
    2: lazy_gettext("Dissatisfied"),
    1: lazy_gettext("Very dissatisfied"),
}


def _questions() -> dict[str, str]:
    return {
        "submitted": _("How satisfied are you with applying for this online? (optional)"),
        "issued": _("How satisfied are you with this procedure, now that it is done? (optional)"),
    }


def panel(
    application: Application,
    journey: str,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, list[str]] | None = None,
) -> dict[str, Any] | None:
    """What ``portal/_satisfaction.html`` needs, or ``None`` when this journey is not open for the application."""
    if journey not in satisfaction.open_journeys(application):
        return None
    return {
        "journey": journey,
        "question": _questions()[journey],
        "answered": satisfaction.has_answered(db_session(), application, journey),
        "options": [(str(score), str(label)) for score, label in SCORE_LABELS.items()],
        "values": values or {},
        "errors": errors or {},
        "max_length": satisfaction.MAX_COMMENT_LENGTH,
        "action": url_for(".answer_satisfaction", tenant=current_tenant.slug, application_id=application.id),
    }


def field_errors(refused: ValidationFailed) -> dict[str, list[str]]:
    """The operation's refusal as messages beside the fields (ids of the panel's inputs)."""
    errors: dict[str, list[str]] = {}
    found = refused.errors or {}
    if "score" in found:
        errors["satisfaction-score"] = [_("Choose one of the five answers, or none.")]
    if "comment" in found:
        errors["satisfaction-comment"] = [
            _(
                "Your comment is too long: write at most %(limit)d characters.",
                limit=satisfaction.MAX_COMMENT_LENGTH,
            )
        ]
    return errors or {"satisfaction-score": [_("Check your answer.")]}


def return_to(application: Application, journey: str) -> str:
    """The page the question was asked on."""
    if journey == "submitted":
        return url_for(".submitted", tenant=current_tenant.slug, application_id=application.id)
    return url_for(".application", tenant=current_tenant.slug, application_id=application.id) + "#satisfaction"
