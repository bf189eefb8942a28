"""Applications filed for someone else (代理人, 法定代理人, 第三者): the clerk finds the person the applicant named in
the register and links them (本人の特定), and records the review of the evidence (委任状, 疎明資料). The rules, and what
approval waits for, are ``applications.operations`` and ``applications.relations`` (decision 0036)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext

from madoguchi.applications import operations
from madoguchi.applications.schemas import EvidenceReviewSchema
from madoguchi.console.views.application import _application_page
from madoguchi.console.views.common import _load, _person, _posted_version, _search_register, bp
from madoguchi.context import current_tenant, db_session
from madoguchi.errors import Conflict, Forbidden, NotFound, PreconditionFailed, ValidationFailed
from madoguchi.identity.principal import current_principal
from madoguchi.web import form_input

if TYPE_CHECKING:  # annotations only: the pages go through the operations
    from madoguchi.applications.models import Application
    from madoguchi.registry.models import Person

#: How the review form words a refusal: (left empty, wrong).
REVIEW_MESSAGES = {
    "outcome": (lazy_gettext("Choose whether the evidence is accepted."),) * 2,
    "reason": (
        lazy_gettext("Write why the evidence is not accepted."),
        lazy_gettext("Keep it under 2000 characters."),
    ),
}
CONFIRM_PERSON = {"checked": (lazy_gettext("Compare what the applicant wrote with the register entry first."),) * 2}


def _back(application: Application) -> ResponseReturnValue:
    return redirect(url_for(".application_page", tenant=current_tenant.slug, application_id=application.id), code=303)


@bp.get("/applications/<uuid:application_id>/person-concerned")
def person_concerned_search(application_id: uuid.UUID) -> ResponseReturnValue:
    """What the applicant wrote about the person, and the register search to find them."""
    application = _load(application_id)
    query, people, errors = _search_register("finding the person concerned")
    return render_template(
        "console/person_concerned.html",
        application=application,
        named=(application.data or {}).get("applicant") or {},
        query=query,
        people=people,
        errors=errors,
        person_url=lambda person: url_for(
            ".person_concerned_confirm", tenant=current_tenant.slug, application_id=application.id, person_id=person.id
        ),
    ), (422 if errors else 200)


def _confirm_page(
    application: Application, person: Person, errors: dict[str, list[str]] | None = None, status: int = 200
) -> ResponseReturnValue:
    return render_template(
        "console/person_concerned_confirm.html",
        application=application,
        named=(application.data or {}).get("applicant") or {},
        person=person,
        errors=errors or {},
    ), status


@bp.route("/applications/<uuid:application_id>/person-concerned/<uuid:person_id>", methods=["GET", "POST"])
def person_concerned_confirm(application_id: uuid.UUID, person_id: uuid.UUID) -> ResponseReturnValue:
    """What the applicant wrote and the register entry side by side; confirming links them."""
    application, person = _load(application_id), _person(person_id)
    if request.method == "GET":
        return _confirm_page(application, person)
    _data, errors = form_input.load(
        form_input.confirmation("checked")(), {"checked": request.form.get("checked")}, CONFIRM_PERSON
    )
    if errors:
        return _confirm_page(application, person, errors, 422)
    session = db_session()
    try:
        operations.link_person_concerned(
            session,
            current_tenant,
            current_principal().actor,
            application.id,
            person.id,
            expected_version=_posted_version(),
        )
    except NotFound:
        session.rollback()
        abort(404)
    except (Conflict, PreconditionFailed):
        session.rollback()
        message = _("This application cannot be linked now: it was changed, or it is decided.")
        return _confirm_page(_load(application_id), _person(person_id), {"form": [message]}, 409)
    flash(_("Done: the application is about %(name)s.", name=person.full_name))
    return _back(application)


@bp.post("/applications/<uuid:application_id>/evidence-review")
def evidence_review(application_id: uuid.UUID) -> ResponseReturnValue:
    application = _load(application_id)
    values = {"outcome": request.form.get("outcome", ""), "reason": request.form.get("reason", "").strip()}
    data, errors = form_input.load(EvidenceReviewSchema(), values, REVIEW_MESSAGES)
    if data is None:
        return _application_page(application, errors=errors, status=422, reason=values["reason"])
    session = db_session()
    try:
        operations.review_evidence(
            session,
            current_tenant,
            current_principal().actor,
            application.id,
            data["outcome"],
            data["reason"] or None,
            expected_version=_posted_version(),
        )
    except ValidationFailed:
        session.rollback()
        errors = {"reason": [str(REVIEW_MESSAGES["reason"][0])]}
        return _application_page(_load(application_id), errors=errors, status=422, reason=values["reason"])
    except (Conflict, PreconditionFailed):
        session.rollback()
        message = _("The evidence cannot be reviewed now: the application was changed, or it is decided.")
        return _application_page(_load(application_id), errors={"form": [message]}, status=409)
    except Forbidden:
        session.rollback()
        abort(403)
    flash(_("The review of the evidence was recorded."))
    return _back(application)
