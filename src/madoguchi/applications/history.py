"""What every change to an application does and checks: its history row and audit record (``record``), the
optimistic-lock flush (``flush``), the If-Match version check, and who may see it. Shared by ``drafts`` and
``operations``."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from madoguchi.applications import repository
from madoguchi.applications.models import Application, ApplicationEvent
from madoguchi.applications.workflow import Workflow
from madoguchi.audit import operations as audit
from madoguchi.db import utcnow
from madoguchi.errors import (
    Conflict,
    NotFound,
    PreconditionFailed,
)
from madoguchi.identity.actors import APPLICANT_ROLE, SYSTEM_ROLE, Actor


def flush(session: Session) -> None:
    try:
        session.flush()
    except StaleDataError as exc:
        raise Conflict("The application was changed by someone else at the same time; reload and try again.") from exc


def workflow_of(application: Application) -> Workflow:
    return application.workflow


def record(
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


def role_label(actor: Actor) -> str:
    if actor.kind == SYSTEM_ROLE:
        return SYSTEM_ROLE
    if actor.is_resident:
        return APPLICANT_ROLE
    return sorted(actor.staff_roles)[0] if actor.staff_roles else actor.kind


def check_version(application: Application, expected_version: int | None) -> None:
    if expected_version is not None and expected_version != application.lock_version:
        raise PreconditionFailed(
            f"The application is at version {application.lock_version}, not {expected_version}; reload it."
        )


def ensure_visible(actor: Actor, application: Application) -> None:
    """Residents see only their own applications; to anyone else another's is simply not there."""
    is_applicant = actor.account_id is not None and actor.account_id == application.applicant_account_id
    if not (is_applicant or actor.kind == SYSTEM_ROLE or (actor.is_staff and actor.staff_roles)):
        raise NotFound("No such application.")
