"""The card's 基本4情報 against the tenant's resident register (decision 0048).

Exact first: the card's name (spaces removed) equal code point for code point to the register's family + given
name, the same birth date and sex, among persons not removed (除票 excluded), and the address equal once written
the same way (NFKC, 丁目・番地・号 and dashes unified, spaces removed). Then, only if nothing matched exactly, the
variant folding the counter's search uses (``jp.name_search_key``: 髙→高, 﨑→崎, IVS dropped): a single person found
that way is a candidate a clerk must confirm, never a link by itself. The card's prefecture and municipality decide
whether it belongs to this municipality at all.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from madoguchi.identity.card.models import CardMatch
from madoguchi.identity.card.protocol import CardIdentity
from madoguchi.registry.models import Person
from madoguchi.tenancy.models import Tenant


@dataclass(frozen=True)
class MatchOutcome:
    match: CardMatch
    #: The one person matched (exact or candidate); None for none, several or another municipality.
    person: Person | None = None
    #: Why a candidate needs a clerk: ``variant_name`` or ``address_differs``.
    review_reason: str | None = None
    #: How many register persons matched (several: 2 or more).
    candidates: int = 0


def match_person(session: Session, tenant: Tenant, card: CardIdentity) -> MatchOutcome:
    raise NotImplementedError


def normalize_address(text: str) -> str:
    raise NotImplementedError
