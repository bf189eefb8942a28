"""Every query of card sign-in's operations: linked cards, evidence, reviews, pending authorizations.

Tenant-owned rows are looked up by ``(tenant_id, ...)``; nothing here decides a rule or commits.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from madoguchi.audit.models import AuditRecord
from madoguchi.identity.card.models import CardAuthorization, CardLink, CardMatchReview, IdentityEvidence


def link_of_card(session: Session, tenant_id: uuid.UUID, issuer: str, subject_hash: str) -> CardLink | None:
    return session.execute(
        select(CardLink).where(
            CardLink.tenant_id == tenant_id, CardLink.issuer == issuer, CardLink.subject_hash == subject_hash
        )
    ).scalar_one_or_none()


def link_of_account(session: Session, tenant_id: uuid.UUID, account_id: uuid.UUID) -> CardLink | None:
    return session.execute(
        select(CardLink).where(CardLink.tenant_id == tenant_id, CardLink.account_id == account_id)
    ).scalar_one_or_none()


def evidence_of(session: Session, tenant_id: uuid.UUID, account_id: uuid.UUID) -> list[IdentityEvidence]:
    stmt = (
        select(IdentityEvidence)
        .where(IdentityEvidence.tenant_id == tenant_id, IdentityEvidence.account_id == account_id)
        .order_by(IdentityEvidence.verified_at.desc(), IdentityEvidence.id)
    )
    return list(session.execute(stmt).scalars())


def verification_records(session: Session, tenant_id: uuid.UUID, account_id: uuid.UUID) -> list[AuditRecord]:
    """The audit trail's ``identity.verified`` entries of the account (letters and the counter wrote only these
    before ``identity_evidence`` existed)."""
    stmt = select(AuditRecord).where(
        AuditRecord.tenant_id == tenant_id,
        AuditRecord.object_type == "account",
        AuditRecord.object_id == str(account_id),
        AuditRecord.action == "identity.verified",
    )
    return list(session.execute(stmt).scalars())


def open_reviews(session: Session, tenant_id: uuid.UUID, account_id: uuid.UUID | None = None) -> list[CardMatchReview]:
    stmt = select(CardMatchReview).where(CardMatchReview.tenant_id == tenant_id, CardMatchReview.decided_at.is_(None))
    if account_id is not None:
        stmt = stmt.where(CardMatchReview.account_id == account_id)
    return list(session.execute(stmt.order_by(CardMatchReview.created_at, CardMatchReview.id)).scalars())


def find_review(
    session: Session, tenant_id: uuid.UUID, review_id: uuid.UUID, *, lock: bool = False
) -> CardMatchReview | None:
    stmt = select(CardMatchReview).where(CardMatchReview.tenant_id == tenant_id, CardMatchReview.id == review_id)
    return session.execute(stmt.with_for_update() if lock else stmt).scalar_one_or_none()


def find_authorization(
    session: Session, tenant_id: uuid.UUID, authorization_id: uuid.UUID, *, lock: bool = False
) -> CardAuthorization | None:
    stmt = select(CardAuthorization).where(
        CardAuthorization.tenant_id == tenant_id, CardAuthorization.id == authorization_id
    )
    return session.execute(stmt.with_for_update() if lock else stmt).scalar_one_or_none()
