"""The business verbs of applications: create and update a draft, submit, transition, assign.

Each verb checks the rules, changes rows, appends a history event and an audit record, and writes outbox
messages — all in the caller's transaction. Nothing here commits: the request (or CLI command) does, once.

Concurrency: ``Application.lock_version`` is checked by every UPDATE, so when two transitions race on
one application exactly one commits and the other gets ``Conflict`` (or ``PreconditionFailed`` when the
caller sent a stale ``If-Match`` version up front).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from madoguchi import outbox
from madoguchi.applications import assurance, due_dates, forms, hooks, relations, repository
from madoguchi.applications.drafts import CHANNELS, REGISTRY_SOURCE, create_draft, fill_picked, update_draft
from madoguchi.applications.history import check_version, ensure_visible, flush, record, role_label, workflow_of
from madoguchi.applications.models import Application, ApplicationEvent
from madoguchi.applications.workflow import MORE_INFO_REQUESTED, Transition, Workflow
from madoguchi.db import utcnow
from madoguchi.errors import (
    Conflict,
    Forbidden,
    IdentityAssuranceRequired,
    NotFound,
    PaymentRequired,
    SeparationOfDuties,
    ValidationFailed,
)
from madoguchi.identity.actors import APPLICANT_ROLE, SYSTEM_ROLE, Actor
from madoguchi.identity.models import Account, AccountKind, IdentityAssurance
from madoguchi.registry.models import Person
from madoguchi.tenancy.models import Tenant

__all__ = [
    "CHANNELS",
    "INTERNAL_COMMENT_ACTION",
    "REGISTRY_SOURCE",
    "add_comment",
    "assign",
    "available_transitions",
    "create_draft",
    "fill_picked",
    "link_person_concerned",
    "resume_auto_issue",
    "review_evidence",
    "submit",
    "transition",
    "update_draft",
]


# ------------------------------------------------------------------------------------------ transitions


def _guard(
    session: Session,
    tenant: Tenant,
    application: Application,
    actor: Actor,
    role: str,
    guard: str,
    comment: str | None,
) -> None:
    settings = application.settings_snapshot
    if guard == "form_valid":
        errors = forms.field_errors(settings["form"], application.data)
        errors.update(relations.entitlement_errors(application.relation, application.data, settings, complete=True))
        if errors:
            raise ValidationFailed("The application is not complete.", errors=errors)
        refused = hooks.data_errors(session, application, application.data)
        if refused:
            raise ValidationFailed(" ".join(m for messages in refused.values() for m in messages), errors=refused)
    elif guard == "identity_assurance_met":
        if role == APPLICANT_ROLE:
            _check_assurance(tenant, application, actor)
    elif guard == "comment_present":
        if not (comment and comment.strip()):
            raise ValidationFailed("Say why.", errors={"comment": ["is required for this action"]})
    elif guard == "assigned":
        if application.assignee_account_id is None:
            raise Conflict("Assign the application to a clerk first.")
    elif guard == "person_concerned_confirmed":
        problems = relations.confirmation_problems(application)
        if problems:
            raise Conflict(
                "Filed for someone else: link the person concerned in the register and accept the evidence first.",
                rule="person_concerned_confirmed",
                missing=problems,
            )
    else:
        handler = hooks.guard_handler(guard)  # another domain's check (documents present, ...)
        if handler is None:
            raise Conflict(f"Unknown guard '{guard}' in the procedure definition.")
        handler(session, application)


def _check_assurance(tenant: Tenant, application: Application, actor: Actor) -> None:
    """The applicant's account meets the level this application needs: the procedure's, raised by what is asked
    (個人番号: the card). Refused with the level needed, the account's own and the ways to get there (decision 0048)."""
    required = assurance.required_assurance(application.settings_snapshot, application.data)
    if actor.meets(required):
        return
    ways = assurance.ways_to(required, card_available=assurance.card_available(tenant))
    if required == IdentityAssurance.CARD:
        detail = "This request needs you to sign in with your My Number Card."
    else:
        detail = "This procedure needs a verified identity: link your account to your resident record first."
    raise IdentityAssuranceRequired(
        detail,
        required_identity_assurance=required,
        identity_assurance=actor.identity_assurance if actor.person_id is not None else IdentityAssurance.EMAIL.value,
        ways=ways,
    )


def _act(session: Session, tenant: Tenant, application: Application, actor: Actor, transition: Transition) -> None:
    for action in transition.actions:
        handlers = hooks.action_handlers(action)  # what other domains do for it (sign a document, a notice)
        if action == "record_decision":
            application.decided_at = utcnow()
        elif action in ("notify_applicant", "notify_staff"):
            outbox.enqueue(
                session,
                f"notify.{action.removeprefix('notify_')}",
                {
                    "template": f"application.{transition.to}",
                    "application_id": application.id,
                    "application_reference": application.reference,
                    "account_id": application.applicant_account_id,
                    "service_key": application.service_key,
                },
            )
        elif not handlers and hooks.decision_check(action) is None:
            raise Conflict(f"Unknown action '{action}' in the procedure definition.")
        for handler in handlers:
            handler(session, tenant, application, actor, transition)


def transition(
    session: Session,
    tenant: Tenant,
    actor: Actor,
    application_id: uuid.UUID,
    name: str,
    *,
    comment: str | None = None,
    expected_version: int | None = None,
    decision: dict[str, Any] | None = None,
) -> Application:
    """Take the workflow transition ``name``: role check, guards, the state change, actions, history."""
    application = repository.get(session, tenant.id, application_id)
    check_version(application, expected_version)
    return _apply(session, tenant, application, actor, name, comment=comment, decision=decision)


def _check_separation(
    session: Session, application: Application, actor: Actor, workflow: Workflow, step: Transition
) -> None:
    """Four eyes (上長決裁): refuse ``step`` to whoever took the transition it must be separate from."""
    if not step.actor_differs_from:
        return
    last_actors = repository.last_actors(session, application.tenant_id, application.id)
    cause = workflow.barred_by(actor, step, last_actors)
    if cause is not None:
        raise SeparationOfDuties(
            f"You took '{cause}' on this application, so someone else must '{step.name}' it (four eyes).",
            rule="actor_differs_from",
            transition=step.name,
            differs_from=cause,
        )


def available_transitions(session: Session, application: Application, actor: Actor) -> list[Transition]:
    """What ``actor`` may do with ``application`` now: their roles' transitions, less what four eyes bars."""
    workflow = workflow_of(application)
    last_actors = (
        repository.last_actors(session, application.tenant_id, application.id)
        if workflow.separation_applies(application.state)
        else None
    )
    return workflow.available_to(
        actor, application.state, applicant_account_id=application.applicant_account_id, last_actors=last_actors
    )


def _apply(
    session: Session,
    tenant: Tenant,
    application: Application,
    actor: Actor,
    name: str,
    *,
    comment: str | None = None,
    decision: dict[str, Any] | None = None,
) -> Application:
    ensure_visible(actor, application)
    workflow = workflow_of(application)
    step = workflow.get(name, application.state)
    role = workflow.role_for(actor, step, applicant_account_id=application.applicant_account_id)
    if role is None:
        raise Forbidden(f"Your role may not '{name}' this application.")
    _check_separation(session, application, actor, workflow, step)
    for guard in step.guards:
        _guard(session, tenant, application, actor, role, guard, comment)
    for action in step.actions:
        check = hooks.decision_check(action)  # what staff decided (支給認定), checked before anything changes
        if check is not None:
            decision = check(session, application, decision)
    from_state = application.state
    application.state = step.to
    application.updated_at = utcnow()
    if decision:
        application.decision = {**(application.decision or {}), **decision}
    if from_state == MORE_INFO_REQUESTED and application.evidence_review is not None:
        _clear_evidence_review(application)  # the applicant may have replaced the evidence: it is reviewed again
    if from_state == workflow.initial:
        application.submitted_at = application.updated_at
    # Working days from the day it arrived; the clock stops while the resident is asked for 補正 (decision 0034).
    due_dates.after_transition(session, application, workflow, from_state, application.updated_at)
    flush(session)
    _act(session, tenant, application, actor, step)
    record(
        session, application, actor, action=name, role=role, from_state=from_state, to_state=step.to, comment=comment
    )
    topic = "application.submitted" if from_state == workflow.initial else "application.state_changed"
    outbox.enqueue(
        session,
        topic,
        {
            "application_id": application.id,
            "reference": application.reference,
            "service_key": application.service_key,
            "from": from_state,
            "to": step.to,
        },
    )
    flush(session)
    return application


def submit(
    session: Session,
    tenant: Tenant,
    actor: Actor,
    application_id: uuid.UUID,
    *,
    expected_version: int | None = None,
) -> Application:
    """Submit a draft; then, where the tenant enabled auto-issue and the applicant is verified, issue at once."""
    application = repository.get(session, tenant.id, application_id)
    check_version(application, expected_version)
    workflow = workflow_of(application)
    submit_step = next((t for t in workflow.from_state(application.state) if t.to == "submitted"), None)
    if submit_step is None:
        raise Conflict(f"The application is '{application.state}' and cannot be submitted.")
    _apply(session, tenant, application, actor, submit_step.name)
    if _may_auto_issue(application, actor):
        _auto_issue(session, tenant, application, workflow)
    return application


def _auto_issue(session: Session, tenant: Tenant, application: Application, workflow: Workflow) -> None:
    """Take the unattended path to issue. If the registry can't support it (say, no assessment for that
    year), undo only the attempt: the submission stands and waits for a clerk, with the reason on record.

    A fee still due (``PaymentRequired`` at the step that issues, prepay: decision 0044) is not a refusal: the
    steps before it stand and the application waits, approved, until the payment succeeds and
    ``resume_auto_issue`` takes the rest."""
    path = workflow.unattended_path(application.state, "issue_document")
    if not path:
        return
    savepoint = session.begin_nested()
    try:
        for step in path:
            step_savepoint = session.begin_nested()
            try:
                _apply(session, tenant, application, Actor.system(), step.name)
            except PaymentRequired:
                step_savepoint.rollback()  # the guard refused before the step changed anything
                session.refresh(application)
                break
            step_savepoint.commit()
    except (Conflict, ValidationFailed) as refusal:
        savepoint.rollback()
        session.refresh(application)
        record(
            session,
            application,
            Actor.system(),
            action="auto_issue_declined",
            role=SYSTEM_ROLE,
            from_state=application.state,
            to_state=application.state,
            comment=refusal.detail,
        )
        flush(session)
    else:
        savepoint.commit()


def resume_auto_issue(session: Session, tenant: Tenant, application: Application) -> None:
    """Continue an auto-issue that waited for its fee (payments, once the payment succeeded): where the
    procedure issues automatically and the application waits approved, the system takes the rest of the path.
    A refusal now is recorded as ``auto_issue_declined`` and leaves it for a clerk, as at submit."""
    settings = application.settings_snapshot
    kind = (settings.get("output_document") or {}).get("kind")
    if application.state != "approved" or not settings.get("auto_issue") or kind not in hooks.auto_issuable_kinds:
        return
    _auto_issue(session, tenant, application, workflow_of(application))


def _may_auto_issue(application: Application, actor: Actor) -> bool:
    settings = application.settings_snapshot
    kind = (settings.get("output_document") or {}).get("kind")
    return bool(
        settings.get("auto_issue")
        and kind in hooks.auto_issuable_kinds
        and actor.is_resident
        # At least linked to the register, whatever the procedure needs: the document is built from the applicant's
        # own entry. A higher level the answers need (the card) was checked at submit (identity_assurance_met).
        and actor.is_verified
        # Never for someone else (代理人, 第三者): a clerk matches the person and reviews the evidence.
        and application.relation not in relations.ON_BEHALF
        and actor.person_id == application.applicant_person_id == application.subject_person_id
    )


def assign(
    session: Session, tenant: Tenant, actor: Actor, application_id: uuid.UUID, assignee_id: uuid.UUID | None
) -> Application:
    application = repository.get(session, tenant.id, application_id)
    ensure_visible(actor, application)
    if not actor.is_staff:
        raise Forbidden("Only staff assign applications.")
    if assignee_id is not None:
        assignee = session.execute(select(Account).where(Account.id == assignee_id)).scalar_one_or_none()
        if assignee is None or assignee.kind != AccountKind.STAFF or assignee.disabled:
            raise ValidationFailed(errors={"assignee_id": ["is not an active staff member of this municipality"]})
    application.assignee_account_id = assignee_id
    application.updated_at = utcnow()
    flush(session)
    record(
        session,
        application,
        actor,
        action="assign",
        role=role_label(actor),
        from_state=application.state,
        to_state=application.state,
        data={"assignee": str(assignee_id) if assignee_id else None},
    )
    flush(session)
    return application


# ------------------------------------------------------------------------ the person concerned, the evidence


def _to_confirm(
    session: Session, tenant: Tenant, actor: Actor, application_id: uuid.UUID, expected_version: int | None
) -> Application:
    """An application filed for someone else, for staff to confirm whom it is about while it awaits a decision."""
    application = repository.get(session, tenant.id, application_id)
    check_version(application, expected_version)
    ensure_visible(actor, application)
    if not actor.is_staff:
        raise Forbidden("Only staff link the person concerned or review the evidence.")
    workflow = workflow_of(application)
    if application.state == workflow.initial or workflow.is_terminal(application.state) or application.decided_at:
        raise Conflict(f"The application is '{application.state}': nothing is to be confirmed now.")
    if application.relation not in relations.ON_BEHALF:
        raise Conflict("The applicant filed for themselves or their household: their own entry is the person's.")
    return application


def _clear_evidence_review(application: Application) -> None:
    application.evidence_review = None
    application.evidence_review_reason = None
    application.evidence_reviewed_at = None
    application.evidence_reviewed_by_account_id = None


def _record_step(
    session: Session, application: Application, actor: Actor, action: str, data: dict[str, Any], comment: str | None
) -> Application:
    """A change that is no transition: the row flushed (optimistic lock), then its history event and audit record."""
    application.updated_at = utcnow()
    flush(session)
    record(
        session,
        application,
        actor,
        action=action,
        role=role_label(actor),
        from_state=application.state,
        to_state=application.state,
        comment=comment,
        data=data,
    )
    flush(session)
    return application


def link_person_concerned(
    session: Session,
    tenant: Tenant,
    actor: Actor,
    application_id: uuid.UUID,
    person_id: uuid.UUID,
    *,
    expected_version: int | None = None,
) -> Application:
    """The clerk's match of the person the applicant named with an entry of the register (本人の特定). Linking
    another person than before sets the evidence review aside: the evidence is about the person."""
    application = _to_confirm(session, tenant, actor, application_id, expected_version)
    person = session.execute(select(Person).where(Person.id == person_id)).scalar_one_or_none()
    if person is None:
        raise NotFound("No such person in this municipality's resident register.")
    if application.subject_person_id != person.id:
        _clear_evidence_review(application)
    application.subject_person_id = person.id
    return _record_step(session, application, actor, "link_person", {"person_id": str(person.id)}, None)


def review_evidence(
    session: Session,
    tenant: Tenant,
    actor: Actor,
    application_id: uuid.UUID,
    outcome: str,
    reason: str | None = None,
    *,
    expected_version: int | None = None,
) -> Application:
    """The clerk's review of the evidence (委任状, 疎明資料): accepted, or not accepted with the reason."""
    application = _to_confirm(session, tenant, actor, application_id, expected_version)
    text = (reason or "").strip()
    errors: dict[str, list[str]] = {}
    if outcome not in relations.EVIDENCE_OUTCOMES:
        errors["outcome"] = [f"must be one of: {', '.join(relations.EVIDENCE_OUTCOMES)}"]
    elif outcome == relations.NOT_ACCEPTED and not text:
        errors["reason"] = ["is required when the evidence is not accepted"]
    if len(text) > 2000:
        errors["reason"] = ["must be at most 2000 characters"]
    if errors:
        raise ValidationFailed("The review is not complete.", errors=errors)
    application.evidence_review = outcome
    application.evidence_review_reason = text or None
    application.evidence_reviewed_at = utcnow()
    application.evidence_reviewed_by_account_id = actor.account_id
    return _record_step(session, application, actor, "evidence_review", {"outcome": outcome}, text or None)


# --------------------------------------------------------------------------------------------- comments


#: History action of a staff comment: an internal note, shown to staff only (not to the applicant).
INTERNAL_COMMENT_ACTION = "comment"


def add_comment(
    session: Session, tenant: Tenant, actor: Actor, application_id: uuid.UUID, comment: str
) -> ApplicationEvent:
    """A staff note on an application's history: no state change, audited like every other event."""
    application = repository.get(session, tenant.id, application_id)
    ensure_visible(actor, application)
    if not actor.is_staff:
        raise Forbidden("Only staff comment on applications.")
    text = (comment or "").strip()
    if not text:
        raise ValidationFailed("Write a comment.", errors={"comment": ["is required"]})
    if len(text) > 2000:
        raise ValidationFailed("The comment is too long.", errors={"comment": ["must be at most 2000 characters"]})
    record(
        session,
        application,
        actor,
        action=INTERNAL_COMMENT_ACTION,
        role=role_label(actor),
        from_state=application.state,
        to_state=application.state,
        comment=text,
    )
    flush(session)
    return repository.history(session, tenant.id, application.id)[-1]
