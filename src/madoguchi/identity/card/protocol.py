"""The OpenID Connect relying party for the card's provider: authorization code flow with PKCE, ``state`` and
``nonce``, the ID token's signature and claims checked against the provider's discovery document and JWKS (fetched
again, at most once a minute, when a token names a key it does not know: the provider rotated its keys).

Built on authlib: its OAuth 2 client makes the authorization URL (with the PKCE challenge) and exchanges the code
(``client_secret_basic``, the verifier), its OpenID Connect classes check the discovery document and the ID token's
claims (``CodeIDToken``: ``iss``, ``aud``, ``azp``, ``exp``, ``iat``, ``nonce``, ``auth_time``, ``at_hash``), and
joserfc, the JOSE library authlib moved to (``authlib.jose`` is deprecated), verifies the signature with the
provider's JWKS. Nothing here parses or verifies a JWT by hand. Decision 0048.

The discovery document and keys are cached per process and per issuer for ``card_oidc_cache_seconds``.

Contract (lead): ``begin`` and ``complete`` are the only entry points the web layer uses.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.oidc.core import CodeIDToken
from authlib.oidc.discovery import OpenIDProviderMetadata
from flask import current_app
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import GuestProtocol, Key, KeySet
from sqlalchemy import select
from sqlalchemy.orm import Session

from madoguchi.config import Settings
from madoguchi.db import utcnow
from madoguchi.errors import DomainError
from madoguchi.identity.card.models import CardAuthorization, CardPurpose
from madoguchi.tenancy.models import Tenant

#: How long a started sign-in waits for the provider's answer.
AUTHORIZATION_TTL_SECONDS = 600
#: The redirect URI's path: one for the whole platform (the ``state`` names the tenant), so the provider needs one
#: registered redirect URI, not one per municipality.
CALLBACK_PATH = "/card/callback"
#: The cookie that binds a started sign-in to the browser that started it (SameSite=Lax: it comes back on the
#: provider's top-level redirect).
BINDING_COOKIE = "__Host-madoguchi-card"
#: A token naming a key id the cached JWKS lacks fetches the keys again, but not more often than this: a stream
#: of forged tokens must not turn into a stream of requests to the provider.
KEY_REFETCH_INTERVAL_SECONDS = 60
#: Signature algorithms accepted for ID tokens: asymmetric only (never ``none`` or an HMAC keyed by the secret).
ID_TOKEN_ALGORITHMS = ("RS256", "PS256", "ES256")
#: Clock skew allowed between the provider and us when checking ``exp`` and ``iat``.
CLOCK_LEEWAY_SECONDS = 30
_DISCOVERY_PATH = "/.well-known/openid-configuration"
_SUBJECT_KEY_LABEL = b"madoguchi card subject hash v1"


@dataclass(frozen=True)
class CardIdentity:
    """What the provider verified of the card holder: the subject and the card's 基本4情報, as given."""

    issuer: str
    subject: str
    #: The name as on the card (exact code points; family and given name separated by a space).
    name: str
    birth_date: date
    #: ``male``, ``female`` or ``""`` (not given).
    sex: str
    #: The address as one string (OIDC ``address.formatted``), plus its prefecture and municipality where given.
    address: str
    prefecture: str
    municipality: str
    authenticated_at: datetime | None
    acr: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "subject": self.subject,
            "name": self.name,
            "birth_date": self.birth_date.isoformat(),
            "sex": self.sex,
            "address": self.address,
            "prefecture": self.prefecture,
            "municipality": self.municipality,
            "authenticated_at": self.authenticated_at.isoformat() if self.authenticated_at else None,
            "acr": self.acr,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CardIdentity:
        authenticated_at = data.get("authenticated_at")
        return cls(
            issuer=str(data["issuer"]),
            subject=str(data["subject"]),
            name=str(data["name"]),
            birth_date=date.fromisoformat(str(data["birth_date"])),
            sex=str(data.get("sex") or ""),
            address=str(data.get("address") or ""),
            prefecture=str(data.get("prefecture") or ""),
            municipality=str(data.get("municipality") or ""),
            authenticated_at=datetime.fromisoformat(authenticated_at) if authenticated_at else None,
            acr=data.get("acr"),
        )


class CardSignInFailed(DomainError):
    """The provider's answer could not be accepted. ``reason`` says why, for the log and the tests (the resident
    sees a plain message and a way to try again): ``state``, ``binding``, ``expired_request``, ``replay``,
    ``provider_error``, ``token``, ``issuer``, ``audience``, ``nonce``, ``expired_token``, ``signature``,
    ``claims``, ``unavailable``, ``disabled``."""

    status, slug, title = 400, "card-sign-in-failed", "Signing in with the card did not succeed"

    def __init__(self, reason: str, detail: str | None = None) -> None:
        super().__init__(detail or "Signing in with the card did not succeed.", reason=reason)
        self.reason = reason


# -- configuration ---------------------------------------------------------------------------------------------


def _settings() -> Settings:
    settings: Settings = current_app.config["MADOGUCHI"]
    return settings


def is_configured() -> bool:
    """The platform has a card provider configured (``card_oidc_issuer`` and the client's credentials)."""
    settings = _settings()
    return bool(settings.card_oidc_issuer and settings.card_oidc_client_id and settings.card_oidc_client_secret)


def is_enabled_for(tenant: Tenant) -> bool:
    """Configured for the platform and switched on in the tenant's file (``card_sign_in: {enabled: true}``)."""
    card_sign_in = (tenant.profile or {}).get("card_sign_in") or {}
    return is_configured() and isinstance(card_sign_in, Mapping) and card_sign_in.get("enabled") is True


def is_secure_url(url: str) -> bool:
    """https, or http to a loopback host (the demo's and the tests' provider): the only URLs spoken to."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return True
    if parts.scheme != "http" or not parts.hostname:
        return False
    if parts.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False


# -- the provider's metadata and keys, cached per process --------------------------------------------------------


@dataclass
class ProviderMetadata:
    """The provider's discovery document (checked) and its keys, as fetched."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    userinfo_endpoint: str
    jwks_uri: str
    keys: KeySet
    fetched_at: float
    keys_fetched_at: float
    lock: threading.Lock = field(default_factory=threading.Lock)


_providers: dict[str, ProviderMetadata] = {}
_providers_lock = threading.Lock()
#: The clocks, kept here so tests can move them (``monotonic`` for the caches, ``wall`` for token times).
monotonic = time.monotonic
wall = time.time


def forget_providers() -> None:
    """Drop every cached discovery document and key set (tests; a changed configuration)."""
    with _providers_lock:
        _providers.clear()


def _get_json(url: str, settings: Settings) -> dict[str, Any]:
    if not is_secure_url(url):
        raise CardSignInFailed("unavailable", f"The card's provider must be reached over https: {url}")
    try:
        answer = requests.get(url, timeout=settings.card_oidc_timeout, headers={"Accept": "application/json"})
        answer.raise_for_status()
        body = answer.json()
    except (requests.RequestException, ValueError) as error:
        raise CardSignInFailed("unavailable", f"The card's provider did not answer: {error}") from error
    if not isinstance(body, dict):
        raise CardSignInFailed("unavailable", f"The card's provider answered something else than JSON at {url}")
    return body


def _import_keys(data: dict[str, Any]) -> KeySet:
    try:
        # Only signature keys of the algorithms accepted; a provider may publish others (encryption keys).
        usable = [k for k in data.get("keys", []) if isinstance(k, dict) and k.get("use", "sig") == "sig"]
        return KeySet.import_key_set({"keys": usable})
    except (JoseError, ValueError, TypeError) as error:
        raise CardSignInFailed(
            "unavailable", f"The card's provider published keys that cannot be read: {error}"
        ) from error


def provider_metadata(settings: Settings, *, fresh: bool = False) -> ProviderMetadata:
    """The configured provider's discovery document and keys: from the cache while younger than
    ``card_oidc_cache_seconds``, else fetched (and checked: its ``issuer`` must be the configured one)."""
    issuer = settings.card_oidc_issuer
    with _providers_lock:
        cached = _providers.get(issuer)
        if cached is not None and not fresh and monotonic() - cached.fetched_at < settings.card_oidc_cache_seconds:
            return cached
    document = _get_json(issuer.rstrip("/") + _DISCOVERY_PATH, settings)
    metadata = OpenIDProviderMetadata(document)
    try:
        metadata.validate()
    except (ValueError, AuthlibBaseError) as error:
        raise CardSignInFailed(
            "unavailable", f"The card's provider's discovery document is invalid: {error}"
        ) from error
    # OpenID Connect Discovery §4.3: the issuer in the document must be exactly the one it was fetched for.
    if document.get("issuer") != issuer:
        raise CardSignInFailed("issuer", f"The provider calls itself {document.get('issuer')!r}, not {issuer!r}.")
    endpoints = {name: str(document.get(name) or "") for name in ("token_endpoint", "userinfo_endpoint")}
    for name, url in [*endpoints.items(), ("authorization_endpoint", str(document["authorization_endpoint"]))]:
        if not is_secure_url(url):
            raise CardSignInFailed("unavailable", f"The provider's {name} is not https: {url!r}")
    now = monotonic()
    provider = ProviderMetadata(
        issuer=issuer,
        authorization_endpoint=str(document["authorization_endpoint"]),
        token_endpoint=endpoints["token_endpoint"],
        userinfo_endpoint=endpoints["userinfo_endpoint"],
        jwks_uri=str(document["jwks_uri"]),
        keys=_import_keys(_get_json(str(document["jwks_uri"]), settings)),
        fetched_at=now,
        keys_fetched_at=now,
    )
    with _providers_lock:
        _providers[issuer] = provider
    return provider


def _has_key(keys: KeySet, kid: str | None) -> bool:
    if kid is None:
        return len(keys.keys) == 1
    return any(key.kid == kid for key in keys.keys)


def _key_for(provider: ProviderMetadata, settings: Settings, kid: str | None) -> Key:
    """The provider's key the token names: from the cached set, or after fetching the set again when it is not
    there (the provider rotated its keys), at most once per ``KEY_REFETCH_INTERVAL_SECONDS``."""
    with provider.lock:
        if not _has_key(provider.keys, kid) and monotonic() - provider.keys_fetched_at >= KEY_REFETCH_INTERVAL_SECONDS:
            provider.keys_fetched_at = monotonic()
            provider.keys = _import_keys(_get_json(provider.jwks_uri, settings))
        keys = provider.keys
    if not _has_key(keys, kid):
        raise CardSignInFailed("signature", f"The ID token is signed with a key the provider does not publish ({kid}).")
    return keys.keys[0] if kid is None else keys.get_by_kid(kid)


# -- the ID token --------------------------------------------------------------------------------------------------


def validate_id_token(
    id_token: str,
    *,
    settings: Settings,
    provider: ProviderMetadata,
    nonce: str,
    access_token: str | None = None,
) -> dict[str, Any]:
    """Check ``id_token`` as the flow does and return its claims: the signature by one of the provider's keys
    (an unknown key id fetches the keys again), then ``iss`` (the configured issuer), ``aud`` (our client id),
    ``azp`` (ours, required when there are several audiences), ``exp`` and ``iat`` (with
    ``CLOCK_LEEWAY_SECONDS``), ``nonce`` (the one this request sent), and ``at_hash`` when present."""

    def key(guest: GuestProtocol) -> Key:
        kid = guest.headers().get("kid")
        return _key_for(provider, settings, str(kid) if kid is not None else None)

    try:
        token = jwt.decode(id_token, key, algorithms=list(ID_TOKEN_ALGORITHMS))
    except CardSignInFailed:
        raise
    except JoseError as error:
        reason = "signature" if error.error in ("bad_signature", "unsupported_algorithm") else "token"
        raise CardSignInFailed(reason, f"The ID token could not be verified: {error}") from error
    except (ValueError, TypeError) as error:
        raise CardSignInFailed("token", f"The ID token could not be read: {error}") from error
    claims = CodeIDToken(
        token.claims,
        dict(token.header),
        options={
            "iss": {"essential": True, "value": provider.issuer},
            "aud": {"essential": True, "value": settings.card_oidc_client_id},
            "sub": {"essential": True},
            "exp": {"essential": True},
            "iat": {"essential": True},
            "nonce": {"essential": True},
        },
        params={"nonce": nonce, "client_id": settings.card_oidc_client_id, "access_token": access_token},
    )
    try:
        claims.validate(now=int(wall()), leeway=CLOCK_LEEWAY_SECONDS)
    except (JoseError, AuthlibBaseError) as error:
        raise CardSignInFailed(_claim_failure(error), f"The ID token was refused: {error}") from error
    return dict(claims)


def _claim_failure(error: JoseError | AuthlibBaseError) -> str:
    if error.error == "expired_token":
        return "expired_token"
    # joserfc's claim errors (which authlib's OpenID Connect classes raise) name the claim as ``claim``.
    claim = getattr(error, "claim", None) or getattr(error, "claim_name", None)
    return {"iss": "issuer", "aud": "audience", "azp": "audience", "nonce": "nonce"}.get(str(claim), "claims")


# -- the flow --------------------------------------------------------------------------------------------------


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _client(settings: Settings, redirect_uri: str) -> OAuth2Session:
    return OAuth2Session(
        client_id=settings.card_oidc_client_id,
        client_secret=settings.card_oidc_client_secret,
        scope=settings.card_oidc_scopes,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",  # noqa: S106 - a method name, not a secret
    )


def begin(
    session: Session,
    tenant: Tenant,
    *,
    purpose: str,
    account_id: uuid.UUID | None,
    return_to: str | None,
    redirect_uri: str,
) -> tuple[str, str]:
    """Start an authorization request: store a ``CardAuthorization`` and return (the provider's authorization URL
    to redirect the browser to, the binding cookie's value to set on it)."""
    if not is_enabled_for(tenant):
        raise CardSignInFailed("disabled", "Signing in with the card is not offered here.")
    CardPurpose(purpose)  # a purpose the flow knows, or ValueError
    settings = _settings()
    provider = provider_metadata(settings)  # before anything is written: unreachable means nothing was started
    state = f"{tenant.slug}.{secrets.token_urlsafe(32)}"
    binding = secrets.token_urlsafe(32)
    nonce = secrets.token_urlsafe(32)
    code_verifier = generate_token(64)
    with _client(settings, redirect_uri) as client:
        url, _ = client.create_authorization_url(
            provider.authorization_endpoint, state=state, nonce=nonce, code_verifier=code_verifier
        )
    now = utcnow()
    session.add(
        CardAuthorization(
            tenant_id=tenant.id,
            state_hash=_hash(state),
            browser_binding_hash=_hash(binding),
            nonce=nonce,
            code_verifier=code_verifier,
            purpose=purpose,
            account_id=account_id,
            return_to=return_to,
            created_at=now,
            expires_at=now + timedelta(seconds=AUTHORIZATION_TTL_SECONDS),
        )
    )
    session.flush()
    return url, binding


def tenant_slug_of_state(state: str) -> str | None:
    """The tenant slug the ``state`` parameter carries (``<slug>.<random>``), or None if malformed."""
    slug, dot, rest = (state or "").partition(".")
    if not dot or not slug or len(rest) < 16 or len(state) > 300:
        return None
    if not all(c.isascii() and (c.isalnum() or c == "-") for c in slug):
        return None
    return slug


def _authorization_for(session: Session, tenant: Tenant, state: str) -> CardAuthorization:
    """The request the ``state`` belongs to, locked for this transaction (two answers at once: one wins)."""
    if tenant_slug_of_state(state) != tenant.slug:
        raise CardSignInFailed("state", "The answer does not belong to a sign-in started here.")
    authorization = session.execute(
        select(CardAuthorization)
        .where(CardAuthorization.tenant_id == tenant.id, CardAuthorization.state_hash == _hash(state))
        .with_for_update()
    ).scalar_one_or_none()
    if authorization is None:
        raise CardSignInFailed("state", "The answer does not belong to a sign-in started here.")
    return authorization


def complete(
    session: Session,
    tenant: Tenant,
    *,
    params: Mapping[str, str],
    browser_binding: str | None,
    redirect_uri: str,
) -> tuple[CardAuthorization, CardIdentity]:
    """Finish the request the answer (``params``: the callback's query) belongs to: check state, binding and
    expiry, mark it used (a replay is refused), exchange the code with its PKCE verifier, check the ID token
    (signature by the provider's current keys, ``iss``, ``aud``, ``azp``, ``exp``, ``iat``, ``nonce``), read the
    userinfo (its ``sub`` must be the token's) and return the verified identity. Raises ``CardSignInFailed``.

    Once state, binding and expiry pass, the request is marked used (flushed) before anything else can fail: the
    caller should commit that mark even when this raises, so the same answer is refused next time."""
    if not is_enabled_for(tenant):
        raise CardSignInFailed("disabled", "Signing in with the card is not offered here.")
    authorization = _authorization_for(session, tenant, str(params.get("state") or ""))
    if authorization.used_at is not None:
        raise CardSignInFailed("replay", "This answer was already used.")
    if not browser_binding or not hmac.compare_digest(_hash(browser_binding), authorization.browser_binding_hash):
        raise CardSignInFailed("binding", "The sign-in was started in another browser.")
    if authorization.expires_at <= utcnow():
        raise CardSignInFailed("expired_request", "The sign-in took too long.")
    authorization.used_at = utcnow()
    session.flush()

    settings = _settings()
    if params.get("error"):
        description = params.get("error_description") or ""
        raise CardSignInFailed("provider_error", f"The provider answered {params['error']}: {description}".strip())
    # RFC 9207: where the provider names itself in the answer, it must be the provider we sent the browser to.
    if "iss" in params and params["iss"] != settings.card_oidc_issuer:
        raise CardSignInFailed("issuer", f"The answer came from {params['iss']!r}.")
    code = params.get("code")
    if not code:
        raise CardSignInFailed("token", "The provider's answer has no code.")
    provider = provider_metadata(settings)
    with _client(settings, redirect_uri) as client:
        try:
            token = client.fetch_token(
                provider.token_endpoint,
                grant_type="authorization_code",
                code=code,
                code_verifier=authorization.code_verifier,
                timeout=settings.card_oidc_timeout,
            )
        except requests.RequestException as error:
            raise CardSignInFailed("unavailable", f"The card's provider did not answer: {error}") from error
        except AuthlibBaseError as error:
            raise CardSignInFailed("token", f"The provider refused the code: {error}") from error
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise CardSignInFailed("token", "The provider's token response has no ID token.")
        claims = validate_id_token(
            id_token,
            settings=settings,
            provider=provider,
            nonce=authorization.nonce,
            access_token=token.get("access_token"),
        )
        try:
            answer = client.get(provider.userinfo_endpoint, timeout=settings.card_oidc_timeout)
            answer.raise_for_status()
            userinfo = answer.json()
        except (requests.RequestException, ValueError) as error:
            raise CardSignInFailed("unavailable", f"The provider's userinfo did not answer: {error}") from error
    if not isinstance(userinfo, dict) or userinfo.get("sub") != claims["sub"]:
        raise CardSignInFailed("claims", "The userinfo is about someone else than the ID token.")
    return authorization, _identity(settings.card_oidc_issuer, claims, userinfo)


def _identity(issuer: str, claims: Mapping[str, Any], userinfo: Mapping[str, Any]) -> CardIdentity:
    """The card's 基本4情報 from the userinfo (name and birth date required), with the ID token's times."""
    name = userinfo.get("name")
    if not isinstance(name, str) or not name.strip():
        raise CardSignInFailed("claims", "The provider gave no name.")
    try:
        birth_date = date.fromisoformat(str(userinfo.get("birthdate")))
    except ValueError as error:
        raise CardSignInFailed("claims", "The provider gave no birth date.") from error
    gender = userinfo.get("gender")
    address = userinfo.get("address") if isinstance(userinfo.get("address"), Mapping) else {}
    assert isinstance(address, Mapping)
    prefecture = str(address.get("region") or "")
    municipality = str(address.get("locality") or "")
    formatted = str(address.get("formatted") or "") or (
        prefecture + municipality + str(address.get("street_address") or "")
    )
    auth_time = claims.get("auth_time")
    acr = claims.get("acr")
    return CardIdentity(
        issuer=issuer,
        subject=str(claims["sub"]),
        name=name.strip(),
        birth_date=birth_date,
        sex=gender if gender in ("male", "female") else "",
        address=formatted.strip(),
        prefecture=prefecture,
        municipality=municipality,
        authenticated_at=datetime.fromtimestamp(auth_time, UTC) if isinstance(auth_time, int | float) else None,
        acr=str(acr) if acr is not None else None,
    )


def subject_hash(issuer: str, subject: str) -> str:
    """The keyed hash under which a card's subject is stored (HMAC-SHA256, key derived from the platform secret)."""
    secret_key = _settings().secret_key
    if not secret_key:
        raise RuntimeError("the platform's secret_key is not set: card subjects cannot be hashed")
    key = hmac.new(secret_key.encode(), _SUBJECT_KEY_LABEL, hashlib.sha256).digest()
    return hmac.new(key, f"{issuer}\0{subject}".encode(), hashlib.sha256).hexdigest()
