"""Accounts of residents and staff of one tenant, platform admins, sessions and one-time secrets.

An account says who acts, in which roles, and which registry person a resident is linked to (identity
assurance). Next to it: failed sign-ins (for throttling), the TOTP second factor (secret sealed with the platform
data key), and the single-use secrets sent by email (address verification, password reset) or by letter (identity
verification). Only hashes of those secrets are stored.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, ForeignKeyConstraint, Index, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from madoguchi.db import Base, TenantScoped, new_id, utcnow


class AccountKind(enum.StrEnum):
    RESIDENT = "resident"
    STAFF = "staff"


class StaffRole(enum.StrEnum):
    CLERK = "clerk"
    SUPERVISOR = "supervisor"
    TENANT_ADMIN = "tenant_admin"
    #: The 会計管理者's staff: reconcile payments and book the daily revenue (decision 0046).
    ACCOUNTANT = "accountant"


class IdentityAssurance(enum.StrEnum):
    """How sure the municipality is of who holds an account, lowest first (decision 0048).

    A procedure names the level it needs (``identity_assurance`` in its service file); an account meets it when
    its own level is the same or higher (``assurance_meets``).
    """

    #: self-registered, e-mail confirmed
    EMAIL = "email"
    #: linked to a person in the resident register (at the counter, or by a code sent to the address)
    VERIFIED = "verified"
    #: linked to a person in the resident register by signing in with the マイナンバーカード (through the card's
    #: OpenID Connect provider), whose 基本4情報 matched the register
    CARD = "card"


#: The levels in order, lowest first.
ASSURANCE_ORDER: tuple[str, ...] = tuple(level.value for level in IdentityAssurance)


def assurance_meets(have: str | None, need: str | None) -> bool:
    """True when an account at level ``have`` may do what needs level ``need`` (None: nothing needed)."""
    if not need:
        return True
    if have not in ASSURANCE_ORDER or need not in ASSURANCE_ORDER:
        return False
    return ASSURANCE_ORDER.index(have) >= ASSURANCE_ORDER.index(need)


class Account(TenantScoped, Base):
    __tablename__ = "accounts"
    __table_args__ = (
        UniqueConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "email"),
        ForeignKeyConstraint(["tenant_id", "person_id"], ["persons.tenant_id", "persons.id"]),
        # A registry person is linked to at most one account per tenant (NULLs do not collide).
        Index("uq_accounts_tenant_id_person_id", "tenant_id", "person_id", unique=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(254))
    display_name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    #: staff roles (clerk, supervisor, tenant_admin); empty for residents.
    roles: Mapped[list[Any]] = mapped_column(default=list)
    identity_assurance: Mapped[str] = mapped_column(String(20), default=IdentityAssurance.EMAIL.value)
    person_id: Mapped[uuid.UUID | None]
    password_hash: Mapped[str | None] = mapped_column(String(200))
    disabled: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: When the address was confirmed by the link sent to it (None: not yet).
    email_verified_at: Mapped[datetime | None]
    last_login_at: Mapped[datetime | None]
    #: When the owner was last told by email that sign-in to the account is being slowed (one email per episode).
    sign_in_notice_at: Mapped[datetime | None]
    #: TOTP secret, sealed (madoguchi.crypto.Sealer bound to the account id). Set at enrollment; in force
    #: once ``totp_enabled_at`` is set by a confirmed code.
    totp_secret_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    totp_enabled_at: Mapped[datetime | None]
    #: The last TOTP time step accepted: a code is good once, even within its window.
    totp_last_counter: Mapped[int | None] = mapped_column(BigInteger)
    #: The language the resident chose (at sign-up or with the portal's language switch); emails use it.
    #: None: the municipality's default locale.
    locale: Mapped[str | None] = mapped_column(String(5))

    @property
    def is_verified(self) -> bool:
        """Linked to a person in the resident register (by letter, at the counter or by the card)."""
        return self.person_id is not None and assurance_meets(self.identity_assurance, IdentityAssurance.VERIFIED)

    @property
    def totp_enabled(self) -> bool:
        return self.totp_enabled_at is not None

    @property
    def is_tenant_admin(self) -> bool:
        return self.kind == AccountKind.STAFF and StaffRole.TENANT_ADMIN in (self.roles or [])


class EvidenceMethod(enum.StrEnum):
    CARD = "card"
    LETTER = "letter"
    COUNTER = "counter"


class IdentityEvidence(TenantScoped, Base):
    """What verified an account's identity, and when: shown to staff (never the card's data). Append-only."""

    __tablename__ = "identity_evidence"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "account_id"], ["accounts.tenant_id", "accounts.id"], ondelete="CASCADE"),
        ForeignKeyConstraint(["tenant_id", "person_id"], ["persons.tenant_id", "persons.id"]),
        Index("ix_identity_evidence_account", "tenant_id", "account_id", "verified_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    account_id: Mapped[uuid.UUID]
    person_id: Mapped[uuid.UUID]
    #: ``EvidenceMethod``: card, letter or counter.
    method: Mapped[str] = mapped_column(String(20))
    #: The level it gave (``IdentityAssurance``).
    level: Mapped[str] = mapped_column(String(20))
    #: Card: the provider's issuer and the keyed hash of the subject; None for a letter or the counter.
    issuer: Mapped[str | None] = mapped_column(String(300))
    subject_hash: Mapped[str | None] = mapped_column(String(64))
    #: Card: ``exact``, or ``needs_review`` when a clerk confirmed a variant-name match.
    match: Mapped[str | None] = mapped_column(String(20))
    #: Card: when the holder authenticated at the provider (``auth_time``), and its ``acr`` if given.
    authenticated_at: Mapped[datetime | None]
    acr: Mapped[str | None] = mapped_column(String(200))
    #: Who: the resident (``account:<id>``) for card and letter, the clerk for the counter or a confirmed match.
    verified_by: Mapped[str] = mapped_column(String(200))
    verified_at: Mapped[datetime] = mapped_column(default=utcnow)


class PlatformAdmin(Base):
    """An operator of the whole platform (provisions tenants, publishes the catalog). Global: no tenant."""

    __tablename__ = "platform_admins"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    disabled: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]
    totp_secret_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    totp_enabled_at: Mapped[datetime | None]
    totp_last_counter: Mapped[int | None] = mapped_column(BigInteger)

    @property
    def totp_enabled(self) -> bool:
        return self.totp_enabled_at is not None


class EmailVerification(TenantScoped, Base):
    """A link sent to an account's address to prove it receives mail. Single use, 24 hours."""

    __tablename__ = "email_verifications"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "account_id"], ["accounts.tenant_id", "accounts.id"], ondelete="CASCADE"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    account_id: Mapped[uuid.UUID] = mapped_column(index=True)
    #: SHA-256 of the token in the link.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class PasswordReset(TenantScoped, Base):
    """A link sent to an account's address to set a new password. Single use, one hour; only its hash is kept."""

    __tablename__ = "password_resets"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "account_id"], ["accounts.tenant_id", "accounts.id"], ondelete="CASCADE"),
        Index("ix_password_resets_account", "tenant_id", "account_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    account_id: Mapped[uuid.UUID]
    #: SHA-256 of the token in the link.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    #: Set when the link set a password, or when a newer link replaced it.
    used_at: Mapped[datetime | None]


class IdentityVerification(TenantScoped, Base):
    """A one-time code sent by letter to a registry person's address, to link a resident account to them.

    8 characters, 14 days, 5 attempts; only a keyed hash (HMAC with the data key) is stored.
    """

    __tablename__ = "identity_verifications"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "account_id"], ["accounts.tenant_id", "accounts.id"], ondelete="CASCADE"),
        ForeignKeyConstraint(["tenant_id", "person_id"], ["persons.tenant_id", "persons.id"]),
        Index("ix_identity_verifications_account", "tenant_id", "account_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    account_id: Mapped[uuid.UUID]
    person_id: Mapped[uuid.UUID]
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(default=0)
    used_at: Mapped[datetime | None]
    #: Set when a newer letter replaces this one, or attempts ran out.
    revoked_at: Mapped[datetime | None]


class WebSession(Base):
    """A server-side browser session. Global (not tenant-scoped): the cookie is looked up before the
    tenant is known, and then must match the URL's tenant. Only a hash of the cookie value is stored."""

    __tablename__ = "web_sessions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    #: SHA-256 of the cookie value.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: The account's tenant (None for a platform admin session).
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    account_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    platform_admin_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    #: Set once the second factor is verified (staff with TOTP); until then the session is "pending".
    second_factor_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    user_agent: Mapped[str | None] = mapped_column(String(300))
    ip_address: Mapped[str | None] = mapped_column(String(45))


class SignInFailure(Base):
    """One failed sign-in (a wrong password or code), kept a day: what ``identity.throttling`` counts.

    Global like ``web_sessions``: it is written and read before any account is known, by every worker. It
    names no tenant and no address in clear: ``subject`` is a SHA-256 of the tenant and the email address
    typed (whether or not an account has it), so the table tells nobody who was tried.
    """

    __tablename__ = "sign_in_failures"
    __table_args__ = (
        Index("ix_sign_in_failures_subject", "subject", "created_at"),
        Index("ix_sign_in_failures_address", "address", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    subject: Mapped[str] = mapped_column(String(64))
    #: The client address the failure came from ("-" when unknown).
    address: Mapped[str] = mapped_column(String(45))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PlatformApiToken(Base):
    """A bearer token for the platform admin API (``/api/v1/admin``), created with
    ``madoguchi users create-platform-token``. Global (no tenant). Only its SHA-256 is stored; it is shown once.
    """

    __tablename__ = "platform_api_tokens"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    platform_admin_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("platform_admins.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
