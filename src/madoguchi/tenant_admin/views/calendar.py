"""The tenant admin's calendar: the municipality's own closed days (臨時閉庁日), which due dates skip (decision 0034).

The page lists the closed days from today on (those from the tenant file marked so), adds one (a date and an
optional reason) and removes one the admin entered. Refusals come back beside the field with status 422 and
nothing stored: not a date, a past day, a day already listed, a day closed anyway (土日祝, 年末年始).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import abort, flash
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from madoguchi import jp
from madoguchi.context import current_tenant, db_session
from madoguchi.errors import NotFound, ValidationFailed
from madoguchi.tenancy import closed_days
from madoguchi.tenant_admin.views.common import Errors, _actor, _add, _form_text, _render, _to, bp
from madoguchi.web.i18n import format_due_date


def _page(status: int = 200, *, values: dict[str, str] | None = None, errors: Errors | None = None) -> Any:
    days = closed_days.listed(db_session(), current_tenant.id, since=jp.today())
    return _render("calendar.html", status, section="calendar", days=days, values=values or {}, errors=errors or {})


def _refusal(refused: ValidationFailed, day: str) -> tuple[str, str]:
    """(field, message) of a refused closed day, as the admin reads it."""
    rule = refused.extra.get("rule")
    if rule == "reason_too_long":
        return "reason", _("Write the reason in at most %(max)s characters.", max=closed_days.REASON_MAX)
    if rule == "duplicate":
        return "day", _("%(day)s is already a closed day.", day=day)
    if rule == "closed_anyway":
        return "day", _(
            "The offices are closed on %(day)s anyway (%(reason)s): choose another day.",
            day=day,
            reason=refused.extra.get("closed_reason", ""),
        )
    if rule == "past":
        return "day", _("Choose today or a later day.")
    return "day", _("Enter the date as YYYY-MM-DD, for example 2027-05-06.")


@bp.get("/calendar")
def calendar() -> ResponseReturnValue:
    return _page()


@bp.post("/calendar")
def calendar_add() -> ResponseReturnValue:
    values = {"day": _form_text("day"), "reason": _form_text("reason")}
    errors: Errors = {}
    if not values["day"]:
        _add(errors, "day", _("Enter a date."))
        return _page(422, values=values, errors=errors)
    try:
        added = closed_days.add(db_session(), current_tenant.id, values["day"], values["reason"], actor=_actor())
    except ValidationFailed as refused:
        db_session().rollback()
        field, message = _refusal(refused, values["day"])
        _add(errors, field, message)
        return _page(422, values=values, errors=errors)
    flash(_("%(day)s is now a closed day: due dates set from now on skip it.", day=format_due_date(added.day)))
    return _to("tenant_admin.calendar")


@bp.post("/calendar/<date:day>/delete")
def calendar_remove(day: date) -> ResponseReturnValue:
    try:
        closed_days.remove(db_session(), current_tenant.id, day, actor=_actor())
    except NotFound:
        abort(404)
    except ValidationFailed:
        db_session().rollback()
        errors: Errors = {}
        _add(errors, "form", _("This closed day comes from the municipality's settings file: it is removed there."))
        return _page(422, errors=errors)
    flash(_("%(day)s is no longer a closed day.", day=format_due_date(day)))
    return _to("tenant_admin.calendar")
