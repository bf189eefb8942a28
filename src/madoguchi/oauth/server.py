"""The authorization server (authlib) of one Flask app: its grants, endpoints, tokens and metadata.

One server per app, created when the OAuth blueprint is registered (``init_app``) and found with
``authorization_server()``. authlib does the protocol; this module supplies storage and the rules of
``oauth.grants``.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer as _FlaskAuthorizationServer
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc9207 import IssuerParameter
from flask import Flask, current_app

from madoguchi.config import Settings
from madoguchi.context import db_session
from madoguchi.db import bind_tenant, new_id, utcnow
from madoguchi.oauth import operations, repository
from madoguchi.oauth.grants import (
    ALL_AUTH_METHODS,
    AuthorizationCodeGrant,
    ClientCredentialsGrant,
    IntrospectionEndpoint,
    RefreshTokenGrant,
    RevocationEndpoint,
    S256CodeChallenge,
    client_actor,
)
from madoguchi.oauth.models import AUTHORIZATION_CODE, CLIENT_CREDENTIALS, GRANT_TYPES, REFRESH_TOKEN, OAuthClient

_EXTENSION = "madoguchi.oauth_server"

AUTHORIZE_PATH = "/oauth/authorize"
TOKEN_PATH = "/oauth/token"  # noqa: S105 - a URL path
REVOKE_PATH = "/oauth/revoke"
INTROSPECT_PATH = "/oauth/introspect"
METADATA_PATH = "/.well-known/oauth-authorization-server"


def _random_token(**_: Any) -> str:
    """256 bits from the OS's CSPRNG, URL-safe. Opaque: nothing about the grant can be read from it."""
    return secrets.token_urlsafe(32)


class _Issuer(IssuerParameter):
    """RFC 9207: every authorization response names its issuer (a mix-up defence, RFC 9700 §4.4)."""

    def __init__(self, issuer: str) -> None:
        self.issuer = issuer

    def get_issuer(self) -> str:
        return self.issuer


class AuthorizationServer(_FlaskAuthorizationServer):
    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.settings = settings
        self.issuer = settings.public_url.rstrip("/")
        self.issuer_parameter = _Issuer(self.issuer)

    def init_app(self, app: Flask, query_client: Any = None, save_token: Any = None) -> None:
        super().init_app(app)
        seconds = self.settings.oauth_access_token_seconds
        self.register_token_generator(
            "default", BearerTokenGenerator(_random_token, _random_token, lambda client, grant_type: seconds)
        )
        self.register_grant(AuthorizationCodeGrant, [S256CodeChallenge(required=True)])
        self.register_grant(RefreshTokenGrant)
        self.register_grant(ClientCredentialsGrant)
        self.register_endpoint(RevocationEndpoint)
        self.register_endpoint(IntrospectionEndpoint)
        self.register_extension(self.issuer_parameter)
        self.scopes_supported = sorted(operations.VENDOR_SCOPES)

    # -- storage -----------------------------------------------------------------------------------

    def query_client(self, client_id: str) -> OAuthClient | None:
        return repository.find_usable_client(db_session(), client_id)

    def authenticate_client(self, request: Any, methods: list[str], endpoint: str = "token") -> OAuthClient:
        client: OAuthClient = super().authenticate_client(request, methods, endpoint)
        # From here on the request works inside the client's municipality (accounts, consents, audit).
        bind_tenant(db_session(), client.tenant_id)
        return client

    def save_token(self, token: dict[str, Any], request: Any) -> None:
        session = db_session()
        client: OAuthClient = request.client
        grant_type = request.payload.grant_type
        if grant_type == AUTHORIZATION_CODE:
            code = request.authorization_code
            row = operations.store_token(
                session,
                client,
                token,
                grant_type=grant_type,
                account_id=code.account_id,
                family_id=code.id,
                refresh_expires_at=utcnow() + timedelta(days=self.settings.oauth_refresh_token_days),
            )
            operations.audit_family_issued(
                session, row, client, actor=f"account:{code.account_id} via {client_actor(client)}"
            )
        elif grant_type == REFRESH_TOKEN:
            parent = request.refresh_token
            operations.store_token(
                session,
                client,
                token,
                grant_type=grant_type,
                account_id=parent.account_id,
                family_id=parent.family_id,
                parent_id=parent.id,
                refresh_expires_at=parent.refresh_expires_at,  # absolute: rotation does not extend the family
            )
        elif grant_type == CLIENT_CREDENTIALS:
            row = operations.store_token(
                session, client, token, grant_type=grant_type, account_id=None, family_id=new_id()
            )
            operations.audit_family_issued(session, row, client, actor=client_actor(client))
        else:  # pragma: no cover - no other grant is registered
            raise RuntimeError(f"unexpected grant type {grant_type!r}")

    # -- metadata (RFC 8414) -----------------------------------------------------------------------

    def metadata(self) -> dict[str, Any]:
        base = self.issuer
        return {
            "issuer": base,
            "authorization_endpoint": base + AUTHORIZE_PATH,
            "token_endpoint": base + TOKEN_PATH,
            "revocation_endpoint": base + REVOKE_PATH,
            "introspection_endpoint": base + INTROSPECT_PATH,
            "scopes_supported": self.scopes_supported,
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": list(GRANT_TYPES),
            "token_endpoint_auth_methods_supported": ALL_AUTH_METHODS,
            "revocation_endpoint_auth_methods_supported": ALL_AUTH_METHODS,
            "introspection_endpoint_auth_methods_supported": ALL_AUTH_METHODS,
            "code_challenge_methods_supported": ["S256"],
            "authorization_response_iss_parameter_supported": True,
            "ui_locales_supported": ["ja", "en"],
            "service_documentation": base + "/api/v1/docs",
        }


def init_app(app: Flask) -> None:
    server = AuthorizationServer(app.config["MADOGUCHI"])
    server.init_app(app)
    app.extensions[_EXTENSION] = server


def authorization_server() -> AuthorizationServer:
    return current_app.extensions[_EXTENSION]
