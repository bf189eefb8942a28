"""Server-side, revocable browser sessions.

The cookie ``__Host-madoguchi-session`` (Secure, HttpOnly, SameSite=Lax, Path=/, no Domain) holds a
random value; the database keeps only its SHA-256. A session ends at logout, when its account is
disabled (``end_sessions_of``), after ``SESSION_IDLE_MINUTES`` without use or ``SESSION_ABSOLUTE_HOURS``
after login. Logging in always creates a new session (a new id), so a fixated id is worthless.

A session whose account must pass a second factor (``_needs_second_factor``) and has not yet is *pending*:
it lives at most ``PENDING_SESSION_MINUTES``, authenticates nothing, except views marked
``@accepts_pending_second_factor`` (enrolling TOTP) for an account that has no TOTP yet. Passing the
second factor replaces it with a new, full session (``complete_second_factor``).

Platform admins have sessions too (``tenant_id`` None, ``platform_admin_id`` set), read with
``principal_from_platform_session``; they never authenticate on a tenant's URLs.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

from flask import current_app, g, has_request_context, request
from flask.sansio.app import App
from flask.wrappers import Response
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from madoguchi.context import db_session
from madoguchi.db import bind_tenant, bound_tenant, utcnow
from madoguchi.identity.actors import Actor
from madoguchi.identity.models import Account, PlatformAdmin, WebSession
from madoguchi.identity.principal import Principal, session_scopes

COOKIE_NAME = "__Host-madoguchi-session"
SESSION_IDLE_MINUTES = 30
SESSION_ABSOLUTE_HOURS = 12
#: A session waiting for its second factor (a TOTP code, or TOTP enrollment) ends this soon.
PENDING_SESSION_MINUTES = 15
#: last_seen_at is written at most this often, so reads don't each cost a write.
_TOUCH_EVERY = timedelta(minutes=1)

#: The scope of a platform admin's session (the admin API checks it).
PLATFORM_ADMIN_SCOPE = "platform:admin"

_ACCEPTS_PENDING = "_madoguchi_accepts_pending_second_factor"

V = TypeVar("V")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _request_details() -> dict[str, str | None]:
    if not has_request_context():
        return {"user_agent": None, "ip_address": None}
    return {"user_agent": (request.user_agent.string or "")[:300], "ip_address": request.remote_addr}


def _new_session(
    session: Session,
    *,
    tenant_id: uuid.UUID | None,
    account_id: uuid.UUID | None,
    platform_admin_id: uuid.UUID | None,
    second_factor_done: bool,
    pending: bool,
) -> tuple[WebSession, str]:
    token = secrets.token_urlsafe(32)
    now = utcnow()
    lifetime = timedelta(minutes=PENDING_SESSION_MINUTES) if pending else timedelta(hours=SESSION_ABSOLUTE_HOURS)
    row = WebSession(
        token_hash=hash_token(token),
        tenant_id=tenant_id,
        account_id=account_id,
        platform_admin_id=platform_admin_id,
        created_at=now,
        last_seen_at=now,
        expires_at=now + lifetime,
        second_factor_at=now if second_factor_done else None,
        **_request_details(),
    )
    session.add(row)
    session.flush()
    return row, token


def start_session(
    session: Session, account: Account, *, second_factor_done: bool = False, pending: bool = False
) -> tuple[WebSession, str]:
    """Create a session for ``account``; returns the row and the cookie value (shown once).

    ``pending``: the account still has to pass its second factor; the session is short-lived.
    """
    return _new_session(
        session,
        tenant_id=account.tenant_id,
        account_id=account.id,
        platform_admin_id=None,
        second_factor_done=second_factor_done,
        pending=pending,
    )


def start_platform_session(
    session: Session, admin: PlatformAdmin, *, second_factor_done: bool = False, pending: bool = False
) -> tuple[WebSession, str]:
    return _new_session(
        session,
        tenant_id=None,
        account_id=None,
        platform_admin_id=admin.id,
        second_factor_done=second_factor_done,
        pending=pending,
    )


def complete_second_factor(session: Session, pending: WebSession) -> tuple[WebSession, str]:
    """The pending session passed its second factor: end it and start a full one (a new id again)."""
    pending.revoked_at = utcnow()
    return _new_session(
        session,
        tenant_id=pending.tenant_id,
        account_id=pending.account_id,
        platform_admin_id=pending.platform_admin_id,
        second_factor_done=True,
        pending=False,
    )


def end_session(session: Session, web_session_id: uuid.UUID) -> None:
    session.execute(update(WebSession).where(WebSession.id == web_session_id).values(revoked_at=utcnow()))


def end_sessions_of(session: Session, account_id: uuid.UUID, *, except_id: uuid.UUID | None = None) -> None:
    """End every session of an account at once (logout everywhere, account disabled)."""
    stmt = update(WebSession).where(WebSession.account_id == account_id, WebSession.revoked_at.is_(None))
    if except_id is not None:
        stmt = stmt.where(WebSession.id != except_id)
    session.execute(stmt.values(revoked_at=utcnow()))


def end_platform_sessions_of(session: Session, platform_admin_id: uuid.UUID) -> None:
    session.execute(
        update(WebSession)
        .where(WebSession.platform_admin_id == platform_admin_id, WebSession.revoked_at.is_(None))
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
    return row if row is not None and _is_live(row) else None


def _is_live(row: WebSession) -> bool:
    """Whether ``row`` still authenticates; an idle or expired one is ended on the way (touched when used)."""
    if row.revoked_at is not None:
        return False
    now = utcnow()
    if now >= row.expires_at or now - row.last_seen_at > timedelta(minutes=SESSION_IDLE_MINUTES):
        row.revoked_at = now
        return False
    if now - row.last_seen_at > _TOUCH_EVERY:
        row.last_seen_at = now
    return True


def session_from_cookie() -> WebSession | None:
    """The live session this request's cookie names, whatever its tenant or state (None without one)."""
    token = request.cookies.get(COOKIE_NAME)
    if not token:
        return None
    return find_live_session(db_session(), token)


def _session_and_account_from_cookie() -> tuple[WebSession, Account | None] | None:
    """The live session of this request's cookie, with its account when that is in the request's tenant: one
    statement on the hot path (the account's row is joined, under the session's tenant criteria and RLS, so another
    tenant's account is simply not found here and ``account_of`` reads it in its own tenant)."""
    token = request.cookies.get(COOKIE_NAME)
    if not token:
        return None
    joined = (
        select(WebSession, Account)
        .outerjoin(Account, Account.id == WebSession.account_id)
        .where(WebSession.token_hash == hash_token(token))
    )
    found = db_session().execute(joined).one_or_none()
    if found is None or not _is_live(found[0]):
        return None
    return found[0], found[1]


def account_of(row: WebSession) -> Account | None:
    """The account of a tenant session, if it still exists and is enabled.

    It is read in the session's own tenant even on another tenant's URL, so that the auth hook can answer
    such a request 404 (as if the thing did not exist) rather than 401; the request stays bound to its URL's
    tenant.
    """
    if row.account_id is None or row.tenant_id is None:
        return None
    session = db_session()
    requested_tenant = bound_tenant(session)
    bind_tenant(session, row.tenant_id)
    try:
        account = session.execute(select(Account).where(Account.id == row.account_id)).scalar_one_or_none()
    finally:
        bind_tenant(session, requested_tenant)
    if account is None or account.disabled:
        return None
    return account


def is_pending(row: WebSession, account: Account) -> bool:
    return row.second_factor_at is None and _needs_second_factor(account)


def principal_from_session_cookie() -> Principal | None:
    """The principal of this request's session cookie, if it is live and fully signed in.

    A pending session (second factor not passed) counts only on views marked
    ``@accepts_pending_second_factor``, only while its account has no TOTP yet (enrollment), and with no
    scopes. ``g.second_factor_pending`` tells such views which case they are in.
    """
    found = _session_and_account_from_cookie()
    if found is None:
        return None
    row, account = found
    if account is None:
        account = account_of(row)  # not visible in the request's tenant: read it in the session's own
    elif account.disabled:
        account = None
    if account is None:
        return None
    pending = is_pending(row, account)
    if pending and not (_view_accepts_pending() and not account.totp_enabled):
        return None
    g.second_factor_pending = pending
    g.web_session = row
    return Principal(
        method="session",
        tenant_id=row.tenant_id,
        account=account,
        scopes=frozenset() if pending else session_scopes(account),
        credential_id=row.id,
    )


def accepts_pending_second_factor(view: V) -> V:
    """Mark a view (or MethodView class) that staff who have not enrolled TOTP yet may use."""
    setattr(view, _ACCEPTS_PENDING, True)
    return view


def _view_accepts_pending() -> bool:
    view = current_app.view_functions.get(request.endpoint or "")
    if view is None:
        return False
    view_class = getattr(view, "view_class", None)
    return bool(getattr(view, _ACCEPTS_PENDING, False) or getattr(view_class, _ACCEPTS_PENDING, False))


def _needs_second_factor(account: Account) -> bool:
    """Staff must pass the second factor (enrolling first if they have none) before acting."""
    checker = current_app.extensions.get(SECOND_FACTOR_CHECKER)
    return bool(checker(account)) if checker else False


SECOND_FACTOR_CHECKER = "madoguchi.second_factor_required"


def register_second_factor_checker(app: App, checker: Callable[[Account], bool]) -> None:
    """Install the rule that says which accounts need a second factor (``identity.operations``)."""
    app.extensions[SECOND_FACTOR_CHECKER] = checker


# --- Platform admins ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlatformPrincipal(Principal):
    """A signed-in platform admin: no tenant, no account, the platform scope."""

    platform_admin_id: uuid.UUID | None = None
    platform_admin_email: str | None = None

    @property
    def actor(self) -> Actor:
        return Actor(kind="platform_admin", label=f"platform_admin:{self.platform_admin_id}")


def platform_admin_of(row: WebSession) -> PlatformAdmin | None:
    if row.platform_admin_id is None or row.tenant_id is not None:
        return None
    admin = db_session().get(PlatformAdmin, row.platform_admin_id)
    if admin is None or admin.disabled:
        return None
    return admin


def principal_from_platform_session() -> PlatformPrincipal | None:
    """The platform admin of this request's session cookie, if live and past its second factor."""
    row = session_from_cookie()
    if row is None:
        return None
    admin = platform_admin_of(row)
    if admin is None:
        return None
    if row.second_factor_at is None:  # every platform admin passes a second factor (or is still enrolling)
        return None
    return PlatformPrincipal(
        method="platform",
        tenant_id=None,
        scopes=frozenset({PLATFORM_ADMIN_SCOPE}),
        credential_id=row.id,
        platform_admin_id=admin.id,
        platform_admin_email=admin.email,
    )
