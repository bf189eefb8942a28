"""The OAuth business verbs: register and revoke clients, issue and revoke tokens, remember consent.

Every verb flushes and audits in the caller's transaction; none commits. The one exception to "the
request's outcome decides" is in ``oauth.grants``: revocation after a code reuse or a refresh-token
replay is committed even though the request itself is refused.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete
from sqlalchemy.orm import Session

from madoguchi.audit.operations import record
from madoguchi.db import utcnow
from madoguchi.errors import NotFound, ValidationFailed
from madoguchi.identity.models import Account
from madoguchi.identity.principal import (
    ALL_SCOPES,
    APPLICATIONS_PROCESS,
    CLIENT_CREDENTIALS_SCOPES,
    RESIDENT_SCOPES,
)
from madoguchi.oauth import repository
from madoguchi.oauth.models import (
    AUTHORIZATION_CODE,
    CLIENT_CREDENTIALS,
    GRANT_TYPES,
    REFRESH_TOKEN,
    OAuthAuthorizationCode,
    OAuthClient,
    OAuthConsent,
    OAuthToken,
    secret_hash,
)

AUTHORIZATION_CODE_LIFETIME = timedelta(minutes=5)
#: The scopes each grant can carry: a resident's delegation, or the vendor acting for the municipality.
GRANT_SCOPES = {AUTHORIZATION_CODE: RESIDENT_SCOPES, CLIENT_CREDENTIALS: CLIENT_CREDENTIALS_SCOPES}
#: Scopes no vendor app may ever hold: processing applications is for the municipality's own staff.
STAFF_ONLY_SCOPES = frozenset({APPLICATIONS_PROCESS})
VENDOR_SCOPES = frozenset(ALL_SCOPES) - STAFF_ONLY_SCOPES
DEFAULT_GRANT_TYPES = (AUTHORIZATION_CODE, REFRESH_TOKEN)
MAX_REDIRECT_URIS = 10
_LOOPBACK_HOSTS = {"localhost"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


# ------------------------------------------------------------------------------------------- validation


def url_problem(url: str) -> str | None:
    """Why ``url`` can't be registered as a redirect URI or homepage, or None if it can.

    https only; plain http only for a loopback host (RFC 8252 §7.3, native apps and tests). No wildcard,
    no fragment, no credentials: the registered string is compared character for character later.
    """
    if len(url) > 500:
        return "must be at most 500 characters"
    if _CONTROL.search(url) or any(ch.isspace() for ch in url):
        return "may not contain spaces or control characters"
    if "*" in url:
        return "may not contain wildcards"
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in ("https", "http") or not hostname:
        return "must be an absolute https URL"
    if "#" in url:
        return "may not contain a fragment"
    if parts.username is not None or parts.password is not None:
        return "may not contain a user name or password"
    if parts.scheme == "http" and not _is_loopback(hostname):
        return "must use https (plain http is allowed only for localhost and 127.0.0.1)"
    return None


def _is_loopback(hostname: str) -> bool:
    if hostname in _LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def normalize_name(value: str) -> str:
    return unicodedata.normalize("NFKC", value).strip()


@dataclass(frozen=True)
class ClientRegistration:
    name: str
    redirect_uris: list[str]
    grant_types: list[str]
    scopes: list[str]
    public: bool = False
    homepage_url: str | None = None


def validate_registration(reg: ClientRegistration) -> ClientRegistration:
    """Check a registration as a whole; raise ValidationFailed naming each bad field."""
    errors: dict[str, list[str]] = {}

    def problem(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    name = normalize_name(reg.name)
    if not name:
        problem("name", "must not be empty")
    elif len(name) > 200:
        problem("name", "must be at most 200 characters")
    elif _CONTROL.search(name):
        problem("name", "may not contain control characters")

    grant_types = list(dict.fromkeys(reg.grant_types or DEFAULT_GRANT_TYPES))
    for grant in grant_types:
        if grant not in GRANT_TYPES:
            problem("grant_types", f"'{grant}' is not supported (use {', '.join(GRANT_TYPES)})")
    if REFRESH_TOKEN in grant_types and AUTHORIZATION_CODE not in grant_types:
        problem("grant_types", "refresh_token is only issued with authorization_code")
    if CLIENT_CREDENTIALS in grant_types and reg.public:
        problem("grant_types", "a public client can't use client_credentials: it has no secret")

    redirect_uris = list(dict.fromkeys(reg.redirect_uris or []))
    if AUTHORIZATION_CODE in grant_types and not redirect_uris:
        problem("redirect_uris", "at least one redirect URI is needed for authorization_code")
    if AUTHORIZATION_CODE not in grant_types and redirect_uris:
        problem("redirect_uris", "redirect URIs are only used with authorization_code")
    if len(redirect_uris) > MAX_REDIRECT_URIS:
        problem("redirect_uris", f"at most {MAX_REDIRECT_URIS}")
    for uri in redirect_uris:
        why = url_problem(uri)
        if why:
            problem("redirect_uris", f"{uri[:100]}: {why}")

    usable = frozenset().union(*(GRANT_SCOPES.get(g, frozenset()) for g in grant_types))
    scopes = list(dict.fromkeys(reg.scopes)) if reg.scopes else sorted(usable & VENDOR_SCOPES)
    if not scopes:
        problem("scopes", "at least one scope is needed")
    for scope in scopes:
        if scope in STAFF_ONLY_SCOPES:
            problem("scopes", f"{scope} is for the municipality's staff only and can't be granted to an app")
        elif scope not in ALL_SCOPES:
            problem("scopes", f"'{scope[:50]}' is not a scope (use {', '.join(sorted(VENDOR_SCOPES))})")
        elif scope not in usable:
            needed = " or ".join(g for g, allowed in GRANT_SCOPES.items() if scope in allowed)
            problem("scopes", f"{scope} needs the {needed} grant")

    homepage_url = (reg.homepage_url or "").strip() or None
    if homepage_url is not None:
        why = url_problem(homepage_url)
        if why:
            problem("homepage_url", why)

    if errors:
        raise ValidationFailed(errors=errors)
    return ClientRegistration(
        name=name,
        redirect_uris=redirect_uris,
        grant_types=grant_types,
        scopes=sorted(scopes),
        public=reg.public,
        homepage_url=homepage_url,
    )


# ------------------------------------------------------------------------------------------------ clients


def create_client(
    session: Session, tenant_id: uuid.UUID, registration: ClientRegistration, *, actor: str
) -> tuple[OAuthClient, str | None]:
    """Register a client; returns it and its secret (None for a public client), which is never shown again."""
    reg = validate_registration(registration)
    # Hex, not url-safe base64: both end up on command lines and in config files, where a value starting
    # with "-" reads as an option (it broke the vendor quickstart's argument parsing once in twenty runs).
    secret = None if reg.public else secrets.token_hex(32)
    client = OAuthClient(
        tenant_id=tenant_id,
        client_id=secrets.token_hex(12),
        client_secret_hash=secret_hash(secret) if secret else None,
        name=reg.name,
        homepage_url=reg.homepage_url,
        redirect_uris=reg.redirect_uris,
        grant_types=reg.grant_types,
        scopes=reg.scopes,
        is_public=reg.public,
        created_by=actor,
        created_at=utcnow(),
    )
    session.add(client)
    session.flush()
    record(
        session,
        tenant_id,
        actor=actor,
        action="oauth.client.created",
        object_type="oauth_client",
        object_id=client.id,
        data={
            "client_id": client.client_id,
            "name": client.name,
            "redirect_uris": client.redirect_uris,
            "grant_types": client.grant_types,
            "scopes": client.scopes,
            "public": client.is_public,
        },
    )
    return client, secret


def revoke_client(session: Session, client: OAuthClient, *, actor: str) -> None:
    """Revoke a client and everything it holds: tokens, unredeemed codes, residents' consents."""
    now = utcnow()
    client.revoked_at = now
    tokens = repository.revoke_tokens(
        session, OAuthToken.oauth_client_id == client.id, now=now, reason="client_revoked"
    )
    repository.expire_unused_codes(session, OAuthAuthorizationCode.oauth_client_id == client.id, now=now)
    session.execute(
        delete(OAuthConsent)
        .where(OAuthConsent.tenant_id == client.tenant_id, OAuthConsent.oauth_client_id == client.id)
        .execution_options(synchronize_session="fetch")
    )
    session.flush()
    record(
        session,
        client.tenant_id,
        actor=actor,
        action="oauth.client.revoked",
        object_type="oauth_client",
        object_id=client.id,
        data={"client_id": client.client_id, "tokens_revoked": tokens},
    )


def get_tenant_client(session: Session, tenant_id: uuid.UUID, client_pk: uuid.UUID) -> OAuthClient:
    client = repository.tenant_client(session, tenant_id, client_pk)
    if client is None:
        raise NotFound("No such app.")
    return client


# -------------------------------------------------------------------------------------- codes and tokens


def create_authorization_code(
    session: Session,
    client: OAuthClient,
    account: Account,
    code: str,
    *,
    redirect_uri: str,
    scope: str,
    code_challenge: str,
    code_challenge_method: str,
) -> OAuthAuthorizationCode:
    now = utcnow()
    row = OAuthAuthorizationCode(
        code_hash=secret_hash(code),
        tenant_id=client.tenant_id,
        oauth_client_id=client.id,
        account_id=account.id,
        redirect_uri=redirect_uri,
        scope=scope,
        code_challenge=code_challenge,
        code_challenge_method=code_challenge_method,
        created_at=now,
        expires_at=now + AUTHORIZATION_CODE_LIFETIME,
    )
    session.add(row)
    session.flush()
    return row


def store_token(
    session: Session,
    client: OAuthClient,
    token: dict[str, Any],
    *,
    grant_type: str,
    account_id: uuid.UUID | None,
    family_id: uuid.UUID,
    parent_id: uuid.UUID | None = None,
    refresh_expires_at: datetime | None = None,
) -> OAuthToken:
    """Keep the hashes of a freshly generated token response (the plaintext goes to the client only)."""
    now = utcnow()
    refresh = token.get("refresh_token")
    row = OAuthToken(
        tenant_id=client.tenant_id,
        oauth_client_id=client.id,
        account_id=account_id,
        family_id=family_id,
        parent_id=parent_id,
        grant_type=grant_type,
        scope=token.get("scope", ""),
        access_token_hash=secret_hash(token["access_token"]),
        refresh_token_hash=secret_hash(refresh) if refresh else None,
        issued_at=now,
        access_expires_at=now + timedelta(seconds=int(token["expires_in"])),
        refresh_expires_at=refresh_expires_at if refresh else None,
    )
    session.add(row)
    session.flush()
    return row


def audit_family_issued(session: Session, row: OAuthToken, client: OAuthClient, *, actor: str) -> None:
    record(
        session,
        row.tenant_id,
        actor=actor,
        action="oauth.token_family.issued",
        object_type="oauth_token_family",
        object_id=row.family_id,
        data={
            "client_id": client.client_id,
            "grant_type": row.grant_type,
            "account_id": str(row.account_id) if row.account_id else None,
            "scope": row.scope,
        },
    )


def revoke_family(session: Session, tenant_id: uuid.UUID, family_id: uuid.UUID, *, reason: str, actor: str) -> int:
    """Revoke every token descended from one authorization (code reuse, refresh replay, revocation)."""
    count = repository.revoke_tokens(session, OAuthToken.family_id == family_id, now=utcnow(), reason=reason)
    record(
        session,
        tenant_id,
        actor=actor,
        action="oauth.token_family.revoked",
        object_type="oauth_token_family",
        object_id=family_id,
        data={"reason": reason, "tokens_revoked": count},
    )
    return count


def revoke_access_token(session: Session, row: OAuthToken, *, actor: str) -> None:
    """RFC 7009 revocation of an access token: that token (and the refresh token issued with it)."""
    revoked = repository.revoke_tokens(session, OAuthToken.id == row.id, now=utcnow(), reason="revoked_by_client")
    if revoked:
        record(
            session,
            row.tenant_id,
            actor=actor,
            action="oauth.token.revoked",
            object_type="oauth_token",
            object_id=row.id,
            data={"family_id": str(row.family_id), "reason": "revoked_by_client"},
        )


# ---------------------------------------------------------------------------------------------- consents


def has_consent(session: Session, client: OAuthClient, account: Account, scopes: set[str]) -> bool:
    """True when the resident already agreed to at least these scopes for this client."""
    consent = repository.find_consent(session, client.tenant_id, account.id, client.id)
    return consent is not None and scopes <= set(consent.scopes or [])


def record_consent(
    session: Session, client: OAuthClient, account: Account, scopes: set[str], *, actor: str
) -> OAuthConsent:
    """Remember that the resident approved ``scopes`` for ``client`` (added to what they approved before)."""
    now = utcnow()
    consent = repository.find_consent(session, client.tenant_id, account.id, client.id)
    if consent is None:
        consent = OAuthConsent(
            tenant_id=client.tenant_id,
            account_id=account.id,
            oauth_client_id=client.id,
            scopes=sorted(scopes),
            granted_at=now,
            updated_at=now,
        )
        session.add(consent)
    else:
        consent.scopes = sorted(set(consent.scopes or []) | scopes)
        consent.updated_at = now
    session.flush()
    record(
        session,
        client.tenant_id,
        actor=actor,
        action="oauth.consent.granted",
        object_type="oauth_consent",
        object_id=consent.id,
        data={"client_id": client.client_id, "scopes": sorted(scopes)},
    )
    return consent


def withdraw_consent(
    session: Session, tenant_id: uuid.UUID, account: Account, consent_id: uuid.UUID, *, actor: str
) -> None:
    """The resident takes back an app's access: the consent goes, and so does every token it led to."""
    consent = session.get(OAuthConsent, consent_id)
    if consent is None or consent.tenant_id != tenant_id or consent.account_id != account.id:
        raise NotFound("No such app consent.")
    now = utcnow()
    pair = (OAuthToken.oauth_client_id == consent.oauth_client_id, OAuthToken.account_id == account.id)
    tokens = repository.revoke_tokens(session, *pair, now=now, reason="consent_withdrawn")
    repository.expire_unused_codes(
        session,
        OAuthAuthorizationCode.oauth_client_id == consent.oauth_client_id,
        OAuthAuthorizationCode.account_id == account.id,
        now=now,
    )
    session.delete(consent)
    session.flush()
    record(
        session,
        tenant_id,
        actor=actor,
        action="oauth.consent.withdrawn",
        object_type="oauth_consent",
        object_id=consent_id,
        data={"oauth_client_id": str(consent.oauth_client_id), "tokens_revoked": tokens},
    )
