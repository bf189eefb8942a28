"""The tables of card sign-in (decision 0048). All tenant-owned, under row-level security.

Nothing from the card is kept beyond what the municipality needs: the provider's subject only as a keyed hash (so a
later sign-in finds the account, and a leak of the table gives no card holder's id), the 基本4情報 only while a
sign-in is being finished (sealed, 15 minutes) or while a clerk must confirm a variant-name match (sealed, erased at
the decision).
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import ForeignKeyConstraint, Index, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from madoguchi.db import Base, TenantScoped, new_id, utcnow

# The evidence is identity's (letters and the counter write it too): defined beside the account, so identity's
# operations write it without importing this package (which imports them). Re-exported here for the card's code.
from madoguchi.identity.models import EvidenceMethod, IdentityEvidence

__all__ = [
    "CardAuthorization",
    "CardLink",
    "CardMatch",
    "CardMatchReview",
    "CardPurpose",
    "EvidenceMethod",
    "IdentityEvidence",
    "ReviewDecision",
]


class CardPurpose(enum.StrEnum):
    #: sign in (or sign up) with the card
    SIGN_IN = "sign_in"
    #: link the card to the account that is signed in
    LINK = "link"


class CardMatch(enum.StrEnum):
    """How a card's 基本4情報 compared with the resident register."""

    #: exactly one person with the same name (exact code points), birth date, sex and address
    EXACT = "exact"
    #: one person once variant characters are folded (髙/高, 﨑/崎, IVS), or whose address differs: a clerk confirms
    NEEDS_REVIEW = "needs_review"
    #: the card's address is in this municipality but no one in the register matches
    NONE = "none"
    #: more than one person matches: the counter sorts it out
    SEVERAL = "several"
    #: the card's address is in another municipality
    OTHER_MUNICIPALITY = "other_municipality"


class ReviewDecision(enum.StrEnum):
    CONFIRMED = "confirmed"
    REJECTED = "rejected"
    #: The resident removed the card before a clerk decided: closed, nothing linked.
    WITHDRAWN = "withdrawn"


class CardAuthorization(TenantScoped, Base):
    """One authorization request sent to the card's provider, waiting for its answer. Single use, 10 minutes.

    ``state`` goes to the provider and comes back; only its hash is kept. The browser that started it holds a
    binding cookie whose hash must match (a response carried to another browser is refused). Once the answer is
    checked, ``used_at`` is set in the same transaction that read it, so a replayed response is refused.
    """

    __tablename__ = "card_authorizations"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "account_id"], ["accounts.tenant_id", "accounts.id"], ondelete="CASCADE"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    #: SHA-256 of the ``state`` parameter.
    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: SHA-256 of the binding cookie given to the browser that started the request.
    browser_binding_hash: Mapped[str] = mapped_column(String(64))
    nonce: Mapped[str] = mapped_column(String(100))
    #: PKCE code verifier (RFC 7636), sent with the code to the token endpoint.
    code_verifier: Mapped[str] = mapped_column(String(128))
    purpose: Mapped[str] = mapped_column(String(20))
    #: The account to link the card to (purpose ``link``); None when signing in.
    account_id: Mapped[uuid.UUID | None]
    #: A path within the tenant to go back to afterwards.
    return_to: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    #: The answer arrived and was checked (or refused): never again.
    used_at: Mapped[datetime | None]
    #: The verified card identity (``protocol.CardIdentity`` as JSON), sealed with the data key, kept only while
    #: a new resident finishes their account (the email form); erased when the account is created or it expires.
    identity_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    #: The match outcome (``CardMatch``) computed when the answer arrived.
    match: Mapped[str | None] = mapped_column(String(20))


class CardLink(TenantScoped, Base):
    """A card linked to an account: the account signs in with it. One card per account, one account per card."""

    __tablename__ = "card_links"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "account_id"], ["accounts.tenant_id", "accounts.id"], ondelete="CASCADE"),
        UniqueConstraint("tenant_id", "issuer", "subject_hash"),
        UniqueConstraint("tenant_id", "account_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    account_id: Mapped[uuid.UUID]
    #: The provider's issuer identifier (``iss``).
    issuer: Mapped[str] = mapped_column(String(300))
    #: HMAC-SHA256 of ``issuer`` and the subject (``sub``) under a key derived from the platform's secret.
    subject_hash: Mapped[str] = mapped_column(String(64))
    linked_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]


class CardMatchReview(TenantScoped, Base):
    """A card whose holder matched one register person only with variant characters folded (or another address):
    a clerk compares and confirms (the account is then linked at the card level) or rejects."""

    __tablename__ = "card_match_reviews"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "account_id"], ["accounts.tenant_id", "accounts.id"], ondelete="CASCADE"),
        ForeignKeyConstraint(["tenant_id", "person_id"], ["persons.tenant_id", "persons.id"]),
        Index("ix_card_match_reviews_open", "tenant_id", "decided_at", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    account_id: Mapped[uuid.UUID]
    #: The register person the folded match found.
    person_id: Mapped[uuid.UUID]
    issuer: Mapped[str] = mapped_column(String(300))
    subject_hash: Mapped[str] = mapped_column(String(64))
    #: Why it needs a clerk: ``variant_name`` or ``address_differs``.
    reason: Mapped[str] = mapped_column(String(30))
    #: The card's name and address as the provider gave them, sealed; erased (None) at the decision.
    card_details_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    authenticated_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None]
    #: ``ReviewDecision``.
    decision: Mapped[str | None] = mapped_column(String(20))
    decided_by: Mapped[str | None] = mapped_column(String(200))
