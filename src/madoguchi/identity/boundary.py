"""What the identity API (routes.py) and pages (views.py) share at the request boundary.

Signing in (the new session, the rotated cookie), recording failures that must outlive the failed request,
and small request helpers. Operations stay free of Flask; this module is where the two meet.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from flask import after_this_request, current_app, request
from flask.sansio.app import App
from flask.wrappers import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from madoguchi.config import Settings
from madoguchi.context import database, db_session
from madoguchi.crypto import Sealer
from madoguchi.db import utcnow
from madoguchi.identity import operations, sessions
from madoguchi.identity.models import Account, AccountKind, PlatformAdmin, WebSession
from madoguchi.tenancy.models import Tenant

#: Per-IP request limit (Flask-Limiter) on every endpoint that checks a password or a second-factor code: a
#: flood guard only, high enough for a whole town hall behind one proxy. Guessing is slowed by
#: ``identity.throttling`` (per account and per address, in the database).
LOGIN_RATE_LIMIT = "50/second"
#: Per-IP limit on self sign-up (each sign-up sends an email).
SIGN_UP_RATE_LIMIT = "5/minute;30/hour"


def install(app: App) -> None:
    """Called when the identity blueprints are registered: the rule for who needs a second factor."""
    sessions.register_second_factor_checker(app, operations.second_factor_required)


def settings() -> Settings:
    return current_app.config["MADOGUCHI"]


def sealer() -> Sealer:
    return Sealer(settings().data_key)


def client_ip() -> str | None:
    return request.remote_addr


@contextmanager
def failures_recorded(tenant: Tenant) -> Iterator[None]:
    """Count a failed sign-in even though the request itself is rolled back.

    The request's own transaction is rolled back first: it may hold a lock on the account row (a rehashed
    password, a TOTP counter) that the bookkeeping transaction needs.
    """
    tenant_id = tenant.id  # read now: after the rollback, touching ``tenant`` would begin a transaction again
    try:
        yield
    except operations.LoginFailed as failure:
        db_session().rollback()
        with database().transaction(tenant_id) as session:
            operations.register_failed_login(
                session, tenant_id, failure, ip=client_ip(), public_url=settings().public_url
            )
        raise


@contextmanager
def platform_failures_recorded() -> Iterator[None]:
    try:
        yield
    except operations.LoginFailed as failure:
        db_session().rollback()
        with database().transaction() as session:
            operations.register_failed_platform_login(session, failure, ip=client_ip())
        raise


@contextmanager
def wrong_codes_counted(tenant_id: uuid.UUID) -> Iterator[None]:
    try:
        yield
    except operations.WrongIdentityCode as wrong:
        if wrong.verification_id is not None:
            db_session().rollback()
            with database().transaction(tenant_id) as session:
                operations.register_wrong_identity_code(session, wrong.verification_id)
        raise


def set_cookie_on_response(token: str) -> None:
    @after_this_request
    def _set(response: Response) -> Response:
        if response.status_code < 400:
            sessions.set_cookie(response, token)
        return response


def clear_cookie_on_response() -> None:
    @after_this_request
    def _clear(response: Response) -> Response:
        sessions.clear_cookie(response)
        return response


def revoke_presented_session(session: Session) -> None:
    """Whatever session cookie the client had ends now (session ids rotate on every sign-in)."""
    token = request.cookies.get(sessions.COOKIE_NAME)
    if token:
        row = session.execute(
            select(WebSession).where(WebSession.token_hash == sessions.hash_token(token))
        ).scalar_one_or_none()
        if row is not None and row.revoked_at is None:
            row.revoked_at = utcnow()


def second_factor_state(account: Account, *, code_checked: bool) -> str:
    if code_checked:
        return "done"
    if operations.second_factor_required(account):
        return "code_required" if account.totp_enabled else "enrollment_required"
    return "not_required"


def begin_session(session: Session, account: Account, *, state: str, channel: str) -> WebSession:
    """Sign ``account`` in: a brand-new session (any presented one is revoked) and its cookie.

    ``state`` "code_required"/"enrollment_required" starts a short pending session instead of a full one.
    """
    revoke_presented_session(session)
    pending = state in ("code_required", "enrollment_required")
    if state != "code_required":  # the password was the whole check: the sign-in succeeded
        operations.record_login(session, account, second_factor=state, channel=channel, ip=client_ip())
    row, token = sessions.start_session(session, account, second_factor_done=state == "done", pending=pending)
    set_cookie_on_response(token)
    return row


def finish_second_factor(session: Session, row: WebSession, account: Account, *, channel: str) -> WebSession:
    """The pending session passed its code: a new full session replaces it."""
    operations.record_login(session, account, second_factor="done", channel=channel, ip=client_ip())
    new_row, token = sessions.complete_second_factor(session, row)
    set_cookie_on_response(token)
    return new_row


def begin_platform_session(session: Session, admin: PlatformAdmin, *, code_checked: bool) -> WebSession:
    """Every platform admin passes a second factor: until then (or until enrolled) the session is pending."""
    revoke_presented_session(session)
    pending = not code_checked
    if not pending:
        operations.record_platform_login(session, admin, ip=client_ip())
    row, token = sessions.start_platform_session(session, admin, second_factor_done=code_checked, pending=pending)
    set_cookie_on_response(token)
    return row


def landing_path(tenant: Tenant, account: Account) -> str:
    """Where a sign-in leads without ``next``: staff to the console, residents to the portal."""
    if account.kind == AccountKind.STAFF:
        return f"/{tenant.slug}/console/"
    return f"/{tenant.slug}/"


def safe_next(value: str | None, default: str) -> str:
    """``next=`` only ever leads to a path on this site: "/x/y?z", never "//evil", "https://...", "/\\evil"."""
    if not value or len(value) > 1000:
        return default
    if not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return default
    return value


def tenant_session(tenant: Tenant) -> tuple[WebSession, Account] | None:
    """The live session (full or pending) this request's cookie names in ``tenant``, with its account."""
    row = sessions.session_from_cookie()
    if row is None or row.tenant_id != tenant.id:
        return None
    account = sessions.account_of(row)
    return (row, account) if account is not None else None
