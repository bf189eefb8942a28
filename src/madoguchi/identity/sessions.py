"""Server-side, revocable browser sessions.

The cookie ``__Host-madoguchi-session`` (Secure, HttpOnly, SameSite=Lax, Path=/, no Domain) holds a
random value; the database keeps only its SHA-256. A session ends at logout, when its account is
disabled (``end_sessions_of``), after ``SESSION_IDLE_MINUTES`` without use or ``SESSION_ABSOLUTE_HOURS``
after login. Logging in always creates a new session (a new id), so a fixated id is worthless.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import timedelta

from flask import current_app, request
from flask.wrappers import Response
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from madoguchi.context import db_session
from madoguchi.db import bind_tenant, bound_tenant, utcnow
from madoguchi.identity.models import Account, WebSession
from madoguchi.identity.principal import Principal, session_scopes

COOKIE_NAME = "__Host-madoguchi-session"
SESSION_IDLE_MINUTES = 30
SESSION_ABSOLUTE_HOURS = 12
#: last_seen_at is written at most this often, so reads don't each cost a write.
_TOUCH_EVERY = timedelta(minutes=1)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(session: Session, account: Account, *, second_factor_done: bool = False) -> tuple[WebSession, str]:
    """Create a session for ``account``; returns the row and the cookie value (shown once)."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    row = WebSession(
        token_hash=hash_token(token),
        tenant_id=account.tenant_id,
        account_id=account.id,
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(hours=SESSION_ABSOLUTE_HOURS),
        second_factor_at=now if second_factor_done else None,
        user_agent=(request.user_agent.string or "")[:300] if request else None,
        ip_address=request.remote_addr if request else None,
    )
    session.add(row)
    session.flush()
    return row, token


def end_session(session: Session, web_session_id: uuid.UUID) -> None:
    session.execute(update(WebSession).where(WebSession.id == web_session_id).values(revoked_at=utcnow()))


def end_sessions_of(session: Session, account_id: uuid.UUID) -> None:
    """End every session of an account at once (logout everywhere, account disabled)."""
    session.execute(
        update(WebSession)
        .where(WebSession.account_id == account_id, WebSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


def set_cookie(response: Response, token: str) -> None:
    response.set_cookie(
        COOKIE_NAME,
        token,
        max_age=SESSION_ABSOLUTE_HOURS * 3600,
        secure=True,
        httponly=True,
        samesite="Lax",
        path="/",
    )


def clear_cookie(response: Response) -> None:
    response.delete_cookie(COOKIE_NAME, secure=True, httponly=True, samesite="Lax", path="/")


def find_live_session(session: Session, token: str) -> WebSession | None:
    row = session.execute(select(WebSession).where(WebSession.token_hash == hash_token(token))).scalar_one_or_none()
    if row is None or row.revoked_at is not None:
        return None
    now = utcnow()
    if now >= row.expires_at or now - row.last_seen_at > timedelta(minutes=SESSION_IDLE_MINUTES):
        row.revoked_at = now
        return None
    if now - row.last_seen_at > _TOUCH_EVERY:
        row.last_seen_at = now
    return row


def principal_from_session_cookie() -> Principal | None:
    """The principal of this request's session cookie, if it is live and fully signed in."""
    token = request.cookies.get(COOKIE_NAME)
    if not token:
        return None
    session = db_session()
    row = find_live_session(session, token)
    if row is None or row.account_id is None or row.tenant_id is None:
        return None
    # Load the account inside its own tenant, then go back to the URL's tenant: the caller (the API auth
    # hook) answers 404 when the two differ, so a session of another municipality reveals nothing here.
    requested_tenant = bound_tenant(session)
    bind_tenant(session, row.tenant_id)
    account = session.execute(select(Account).where(Account.id == row.account_id)).scalar_one_or_none()
    bind_tenant(session, requested_tenant)
    if account is None or account.disabled:
        return None
    if _needs_second_factor(account) and row.second_factor_at is None:
        return None
    return Principal(
        method="session",
        tenant_id=row.tenant_id,
        account=account,
        scopes=session_scopes(account),
        credential_id=row.id,
    )


def _needs_second_factor(account: Account) -> bool:
    """Staff with TOTP set up (and every tenant admin) must pass the second factor before acting."""
    checker = current_app.extensions.get("madoguchi.second_factor_required")
    return bool(checker(account)) if checker else False
