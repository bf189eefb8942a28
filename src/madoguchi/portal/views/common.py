"""What the resident portal's pages share: the two blueprints, the signed-in resident and their application, the
form's pages and choices, and the frame every page renders in."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from flask import Blueprint, render_template
from flask_babel import lazy_gettext

from madoguchi.applications import forms, relations, repository
from madoguchi.context import current_tenant, db_session
from madoguchi.documents import delivery
from madoguchi.identity.principal import current_principal
from madoguchi.web import schema_answers, schema_form, tax_years
from madoguchi.web.auth import require_resident
from madoguchi.web.i18n import localized
from madoguchi.web.resident_nav import nav_context

if TYPE_CHECKING:  # annotations only: the pages go through the repositories and the operations
    from madoguchi.applications.models import Application
    from madoguchi.documents.models import Delivery
    from madoguchi.identity.models import Account

public_pages = Blueprint("portal_public", __name__, template_folder="../templates")
bp = require_resident(Blueprint("portal", __name__, template_folder="../templates"))

#: How many applications "My applications" lists, newest first.
_MY_APPLICATIONS = 200
#: History actions shown to the resident (edits, assignment and internal notes are not).
_COMMENTS_FOR_RESIDENT = {"request_more_info", "reject", "respond", "withdraw"}


# --- Shared pieces ------------------------------------------------------------------------------------


@public_pages.app_template_global("portal_answer")
def portal_answer(leaf: schema_form.Field, data: Any) -> str | list[str]:
    return schema_answers.display(leaf, forms.resolve(data, leaf.pointer, None))


@public_pages.app_template_global("portal_answered")
def portal_answered(node: schema_form.Field, data: Any) -> bool:
    return schema_answers.answered(node, data)


def _account() -> Account:
    account = current_principal().account
    assert account is not None  # require_resident
    return account


def _render(template: str, status: int = 200, *, active: str = "", **context: Any) -> tuple[str, int]:
    return render_template(template, tenant=current_tenant, **nav_context(_account(), active), **context), status


def _own_application(application_id: uuid.UUID) -> Application:
    """The signed-in resident's application; anyone else's (or another municipality's) is simply not there."""
    return repository.get_for(db_session(), current_principal(), application_id)


def _state_titles(application: Application) -> dict[str, str]:
    return {s["name"]: localized(s.get("title")) for s in application.settings_snapshot["workflow"]["states"]}


#: The status a resident reads once a certificate to post or collect is issued: where the paper is (decision 0033).
DELIVERY_STATUS_TITLES = {
    (delivery.MAIL, delivery.PENDING): lazy_gettext("Issued (to be posted)"),
    (delivery.MAIL, delivery.SENT): lazy_gettext("Sent by post"),
    (delivery.COUNTER, delivery.PENDING): lazy_gettext("Issued (ready at the counter)"),
    (delivery.COUNTER, delivery.HANDED_OVER): lazy_gettext("Issued (handed over at the counter)"),
}


def _status_title(application: Application, filed: Delivery | None) -> str:
    """The application's state as the procedure names it, or where its paper is once issued by post or counter."""
    if filed is not None and (filed.method, filed.status) in DELIVERY_STATUS_TITLES:
        return str(DELIVERY_STATUS_TITLES[(filed.method, filed.status)])
    return _state_titles(application).get(application.state, application.state)


def _choices(application: Application) -> schema_form.Choices:
    session = db_session()
    # The applicant's own household, when they file for themselves or it: someone filing for another person
    # (代理人, 第三者) never browses a household of the register.
    own = application.relation not in relations.ON_BEHALF
    household = (
        repository.household_of(session, current_tenant.id, application.applicant_person_id)
        if own and application.applicant_person_id is not None
        else []
    )
    members = schema_form.household_member_options(household)
    facilities = [
        (f.facility_code, localized({"ja": f.name_ja, "en": f.name_en}))
        for f in repository.facilities(session, current_tenant.id)
    ]
    choices = schema_form.Choices(household_members=members, facilities=facilities)
    form = application.settings_snapshot["form"]
    # The years the register holds for the person concerned; every year when not linked yet (checked on save).
    return tax_years.with_tax_years(choices, form, session, current_tenant.id, application.subject_person_id)


def _pages(application: Application) -> list[schema_form.Page]:
    return schema_form.pages(application.settings_snapshot["form"], application.prefill_sources, _choices(application))


def _procedure_title(application: Application) -> str:
    return localized(application.settings_snapshot.get("title"))
