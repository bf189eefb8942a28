"""OAuth 2.0 clients, authorization codes, tokens and consents.

Clients, codes and tokens are *global* tables with a ``tenant_id`` column: the protocol endpoints find
them by ``client_id`` or by a token hash before any tenant is known, and the tenant is then read from the
row (docs/decisions/0003-oauth-hardening.md). Consents are ordinary tenant-owned rows (``TenantScoped``,
row-level security): they are only ever read inside a tenant. Composite foreign keys
``(tenant_id, x_id) -> x(tenant_id, id)`` make a code, token or consent of tenant A pointing at a client
or account of tenant B impossible to store.

Secrets are never stored: a client secret, an authorization code, an access token and a refresh token
are kept as the SHA-256 of a high-entropy random value (256 bits for what we generate).
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from datetime import datetime
from typing import Any

from authlib.oauth2.rfc6749 import AuthorizationCodeMixin, ClientMixin, TokenMixin
from sqlalchemy import ForeignKey, ForeignKeyConstraint, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from madoguchi.db import Base, TenantScoped, new_id, utcnow
from madoguchi.identity.principal import RESIDENT_SCOPES

AUTHORIZATION_CODE = "authorization_code"
CLIENT_CREDENTIALS = "client_credentials"
REFRESH_TOKEN = "refresh_token"  # noqa: S105 - a grant type name
#: The only grants this server implements. Implicit and password are deliberately absent (RFC 9700 §2.1.2, §2.4).
GRANT_TYPES = (AUTHORIZATION_CODE, CLIENT_CREDENTIALS, REFRESH_TOKEN)

CONFIDENTIAL_AUTH_METHODS = ("client_secret_basic", "client_secret_post")
PUBLIC_AUTH_METHOD = "none"


def secret_hash(value: str) -> str:
    """SHA-256 (hex) of a secret we generated: enough for 256-bit random values, and fast to look up."""
    return hashlib.sha256(value.encode()).hexdigest()


class OAuthClient(Base, ClientMixin):
    """A vendor app registered by a tenant admin. Revoked clients are kept (audit, foreign keys) but unusable."""

    __tablename__ = "oauth_clients"
    __table_args__ = (UniqueConstraint("tenant_id", "id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="RESTRICT"), index=True)
    #: The public, opaque identifier the vendor sends (not the database id).
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    #: SHA-256 of the secret shown once at registration; None for a public client (native/SPA, PKCE only).
    client_secret_hash: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    homepage_url: Mapped[str | None] = mapped_column(String(500))
    #: Exact strings: the redirect_uri of a request must equal one of them, character for character.
    redirect_uris: Mapped[list[Any]] = mapped_column(default=list)
    grant_types: Mapped[list[Any]] = mapped_column(default=list)
    scopes: Mapped[list[Any]] = mapped_column(default=list)
    is_public: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200))
    revoked_at: Mapped[datetime | None]

    # -- authlib ClientMixin -------------------------------------------------------------------------

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        # Hardening: no default. Every authorization request names its redirect_uri, which must match exactly.
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        """The scope of an authorization request; the grants have already refused anything not allowed.

        With no scope requested, the client gets every resident scope it is registered for.
        """
        if scope:
            return " ".join(sorted(set(scope.split())))
        return " ".join(sorted(set(self.scopes) & RESIDENT_SCOPES))

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in (self.redirect_uris or [])

    def check_client_secret(self, client_secret: str) -> bool:
        if self.client_secret_hash is None:
            return False
        return hmac.compare_digest(self.client_secret_hash, secret_hash(client_secret))

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.is_public:
            return method == PUBLIC_AUTH_METHOD
        return method in CONFIDENTIAL_AUTH_METHODS

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and AUTHORIZATION_CODE in (self.grant_types or [])

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in (self.grant_types or [])


class OAuthAuthorizationCode(Base, AuthorizationCodeMixin):
    """One authorization code: single use, five minutes, bound to client, redirect URI, PKCE, account, scope.

    The row outlives its use (``used_at``): a second redemption is recognised as reuse, and the tokens
    issued from it (``OAuthToken.family_id == id``) are revoked.
    """

    __tablename__ = "oauth_authorization_codes"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "oauth_client_id"], ["oauth_clients.tenant_id", "oauth_clients.id"]),
        ForeignKeyConstraint(["tenant_id", "account_id"], ["accounts.tenant_id", "accounts.id"]),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="RESTRICT"))
    oauth_client_id: Mapped[uuid.UUID]
    account_id: Mapped[uuid.UUID]
    redirect_uri: Mapped[str] = mapped_column(String(500))
    scope: Mapped[str] = mapped_column(String(500))
    code_challenge: Mapped[str] = mapped_column(String(128))
    code_challenge_method: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope


class OAuthToken(Base, TokenMixin):
    """An access token and (code flow) its refresh token. A *family* is every token descended from one
    authorization (one code redemption, or one client-credentials request): replaying a used refresh
    token, or reusing the code, revokes the whole family."""

    __tablename__ = "oauth_tokens"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "oauth_client_id"], ["oauth_clients.tenant_id", "oauth_clients.id"]),
        ForeignKeyConstraint(["tenant_id", "account_id"], ["accounts.tenant_id", "accounts.id"]),
        Index("ix_oauth_tokens_oauth_client_id_account_id", "oauth_client_id", "account_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="RESTRICT"))
    oauth_client_id: Mapped[uuid.UUID]
    #: The resident the token acts for; None for client credentials (the vendor acting for the municipality).
    account_id: Mapped[uuid.UUID | None]
    family_id: Mapped[uuid.UUID] = mapped_column(index=True)
    #: The token this one was refreshed from (None for the first of a family).
    parent_id: Mapped[uuid.UUID | None]
    grant_type: Mapped[str] = mapped_column(String(40))
    scope: Mapped[str] = mapped_column(String(500))
    access_token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    refresh_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    access_expires_at: Mapped[datetime]
    refresh_expires_at: Mapped[datetime | None]
    #: Set when the refresh token was exchanged (rotation): presenting it again is a replay.
    refresh_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(String(40))

    # -- authlib TokenMixin (the access token side; oauth.server.TokenHandle covers refresh tokens) ----

    def check_client(self, client: OAuthClient) -> bool:
        return self.oauth_client_id == client.id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return max(0, int((self.access_expires_at - self.issued_at).total_seconds()))

    def is_expired(self) -> bool:
        return utcnow() >= self.access_expires_at

    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def scopes(self) -> frozenset[str]:
        return frozenset(self.scope.split())


class OAuthConsent(TenantScoped, Base):
    """A resident's remembered consent to a client for a set of scopes (tenant-owned, row-level security)."""

    __tablename__ = "oauth_consents"
    __table_args__ = (
        UniqueConstraint("tenant_id", "account_id", "oauth_client_id"),
        ForeignKeyConstraint(["tenant_id", "account_id"], ["accounts.tenant_id", "accounts.id"]),
        ForeignKeyConstraint(["tenant_id", "oauth_client_id"], ["oauth_clients.tenant_id", "oauth_clients.id"]),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    account_id: Mapped[uuid.UUID]
    oauth_client_id: Mapped[uuid.UUID]
    scopes: Mapped[list[Any]] = mapped_column(default=list)
    granted_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
