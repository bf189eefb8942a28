"""Staff reads of residents' personal data (``access_events``): write one, and check none was altered.

A read is recorded in the request's own transaction, so it is committed exactly when the response that showed
the data is (a refused or failed request shows nothing and records nothing). Rows are never chained: reads are
the most frequent thing the system does, and a per-tenant chain head would make every page view of a
municipality wait for the others (issue 15). Each row carries an HMAC under the audit key instead, so an edit
without the key is found; the app role may not update or delete rows at all (migration 0015).
See docs/decisions/0012-keyed-audit-and-staff-reads.md.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from madoguchi.audit.keys import AuditKeyError, AuditKeyring, canonical_json
from madoguchi.audit.models import AccessEvent
from madoguchi.audit.operations import session_keyring
from madoguchi.db import utcnow

# What kind of personal data a read showed (the resident's ledger groups by these).
BASIC4 = "basic4"  # 基本4情報: name, address, date of birth, sex (here: also kana, resident code)
HOUSEHOLD = "household"  # 世帯: the members of the household and their relationships
APPLICATION_FORM = "application_form"  # what the application says (form answers, prefill sources)
APPLICATION_HISTORY = "application_history"  # its history, comments, assignee
ATTACHMENTS = "attachments"  # a document the resident uploaded
CERTIFICATE = "certificate"  # an issued certificate (its content comes from the register)

# What the reader did.
VIEW_APPLICATION = "view_application"
VIEW_REGISTRY = "view_registry"
DOWNLOAD_ATTACHMENT = "download_attachment"
DOWNLOAD_CERTIFICATE = "download_certificate"


@dataclass(frozen=True)
class Reader:
    """Who read: ``actor_type`` staff or vendor_app, ``actor`` as in the audit chain, roles, the vendor app."""

    actor_type: str
    actor: str
    roles: tuple[str, ...] = ()
    client_id: uuid.UUID | None = None


@dataclass(frozen=True)
class Subject:
    """Whose data: the application, the register entry and the applicant's account, each when known."""

    application_id: uuid.UUID | None = None
    person_id: uuid.UUID | None = None
    account_id: uuid.UUID | None = None


def _content(event: AccessEvent) -> dict[str, Any]:
    return {
        "id": str(event.id),
        "tenant_id": str(event.tenant_id),
        "at": event.at.isoformat(),
        "actor_type": event.actor_type,
        "actor": event.actor,
        "actor_roles": list(event.actor_roles),
        "client_id": str(event.client_id) if event.client_id else None,
        "action": event.action,
        "channel": event.channel,
        "operation": event.operation,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "application_id": str(event.application_id) if event.application_id else None,
        "subject_person_id": str(event.subject_person_id) if event.subject_person_id else None,
        "subject_account_id": str(event.subject_account_id) if event.subject_account_id else None,
        "data_categories": list(event.data_categories),
        "purpose": event.purpose,
        "visible_from": event.visible_from.isoformat(),
        "key_id": event.key_id,
    }


def record_read(
    session: Session,
    tenant_id: uuid.UUID,
    reader: Reader,
    subject: Subject,
    *,
    action: str,
    channel: str,
    operation: str,
    object_type: str,
    object_id: str | uuid.UUID,
    categories: Iterable[str],
    purpose: str | None = None,
) -> AccessEvent:
    """Add one read to the caller's transaction (no lock: reads of one tenant never wait for each other)."""
    key = session_keyring(session).current
    now = utcnow()
    event = AccessEvent(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        at=now,
        actor_type=reader.actor_type,
        actor=reader.actor,
        actor_roles=list(reader.roles),
        client_id=reader.client_id,
        action=action,
        channel=channel,
        operation=operation[:200],
        object_type=object_type,
        object_id=str(object_id),
        application_id=subject.application_id,
        subject_person_id=subject.person_id,
        subject_account_id=subject.account_id,
        data_categories=sorted(set(categories)),
        purpose=purpose[:200] if purpose else None,
        visible_from=now,
        key_id=key.key_id,
    )
    event.mac = key.access_event_mac(canonical_json(_content(event)))
    session.add(event)
    session.flush()
    return event


@dataclass(frozen=True)
class AccessReport:
    events_checked: int
    problem: str | None = None

    @property
    def intact(self) -> bool:
        return self.problem is None


def verify_reads(
    session: Session, tenant_id: uuid.UUID, keyring: AuditKeyring, *, batch_size: int = 1000
) -> AccessReport:
    """Check every staff-read record's MAC; report the first altered one."""
    checked = 0
    stmt = (
        select(AccessEvent)
        .where(AccessEvent.tenant_id == tenant_id)
        .order_by(AccessEvent.at, AccessEvent.id)
        .execution_options(yield_per=batch_size)
    )
    result = session.execute(stmt).scalars()
    try:
        for event in result:
            try:
                expected = keyring.get(event.key_id).access_event_mac(canonical_json(_content(event)))
            except AuditKeyError as missing:
                return AccessReport(checked, f"staff-read record {event.id}: {missing}")
            if expected != event.mac:
                return AccessReport(checked, f"staff-read record {event.id} was modified after it was written")
            checked += 1
    finally:
        result.close()
    return AccessReport(checked)
