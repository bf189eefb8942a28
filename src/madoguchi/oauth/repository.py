"""Queries on OAuth clients, codes, tokens and consents. Nothing here commits.

Clients, codes and tokens are global tables: the ORM's tenant criteria do not apply to them, so every
query that runs inside a tenant names ``tenant_id`` itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, select, update
from sqlalchemy.orm import Session

from madoguchi.oauth.models import OAuthAuthorizationCode, OAuthClient, OAuthConsent, OAuthToken, secret_hash
from madoguchi.tenancy.models import Tenant


def find_usable_client(session: Session, client_id: str | None) -> OAuthClient | None:
    """The client with this public id, unless it is revoked or its municipality is suspended."""
    if not client_id or len(client_id) > 64:
        return None
    client = session.execute(select(OAuthClient).where(OAuthClient.client_id == client_id)).scalar_one_or_none()
    if client is None or client.revoked_at is not None:
        return None
    tenant = session.get(Tenant, client.tenant_id)
    if tenant is None or not tenant.status_enum.serves_requests:
        return None
    return client


def tenant_client(session: Session, tenant_id: uuid.UUID, client_pk: uuid.UUID) -> OAuthClient | None:
    stmt = select(OAuthClient).where(
        OAuthClient.tenant_id == tenant_id, OAuthClient.id == client_pk, OAuthClient.revoked_at.is_(None)
    )
    return session.execute(stmt).scalar_one_or_none()


def tenant_clients(session: Session, tenant_id: uuid.UUID) -> list[OAuthClient]:
    stmt = (
        select(OAuthClient)
        .where(OAuthClient.tenant_id == tenant_id, OAuthClient.revoked_at.is_(None))
        .order_by(OAuthClient.created_at, OAuthClient.id)
    )
    return list(session.execute(stmt).scalars())


def find_code(session: Session, code: str) -> OAuthAuthorizationCode | None:
    stmt = select(OAuthAuthorizationCode).where(OAuthAuthorizationCode.code_hash == secret_hash(code))
    return session.execute(stmt).scalar_one_or_none()


def claim_code(session: Session, code_id: uuid.UUID, now: datetime) -> bool:
    """Mark the code used if nobody has: the conditional UPDATE is what makes redemption single-use.

    On PostgreSQL a concurrent redemption waits on the row lock, then finds ``used_at`` set and updates
    nothing; exactly one transaction gets rowcount 1.
    """
    result = session.execute(
        update(OAuthAuthorizationCode)
        .where(OAuthAuthorizationCode.id == code_id, OAuthAuthorizationCode.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    return cast(CursorResult[Any], result).rowcount == 1


def find_token_by_access(session: Session, access_token: str) -> OAuthToken | None:
    stmt = select(OAuthToken).where(OAuthToken.access_token_hash == secret_hash(access_token))
    return session.execute(stmt).scalar_one_or_none()


def find_token_by_refresh(session: Session, refresh_token: str) -> OAuthToken | None:
    stmt = select(OAuthToken).where(OAuthToken.refresh_token_hash == secret_hash(refresh_token))
    return session.execute(stmt).scalar_one_or_none()


def claim_refresh_token(session: Session, token_id: uuid.UUID, now: datetime) -> bool:
    """Rotate: mark the refresh token used if it is still unused and unrevoked (same pattern as codes)."""
    result = session.execute(
        update(OAuthToken)
        .where(OAuthToken.id == token_id, OAuthToken.refresh_used_at.is_(None), OAuthToken.revoked_at.is_(None))
        .values(refresh_used_at=now)
        .execution_options(synchronize_session=False)
    )
    return cast(CursorResult[Any], result).rowcount == 1


def revoke_tokens(session: Session, *criteria: ColumnElement[bool], now: datetime, reason: str) -> int:
    result = session.execute(
        update(OAuthToken)
        .where(OAuthToken.revoked_at.is_(None), *criteria)
        .values(revoked_at=now, revoked_reason=reason)
        .execution_options(synchronize_session="fetch")
    )
    return cast(CursorResult[Any], result).rowcount


def expire_unused_codes(session: Session, *criteria: ColumnElement[bool], now: datetime) -> None:
    """Burn codes not yet redeemed (a later redemption is refused and revokes nothing new)."""
    session.execute(
        update(OAuthAuthorizationCode)
        .where(OAuthAuthorizationCode.used_at.is_(None), *criteria)
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )


def find_consent(
    session: Session, tenant_id: uuid.UUID, account_id: uuid.UUID, client_pk: uuid.UUID
) -> OAuthConsent | None:
    stmt = select(OAuthConsent).where(
        OAuthConsent.tenant_id == tenant_id,
        OAuthConsent.account_id == account_id,
        OAuthConsent.oauth_client_id == client_pk,
    )
    return session.execute(stmt).scalar_one_or_none()


def consents_of(
    session: Session, tenant_id: uuid.UUID, account_id: uuid.UUID
) -> list[tuple[OAuthConsent, OAuthClient]]:
    stmt = (
        select(OAuthConsent, OAuthClient)
        .join(OAuthClient, OAuthClient.id == OAuthConsent.oauth_client_id)
        .where(
            OAuthConsent.tenant_id == tenant_id,
            OAuthConsent.account_id == account_id,
            OAuthClient.tenant_id == tenant_id,
            OAuthClient.revoked_at.is_(None),
        )
        .order_by(OAuthConsent.granted_at, OAuthConsent.id)
    )
    return [(consent, client) for consent, client in session.execute(stmt).all()]


def client_names(session: Session, tenant_id: uuid.UUID, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The names of the tenant's apps of these ids (revoked ones too: a read before the revocation still happened)."""
    wanted = set(ids)
    if not wanted:
        return {}
    stmt = select(OAuthClient.id, OAuthClient.name).where(
        OAuthClient.tenant_id == tenant_id, OAuthClient.id.in_(wanted)
    )
    return {client_id: name for client_id, name in session.execute(stmt).all()}  # noqa: C416 - rows, not pairs
