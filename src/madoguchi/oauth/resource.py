"""Resource-server side of OAuth: turning a bearer token into a principal.

``madoguchi.api.auth`` calls ``principal_from_bearer`` for every API request that carries
``Authorization: Bearer``; None means "invalid, expired or revoked" (401). The principal names the
token's tenant, and the auth hook answers 404 when that is not the URL's tenant.
"""

from __future__ import annotations

from authlib.oauth2.rfc6750 import BearerTokenValidator, InvalidTokenError
from sqlalchemy import select

from madoguchi.context import db_session
from madoguchi.db import bind_tenant, bound_tenant
from madoguchi.identity.models import Account
from madoguchi.identity.principal import Principal
from madoguchi.oauth import repository
from madoguchi.oauth.models import OAuthClient, OAuthToken


class _Validator(BearerTokenValidator):
    """authlib's bearer validation (present, not expired, not revoked) over our token table."""

    def authenticate_token(self, token_string: str) -> OAuthToken | None:
        if len(token_string) > 200:
            return None
        return repository.find_token_by_access(db_session(), token_string)


_validator = _Validator()


def principal_from_bearer(token: str) -> Principal | None:
    """The principal of a live access token, or None (unknown, expired, revoked, client revoked, account off)."""
    row = _validator.authenticate_token(token)
    try:
        _validator.validate_token(row, None, None)
    except InvalidTokenError:
        return None
    assert row is not None
    session = db_session()
    client = session.get(OAuthClient, row.oauth_client_id)
    if client is None or client.revoked_at is not None:
        return None
    account = None
    if row.account_id is not None:
        account = _account_in_tenant_of(row)
        if account is None or account.disabled:
            return None
    return Principal(
        method="token",
        tenant_id=row.tenant_id,
        account=account,
        client_id=client.id,
        client_name=client.name,
        scopes=row.scopes,
        credential_id=row.id,
    )


def _account_in_tenant_of(row: OAuthToken) -> Account | None:
    """Read the token's account inside the token's tenant, whatever tenant the request is bound to.

    The request may be for another tenant's URL; the principal must still be built (and then answered
    404 by the auth hook), so the lookup briefly binds the session to the token's tenant.
    """
    session = db_session()
    requested = bound_tenant(session)
    bind_tenant(session, row.tenant_id)
    try:
        return session.execute(select(Account).where(Account.id == row.account_id)).scalar_one_or_none()
    finally:
        bind_tenant(session, requested)
