"""The applications API: residents and vendors file and follow applications, staff work the queue.

Who sees what: a resident (or a vendor app acting for them with their consent) sees their own
applications; staff see the tenant's queue (every application except residents' unsent drafts); a vendor
app with client credentials sees the applications it filed. Anything else is 404, never 403.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from flask.views import MethodView

from madoguchi import jp
from madoguchi.api.auth import limit_per_caller_and_address, require_authentication, requires_scope
from madoguchi.api.etags import IF_MATCH, VERSION_ETAG, Blueprint
from madoguchi.api.idempotency import IDEMPOTENCY_KEY_PARAMETER, make_idempotent
from madoguchi.api.pagination import decode_cursor, keyset_page
from madoguchi.applications import operations, repository
from madoguchi.applications.operations import INTERNAL_COMMENT_ACTION
from madoguchi.applications.schemas import (
    ApplicationCreateSchema,
    ApplicationPageSchema,
    ApplicationQueryArgsSchema,
    ApplicationSchema,
    ApplicationUpdateSchema,
    AssigneeSchema,
    EvidenceReviewSchema,
    HistoryEventSchema,
    PersonConcernedLinkSchema,
    TransitionCreateSchema,
    assignee_filter,
)
from madoguchi.audit import access
from madoguchi.context import current_tenant, db_session, records_reads
from madoguchi.errors import Forbidden
from madoguchi.identity.principal import (
    APPLICATIONS_PROCESS,
    APPLICATIONS_READ,
    APPLICATIONS_WRITE,
    Principal,
    current_principal,
)
from madoguchi.payments import overview
from madoguchi.web.reads import record_read

if TYPE_CHECKING:  # annotations only: the routes use the repository and operations, never the models
    from sqlalchemy import ColumnElement

    from madoguchi.applications.models import Application, ApplicationEvent

blp = Blueprint(
    "applications",
    __name__,
    url_prefix="/t/<tenant>/applications",
    description="Applications filed under a municipality's procedures: file, follow, and (staff) process them",
    etag_format=VERSION_ETAG,
)
require_authentication(blp)
make_idempotent(blp)
limit_per_caller_and_address(blp)


# ----------------------------------------------------------------------------------------------- helpers


def _load(application_id: uuid.UUID) -> Application:
    return repository.get_for(db_session(), current_principal(), application_id)


def _check_version(application_id: uuid.UUID, *, required: bool = False) -> Application:
    """The caller's application (404 first, whatever the headers say), at the version its If-Match names."""
    application = _load(application_id)
    blp.check_etag(application.lock_version, required=required)
    return application


def _answer(application: Application, principal: Principal) -> dict[str, Any]:
    """The application as the response body, its version as the ETag."""
    blp.set_etag(application.lock_version)
    return present(application, principal)


def _terminal(application: Application) -> bool:
    return application.workflow.is_terminal(application.state)


def present(application: Application, principal: Principal, *, with_payment: bool = True) -> dict[str, Any]:
    """The application as the API shows it to ``principal``. ``with_payment``: with the fee's summary (one more
    query: a list page leaves it out)."""
    workflow = application.workflow
    actor = principal.actor
    available = [
        {"name": t.name, "title": t.title, "to": t.to, "needs_comment": "comment_present" in t.guards}
        for t in operations.available_transitions(db_session(), application, actor)
    ]
    overdue = bool(
        application.due_on and application.due_on < jp.today() and not workflow.is_terminal(application.state)
    )
    staff = repository.processes_applications(principal)
    review = (
        {
            "outcome": application.evidence_review,
            "reason": application.evidence_review_reason,
            "reviewed_at": application.evidence_reviewed_at,
        }
        if application.evidence_review
        else None
    )
    return {
        "id": application.id,
        "reference": application.reference,
        "procedure": application.service_key,
        "procedure_version": application.settings_snapshot.get("version"),
        "state": application.state,
        "channel": application.channel,
        "data": application.data,
        "prefill_sources": application.prefill_sources,
        "assignee_id": application.assignee_account_id,
        "created_at": application.created_at,
        "updated_at": application.updated_at,
        "submitted_at": application.submitted_at,
        "decided_at": application.decided_at,
        "due_on": application.due_on,
        "sla_pause": {"paused_on": application.sla_paused_on, "remaining_working_days": application.sla_remaining_days}
        if application.sla_paused
        else None,
        "overdue": overdue,
        # Who filed it and whom it is about, apart (decision 0036); register ids for staff only.
        "relation": application.relation,
        "applicant": {
            "account_id": application.applicant_account_id,
            "person_id": application.applicant_person_id if staff else None,
        },
        "person_concerned": {
            "linked": application.subject_person_id is not None,
            "person_id": application.subject_person_id if staff else None,
        },
        "evidence_review": review,
        "delivery": application.delivery_method,
        "forced_delivery": application.forced_delivery,
        "version": application.lock_version,
        "available_transitions": available,
        "payment": overview.summary(db_session(), current_tenant, application) if with_payment else None,
    }


def _filters(args: dict[str, Any], principal: Principal) -> list[ColumnElement[bool]]:
    staff_only = {"assignee", "overdue"} & {k for k, v in args.items() if v is not None}
    if staff_only and not repository.processes_applications(principal):
        raise Forbidden(f"Only staff may filter by {', '.join(sorted(staff_only))}.")
    me = principal.account.id if principal.account else None
    return repository.queue_filters(
        db_session(),
        current_tenant.id,
        state=args.get("state"),
        procedure=args.get("procedure"),
        overdue=args.get("overdue"),
        **assignee_filter(args.get("assignee"), me),
    )


# ------------------------------------------------------------------------------------------------ views


@blp.route("/")
class Applications(MethodView):
    @records_reads
    @blp.arguments(ApplicationQueryArgsSchema, location="query")
    @blp.response(200, ApplicationPageSchema)
    @requires_scope(APPLICATIONS_READ)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """List applications: a resident's own, or (staff) the queue, with filters and keyset pagination."""
        principal = current_principal()
        rows = repository.page(
            db_session(),
            current_tenant.id,
            visible=repository.visible_to(principal),
            filters=_filters(args, principal),
            newest_first=args["order"] == "newest",
            after=decode_cursor(args["after"]) if args.get("after") else None,
            limit=args["limit"],
        )
        page = keyset_page(rows, args["limit"], lambda a: present(a, principal, with_payment=False))
        # Staff and vendor apps: each application listed (with its data) is a read of its resident's data.
        for application in rows[: args["limit"]]:
            record_read(
                action=access.LIST_APPLICATIONS,
                object_type="application",
                object_id=application.id,
                categories=[access.APPLICATION_FORM],
                application=application,
                flush=False,
            )
        return page

    @blp.etag
    @blp.doc(parameters=[IDEMPOTENCY_KEY_PARAMETER])
    @blp.arguments(ApplicationCreateSchema)
    @blp.response(201, ApplicationSchema)
    @blp.alt_response(404, description="The procedure is not offered, or the person is not in the register")
    @blp.alt_response(422, description="Form data of the wrong shape (per-field errors)")
    @requires_scope(APPLICATIONS_WRITE)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Start a draft. Fields the register knows are prefilled and marked with their source.

        Staff may name a person by `resident_code` to file at the counter (書かない窓口)."""
        principal = current_principal()
        session = db_session()
        if principal.account is None:
            raise Forbidden("A vendor app files for a resident who consented, not with client credentials.")
        person_id = None
        channel = "api" if principal.client_id else "online"
        if body.get("resident_code"):
            if not repository.processes_applications(principal):
                raise Forbidden("Only staff file for another person at the counter.")
            person = repository.person_by_resident_code(session, current_tenant.id, body["resident_code"])
            person_id, channel = person.id, "counter"
        application = operations.create_draft(
            session,
            current_tenant,
            principal.actor,
            body["procedure"],
            body["data"],
            channel=channel,
            person_id=person_id,
            client_id=principal.client_id,
        )
        return _answer(application, principal)


@blp.route("/<uuid:application_id>")
class ApplicationItem(MethodView):
    @blp.etag
    @records_reads
    @blp.response(200, ApplicationSchema)
    @blp.alt_response(404, description="No such application for this caller")
    @requires_scope(APPLICATIONS_READ)
    def get(self, application_id: uuid.UUID) -> dict[str, Any]:
        """One application with its data, prefill sources and the actions the caller may take. ETag = version.

        A read by staff or a vendor app is recorded (who, when, which application) for the resident's ledger."""
        application = _load(application_id)
        record_read(
            action=access.VIEW_APPLICATION,
            object_type="application",
            object_id=application.id,
            categories=[access.APPLICATION_FORM],
            application=application,
        )
        return _answer(application, current_principal())

    @blp.etag
    @blp.arguments(ApplicationUpdateSchema)
    @blp.response(200, ApplicationSchema)
    @blp.alt_response(412, description="If-Match does not match the current version")
    @blp.alt_response(428, description="If-Match missing")
    @requires_scope(APPLICATIONS_WRITE)
    def put(self, body: dict[str, Any], application_id: uuid.UUID) -> dict[str, Any]:
        """Replace a draft's data (or answer a request for more information). Needs If-Match."""
        _check_version(application_id, required=True)
        application = operations.update_draft(
            db_session(), current_tenant, current_principal().actor, application_id, body["data"]
        )
        return _answer(application, current_principal())


@blp.route("/<uuid:application_id>/submit")
class Submission(MethodView):
    @blp.etag
    @blp.doc(parameters=[IDEMPOTENCY_KEY_PARAMETER, IF_MATCH])
    @blp.response(200, ApplicationSchema)
    @blp.alt_response(412, description="If-Match does not match the current version")
    @blp.alt_response(422, description="Incomplete or invalid: per-field errors")
    @requires_scope(APPLICATIONS_WRITE)
    def post(self, application_id: uuid.UUID) -> dict[str, Any]:
        """Submit a draft. Certificates may be issued at once where the municipality enabled auto-issue."""
        _check_version(application_id)
        application = operations.submit(db_session(), current_tenant, current_principal().actor, application_id)
        return _answer(application, current_principal())


@blp.route("/<uuid:application_id>/transitions")
class Transitions(MethodView):
    @blp.etag
    @blp.doc(parameters=[IDEMPOTENCY_KEY_PARAMETER, IF_MATCH])
    @blp.arguments(TransitionCreateSchema)
    @blp.response(200, ApplicationSchema)
    @blp.alt_response(412, description="If-Match does not match the current version")
    @blp.alt_response(409, description="Not possible in the current state, or changed concurrently")
    @blp.alt_response(
        403,
        description="Your role may not take it; or four eyes (type …:separation-of-duties, rule "
        "actor_differs_from): you recommended this application, so another supervisor must approve it",
    )
    @requires_scope(APPLICATIONS_WRITE)
    def post(self, body: dict[str, Any], application_id: uuid.UUID) -> dict[str, Any]:
        """Take a workflow action: withdraw or respond (applicant); review, request more information,
        approve, reject, issue (staff). `available_transitions` of the application lists what you may do."""
        principal = current_principal()
        found = _load(application_id)
        if principal.is_staff and not principal.has_scope(APPLICATIONS_PROCESS):
            raise Forbidden("This needs the scope applications:process.")
        if body.get("decision") and not repository.processes_applications(principal):
            raise Forbidden("Only staff record decisions.")
        blp.check_etag(found.lock_version)
        application = operations.transition(
            db_session(),
            current_tenant,
            principal.actor,
            application_id,
            body["transition"],
            comment=body.get("comment"),
            decision=body.get("decision"),
        )
        return _answer(application, principal)


@blp.route("/<uuid:application_id>/person-concerned")
class PersonConcerned(MethodView):
    @blp.etag
    @blp.doc(parameters=[IF_MATCH])
    @blp.arguments(PersonConcernedLinkSchema)
    @blp.response(200, ApplicationSchema)
    @blp.alt_response(404, description="No such application, or no such person in this municipality's register")
    @blp.alt_response(409, description="Filed for oneself, or already decided")
    @requires_scope(APPLICATIONS_PROCESS)
    def put(self, body: dict[str, Any], application_id: uuid.UUID) -> dict[str, Any]:
        """Staff: link an application filed for someone else (agent, legal representative, third party) to the
        person it is about, found in the register. Approval waits for it and for the evidence review."""
        _check_version(application_id)
        session = db_session()
        person = repository.person_by_resident_code(session, current_tenant.id, body["resident_code"])
        application = operations.link_person_concerned(
            session, current_tenant, current_principal().actor, application_id, person.id
        )
        return _answer(application, current_principal())


@blp.route("/<uuid:application_id>/evidence-review")
class EvidenceReview(MethodView):
    @blp.etag
    @blp.doc(parameters=[IF_MATCH])
    @blp.arguments(EvidenceReviewSchema)
    @blp.response(200, ApplicationSchema)
    @blp.alt_response(404, description="No such application")
    @blp.alt_response(409, description="Filed for oneself, or already decided")
    @requires_scope(APPLICATIONS_PROCESS)
    def put(self, body: dict[str, Any], application_id: uuid.UUID) -> dict[str, Any]:
        """Staff: record the review of the evidence (power of attorney, proof of the legitimate reason): accepted,
        or not accepted with the reason."""
        _check_version(application_id)
        application = operations.review_evidence(
            db_session(), current_tenant, current_principal().actor, application_id, body["outcome"], body["reason"]
        )
        return _answer(application, current_principal())


@blp.route("/<uuid:application_id>/assignee")
class Assignee(MethodView):
    @blp.etag
    @blp.arguments(AssigneeSchema)
    @blp.response(200, ApplicationSchema)
    @requires_scope(APPLICATIONS_PROCESS)
    def put(self, body: dict[str, Any], application_id: uuid.UUID) -> dict[str, Any]:
        """Assign the application to a staff member (or to nobody)."""
        _check_version(application_id)
        application = operations.assign(
            db_session(), current_tenant, current_principal().actor, application_id, body["assignee_id"]
        )
        return _answer(application, current_principal())


@blp.route("/<uuid:application_id>/history")
class History(MethodView):
    @records_reads
    @blp.response(200, HistoryEventSchema(many=True))
    @requires_scope(APPLICATIONS_READ)
    def get(self, application_id: uuid.UUID) -> list[ApplicationEvent]:
        """Who did what, when, with which comment. Staff's internal comments are shown to staff only."""
        application = _load(application_id)
        events = repository.history(db_session(), current_tenant.id, application_id)
        record_read(
            action=access.VIEW_APPLICATION,
            object_type="application_history",
            object_id=application.id,
            categories=[access.APPLICATION_HISTORY],
            application=application,
        )
        if repository.processes_applications(current_principal()):
            return events
        return [event for event in events if event.action != INTERNAL_COMMENT_ACTION]


API_BLUEPRINTS = [blp]
