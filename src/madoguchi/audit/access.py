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
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
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
TAX = "tax"  # 課税・所得: the inhabitant tax assessment
CHILDCARE = "childcare"  # 保育: the childcare application's points, preferences and the allocation's outcome

# What the reader did.
VIEW_APPLICATION = "view_application"
LIST_APPLICATIONS = "list_applications"  # an application (with its data) in a list an API caller asked for
VIEW_REGISTRY = "view_registry"
COUNTER_SEARCH_HIT = "counter_search_hit"  # a person among the counter search's results
DOWNLOAD_ATTACHMENT = "download_attachment"
DOWNLOAD_CERTIFICATE = "download_certificate"
PREFILL = "prefill"  # the system copied register fields into a form (which fields, as of when: the purpose)
AUTO_ISSUE = "auto_issue"  # the system built a certificate from the register without a clerk
BATCH_USE = "batch_use"  # a batch job used the person's data (one entry per person per job run)

# Who read (``AccessEvent.actor_type``).
STAFF = "staff"
VENDOR_APP = "vendor_app"
SYSTEM = "system"
ACTOR_TYPES = (STAFF, VENDOR_APP, SYSTEM)


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
    content = {
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
    # Added in migration 0035: in the MAC'd content only when set, so a row written before still verifies.
    if event.consent_id is not None:
        content["consent_id"] = str(event.consent_id)
    if event.scope is not None:
        content["scope"] = event.scope
    return content


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
    consent_id: uuid.UUID | None = None,
    scope: str | None = None,
    visible_from: datetime | None = None,
    flush: bool = True,
) -> AccessEvent:
    """Add one read to the caller's transaction (no lock: reads of one tenant never wait for each other).

    ``visible_from`` later than now holds the entry back from the resident's ledger until then (say, while an
    investigation must not be tipped off); the resident sees neither the entry nor that one is held."""
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
        visible_from=max(visible_from, now) if visible_from is not None else now,
        consent_id=consent_id,
        scope=scope[:200] if scope else None,
        key_id=key.key_id,
    )
    event.mac = key.access_event_mac(canonical_json(_content(event)))
    session.add(event)
    if flush:  # a list's reads are left to the commit's flush: one batched INSERT for the page
        session.flush()
    return event


def record_system_use(
    session: Session,
    tenant_id: uuid.UUID,
    job: str,
    subject: Subject,
    *,
    action: str,
    object_type: str,
    object_id: str | uuid.UUID,
    categories: Iterable[str],
    purpose: str | None = None,
) -> AccessEvent:
    """Record that an automatic job (``job``: prefill, auto_issue, childcare_allocation...) used a person's data.

    One entry per person per run, whatever the number of fields or rows it read (Estonia's Data Tracker shows
    bulk processing the same way): the resident's ledger says which job, on which application or round, why."""
    return record_read(
        session,
        tenant_id,
        Reader(SYSTEM, f"system:{job}"),
        subject,
        action=action,
        channel="system",
        operation=job,
        object_type=object_type,
        object_id=object_id,
        categories=categories,
        purpose=purpose,
    )


def record_batch_use(
    session: Session,
    tenant_id: uuid.UUID,
    job: str,
    uses: Iterable[tuple[Subject, str]],
    *,
    object_type: str,
    object_id: str | uuid.UUID,
    categories: Iterable[str],
) -> int:
    """One system entry per (subject, purpose) of a batch job (an allocation run of a hundred thousand children),
    written with one executemany like the job's own rows; returns how many."""
    key = session_keyring(session).current
    now = utcnow()
    kinds = sorted(set(categories))
    rows = []
    for subject, purpose in uses:
        event = AccessEvent(
            id=uuid.uuid4(),
            tenant_id=tenant_id,
            at=now,
            actor_type=SYSTEM,
            actor=f"system:{job}",
            actor_roles=[],
            client_id=None,
            action=BATCH_USE,
            channel="system",
            operation=job,
            object_type=object_type,
            object_id=str(object_id),
            application_id=subject.application_id,
            subject_person_id=subject.person_id,
            subject_account_id=subject.account_id,
            data_categories=kinds,
            purpose=purpose[:200],
            visible_from=now,
            key_id=key.key_id,
        )
        event.mac = key.access_event_mac(canonical_json(_content(event)))
        rows.append({c.key: getattr(event, c.key) for c in AccessEvent.__table__.columns})
    if rows:
        session.execute(insert(AccessEvent), rows)
    return len(rows)


def staff_code(event: AccessEvent, keyring: AuditKeyring) -> str:
    """A pseudonymous code for the staff member who read (never their name or email): the same clerk has the same
    code in a resident's ledger for as long as the audit key lasts, and nobody without the key can tell who it is.
    The municipality finds the clerk from the row's ``actor`` when the resident asks."""
    try:
        key = keyring.get(event.key_id)
    except AuditKeyError:  # a retired key no longer configured: the current one still hides the name
        key = keyring.current
    digest = key.pseudonym(event.actor.encode())
    return f"S-{digest[:8].upper()}"


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
                return AccessReport(checked, f"data-use entry {event.id}: {missing}")
            if expected != event.mac:
                return AccessReport(checked, f"data-use entry {event.id} was modified after it was written")
            checked += 1
    finally:
        result.close()
    return AccessReport(checked)
