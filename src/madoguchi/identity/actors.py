"""Who is acting: a resident, a staff member, or the system itself (auto-issue, the worker)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from madoguchi.identity.models import Account, AccountKind, IdentityAssurance, assurance_meets

SYSTEM_ROLE = "system"
APPLICANT_ROLE = "applicant"


@dataclass(frozen=True)
class Actor:
    kind: str  # resident | staff | system
    account_id: uuid.UUID | None = None
    staff_roles: frozenset[str] = field(default_factory=frozenset)
    person_id: uuid.UUID | None = None
    identity_assurance: str = IdentityAssurance.EMAIL.value
    label: str = "system"

    @classmethod
    def system(cls) -> Actor:
        return cls(kind=SYSTEM_ROLE, label="system")

    @classmethod
    def of(cls, account: Account) -> Actor:
        return cls(
            kind=account.kind,
            account_id=account.id,
            staff_roles=frozenset(account.roles or ()) if account.kind == AccountKind.STAFF else frozenset(),
            person_id=account.person_id,
            identity_assurance=account.identity_assurance,
            label=f"account:{account.id}",
        )

    @property
    def is_staff(self) -> bool:
        return self.kind == AccountKind.STAFF

    @property
    def is_resident(self) -> bool:
        return self.kind == AccountKind.RESIDENT

    @property
    def is_verified(self) -> bool:
        """Linked to a person in the resident register (by letter, at the counter or by the card)."""
        return self.person_id is not None and assurance_meets(self.identity_assurance, IdentityAssurance.VERIFIED)

    def meets(self, level: str | None) -> bool:
        """True when this actor's identity assurance is at least ``level`` (levels above email need a person)."""
        if level and level != IdentityAssurance.EMAIL and self.person_id is None:
            return False
        return assurance_meets(self.identity_assurance, level)
