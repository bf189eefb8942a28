"""Delivery of the printed copy: the daily mail-out worklist (郵送) and the counter's pick-up list (窓口).

The resident's form says how they want the certificate (``delivery``: ``electronic``, ``mail``, ``counter``).
Electronic delivery is the signed PDF to download and needs nothing here. For post and counter, issuing the
certificate (``issuing.issue_document``) also files a :class:`Delivery`: the name and registered address as the
register has them at issue, the day (Japan time) whose mail-out it belongs to, and for the counter a short
pick-up code. A clerk then marks it posted (``mark_sent``, one item or a day's batch) or handed over
(``hand_over``, after checking an identity document); each records who and when, is audited, emails the resident
and tells the layers above (``completion_listeners``: notify writes the inbox notice). Both are idempotent: a
second "sent" changes nothing and tells nobody twice.

The resident of a post or counter certificate receives paper, not the PDF (docs/decisions/0033-delivery.md):
``resident_may_download`` says so for the portal and the API.
"""

from __future__ import annotations

import secrets
import unicodedata
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from madoguchi import jp, outbox
from madoguchi.applications.models import Application
from madoguchi.audit import operations as audit
from madoguchi.db import utcnow
from madoguchi.documents.models import Delivery, IssuedDocument
from madoguchi.errors import Conflict, NotFound, ValidationFailed
from madoguchi.identity.actors import Actor
from madoguchi.identity.models import StaffRole
from madoguchi.registry.models import Person
from madoguchi.tenancy.models import Tenant

MAIL = "mail"
COUNTER = "counter"
ELECTRONIC = "electronic"
METHODS = (MAIL, COUNTER)
PENDING = "pending"
SENT = "sent"
HANDED_OVER = "handed_over"

#: Who posts and hands over certificates: the counter's clerks and supervisors (a tenant admin configures).
WORKER_ROLES = frozenset({StaffRole.CLERK.value, StaffRole.SUPERVISOR.value})
#: The role that sees the console's administration link.
ADMIN_ROLE = StaffRole.TENANT_ADMIN.value

#: Identity documents a clerk may accept at hand-over (住民基本台帳法施行令: one photo ID, or two others).
IDENTITY_DOCUMENTS = ("my_number_card", "driving_licence", "passport", "residence_card", "two_other_documents")

#: Pick-up code characters: digits and capitals a person cannot mistake for one another when read aloud or off a
#: phone (no 0/O/Q/D, 1/I/L, 2/Z, 5/S, 8/B, 6/G, U/V).
PICKUP_ALPHABET = "ACEFHJKMNPRTWXY3479"
PICKUP_LENGTH = 6

#: Called with ``(session, delivery, application)`` when an item is posted or handed over, in that transaction:
#: the layers above add what they own (notify: the resident's inbox notice). Registered at import.
CompletionListener = Callable[[Session, Delivery, Application], None]
completion_listeners: list[CompletionListener] = []


def method_of(application: Application) -> str:
    """The delivery the rules force (an agent's copy with 個人番号: by post, decision 0036), else the one the
    applicant chose (``electronic`` when the procedure's form has no such question)."""
    chosen = application.delivery_method
    return chosen if chosen in METHODS else ELECTRONIC


def formatted_postal_code(postal_code: str) -> str:
    """〒498-2323, whatever form the register holds (4982323, 498-2323, full width)."""
    try:
        return f"〒{jp.normalize_postal_code(postal_code)}"
    except ValueError:
        return f"〒{postal_code}"


def grouped_pickup_code(code: str) -> str:
    """The code as shown and read: two groups of three (``K7M-4QX``)."""
    half = len(code) // 2
    return f"{code[:half]}-{code[half:]}"


def normalize_pickup_code(typed: str) -> str | None:
    """The code from what a clerk typed or a scanner sent (any case, full width, with spaces or a dash)."""
    cleaned = "".join(ch for ch in unicodedata.normalize("NFKC", typed).upper() if ch.isalnum())
    if len(cleaned) != PICKUP_LENGTH or any(ch not in PICKUP_ALPHABET for ch in cleaned):
        return None
    return cleaned


def _new_pickup_code(session: Session, tenant_id: uuid.UUID) -> str:
    for _attempt in range(20):
        code = "".join(secrets.choice(PICKUP_ALPHABET) for _ in range(PICKUP_LENGTH))
        taken = session.execute(
            select(Delivery.id).where(Delivery.tenant_id == tenant_id, Delivery.pickup_code == code)
        ).first()
        if taken is None:
            return code
    raise Conflict("No free pick-up code: try again.")  # 19^6 = 47 million codes: practically never


def file_for(session: Session, tenant: Tenant, application: Application, document: IssuedDocument) -> Delivery | None:
    """The delivery of a certificate just issued by post or for the counter (None for electronic delivery).

    Called by ``issuing.issue_document`` in the issue's transaction. Post goes to an address in the register
    (never one typed into the form): the applicant's own, or, when the rules forced the post (an agent's copy
    with 個人番号), the person concerned's (decision 0036). No registered person, no postal delivery.
    """
    method = method_of(application)
    if method == ELECTRONIC:
        return None
    recipient_id = application.subject_person_id if application.forced_delivery else application.applicant_person_id
    person = None
    if recipient_id is not None:
        person = session.execute(
            select(Person).where(Person.tenant_id == tenant.id, Person.id == recipient_id)
        ).scalar_one_or_none()
    if person is None:
        raise Conflict("The applicant has no registered address in the resident register to post to.")
    delivery = Delivery(
        tenant_id=tenant.id,
        application_id=application.id,
        document_id=document.id,
        method=method,
        status=PENDING,
        day=jp.date_in_japan(document.issued_at),
        recipient_name=person.full_name,
        postal_code=person.postal_code,
        address=person.address,
        pickup_code=_new_pickup_code(session, tenant.id) if method == COUNTER else None,
    )
    session.add(delivery)
    session.flush()
    return delivery


# --- Queries -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    """A row of a worklist: the delivery, its certificate and its application."""

    delivery: Delivery
    document: IssuedDocument
    application: Application


def _items(session: Session, tenant_id: uuid.UUID, *criteria: ColumnElement[bool]) -> list[Item]:
    stmt = (
        select(Delivery, IssuedDocument, Application)
        .join(
            IssuedDocument,
            (IssuedDocument.tenant_id == Delivery.tenant_id) & (IssuedDocument.id == Delivery.document_id),
        )
        .join(Application, (Application.tenant_id == Delivery.tenant_id) & (Application.id == Delivery.application_id))
        .where(Delivery.tenant_id == tenant_id, *criteria)
        .order_by(Delivery.created_at, Delivery.id)
    )
    return [Item(d, doc, app) for d, doc, app in session.execute(stmt).all()]


def mail_worklist(session: Session, tenant_id: uuid.UUID, day: date, *, pending_only: bool = False) -> list[Item]:
    """The certificates issued by post on ``day`` (Japan time), oldest first; with ``pending_only``, not yet sent."""
    criteria = [Delivery.method == MAIL, Delivery.day == day]
    if pending_only:  # what is still to print and post: not sent, not revoked since
        criteria += [Delivery.status == PENDING, IssuedDocument.revoked_at.is_(None)]
    return _items(session, tenant_id, *criteria)


def earlier_pending_days(session: Session, tenant_id: uuid.UUID, day: date) -> list[date]:
    """Days before ``day`` with post not yet marked sent: the worklist points at them so none is forgotten."""
    stmt = (
        select(Delivery.day)
        .where(
            Delivery.tenant_id == tenant_id,
            Delivery.method == MAIL,
            Delivery.status == PENDING,
            Delivery.day < day,
        )
        .distinct()
        .order_by(Delivery.day)
    )
    return list(session.execute(stmt).scalars())


def pickup_list(session: Session, tenant_id: uuid.UUID) -> list[Item]:
    """Certificates waiting at the counter, oldest first."""
    return _items(session, tenant_id, Delivery.method == COUNTER, Delivery.status == PENDING)


def get(session: Session, tenant_id: uuid.UUID, delivery_id: uuid.UUID, *, method: str | None = None) -> Item:
    """One item of this municipality (of ``method`` when given), else ``NotFound``."""
    criteria = [Delivery.id == delivery_id] + ([Delivery.method == method] if method else [])
    found = _items(session, tenant_id, *criteria)
    if not found:
        raise NotFound("No such delivery.")
    return found[0]


def by_pickup_code(session: Session, tenant_id: uuid.UUID, code: str) -> Item:
    found = _items(session, tenant_id, Delivery.method == COUNTER, Delivery.pickup_code == code)
    if not found:
        raise NotFound("No certificate waits at the counter with this pick-up code.")
    return found[0]


def of_application(session: Session, application: Application) -> Delivery | None:
    """The delivery of an application's (latest) certificate, for an application the caller may see."""
    stmt = (
        select(Delivery)
        .where(Delivery.tenant_id == application.tenant_id, Delivery.application_id == application.id)
        .order_by(Delivery.created_at.desc())
        .limit(1)
    )
    return session.execute(stmt).scalar_one_or_none()


def of_applications(
    session: Session, tenant_id: uuid.UUID, application_ids: list[uuid.UUID]
) -> dict[uuid.UUID, Delivery]:
    """The latest delivery of each of these applications (one query for a resident's list)."""
    if not application_ids:
        return {}
    stmt = (
        select(Delivery)
        .where(Delivery.tenant_id == tenant_id, Delivery.application_id.in_(application_ids))
        .order_by(Delivery.created_at)
    )
    return {row.application_id: row for row in session.execute(stmt).scalars()}


def of_document(session: Session, document: IssuedDocument) -> Delivery | None:
    """The delivery of a certificate the caller may see; None when it was delivered electronically."""
    stmt = select(Delivery).where(Delivery.tenant_id == document.tenant_id, Delivery.document_id == document.id)
    return session.execute(stmt).scalar_one_or_none()


def resident_may_download(session: Session, document: IssuedDocument) -> bool:
    """Whether the resident gets the PDF: only with electronic delivery. A posted or counter certificate is paper
    (a PDF as well would be a second original nobody paid for); staff always may, it is the record."""
    return of_document(session, document) is None


# --- Operations ----------------------------------------------------------------------------------------------


def _complete(
    session: Session,
    tenant: Tenant,
    actor: Actor,
    item: Item,
    status: str,
    *,
    at: datetime,
    identity_document: str | None = None,
) -> None:
    delivery = item.delivery
    delivery.status = status
    delivery.completed_at = at
    delivery.completed_by = actor.label
    delivery.identity_document = identity_document
    audit.record(
        session,
        tenant.id,
        actor=actor.label,
        action=f"delivery.{status}",
        object_type="delivery",
        object_id=delivery.id,
        data={
            "application": item.application.reference,
            "serial": item.document.serial,
            "method": delivery.method,
            **({"identity_document": identity_document} if identity_document else {}),
        },
    )
    if item.application.applicant_account_id is not None:
        outbox.enqueue(
            session,
            "notify.applicant",
            {
                "template": f"delivery.{status}",
                "application_id": item.application.id,
                "application_reference": item.application.reference,
                "account_id": item.application.applicant_account_id,
                "service_key": item.application.service_key,
            },
        )
    for listener in completion_listeners:
        listener(session, delivery, item.application)
    session.flush()


def mark_sent(session: Session, tenant: Tenant, actor: Actor, delivery_ids: Iterable[uuid.UUID]) -> list[Item]:
    """Mark posted items sent; returns the ones this call changed. Already sent ones are left as they are (a
    retried or double-clicked "sent" changes nothing); an id that is not this tenant's post is ``NotFound`` and
    nothing is changed."""
    wanted = list(dict.fromkeys(delivery_ids))
    items = _items(session, tenant.id, Delivery.method == MAIL, Delivery.id.in_(wanted)) if wanted else []
    if len(items) != len(wanted):
        raise NotFound("No such item on the mail-out worklist.")
    changed = [item for item in items if item.delivery.status == PENDING]
    if any(item.document.revoked_at is not None for item in changed):
        raise Conflict("A certificate on the list has been revoked: do not post it.")
    now = utcnow()
    for item in changed:
        _complete(session, tenant, actor, item, SENT, at=now)
    return changed


def mark_day_sent(session: Session, tenant: Tenant, actor: Actor, day: date) -> list[Item]:
    """Mark every item of ``day``'s mail-out still pending sent (the printed batch went to the post)."""
    pending = mail_worklist(session, tenant.id, day, pending_only=True)
    return mark_sent(session, tenant, actor, [item.delivery.id for item in pending])


def hand_over(session: Session, tenant: Tenant, actor: Actor, delivery_id: uuid.UUID, identity_document: str) -> Item:
    """The clerk handed the certificate over after checking ``identity_document``. Idempotent like ``mark_sent``."""
    if identity_document not in IDENTITY_DOCUMENTS:
        raise ValidationFailed(
            "Choose the identity document you checked.", errors={"identity_document": ["is required"]}
        )
    item = get(session, tenant.id, delivery_id, method=COUNTER)
    if item.document.revoked_at is not None:
        raise Conflict("This certificate has been revoked: do not hand it over.")
    if item.delivery.status == PENDING:
        _complete(session, tenant, actor, item, HANDED_OVER, at=utcnow(), identity_document=identity_document)
    return item
