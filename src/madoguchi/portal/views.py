"""The resident portal: procedures, the application form page by page, review and submit, my applications
with their timeline, withdraw and answering a request for more information, notices, connected apps and
identity verification by letter.

Views parse the form, call the operations of ``applications``, ``identity`` and ``oauth`` and render; the
rules live in those operations. Input errors re-render the page with status 422 and store nothing.
"""

from __future__ import annotations

import unicodedata
import uuid
from datetime import date
from typing import TYPE_CHECKING, Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from madoguchi.applications import forms, repository
from madoguchi.applications import operations as applications
from madoguchi.applications.workflow import MORE_INFO_REQUESTED, Workflow
from madoguchi.catalog import operations as catalog
from madoguchi.catalog.presenters import procedure_view
from madoguchi.context import current_tenant, db_session
from madoguchi.errors import Conflict, Forbidden, ValidationFailed
from madoguchi.extensions import limiter
from madoguchi.identity import boundary
from madoguchi.identity import operations as identity
from madoguchi.identity.principal import SCOPE_DESCRIPTIONS, current_principal
from madoguchi.identity.sessions import principal_from_session_cookie
from madoguchi.notify import notices as inbox
from madoguchi.oauth import operations as oauth
from madoguchi.oauth import repository as oauth_repository
from madoguchi.security import public
from madoguchi.web import schema_answers, schema_form
from madoguchi.web.auth import require_resident
from madoguchi.web.i18n import localized
from madoguchi.web.resident_nav import nav_context, signed_in_resident

if TYPE_CHECKING:  # annotations only: the pages go through the repositories and the operations
    from madoguchi.applications.models import Application, ApplicationEvent
    from madoguchi.identity.models import Account
    from madoguchi.notify.models import Notice

public_pages = Blueprint("portal_public", __name__, template_folder="templates")
bp = require_resident(Blueprint("portal", __name__, template_folder="templates"))
WEB_BLUEPRINTS = [public_pages, bp]

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


def _choices(application: Application) -> schema_form.Choices:
    session = db_session()
    household = (
        repository.household_of(session, current_tenant.id, application.applicant_person_id)
        if application.applicant_person_id is not None
        else []
    )
    members: schema_form.Options = [
        (m.resident_code, f"{m.full_name}（{m.relation_to_head}）" if m.relation_to_head else m.full_name)
        for m in household
    ]
    facilities = [
        (f.facility_code, localized({"ja": f.name_ja, "en": f.name_en}))
        for f in repository.facilities(session, current_tenant.id)
    ]
    return schema_form.Choices(household_members=members, facilities=facilities)


def _pages(application: Application) -> list[schema_form.Page]:
    return schema_form.pages(application.settings_snapshot["form"], application.prefill_sources, _choices(application))


def _procedure_title(application: Application) -> str:
    return localized(application.settings_snapshot.get("title"))


# --- Procedures (public) --------------------------------------------------------------------------------


@public_pages.get("/<tenant>/procedures/<key>")
@public
def procedure(key: str) -> Any:
    tenant_service, version = catalog.tenant_service_for(db_session(), current_tenant.id, key)
    view = procedure_view(catalog.effective_settings(tenant_service, version), version)
    account = signed_in_resident()
    return render_template(
        "portal/procedure.html",
        tenant=current_tenant,
        p=view,
        applicant_kinds={
            "self": _("You, for yourself"),
            "household_member": _("A member of your household"),
            "agent": _("An agent with a power of attorney from the person"),
            "third_party": _("A third party with a legitimate reason"),
        },
        **nav_context(account, "home"),
        login_url=url_for("identity_web.login", tenant=current_tenant.slug, next=request.path),
        sign_up_url=url_for("identity_web.sign_up", tenant=current_tenant.slug),
    )


@bp.post("/<tenant>/procedures/<key>/start")
def start(key: str) -> Response:
    application = applications.create_draft(db_session(), current_tenant, current_principal().actor, key)
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
    errors = schema_form.page_errors(form, page, read, complete=action == "continue")
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
    if action == "save":
        flash(_("Your answers are saved. You can continue any time from My applications."))
        return redirect(url_for(".my_applications", tenant=current_tenant.slug), 303)
    if step < len(page_list):
        target = url_for(".form_page", tenant=current_tenant.slug, application_id=application.id, step=step + 1)
    else:
        target = url_for(".review", tenant=current_tenant.slug, application_id=application.id)
    return redirect(target, 303)


# --- Review, submit, respond ----------------------------------------------------------------------------


def _review_errors(
    application: Application, page_list: list[schema_form.Page], refused: Exception
) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if isinstance(refused, Forbidden):
        errors["form"] = [_("This procedure needs a verified identity. Verify your identity first, then submit.")]
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
        needs_identity=bool(errors and "form" in errors and not _account().is_verified),
        more_info=_latest_request(application),
        comment=request.form.get("comment", "") if request.method == "POST" else "",
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
    return _render(
        "portal/submitted.html",
        active="applications",
        application=application,
        procedure_title=_procedure_title(application),
        state_title=_state_titles(application).get(application.state, application.state),
    )


# --- My applications ------------------------------------------------------------------------------------


@bp.get("/<tenant>/applications/")
def my_applications() -> Any:
    rows = repository.own_applications(db_session(), current_tenant.id, _account().id, limit=_MY_APPLICATIONS)
    items = [
        {
            "application": a,
            "title": _procedure_title(a),
            "state": _state_titles(a).get(a.state, a.state),
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
    return entries


@bp.get("/<tenant>/applications/<uuid:application_id>")
def application(application_id: uuid.UUID) -> Any:
    found = _own_application(application_id)
    workflow = Workflow(found.settings_snapshot["workflow"])
    available = {
        t.name
        for t in workflow.available_to(
            current_principal().actor, found.state, applicant_account_id=found.applicant_account_id
        )
    }
    return _render(
        "portal/application.html",
        active="applications",
        application=found,
        procedure_title=_procedure_title(found),
        state_title=_state_titles(found).get(found.state, found.state),
        is_draft=found.state == workflow.initial,
        timeline=_timeline(found),
        may_withdraw="withdraw" in available,
        more_info=_latest_request(found),
        pages=_pages(found),
        data=found.data,
    )


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


# --- Notices --------------------------------------------------------------------------------------------


def notice_text(notice: Notice, application: Application | None) -> str:
    """The notice in the reader's language, from what happened (its kind) and the application."""
    reference = notice.reference or ""
    if application is None:
        return _("There is news about your application %(reference)s.", reference=reference)
    state = notice.kind.removeprefix("application.")
    procedure_title = _procedure_title(application)
    if state == "submitted":
        return _(
            "We received your application %(reference)s (%(procedure)s).",
            reference=reference,
            procedure=procedure_title,
        )
    if state == MORE_INFO_REQUESTED:
        return _(
            "We need more information for your application %(reference)s (%(procedure)s): please open it and answer.",
            reference=reference,
            procedure=procedure_title,
        )
    return _(
        "Your application %(reference)s (%(procedure)s) is now: %(state)s.",
        reference=reference,
        procedure=procedure_title,
        state=_state_titles(application).get(state, state),
    )


@bp.get("/<tenant>/notices/")
def notices() -> Any:
    rows = inbox.inbox(db_session(), current_tenant.id, _account().id)
    items = [{"notice": n, "text": notice_text(n, a), "application": a} for n, a in rows]
    return _render("portal/notices.html", active="notices", items=items)


@bp.get("/<tenant>/notices/<uuid:notice_id>")
def notice(notice_id: uuid.UUID) -> Any:
    session = db_session()
    item, related = inbox.notice_of(session, current_tenant.id, _account().id, notice_id)
    inbox.mark_read(session, item)
    return _render(
        "portal/notice.html", active="notices", notice=item, text=notice_text(item, related), application=related
    )


@bp.post("/<tenant>/notices/read-all")
def read_all_notices() -> Response:
    inbox.mark_all_read(db_session(), current_tenant.id, _account().id)
    flash(_("All notices are marked as read."))
    return redirect(url_for(".notices", tenant=current_tenant.slug), 303)


# --- Connected apps -------------------------------------------------------------------------------------


@bp.get("/<tenant>/account/connected-apps")
def connected_apps() -> Any:
    rows = oauth_repository.consents_of(db_session(), current_tenant.id, _account().id)
    apps = [
        {
            "consent": consent,
            "client": client,
            "scopes": [localized(SCOPE_DESCRIPTIONS[s]) for s in consent.scopes if s in SCOPE_DESCRIPTIONS],
        }
        for consent, client in rows
    ]
    return _render("portal/connected_apps.html", active="apps", apps=apps)


@bp.post("/<tenant>/account/connected-apps/<uuid:consent_id>/revoke")
def revoke_app(consent_id: uuid.UUID) -> Response:
    principal = current_principal()
    assert principal.account is not None
    oauth.withdraw_consent(db_session(), current_tenant.id, principal.account, consent_id, actor=principal.actor.label)
    flash(_("The app can no longer act for you."))
    return redirect(url_for(".connected_apps", tenant=current_tenant.slug), 303)


# --- Identity verification by letter -------------------------------------------------------------------


def _account_key() -> str:
    principal = principal_from_session_cookie()
    account = principal.account if principal is not None else None
    return f"account:{account.id}" if account is not None else f"ip:{request.remote_addr}"


def _render_identity(errors: dict[str, list[str]] | None = None, status: int = 200, **context: Any) -> tuple[str, int]:
    contact = (current_tenant.profile or {}).get("contact") or {}
    return _render("portal/identity.html", status, active="identity", errors=errors or {}, contact=contact, **context)


@bp.get("/<tenant>/account/identity")
def identity_page() -> Any:
    return _render_identity(values={})


@bp.post("/<tenant>/account/identity/letter")
@limiter.limit("10/hour", key_func=_account_key)
def request_letter() -> Any:
    values = {"resident_code": request.form.get("resident_code", ""), "birth_date": request.form.get("birth_date", "")}
    code = unicodedata.normalize("NFKC", values["resident_code"]).strip()
    errors: dict[str, list[str]] = {}
    if not code.isdigit() or len(code) != 11:
        errors["resident_code"] = [_("Enter the 11-digit resident record code.")]
    try:
        birth_date = date.fromisoformat(values["birth_date"].strip())
    except ValueError:
        errors["birth_date"] = [_("Enter your date of birth, like 1985-04-02.")]
    if errors:
        return _render_identity(errors, 422, values=values)
    account = _account()
    try:
        identity.request_identity_letter(
            db_session(),
            current_tenant,
            account,
            resident_code=code,
            birth_date=birth_date,
            data_key=boundary.settings().data_key,
            actor=current_principal().actor.label,
        )
    except ValidationFailed:
        db_session().rollback()
        message = _("No one in the resident register matches this code and date of birth. Check both.")
        return _render_identity({"resident_code": [message]}, 422, values=values)
    except Conflict as refused:
        db_session().rollback()
        if "already linked" in (refused.detail or ""):
            message = _("This person is already linked to an account. Please ask at the counter.")
        elif "already verified" in (refused.detail or ""):
            message = _("Your identity is already verified.")
        else:
            message = _("We have sent the most letters allowed for now. Wait for the letter, or ask at the counter.")
        return _render_identity({"form": [message]}, 409, values=values)
    flash(_("A letter with a one-time code is on its way to your registered address. It is valid for 14 days."))
    return redirect(url_for(".identity_page", tenant=current_tenant.slug), 303)


@bp.post("/<tenant>/account/identity/code")
@limiter.limit("10/hour", key_func=_account_key)
def confirm_code() -> Any:
    code = request.form.get("code", "").strip()
    if not code:
        return _render_identity({"code": [_("Enter the code from the letter.")]}, 422, values={})
    try:
        with boundary.wrong_codes_counted(current_tenant.id):
            identity.confirm_identity_code(
                db_session(),
                _account(),
                code,
                data_key=boundary.settings().data_key,
                actor=current_principal().actor.label,
            )
    except identity.WrongIdentityCode:
        message = _("The code is not correct, has expired or was used up. Check it, or request a new letter.")
        return _render_identity({"code": [message]}, 422, values={})
    except Conflict:
        db_session().rollback()
        return _render_identity({"form": [_("Your identity is already verified.")]}, 409, values={})
    flash(_("Your identity is verified. Your applications are now filled in from your resident record."))
    return redirect(url_for(".identity_page", tenant=current_tenant.slug), 303)
