"""Workflow steps another domain carries out, registered by that domain so applications never imports it.

The workflow (``operations``) runs the catalog's guards and actions by name. A few are another domain's work:
``issue_document`` signs a certificate and ``required_documents_present`` counts attachments (documents), and
``notify_applicant`` also writes the resident's inbox notice (notify); what the register says of the answers (a tax
certificate asked for a year with no assessment) is the documents' knowledge too. Those domains sit above applications
in the layers (docs/decisions/0016-layers.md), so they register their handler here when imported
(``@on_action``, ``@on_guard``, ``@on_data_check``) and the composition root, ``madoguchi.app``, imports them. A
guard or action that the catalog names but nobody handles is refused (409), never skipped.

An action may also check what staff decided (``@on_decision``): the childcare certification (支給認定) takes the
clerk's category, hours and validity per child in the transition's ``decision``. Its check runs before anything
changes and returns the decision as recorded, or refuses it (``ValidationFailed``, errors by field), so a bad
decision leaves the application as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

if TYPE_CHECKING:  # annotations only: the handlers' arguments
    from madoguchi.applications.models import Application
    from madoguchi.applications.workflow import Transition
    from madoguchi.identity.actors import Actor
    from madoguchi.tenancy.models import Tenant

#: ``(session, tenant, application, actor, transition)``; runs inside the transition's transaction.
ActionHandler = Callable[[Session, "Tenant", "Application", "Actor", "Transition"], None]
#: ``(session, application)``; raises a ``DomainError`` (usually ``ValidationFailed``) when the guard fails.
GuardHandler = Callable[[Session, "Application"], None]

#: ``(session, application, data)`` -> messages keyed by JSON pointer: what the register says of answers that
#: validate against the form (no tax assessment for the year asked, say), so the applicant is told at once,
#: not a clerk later. ``data`` may be a draft's: check only what it answers.
DataCheck = Callable[[Session, "Application", dict[str, Any]], dict[str, list[str]]]


class Worded(str):
    """A data check's message already worded for whoever answered, in their language (a childcare cross-check
    naming the class and the facility): the portal and the console show it as it is, where a technical message of
    ``applications.forms`` is reworded first."""


#: ``(session, application, decision)`` -> the decision to record (normalised), or ``ValidationFailed`` naming
#: each field that is wrong. ``decision`` is what the caller sent (None: nothing).
DecisionCheck = Callable[[Session, "Application", dict[str, Any] | None], dict[str, Any]]

_actions: dict[str, list[ActionHandler]] = {}
_decision_checks: dict[str, DecisionCheck] = {}
_guards: dict[str, GuardHandler] = {}
_data_checks: dict[str, DataCheck] = {}
#: Document kinds the system may issue on its own, without a clerk (registered by documents).
auto_issuable_kinds: set[str] = set()


def on_data_check(document_kind: str) -> Callable[[DataCheck], DataCheck]:
    """Register ``check`` for the answers of procedures whose output document is ``document_kind``."""

    def register(check: DataCheck) -> DataCheck:
        _data_checks[document_kind] = check
        return check

    return register


def data_errors(session: Session, application: Application, data: dict[str, Any]) -> dict[str, list[str]]:
    """What the register says of ``data`` (empty when the procedure's document has no check, or all is well)."""
    kind = (application.settings_snapshot.get("output_document") or {}).get("kind")
    check = _data_checks.get(kind) if kind else None
    return check(session, application, data) if check is not None else {}


def on_action(name: str) -> Callable[[ActionHandler], ActionHandler]:
    """Register ``handler`` as (one of) the step(s) of the workflow action ``name``."""

    def register(handler: ActionHandler) -> ActionHandler:
        _actions.setdefault(name, []).append(handler)
        return handler

    return register


def on_guard(name: str) -> Callable[[GuardHandler], GuardHandler]:
    """Register ``handler`` as the check of the workflow guard ``name`` (one per guard)."""

    def register(handler: GuardHandler) -> GuardHandler:
        _guards[name] = handler
        return handler

    return register


def on_decision(action: str) -> Callable[[DecisionCheck], DecisionCheck]:
    """Register ``check`` as what the workflow action ``action`` asks of the transition's decision (one per action)."""

    def register(check: DecisionCheck) -> DecisionCheck:
        _decision_checks[action] = check
        return check

    return register


def decision_check(action: str) -> DecisionCheck | None:
    return _decision_checks.get(action)


def action_handlers(name: str) -> list[ActionHandler]:
    return list(_actions.get(name, ()))


def guard_handler(name: str) -> GuardHandler | None:
    return _guards.get(name)
