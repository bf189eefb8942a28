"""A resident's notices inbox (お知らせ): its queries and its one write, marking notices read.

The notices themselves are written in the transition's transaction, by the handler this module registers
for the workflow action ``notify_applicant`` (``applications.hooks``), and in the delivery's when a clerk posts
or hands over a certificate (``documents.delivery.completion_listeners``). Every function is scoped to one
account of one tenant: another resident's notice is not there.
"""

from __future__ import annotations

import uuid

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session

from madoguchi.applications import hooks
from madoguchi.applications.models import Application
from madoguchi.applications.workflow import Transition
from madoguchi.db import utcnow
from madoguchi.documents import delivery
from madoguchi.documents.models import Delivery
from madoguchi.errors import NotFound
from madoguchi.identity.actors import Actor
from madoguchi.notify.models import Notice
from madoguchi.tenancy.models import Tenant


@hooks.on_action("notify_applicant")
def add_notice(
    session: Session, tenant: Tenant, application: Application, actor: Actor, transition: Transition
) -> None:
    """The resident's inbox notice of the step (the email goes through the outbox, enqueued by the workflow)."""
    _notify(session, application, f"application.{transition.to}")


def _notify(session: Session, application: Application, kind: str) -> None:
    if application.applicant_account_id is not None:
        session.add(
            Notice(
                tenant_id=application.tenant_id,
                account_id=application.applicant_account_id,
                application_id=application.id,
                kind=kind,
                reference=application.reference,
            )
        )


def add_delivery_notice(session: Session, filed: Delivery, application: Application) -> None:
    """The resident's inbox notice that the paper was posted (``delivery.sent``) or handed over at the counter."""
    _notify(session, application, f"delivery.{filed.status}")


delivery.completion_listeners.append(add_delivery_notice)


#: The most notices the inbox page lists (newest first); older ones stay reachable by their links.
INBOX_SIZE = 200


def unread_count(session: Session, tenant_id: uuid.UUID, account_id: uuid.UUID) -> int:
    stmt = select(func.count()).where(
        Notice.tenant_id == tenant_id, Notice.account_id == account_id, Notice.read_at.is_(None)
    )
    return int(session.execute(stmt).scalar_one())


def _with_application(tenant_id: uuid.UUID, account_id: uuid.UUID) -> Select[Notice, Application]:
    return (
        select(Notice, Application)
        .outerjoin(Application, (Application.tenant_id == Notice.tenant_id) & (Application.id == Notice.application_id))
        .where(Notice.tenant_id == tenant_id, Notice.account_id == account_id)
    )


def inbox(
    session: Session, tenant_id: uuid.UUID, account_id: uuid.UUID, *, limit: int = INBOX_SIZE
) -> list[tuple[Notice, Application | None]]:
    """The account's newest notices, each with its application (None if it has none)."""
    stmt = _with_application(tenant_id, account_id).order_by(Notice.created_at.desc(), Notice.id.desc()).limit(limit)
    return [(notice, application) for notice, application in session.execute(stmt).all()]


def notice_of(
    session: Session, tenant_id: uuid.UUID, account_id: uuid.UUID, notice_id: uuid.UUID
) -> tuple[Notice, Application | None]:
    """One of the account's notices by its id, however old, with its application; else ``NotFound``."""
    row = session.execute(_with_application(tenant_id, account_id).where(Notice.id == notice_id)).one_or_none()
    if row is None:
        raise NotFound("No such notice.")
    return row[0], row[1]


def mark_read(session: Session, notice: Notice) -> None:
    """The resident opened the notice (the first time counts)."""
    if notice.read_at is None:
        notice.read_at = utcnow()
        session.flush()


def mark_all_read(session: Session, tenant_id: uuid.UUID, account_id: uuid.UUID) -> int:
    """Mark every unread notice of the account read; returns how many were unread."""
    result = session.execute(
        update(Notice)
        .where(Notice.tenant_id == tenant_id, Notice.account_id == account_id, Notice.read_at.is_(None))
        .values(read_at=utcnow())
    )
    return int(getattr(result, "rowcount", 0) or 0)
