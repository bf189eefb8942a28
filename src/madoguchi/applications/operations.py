"""The business verbs of applications: create and update a draft, submit, transition, assign.

Each verb checks the rules, changes rows, appends a history event and an audit record, and writes outbox
messages — all in the caller's transaction. Nothing here commits: the request (or CLI command) does, once.

Concurrency: ``Application.lock_version`` is checked by every UPDATE, so when two transitions race on
one application exactly one commits and the other gets ``Conflict`` (or ``PreconditionFailed`` when the
caller sent a stale ``If-Match`` version up front).
"""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from madoguchi import jp, outbox
from madoguchi.applications import forms, hooks, repository
from madoguchi.applications.models import Application, ApplicationEvent
from madoguchi.applications.workflow import Transition, Workflow
from madoguchi.audit import operations as audit
from madoguchi.catalog import operations as catalog
from madoguchi.db import utcnow
from madoguchi.errors import (
    Conflict,
    Forbidden,
    NotFound,
    PreconditionFailed,
    SeparationOfDuties,
    ValidationFailed,
)
from madoguchi.identity.actors import APPLICANT_ROLE, SYSTEM_ROLE, Actor
from madoguchi.identity.models import Account, AccountKind
from madoguchi.registry.models import Person
from madoguchi.tenancy.models import Tenant

REGISTRY_SOURCE = "resident_register"
CHANNELS = ("online", "counter", "api")
_REFERENCE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read aloud at the counter


def _reference(service_key: str) -> str:
    prefix = "".join(word[0] for word in service_key.split("-")).upper()[:3]
    code = "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(8))
    return f"{prefix}-{code[:4]}-{code[4:]}"


def _flush(session: Session) -> None:
    try:
        session.flush()
    except StaleDataError as exc:
        raise Conflict("The application was changed by someone else at the same time; reload and try again.") from exc


def _workflow(application: Application) -> Workflow:
    return Workflow(application.settings_snapshot["workflow"])


def _record(
    session: Session,
    application: Application,
    actor: Actor,
    *,
    action: str,
    role: str,
    from_state: str | None,
    to_state: str | None,
    comment: str | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    session.add(
        ApplicationEvent(
            tenant_id=application.tenant_id,
            application_id=application.id,
            seq=repository.next_event_seq(session, application.tenant_id, application.id),
            action=action,
            from_state=from_state,
            to_state=to_state,
            actor_account_id=actor.account_id,
            actor_role=role,
            comment=comment,
            at=utcnow(),
        )
    )
    audit.record(
        session,
        application.tenant_id,
        actor=actor.label,
        action=f"application.{action}",
        object_type="application",
        object_id=application.id,
        data={"reference": application.reference, "from": from_state, "to": to_state, "role": role, **(data or {})},
    )


# ---------------------------------------------------------------------------------------------- drafts


def _prefill(person: Person, mapping: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    values = person.registry_fields()
    data: dict[str, Any] = {}
    sources: dict[str, Any] = {}
    for ptr, field in mapping.items():
        value = values.get(field)
        if value is not None:
            forms.assign(data, ptr, value)
            sources[ptr] = {"source": REGISTRY_SOURCE, "field": field}
    return data, sources


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _check_prefilled_unchanged(application: Application, data: dict[str, Any]) -> dict[str, Any]:
    """Prefilled fields come from the register and are not asked again: keep them, refuse edits of them."""
    errors: dict[str, list[str]] = {}
    result = _merge({}, data)
    for ptr in application.prefill_sources:
        registered = forms.resolve(application.data, ptr, None)
        given = forms.resolve(data, ptr, None)
        if given is not None and given != registered:
            errors[ptr] = ["comes from the resident register and cannot be changed in this form"]
        elif registered is not None:
            forms.assign(result, ptr, registered)
    if errors:
        raise ValidationFailed("Some fields cannot be changed.", errors=errors)
    return result


def _validate_draft(application: Application, data: dict[str, Any]) -> None:
    errors = forms.field_errors(application.settings_snapshot["form"], data, partial=True)
    if errors:
        raise ValidationFailed("Some fields are not valid.", errors=errors)


def create_draft(
    session: Session,
    tenant: Tenant,
    actor: Actor,
    service_key: str,
    data: dict[str, Any] | None = None,
    *,
    channel: str = "online",
    person_id: uuid.UUID | None = None,
    applicant_account_id: uuid.UUID | None = None,
    client_id: uuid.UUID | None = None,
) -> Application:
    """Start an application, prefilled from the register when the applicant is linked to a person.

    Residents file for themselves (their linked person). At the counter (書かない窓口) a clerk names the
    person found in the register; the application is prefilled from that record and the resident only
    confirms it.
    """
    if channel not in CHANNELS:
        raise ValidationFailed(errors={"channel": [f"must be one of: {', '.join(CHANNELS)}"]})
    tenant_service, version = catalog.tenant_service_for(session, tenant.id, service_key)
    settings = catalog.effective_settings(tenant_service, version)

    if actor.is_resident:
        if person_id is not None and person_id != actor.person_id:
            raise Forbidden("A resident files for themselves; an agent files with a power of attorney instead.")
        person_id, applicant_account_id = actor.person_id, actor.account_id
    elif actor.is_staff:
        if not actor.staff_roles:
            raise Forbidden("This account has no staff role.")
    else:
        raise Forbidden("Only residents and staff file applications.")

    person = None
    if person_id is not None:
        person = session.execute(select(Person).where(Person.id == person_id)).scalar_one_or_none()
        if person is None:
            raise NotFound("No such person in this municipality's resident register.")

    application = Application(
        tenant_id=tenant.id,
        reference=_reference(service_key),
        service_key=service_key,
        service_version_id=version.id,
        state=settings["workflow"]["initial"],
        channel=channel,
        applicant_account_id=applicant_account_id,
        applicant_person_id=person.id if person else None,
        filed_by_client_id=client_id,
        settings_snapshot=settings,
    )
    prefilled, sources = _prefill(person, settings.get("prefill") or {}) if person else ({}, {})
    application.prefill_sources = sources
    application.data = prefilled
    data = forms.normalize(settings["form"], data) if data else data
    merged = _check_prefilled_unchanged(application, data) if data else prefilled
    _validate_draft(application, merged)
    application.data = merged
    session.add(application)
    _flush(session)
    _record(
        session,
        application,
        actor,
        action="create",
        role=_role_label(actor),
        from_state=None,
        to_state=application.state,
        data={"service": service_key, "version": version.version, "channel": channel},
    )
    _flush(session)
    return application


def _role_label(actor: Actor) -> str:
    if actor.kind == SYSTEM_ROLE:
        return SYSTEM_ROLE
    if actor.is_resident:
        return APPLICANT_ROLE
    return sorted(actor.staff_roles)[0] if actor.staff_roles else actor.kind


def _check_version(application: Application, expected_version: int | None) -> None:
    if expected_version is not None and expected_version != application.lock_version:
        raise PreconditionFailed(
            f"The application is at version {application.lock_version}, not {expected_version}; reload it."
        )


def _ensure_visible(actor: Actor, application: Application) -> None:
    """Residents see only their own applications; to anyone else another's is simply not there."""
    is_applicant = actor.account_id is not None and actor.account_id == application.applicant_account_id
    if not (is_applicant or actor.kind == SYSTEM_ROLE or (actor.is_staff and actor.staff_roles)):
        raise NotFound("No such application.")


def _may_edit(actor: Actor, application: Application) -> str:
    _ensure_visible(actor, application)
    if actor.account_id is not None and actor.account_id == application.applicant_account_id:
        return APPLICANT_ROLE
    return _role_label(actor)


def update_draft(
    session: Session,
    tenant: Tenant,
    actor: Actor,
    application_id: uuid.UUID,
    data: dict[str, Any],
    *,
    expected_version: int | None = None,
) -> Application:
    """Replace the draft's data (prefilled fields stay as registered). Allowed while the draft is editable."""
    application = repository.get(session, tenant.id, application_id)
    role = _may_edit(actor, application)
    _check_version(application, expected_version)
    if not application.is_editable:
        raise Conflict(f"The application is '{application.state}' and can no longer be edited.")
    merged = _check_prefilled_unchanged(application, forms.normalize(application.settings_snapshot["form"], data))
    _validate_draft(application, merged)
    application.data = merged
    application.updated_at = utcnow()
    _flush(session)
    _record(
        session,
        application,
        actor,
        action="update",
        role=role,
        from_state=application.state,
        to_state=application.state,
    )
    _flush(session)
    return application


# ------------------------------------------------------------------------------------------ transitions


def _guard(
    session: Session, application: Application, actor: Actor, role: str, guard: str, comment: str | None
) -> None:
    settings = application.settings_snapshot
    if guard == "form_valid":
        errors = forms.field_errors(settings["form"], application.data)
        if errors:
            raise ValidationFailed("The application is not complete.", errors=errors)
    elif guard == "identity_assurance_met":
        if settings.get("identity_assurance") == "verified" and role == APPLICANT_ROLE and not actor.is_verified:
            raise Forbidden(
                "This procedure needs a verified identity: link your account to your resident record first."
            )
    elif guard == "comment_present":
        if not (comment and comment.strip()):
            raise ValidationFailed("Say why.", errors={"comment": ["is required for this action"]})
    elif guard == "assigned":
        if application.assignee_account_id is None:
            raise Conflict("Assign the application to a clerk first.")
    else:
        handler = hooks.guard_handler(guard)  # another domain's check (documents present, ...)
        if handler is None:
            raise Conflict(f"Unknown guard '{guard}' in the procedure definition.")
        handler(session, application)


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
        elif not handlers:
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
    _check_version(application, expected_version)
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
    workflow = _workflow(application)
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
    _ensure_visible(actor, application)
    workflow = _workflow(application)
    step = workflow.get(name, application.state)
    role = workflow.role_for(actor, step, applicant_account_id=application.applicant_account_id)
    if role is None:
        raise Forbidden(f"Your role may not '{name}' this application.")
    _check_separation(session, application, actor, workflow, step)
    for guard in step.guards:
        _guard(session, application, actor, role, guard, comment)
    from_state = application.state
    application.state = step.to
    application.updated_at = utcnow()
    if decision:
        application.decision = {**(application.decision or {}), **decision}
    if from_state == workflow.initial:
        application.submitted_at = application.updated_at
        sla = application.settings_snapshot.get("sla_days")
        if sla:
            # Counted from the day it arrived in Japan (a submission at 00:30 JST arrived that day, not the UTC one).
            application.due_on = jp.date_in_japan(application.submitted_at) + timedelta(days=int(sla))
    _flush(session)
    _act(session, tenant, application, actor, step)
    _record(
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
    _flush(session)
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
    _check_version(application, expected_version)
    workflow = _workflow(application)
    submit_step = next((t for t in workflow.from_state(application.state) if t.to == "submitted"), None)
    if submit_step is None:
        raise Conflict(f"The application is '{application.state}' and cannot be submitted.")
    _apply(session, tenant, application, actor, submit_step.name)
    if _may_auto_issue(application, actor):
        _auto_issue(session, tenant, application, workflow)
    return application


def _auto_issue(session: Session, tenant: Tenant, application: Application, workflow: Workflow) -> None:
    """Take the unattended path to issue. If the registry can't support it (say, no assessment for that
    year), undo only the attempt: the submission stands and waits for a clerk, with the reason on record."""
    path = workflow.unattended_path(application.state, "issue_document")
    if not path:
        return
    savepoint = session.begin_nested()
    try:
        for step in path:
            _apply(session, tenant, application, Actor.system(), step.name)
    except (Conflict, ValidationFailed) as refusal:
        savepoint.rollback()
        session.refresh(application)
        _record(
            session,
            application,
            Actor.system(),
            action="auto_issue_declined",
            role=SYSTEM_ROLE,
            from_state=application.state,
            to_state=application.state,
            comment=refusal.detail,
        )
        _flush(session)
    else:
        savepoint.commit()


def _may_auto_issue(application: Application, actor: Actor) -> bool:
    settings = application.settings_snapshot
    kind = (settings.get("output_document") or {}).get("kind")
    return bool(
        settings.get("auto_issue")
        and kind in hooks.auto_issuable_kinds
        and actor.is_resident
        and actor.is_verified
        and actor.person_id == application.applicant_person_id
    )


def assign(
    session: Session, tenant: Tenant, actor: Actor, application_id: uuid.UUID, assignee_id: uuid.UUID | None
) -> Application:
    application = repository.get(session, tenant.id, application_id)
    _ensure_visible(actor, application)
    if not actor.is_staff:
        raise Forbidden("Only staff assign applications.")
    if assignee_id is not None:
        assignee = session.execute(select(Account).where(Account.id == assignee_id)).scalar_one_or_none()
        if assignee is None or assignee.kind != AccountKind.STAFF or assignee.disabled:
            raise ValidationFailed(errors={"assignee_id": ["is not an active staff member of this municipality"]})
    application.assignee_account_id = assignee_id
    application.updated_at = utcnow()
    _flush(session)
    _record(
        session,
        application,
        actor,
        action="assign",
        role=_role_label(actor),
        from_state=application.state,
        to_state=application.state,
        data={"assignee": str(assignee_id) if assignee_id else None},
    )
    _flush(session)
    return application


# --------------------------------------------------------------------------------------------- comments


#: History action of a staff comment: an internal note, shown to staff only (not to the applicant).
INTERNAL_COMMENT_ACTION = "comment"


def add_comment(
    session: Session, tenant: Tenant, actor: Actor, application_id: uuid.UUID, comment: str
) -> ApplicationEvent:
    """A staff note on an application's history: no state change, audited like every other event."""
    application = repository.get(session, tenant.id, application_id)
    _ensure_visible(actor, application)
    if not actor.is_staff:
        raise Forbidden("Only staff comment on applications.")
    text = (comment or "").strip()
    if not text:
        raise ValidationFailed("Write a comment.", errors={"comment": ["is required"]})
    if len(text) > 2000:
        raise ValidationFailed("The comment is too long.", errors={"comment": ["must be at most 2000 characters"]})
    _record(
        session,
        application,
        actor,
        action=INTERNAL_COMMENT_ACTION,
        role=_role_label(actor),
        from_state=application.state,
        to_state=application.state,
        comment=text,
    )
    _flush(session)
    return repository.history(session, tenant.id, application.id)[-1]
