"""The OAuth protocol endpoints and the consent page.

Not under a tenant path: the client named by ``client_id`` decides the tenant. All are public by
declaration (they authenticate clients and residents themselves). Token, revocation and introspection
are CSRF-exempt (no cookies involved; clients authenticate); the consent decision is a CSRF-protected form.
Errors are what OAuth clients expect: RFC 6749 JSON at the back-channel endpoints, and at the
authorization endpoint either a redirect to the client (only once its redirect URI has been matched
exactly) or an error page — never a redirect to an unverified URI.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode, urlsplit

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749.util import extract_basic_authorization
from flask import Blueprint, Response, current_app, jsonify, redirect, render_template, request
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from madoguchi.context import db_session
from madoguchi.db import bind_tenant
from madoguchi.extensions import csrf, limiter
from madoguchi.identity.principal import SCOPE_DESCRIPTIONS
from madoguchi.identity.sessions import principal_from_session_cookie
from madoguchi.oauth import operations, server
from madoguchi.oauth.models import OAuthClient
from madoguchi.oauth.server import authorization_server
from madoguchi.security import public
from madoguchi.tenancy.models import Tenant

SUPPORTED_LOCALES = ("ja", "en")

consent_blp = Blueprint("oauth", __name__, template_folder="templates")
protocol_blp = Blueprint("oauth_protocol", __name__)
# Back-channel endpoints: clients authenticate themselves, no browser cookie is involved.
csrf.exempt(protocol_blp)


@protocol_blp.record_once
def _create_server(state: Any) -> None:
    server.init_app(state.app)


# ------------------------------------------------------------------------------------ back channel


def _token_rate_limit() -> str:
    return current_app.config["MADOGUCHI"].oauth_token_rate_limit


def _client_key() -> str:
    """The client a token request names (HTTP Basic user, or the client_id field); else its address."""
    client_id, _ = extract_basic_authorization(request.headers)
    client_id = client_id or request.form.get("client_id")
    return f"oauth-client:{client_id[:64]}" if client_id else f"address:{get_remote_address()}"


@protocol_blp.post(server.TOKEN_PATH)
@public
@limiter.limit(_token_rate_limit, key_func=_client_key, scope="oauth-token-client")
@limiter.limit(_token_rate_limit, key_func=get_remote_address, scope="oauth-token-address")
def token() -> Response:
    """RFC 6749 §3.2: authorization_code (with PKCE), refresh_token (rotating), client_credentials."""
    return authorization_server().create_token_response()


@protocol_blp.post(server.REVOKE_PATH)
@public
def revoke() -> Response:
    """RFC 7009 token revocation."""
    return authorization_server().create_endpoint_response("revocation")


@protocol_blp.post(server.INTROSPECT_PATH)
@public
def introspect() -> Response:
    """RFC 7662 token introspection (the owning client, or an authenticated client of the same tenant)."""
    return authorization_server().create_endpoint_response("introspection")


@protocol_blp.get(server.METADATA_PATH)
@public
def metadata() -> Response:
    """RFC 8414 authorization server metadata."""
    response = jsonify(authorization_server().metadata())
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


@protocol_blp.errorhandler(OAuth2Error)
def _protocol_oauth_error(error: OAuth2Error) -> Response:
    """An OAuth error raised outside authlib's own handling (e.g. ``insecure_transport`` for plain http)."""
    return authorization_server().handle_error_response(None, error)


@protocol_blp.errorhandler(HTTPException)
def _protocol_http_error(error: HTTPException) -> Response:
    """Errors outside authlib (rate limit, malformed body) still in the RFC 6749 §5.2 shape clients parse."""
    status = error.code or 400
    code = "temporarily_unavailable" if status == 429 else "invalid_request"
    response = jsonify({"error": code, "error_description": error.description or error.name})
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    for name in ("Retry-After", "Allow"):
        value = error.get_response().headers.get(name)
        if value:
            response.headers[name] = value
    return response


# ------------------------------------------------------------------------------ authorization endpoint


@consent_blp.route(server.AUTHORIZE_PATH, methods=["GET", "POST"])
@public
def authorize() -> Any:
    """Show the consent page (GET) or take the resident's decision (POST, CSRF-protected form)."""
    oauth = authorization_server()
    try:
        grant = oauth.get_consent_grant(end_user=None)
    except OAuth2Error as error:
        return _authorization_error(error)
    except ValueError:
        # authlib refuses to echo characters outside RFC 6749's error alphabet: a malformed request.
        return _error_page(None, 400, "invalid_request", None)

    client: OAuthClient = grant.client
    session = db_session()
    # The resident, their consent and the audit live in the client's municipality.
    bind_tenant(session, client.tenant_id)
    tenant = session.get(Tenant, client.tenant_id)
    assert tenant is not None
    locale = _locale(tenant.default_locale)

    principal = principal_from_session_cookie()
    if principal is None or principal.tenant_id != client.tenant_id:
        # Not signed in, or signed in to another municipality: only a resident of the client's may consent.
        next_path = request.full_path.rstrip("?")
        login = f"/{tenant.slug}/login?" + urlencode({"next": next_path})
        return redirect(login, 303 if request.method == "POST" else 302)
    if not principal.is_resident or principal.account is None:
        return _error_page(locale, 403, "residents_only", tenant)

    account = principal.account
    scopes = set(grant.request.scope.split())
    if request.method == "GET":
        remembered = operations.has_consent(session, client, account, scopes)
        if remembered and request.args.get("prompt") != "consent":
            return oauth.create_authorization_response(grant=grant, grant_user=account)
        return _consent_page(locale, tenant, client, account, scopes, grant.redirect_uri)

    decision = request.form.get("decision")
    if decision == "approve":
        operations.record_consent(session, client, account, scopes, actor=principal.actor.label)
        return oauth.create_authorization_response(grant=grant, grant_user=account)
    if decision == "deny":
        # authlib answers access_denied at the (verified) redirect URI.
        return oauth.create_authorization_response(grant=grant, grant_user=None)
    return _error_page(locale, 400, "invalid_request", tenant)


def _authorization_error(error: OAuth2Error) -> Any:
    oauth = authorization_server()
    if error.redirect_uri:
        # authlib sets redirect_uri on an error only once it matched one the client registered.
        response = oauth.handle_error_response(None, error)
        oauth.issuer_parameter.add_issuer_parameter(oauth, response)
        return response
    return _error_page(None, error.status_code or 400, error.error, None, error.get_error_description())


@consent_blp.errorhandler(CSRFError)
def _csrf_failed(error: CSRFError) -> Any:
    return _error_page(None, 400, "csrf", None)


@consent_blp.after_request
def _page_headers(response: Response) -> Response:
    # The consent page must never be framed (clickjacking) nor cached; and the authorization URL is not
    # handed to the vendor's site as a referrer.
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = "frame-ancestors 'none'"
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


# ----------------------------------------------------------------------------------------------- pages


def _locale(default: str | None) -> str:
    asked = request.args.get("lang")
    if asked in SUPPORTED_LOCALES:
        return asked
    for tag in (request.args.get("ui_locales") or "").split():
        language = tag.split("-")[0].lower()
        if language in SUPPORTED_LOCALES:
            return language
    return default if default in SUPPORTED_LOCALES else "ja"


def _lang_urls() -> dict[str, str]:
    """Links to this very page in each language, keeping every authorization parameter."""
    urls = {}
    for lang in SUPPORTED_LOCALES:
        args = [(k, v) for k, v in request.args.items(multi=True) if k != "lang"] + [("lang", lang)]
        urls[lang] = f"{request.path}?{urlencode(args)}"
    return urls


def _consent_page(
    locale: str, tenant: Tenant, client: OAuthClient, account: Any, scopes: set[str], redirect_uri: str
) -> str:
    return render_template(
        "oauth/consent.html",
        locale=locale,
        lang_urls=_lang_urls(),
        tenant_name=tenant.name(locale),
        client=client,
        account=account,
        scopes=[(scope, SCOPE_DESCRIPTIONS[scope][locale]) for scope in sorted(scopes)],
        return_host=urlsplit(redirect_uri).netloc,
        form_action=request.full_path.rstrip("?"),
    )


def _error_page(
    locale: str | None, status: int, error: str, tenant: Tenant | None, description: str | None = None
) -> tuple[str, int]:
    locale = locale or _locale(tenant.default_locale if tenant else None)
    page = render_template(
        "oauth/error.html",
        locale=locale,
        lang_urls=_lang_urls(),
        error=error,
        description=description,
        tenant_name=tenant.name(locale) if tenant else None,
    )
    return page, status


WEB_BLUEPRINTS = [protocol_blp, consent_blp]
