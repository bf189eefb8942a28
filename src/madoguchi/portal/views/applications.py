"""The portal's application pages: a procedure's public page, the form page by page, review and submit, and
"My applications" with the timeline, withdrawing and answering a request for more information."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from madoguchi.applications import operations as applications
from madoguchi.applications import repository
from madoguchi.applications.workflow import MORE_INFO_REQUESTED
from madoguchi.catalog import operations as catalog
from madoguchi.childcare import explanations
from madoguchi.childcare import notices as childcare_notices
from madoguchi.context import current_tenant, db_session
from madoguchi.documents import certificates, delivery
from madoguchi.errors import Forbidden, IdentityAssuranceRequired, ValidationFailed
from madoguchi.identity.models import IdentityAssurance
from madoguchi.identity.principal import current_principal
from madoguchi.payments import intents, quotes
from madoguchi.payments import service as payment_service
from madoguchi.satisfaction import operations as satisfaction
from madoguchi.security import public
from madoguchi.web import schema_answers, schema_form
from madoguchi.web.i18n import current_locale, localized
from madoguchi.web.resident_nav import nav_context, signed_in_resident

if TYPE_CHECKING:  # annotations only: the pages go through the repositories and the operations
    from madoguchi.applications.models import Application, ApplicationEvent
from madoguchi.portal.views import assurance as identity_levels
from madoguchi.portal.views import payments as payment_pages
from madoguchi.portal.views import satisfaction as satisfaction_pages
from madoguchi.portal.views.common import (
    _COMMENTS_FOR_RESIDENT,
    _MY_APPLICATIONS,
    _account,
    _own_application,
    _pages,
    _procedure_title,
    _render,
    _state_titles,
    _status_title,
    bp,
    public_pages,
)

# --- Procedures (public) --------------------------------------------------------------------------------


def _applicant_kinds() -> dict[str, str]:
    return {
        "self": _("You, for yourself"),
        "household_member": _("A member of your household"),
        "agent": _("An agent with a power of attorney from the person"),
        "legal_representative": _("A legal representative of the person (parent of a minor, guardian)"),
        "third_party": _("A third party with a legitimate reason"),
    }


def _procedure_page(key: str, errors: dict[str, list[str]] | None = None, status: int = 200) -> Any:
    tenant_service, version = catalog.tenant_service_for(db_session(), current_tenant.id, key)
    view = catalog.procedure_summary(tenant_service, version)
    account = signed_in_resident()
    kinds = _applicant_kinds()
    return render_template(
        "portal/procedure.html",
        tenant=current_tenant,
        p=view,
        level_text=identity_levels.level_needed_text(view["identity_assurance"]),
        raised_by=identity_levels.raised_by(view),
        # Before any answer, the procedure's own level: what the answers raise it to shows at review.
        need=identity_levels.identity_need(view, None, account) if account is not None else None,
        card_sign_in=identity_levels.card_sign_in_path() if account is None else None,
        applicant_kinds=kinds,
        relation_options=[(who, kinds.get(who, who)) for who in view["eligible_applicants"]],
        errors=errors or {},
        **nav_context(account, "home"),
        login_url=url_for("identity_web.login", tenant=current_tenant.slug, next=request.path),
        sign_up_url=url_for("identity_web.sign_up", tenant=current_tenant.slug),
    ), status


@public_pages.get("/<tenant>/procedures/<key>")
@public
def procedure(key: str) -> Any:
    return _procedure_page(key)


@bp.post("/<tenant>/procedures/<key>/start")
def start(key: str) -> Response | tuple[str, int]:
    # Whom the request is for decides whose entry fills the form: fixed here, for the whole application.
    relation = request.form.get("relation", "").strip()
    data = {"requester": {"relationship": relation}} if relation else None
    try:
        application = applications.create_draft(db_session(), current_tenant, current_principal().actor, key, data)
    except ValidationFailed:
        db_session().rollback()
        message = _("Choose how you stand to the person from the list.")
        response: tuple[str, int] = _procedure_page(key, {"relation": [message]}, 422)
        return response
    return redirect(url_for(".form_page", tenant=current_tenant.slug, application_id=application.id, step=1), 303)


# --- The form, page by page -------------------------------------------------------------------------------


def _render_form(
    application: Application,
    page_list: list[schema_form.Page],
    page: schema_form.Page,
    values: dict[str, Any],
    errors: dict[str, list[str]],
    status: int = 200,
) -> tuple[str, int]:
    return _render(
        "portal/form_page.html",
        status,
        active="applications",
        application=application,
        procedure_title=_procedure_title(application),
        pages=page_list,
        page=page,
        values=values,
        data=application.data,
        errors=errors,
    )


@bp.route("/<tenant>/applications/<uuid:application_id>/form/<int:step>", methods=["GET", "POST"])
def form_page(application_id: uuid.UUID, step: int) -> Any:
    application = _own_application(application_id)
    if not application.is_editable:
        return redirect(url_for(".application", tenant=current_tenant.slug, application_id=application.id), 303)
    page_list = _pages(application)
    if not 1 <= step <= len(page_list):
        abort(404)
    page = page_list[step - 1]
    if request.method == "GET":
        return _render_form(application, page_list, page, schema_form.values_from_data(page, application.data), {})

    form = application.settings_snapshot["form"]
    action = request.form.get("action", "continue")
    read = schema_form.read_page(page, request.form, application.data, application.prefill_sources)
    picked = schema_form.fill_picked(db_session(), application, page, read)
    errors = schema_form.page_errors(form, page, read, complete=action == "continue", picked=picked)
    if not errors:
        try:
            applications.update_draft(
                db_session(),
                current_tenant,
                current_principal().actor,
                application.id,
                read.data,
                expected_version=request.form.get("version", type=int),
            )
        except ValidationFailed as refused:
            db_session().rollback()
            for pointer, messages in (refused.errors or {}).items():
                anchor = page.anchor_for(read.input_pointer(pointer)) if page.owns(pointer) else "form"
                errors.setdefault(anchor, []).extend(schema_form.friendly(form, pointer, m) for m in messages)
    if errors:
        return _render_form(application, page_list, page, schema_form.values_from_form(page, request.form), errors, 422)
    if application.forced_delivery:
        flash(_forced_delivery_message())
    if action == "fill":
        # The picked children's names, readings, dates of birth and sex, shown before going on.
        target = url_for(".form_page", tenant=current_tenant.slug, application_id=application.id, step=step)
        return redirect(target, 303)
    if action == "save":
        flash(_("Your answers are saved. You can continue any time from My applications."))
        return redirect(url_for(".my_applications", tenant=current_tenant.slug), 303)
    if step < len(page_list):
        target = url_for(".form_page", tenant=current_tenant.slug, application_id=application.id, step=step + 1)
    else:
        target = url_for(".review", tenant=current_tenant.slug, application_id=application.id)
    return redirect(target, 303)


def _forced_delivery_message() -> str:
    return _(
        "A copy with the Individual Number or the resident record code is sent by post to the registered address "
        "of the person it is about. It is not given to an agent, at the counter or as a download."
    )


# --- Review, submit, respond ----------------------------------------------------------------------------


def _review_errors(
    application: Application, page_list: list[schema_form.Page], refused: Exception
) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if isinstance(refused, IdentityAssuranceRequired):
        if refused.extra.get("required_identity_assurance") == IdentityAssurance.CARD:
            message = _("This request needs your identity confirmed with your My Number Card. See below how.")
        else:
            message = _("This procedure needs a verified identity. Verify your identity first, then submit.")
        errors["form"] = [message]
        return errors
    if isinstance(refused, Forbidden):
        errors["form"] = [_("You may not submit this application.")]
        return errors
    assert isinstance(refused, ValidationFailed)
    form = application.settings_snapshot["form"]
    documents = {d["key"]: d for d in application.settings_snapshot.get("required_documents") or []}
    for pointer, messages in (refused.errors or {}).items():
        if pointer.startswith("documents/"):
            document = documents.get(pointer.removeprefix("documents/"), {})
            errors.setdefault("form", []).append(
                _(
                    "Attach this document before you submit: %(title)s. Use the Documents page of this application.",
                    title=localized(document.get("title")) or pointer,
                )
            )
            continue
        if pointer == "comment":
            errors.setdefault("comment", []).append(_("Say what you changed."))
            continue
        owner = next((p for p in page_list if p.owns(pointer)), None)
        anchor = "r" + owner.anchor_for(pointer) if owner else "form"
        for message in messages:
            errors.setdefault(anchor, []).append(schema_form.friendly(form, pointer, message))
    if not errors:
        errors["form"] = [_("The application could not be submitted. Check your answers.")]
    return errors


def _render_review(
    application: Application, errors: dict[str, list[str]] | None = None, status: int = 200
) -> tuple[str, int]:
    page_list = _pages(application)
    return _render(
        "portal/review.html",
        status,
        active="applications",
        application=application,
        procedure_title=_procedure_title(application),
        pages=page_list,
        data=application.data,
        errors=errors or {},
        need=identity_levels.identity_need(application.settings_snapshot, application.data, _account()),
        more_info=_latest_request(application),
        comment=request.form.get("comment", "") if request.method == "POST" else "",
        # What it costs before it is sent: an unsaved preview (the quote is made at submit); decision 0043.
        fee=intents.current_quote(db_session(), application)
        or quotes.preview(db_session(), current_tenant, application),
    )


@bp.route("/<tenant>/applications/<uuid:application_id>/review", methods=["GET", "POST"])
def review(application_id: uuid.UUID) -> Any:
    application = _own_application(application_id)
    if not application.is_editable:
        return redirect(url_for(".application", tenant=current_tenant.slug, application_id=application.id), 303)
    if request.method == "GET":
        return _render_review(application)
    session, actor = db_session(), current_principal().actor
    version = request.form.get("version", type=int)
    responding = application.state == MORE_INFO_REQUESTED
    try:
        if responding:
            comment = request.form.get("comment", "").strip() or None
            applications.transition(
                session, current_tenant, actor, application.id, "respond", comment=comment, expected_version=version
            )
        else:
            applications.submit(session, current_tenant, actor, application.id, expected_version=version)
    except (ValidationFailed, Forbidden) as refused:
        session.rollback()
        errors = _review_errors(application, _pages(application), refused)
        return _render_review(application, errors, 403 if isinstance(refused, Forbidden) else 422)
    if responding:
        flash(_("Your answer has been sent. We will continue reviewing your application."))
        return redirect(url_for(".application", tenant=current_tenant.slug, application_id=application.id), 303)
    return redirect(url_for(".submitted", tenant=current_tenant.slug, application_id=application.id), 303)


@bp.get("/<tenant>/applications/<uuid:application_id>/submitted")
def submitted(application_id: uuid.UUID) -> Any:
    application = _own_application(application_id)
    if application.submitted_at is None:
        return redirect(url_for(".application", tenant=current_tenant.slug, application_id=application.id), 303)
    return _render_submitted(application, satisfaction_pages.panel(application, "submitted"))


def _render_submitted(application: Application, satisfaction: dict[str, Any] | None, status: int = 200) -> Any:
    return _render(
        "portal/submitted.html",
        status,
        active="applications",
        application=application,
        procedure_title=_procedure_title(application),
        state_title=_state_titles(application).get(application.state, application.state),
        satisfaction=satisfaction,
    )


@bp.post("/<tenant>/applications/<uuid:application_id>/satisfaction")
def answer_satisfaction(application_id: uuid.UUID) -> Any:
    """The applicant's answer to the question at the end of a journey: stored apart from the application, once."""
    found = _own_application(application_id)
    journey = request.form.get("journey", "")
    if journey not in satisfaction.open_journeys(found):
        abort(404)
    back = satisfaction_pages.return_to(found, journey)
    session = db_session()
    skipped = request.form.get("action") == "skip"
    try:
        answered = satisfaction.answer(
            session,
            current_principal().actor,
            found,
            journey,
            score=None if skipped else request.form.get("score"),
            comment=None if skipped else request.form.get("comment"),
        )
    except satisfaction.AlreadyAnswered:
        session.rollback()
        flash(_("You have already answered this question. Your first answer stands."))
        return redirect(back, 303)
    except ValidationFailed as refused:
        session.rollback()
        values = {"score": request.form.get("score", ""), "comment": request.form.get("comment", "")}
        panel = satisfaction_pages.panel(found, journey, values=values, errors=satisfaction_pages.field_errors(refused))
        if journey == "submitted":
            return _render_submitted(found, panel, 422)
        return _render_application(found, panel, 422)
    if answered is None:
        flash(_("You skipped the question: nothing was sent. You can still answer it here later."))
    else:
        flash(_("Thank you for your answer. It helps the municipality improve this service."))
    return redirect(back, 303)


# --- My applications ------------------------------------------------------------------------------------


@bp.get("/<tenant>/applications/")
def my_applications() -> Any:
    session = db_session()
    rows = repository.own_applications(session, current_tenant.id, _account().id, limit=_MY_APPLICATIONS)
    deliveries = delivery.of_applications(session, current_tenant.id, [a.id for a in rows])
    items = [
        {
            "application": a,
            "title": _procedure_title(a),
            "state": _status_title(a, deliveries.get(a.id)),
            "is_draft": a.state == a.settings_snapshot["workflow"]["initial"],
            "needs_answer": a.state == MORE_INFO_REQUESTED,
        }
        for a in rows
    ]
    return _render("portal/applications.html", active="applications", items=items)


def _latest_request(application: Application) -> ApplicationEvent | None:
    if application.state != MORE_INFO_REQUESTED:
        return None
    events = repository.history(db_session(), current_tenant.id, application.id)
    return next((e for e in reversed(events) if e.action == "request_more_info"), None)


def _timeline(application: Application) -> list[dict[str, Any]]:
    titles = _state_titles(application)
    transitions = {
        t["name"]: localized(t.get("title")) for t in application.settings_snapshot["workflow"]["transitions"]
    }
    entries = []
    for event in repository.history(db_session(), current_tenant.id, application.id):
        if event.action != "create" and event.from_state == event.to_state:
            continue
        entries.append(
            {
                "state": titles.get(event.to_state or "", event.to_state),
                "action": _("Application started") if event.action == "create" else transitions.get(event.action, ""),
                "at": event.at,
                "comment": event.comment if event.action in _COMMENTS_FOR_RESIDENT else None,
                "by_you": event.actor_account_id == application.applicant_account_id,
            }
        )
    # The fee's payments, where the municipality takes them online: started, received, declined (decision 0044).
    return sorted([*entries, *payment_pages.timeline_entries(application)], key=lambda entry: entry["at"])


@bp.get("/<tenant>/applications/<uuid:application_id>")
def application(application_id: uuid.UUID) -> Any:
    found = _own_application(application_id)
    return _render_application(found, satisfaction_pages.panel(found, "issued"))


def _render_application(found: Application, satisfaction: dict[str, Any] | None, status: int = 200) -> Any:
    filed = delivery.of_application(db_session(), found)
    workflow = found.workflow
    available = {
        t.name
        for t in workflow.available_to(
            current_principal().actor, found.state, applicant_account_id=found.applicant_account_id
        )
    }
    return _render(
        "portal/application.html",
        status,
        active="applications",
        application=found,
        procedure_title=_procedure_title(found),
        state_title=_status_title(found, filed),
        delivery=filed,
        pickup_code=delivery.grouped_pickup_code(filed.pickup_code) if filed and filed.pickup_code else "",
        is_draft=found.state == workflow.initial,
        # Which answers came from which register as of which day (the decision rests on them).
        provenance=schema_answers.provenance(found.settings_snapshot["form"], found.prefill_sources or {}),
        timeline=_timeline(found),
        may_withdraw="withdraw" in available,
        more_info=_latest_request(found),
        # A refusal is a decision the resident may contest: the 教示 of 行政不服審査法 82条 goes with it.
        appeal_to=(
            certificates.issuing_official(current_tenant, current_app.config["MADOGUCHI"])
            if found.state == REJECTED
            else ""
        ),
        pages=_pages(found),
        data=found.data,
        allocation=_allocation_results(found),
        fee=payment_service.summary(db_session(), current_tenant, found),
        allocation_round=localized(((found.decision or {}).get("allocation") or {}).get("round_label")),
        satisfaction=satisfaction,
    )


def _allocation_results(application: Application) -> list[dict[str, Any]]:
    """Each child's published allocation result in the reader's language: 内定 with facility, class and start
    month, or 保留 with why (decision 0042). Empty until a round is published (``decision["allocation"]``)."""
    allocation = (application.decision or {}).get("allocation") or {}
    locale = current_locale()
    children = application.data.get("children") or []
    results = []
    for result in allocation.get("children") or []:
        index = int(result.get("index") or 0)
        typed = children[index] if index < len(children) and isinstance(children[index], dict) else {}
        start = str(result.get("start_month") or "")
        start_label = (childcare_notices.month_label(start) if locale == "ja" else start) if start else ""
        age = result.get("age_class")
        explained = explanations.explain(
            result, locale, sibling_mode=application.data.get("sibling_mode"), start=start_label
        )
        results.append(
            {
                "name": typed.get("name") or _("Child %(number)d", number=index + 1),
                "outcome": result.get("outcome"),
                "outcome_title": _outcome_titles().get(str(result.get("outcome")), str(result.get("outcome"))),
                "facility": localized(result.get("facility_name")) or result.get("facility_code") or "",
                "age_class": explanations.age_class_label(int(age), locale) if age is not None else "",
                "start": start_label,
                "explanation": explained,
            }
        )
    return results


def _outcome_titles() -> dict[str, str]:
    return {
        explanations.PLACED: _("Place allocated (内定)"),
        explanations.STAYS: _("Stays at the current facility"),
        explanations.WAITLISTED: _("Waiting for a place (保留)"),
        explanations.INELIGIBLE: _("Not allocated"),
    }


#: The workflows' state of a refusal (不交付, 不承認): a decision (処分) that can be contested.
REJECTED = "rejected"


@bp.post("/<tenant>/applications/<uuid:application_id>/withdraw")
def withdraw(application_id: uuid.UUID) -> Response:
    found = _own_application(application_id)
    applications.transition(
        db_session(),
        current_tenant,
        current_principal().actor,
        found.id,
        "withdraw",
        expected_version=request.form.get("version", type=int),
    )
    flash(_("Your application %(reference)s has been withdrawn.", reference=found.reference))
    return redirect(url_for(".application", tenant=current_tenant.slug, application_id=found.id), 303)
