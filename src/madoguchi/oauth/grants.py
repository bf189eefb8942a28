"""authlib's grants and endpoints, hardened where its defaults are weaker than our rules.

What changes against authlib 1.9 (each point is in docs/decisions/0003-oauth-hardening.md):

- PKCE: S256 only, and required for every client, confidential ones included (authlib: ``plain`` allowed,
  ``plain`` assumed when the method is missing, challenge optional unless the client is public).
- Authorization codes: claimed with a conditional UPDATE before tokens are issued, so two concurrent
  redemptions give one token; a code presented again revokes every token issued from it.
- Refresh tokens: rotated on every use (authlib: reuse by default); a used refresh token presented again
  revokes its whole family. The rotated family keeps its first expiry (an absolute lifetime).
- Scopes: a requested scope outside the client's registration or the grant's scopes is refused
  (authlib's example filters silently); ``applications:process`` is never granted.
- Client credentials: confidential clients only (no ``none`` authentication).
- Revocation and introspection: a refresh token's revocation takes its family with it; introspection
  answers only the owning client, or an authenticated client of the same tenant.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from typing import Any, ClassVar

from authlib.oauth2.rfc6749 import InvalidGrantError, InvalidRequestError, InvalidScopeError, grants
from authlib.oauth2.rfc7009 import RevocationEndpoint as _RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge, create_s256_code_challenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint as _IntrospectionEndpoint
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from madoguchi.context import db_session
from madoguchi.db import utcnow
from madoguchi.identity.models import Account, AccountKind
from madoguchi.oauth import operations, repository
from madoguchi.oauth.models import (
    AUTHORIZATION_CODE,
    CLIENT_CREDENTIALS,
    CONFIDENTIAL_AUTH_METHODS,
    PUBLIC_AUTH_METHOD,
    REFRESH_TOKEN,
    OAuthAuthorizationCode,
    OAuthClient,
    OAuthToken,
)
from madoguchi.tenancy.models import Tenant

log = logging.getLogger(__name__)

ALL_AUTH_METHODS = [*CONFIDENTIAL_AUTH_METHODS, PUBLIC_AUTH_METHOD]
S256 = "S256"


def client_actor(client: OAuthClient) -> str:
    return f"client:{client.id}"


def resolve_scope(requested: str | None, client: OAuthClient, grant_type: str) -> str:
    """The scope to grant: what was asked (or, if nothing, all the client may have with this grant).

    Every requested scope must be registered for the client and carried by the grant; staff-only scopes
    never are. Anything else is ``invalid_scope`` — nothing is silently dropped.
    """
    allowed = (set(client.scopes or []) & operations.GRANT_SCOPES[grant_type]) - operations.STAFF_ONLY_SCOPES
    if requested is None or not requested.strip():
        scopes = allowed
    else:
        scopes = set(requested.split())
        if not scopes <= allowed:
            raise InvalidScopeError("The requested scope is not available to this client with this grant.")
    if not scopes:
        raise InvalidScopeError("This client has no scope it could use with this grant.")
    return " ".join(sorted(scopes))


def _commit_refusal(session: Session) -> None:
    """Persist a revocation although the request is refused.

    The app rolls back a request that ends in an error; a reuse or replay must still revoke the family,
    so the work done so far (only that revocation and its audit record) is committed before refusing.
    """
    session.commit()


#: SQLite (the embedded default) refuses to turn a read transaction into a write one while another
#: connection writes (SQLITE_BUSY) or has written since it began reading (SQLITE_BUSY_SNAPSHOT).
_SQLITE_LOST_SNAPSHOT = {5, 517}


def _claimed(session: Session, claim: Callable[[Session, Any, Any], bool], row_id: Any) -> bool:
    """Run a conditional-UPDATE claim; False when another transaction claimed the row first.

    PostgreSQL waits for the other transaction and then reports rowcount 0. SQLite refuses the write of
    a transaction whose snapshot went stale instead: the token request has only read so far, so roll
    back and claim once more in a fresh transaction (which waits for the other writer and then sees the
    row as it is now).
    """
    try:
        return claim(session, row_id, utcnow())
    except OperationalError as error:
        if getattr(error.orig, "sqlite_errorcode", None) not in _SQLITE_LOST_SNAPSHOT:
            raise
        session.rollback()
        return claim(session, row_id, utcnow())


def _resident_of(session: Session, account_id: Any) -> Account:
    account = session.execute(select(Account).where(Account.id == account_id)).scalar_one_or_none()
    if account is None or account.disabled or account.kind != AccountKind.RESIDENT:
        raise InvalidGrantError("The resident's account is not active.")
    return account


# ------------------------------------------------------------------------------------------------- PKCE


def _s256_matches(verifier: str, challenge: str) -> bool:
    return hmac.compare_digest(create_s256_code_challenge(verifier), challenge)


class S256CodeChallenge(CodeChallenge):
    """PKCE (RFC 7636) as RFC 9700 §2.1.1 wants it here: S256 only, for every client."""

    DEFAULT_CODE_CHALLENGE_METHOD = S256
    SUPPORTED_CODE_CHALLENGE_METHOD: ClassVar[list[str]] = [S256]
    CODE_CHALLENGE_METHODS: ClassVar[dict[str, Any]] = {S256: _s256_matches}

    def validate_code_challenge(self, grant: grants.BaseGrant, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send code_challenge and code_challenge_method=S256.")
        if data.get("code_challenge_method") != S256:
            raise InvalidRequestError("Only code_challenge_method=S256 is accepted.")
        super().validate_code_challenge(grant, redirect_uri)
        if len(data["code_challenge"]) != 43:
            raise InvalidRequestError("Invalid 'code_challenge': S256 gives 43 base64url characters.")

    def validate_code_verifier(self, grant: grants.BaseGrant, result: Any) -> None:
        if not grant.request.form.get("code_verifier"):
            raise InvalidRequestError("Missing 'code_verifier'.")
        super().validate_code_verifier(grant, result)


# ------------------------------------------------------------------------------------ authorization code


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ALL_AUTH_METHODS

    @staticmethod
    def validate_authorization_redirect_uri(request: Any, client: OAuthClient) -> str:
        """Always required, and equal to a registered URI character for character (authlib falls back to a
        default URI when it is missing, and echoes the URI in its error text, which breaks on non-ASCII)."""
        redirect_uri = request.payload.redirect_uri
        if not redirect_uri:
            raise InvalidRequestError("Missing 'redirect_uri': send one of the registered redirect URIs.")
        if not client.check_redirect_uri(redirect_uri):
            raise InvalidRequestError("The 'redirect_uri' is not registered for this client (exact match required).")
        return redirect_uri

    def validate_requested_scope(self) -> None:
        self.request.scope = resolve_scope(self.request.payload.scope, self.request.client, AUTHORIZATION_CODE)

    def save_authorization_code(self, code: str, request: Any) -> None:
        data = request.payload.data
        operations.create_authorization_code(
            db_session(),
            request.client,
            request.user,
            code,
            redirect_uri=request.payload.redirect_uri,
            scope=request.scope,
            code_challenge=data["code_challenge"],
            code_challenge_method=data["code_challenge_method"],
        )

    def query_authorization_code(self, code: str, client: OAuthClient) -> OAuthAuthorizationCode | None:
        session = db_session()
        row = repository.find_code(session, code)
        if row is None or row.oauth_client_id != client.id:
            return None
        if row.used_at is not None:
            self._refuse_reuse(session, row, client)
        if utcnow() >= row.expires_at:
            return None
        return row

    def create_token_response(self) -> tuple[int, Any, Any]:
        session = db_session()
        code: OAuthAuthorizationCode = self.request.authorization_code
        if not _claimed(session, repository.claim_code, code.id):
            # Another redemption of the same code got there first: that is a reuse, too.
            self._refuse_reuse(session, code, self.request.client)
        return super().create_token_response()

    def authenticate_user(self, authorization_code: OAuthAuthorizationCode) -> Account:
        return _resident_of(db_session(), authorization_code.account_id)

    def delete_authorization_code(self, authorization_code: OAuthAuthorizationCode) -> None:
        """Kept, marked used (``claim_code``): the row is how a second redemption is recognised."""

    def _refuse_reuse(self, session: Session, code: OAuthAuthorizationCode, client: OAuthClient) -> None:
        log.warning("authorization code %s presented again: revoking the tokens issued from it", code.id)
        operations.revoke_family(session, code.tenant_id, code.id, reason="code_reuse", actor=client_actor(client))
        _commit_refusal(session)
        raise InvalidGrantError("The authorization code was already used; the tokens issued from it are revoked.")


# -------------------------------------------------------------------------------------------- refresh


class RefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ALL_AUTH_METHODS
    #: Rotation: every refresh returns a new refresh token and retires the one presented.
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> OAuthToken | None:
        row = repository.find_token_by_refresh(db_session(), refresh_token)
        if row is None:
            return None
        if row.refresh_used_at is not None and row.revoked_at is None:
            return row  # a replay; refused (and its family revoked) once the client is known to match
        if row.revoked_at is not None or row.refresh_expires_at is None or utcnow() >= row.refresh_expires_at:
            return None
        return row

    def authenticate_user(self, refresh_token: OAuthToken) -> Account:
        return _resident_of(db_session(), refresh_token.account_id)

    def create_token_response(self) -> tuple[int, Any, Any]:
        session = db_session()
        row: OAuthToken = self.request.refresh_token
        if not _claimed(session, repository.claim_refresh_token, row.id):
            log.warning("refresh token of family %s presented again: revoking the family", row.family_id)
            operations.revoke_family(
                session, row.tenant_id, row.family_id, reason="refresh_replay", actor=client_actor(self.request.client)
            )
            _commit_refusal(session)
            raise InvalidGrantError("The refresh token was already used; every token of this grant is revoked.")
        return super().create_token_response()

    def revoke_old_credential(self, refresh_token: OAuthToken) -> None:
        """Already retired by ``claim_refresh_token``; its access token lives out its short lifetime."""


# --------------------------------------------------------------------------------- client credentials


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    #: Confidential clients only: ``none`` is not an authentication.
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = list(CONFIDENTIAL_AUTH_METHODS)

    def validate_requested_scope(self) -> None:
        self.request.scope = resolve_scope(self.request.payload.scope, self.request.client, CLIENT_CREDENTIALS)

    def create_token_response(self) -> tuple[int, Any, Any]:
        token = self.generate_token(scope=self.request.scope, include_refresh_token=False)
        self.save_token(token)
        return 200, token, self.TOKEN_RESPONSE_HEADER


# --------------------------------------------------------------------------- revocation, introspection


class TokenHandle:
    """One presented token string: the access or the refresh side of an ``OAuthToken`` row."""

    def __init__(self, row: OAuthToken, kind: str, *, holder_active: bool) -> None:
        self.row = row
        self.kind = kind
        #: False when the client was revoked or the resident's account disabled since issue.
        self.holder_active = holder_active

    def check_client(self, client: OAuthClient) -> bool:
        return self.row.oauth_client_id == client.id

    def get_scope(self) -> str:
        return self.row.scope

    def expires_at(self) -> Any:
        return self.row.access_expires_at if self.kind == "access_token" else self.row.refresh_expires_at

    def is_expired(self) -> bool:
        expires_at = self.expires_at()
        return expires_at is None or utcnow() >= expires_at

    def is_revoked(self) -> bool:
        if self.row.revoked_at is not None or not self.holder_active:
            return True
        return self.kind == REFRESH_TOKEN and self.row.refresh_used_at is not None


def find_token(token_string: str, hint: str | None) -> TokenHandle | None:
    session = db_session()
    lookups = [("access_token", repository.find_token_by_access), (REFRESH_TOKEN, repository.find_token_by_refresh)]
    if hint == REFRESH_TOKEN:
        lookups.reverse()
    for kind, lookup in lookups:
        row = lookup(session, token_string)
        if row is not None:
            return TokenHandle(row, kind, holder_active=_holder_active(session, row))
    return None


def _holder_active(session: Session, row: OAuthToken) -> bool:
    client = session.get(OAuthClient, row.oauth_client_id)
    if client is None or client.revoked_at is not None:
        return False
    if row.account_id is None:
        return True
    # The session is bound to the tenant of the client asking. For a token of another tenant the account is
    # not visible and the token reads as inactive, which is the answer check_permission gives it anyway.
    account = session.execute(select(Account).where(Account.id == row.account_id)).scalar_one_or_none()
    return account is not None and not account.disabled


class RevocationEndpoint(_RevocationEndpoint):
    """RFC 7009. Public clients may revoke their own tokens; a refresh token takes its family with it."""

    CLIENT_AUTH_METHODS = ALL_AUTH_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None) -> TokenHandle | None:
        return find_token(token_string, token_type_hint)

    def revoke_token(self, token: TokenHandle, request: Any) -> None:
        session = db_session()
        actor = client_actor(request.client)
        if token.kind == REFRESH_TOKEN:
            # RFC 7009 §2.1: revoking a refresh token also invalidates the access tokens of the same grant.
            operations.revoke_family(session, token.row.tenant_id, token.row.family_id, reason="revoked", actor=actor)
        else:
            operations.revoke_access_token(session, token.row, actor=actor)


class IntrospectionEndpoint(_IntrospectionEndpoint):
    """RFC 7662. Only the owning client, or an authenticated client of the token's tenant, sees a token."""

    CLIENT_AUTH_METHODS = ALL_AUTH_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None) -> TokenHandle | None:
        return find_token(token_string, token_type_hint)

    def check_permission(self, token: TokenHandle, client: OAuthClient, request: Any) -> bool:
        if token.check_client(client):
            return True
        return token.row.tenant_id == client.tenant_id and request.auth_method in CONFIDENTIAL_AUTH_METHODS

    def introspect_token(self, token: TokenHandle) -> dict[str, Any]:
        session = db_session()
        row = token.row
        client = session.get(OAuthClient, row.oauth_client_id)
        tenant = session.get(Tenant, row.tenant_id)
        expires_at = token.expires_at()
        payload: dict[str, Any] = {
            "active": True,
            "client_id": client.client_id if client else None,
            "scope": row.scope,
            "iat": int(row.issued_at.timestamp()),
            "exp": int(expires_at.timestamp()) if expires_at else None,
            "iss": self.server.issuer,
            "tenant": tenant.slug if tenant else None,
        }
        if token.kind == "access_token":
            payload["token_type"] = "Bearer"  # noqa: S105 - a token type, not a secret
        if row.account_id is not None:
            payload["sub"] = str(row.account_id)
        return payload
