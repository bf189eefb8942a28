"""What a verified card does to accounts (decision 0048): sign in, sign up, link, unlink, and the clerk's
confirmation of a variant-name match. Called by the web layer after ``protocol.complete``.

Contract (lead): the signatures and results below are what the portal and console views use.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.orm import Session

from madoguchi.identity.card.models import CardAuthorization, CardLink, CardMatchReview, IdentityEvidence
from madoguchi.identity.card.protocol import CardIdentity
from madoguchi.identity.models import Account
from madoguchi.tenancy.models import Tenant


@dataclass(frozen=True)
class CardOutcome:
    """What happened after the provider's answer was accepted.

    ``kind``:
    - ``signed_in``: a card already linked to ``account``: the view starts a session for it.
    - ``verified``: (link, or sign-up finished) ``account`` is now linked to its register person at the card level.
    - ``needs_account``: no account has this card: the view asks for an email address
      (``create_account_from_card`` with ``authorization``) to open one.
    - ``needs_review``: linked for sign-in, but the register match waits for a clerk (``review``).
    - ``no_match`` / ``several`` / ``other_municipality``: the card is linked for sign-in (when an account is
      there) but the account stays at its level; the view says what to do next (the counter, the card's own
      municipality).
    """

    kind: str
    account: Account | None = None
    authorization: CardAuthorization | None = None
    review: CardMatchReview | None = None
    #: For ``other_municipality``: the municipality on the card (to name it to the resident).
    municipality: str | None = None


def after_sign_in(
    session: Session, tenant: Tenant, authorization: CardAuthorization, card: CardIdentity
) -> CardOutcome:
    """The answer to a ``sign_in`` request: a linked card signs its account in; an unknown one needs an account."""
    raise NotImplementedError


def after_link(
    session: Session, tenant: Tenant, authorization: CardAuthorization, card: CardIdentity, account: Account
) -> CardOutcome:
    """The answer to a ``link`` request by the signed-in ``account`` (it must be the one that started it)."""
    raise NotImplementedError


def create_account_from_card(
    session: Session,
    tenant: Tenant,
    authorization_id: uuid.UUID,
    *,
    browser_binding: str | None,
    email: str,
    locale: str | None,
) -> CardOutcome:
    """A new resident's account from a verified card (``needs_account``): the email given, the card linked, the
    register matched (``verified`` at the card level when exact). Sends the email verification link."""
    raise NotImplementedError


def unlink_card(session: Session, tenant: Tenant, account: Account, *, actor: str) -> None:
    """The resident removes the card from their account. The register link and level stay if another method
    verified it; a level that only the card gave drops back to what it was (email or verified)."""
    raise NotImplementedError


def card_link_of(session: Session, tenant_id: uuid.UUID, account_id: uuid.UUID) -> CardLink | None:
    raise NotImplementedError


def evidence_of(session: Session, tenant_id: uuid.UUID, account_id: uuid.UUID) -> list[IdentityEvidence]:
    """The evidence that verified the account, newest first (staff and the resident see it)."""
    raise NotImplementedError


def open_reviews(session: Session, tenant_id: uuid.UUID) -> list[CardMatchReview]:
    raise NotImplementedError


def decide_review(
    session: Session, tenant: Tenant, review_id: uuid.UUID, *, confirm: bool, by: Account, actor: str
) -> CardMatchReview:
    """A clerk or supervisor confirms (link at the card level) or rejects a variant-name match."""
    raise NotImplementedError
