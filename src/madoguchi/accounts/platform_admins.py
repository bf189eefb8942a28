"""The platform admins' sign-in at ``/admin/login``: password, the second factor, authenticator set-up, logout."""

from __future__ import annotations

from typing import Any

from flask import request, url_for
from flask.typing import ResponseReturnValue

from madoguchi.accounts.common import (
    _enrollment_step,
    _lang_only,
    _login_failed,
    _query,
    _render,
    _see_other,
    _throttled,
    platform_web,
)
from madoguchi.accounts.forms import CodeForm, CredentialsForm
from madoguchi.context import db_session
from madoguchi.extensions import limiter
from madoguchi.identity import boundary, operations, repository, sessions, throttling
from madoguchi.identity.models import PlatformAdmin
from madoguchi.security import public

# --- Platform admins ---------------------------------------------------------------------------------


def _admin_next() -> str:
    return boundary.safe_next(request.args.get("next"), url_for("admin.tenants", **_lang_only()))


@platform_web.route("/login", methods=["GET", "POST"])
@public
@limiter.limit(boundary.LOGIN_RATE_LIMIT, methods=["POST"])
def admin_login() -> ResponseReturnValue:
    context: dict[str, Any] = {"action": url_for("platform_login.admin_login", **_query()), "admin": True}
    if request.method == "GET":
        principal = sessions.principal_from_platform_session()
        admin_id = principal.platform_admin_id if principal else None
        signed_in = repository.platform_admin_by_id(db_session(), admin_id) if admin_id else None
        return _render("identity/login.html", **context, values={}, errors={}, signed_in=signed_in)
    form = CredentialsForm()
    values = form.typed("email")
    if not form.validate():
        return _render("identity/login.html", 422, **context, values=values, errors=form.field_errors())
    session = db_session()
    try:
        with boundary.platform_failures_recorded():
            admin = operations.authenticate_platform_admin(
                session, email=form.email.data, password=form.password.data, address=boundary.client_ip()
            )
    except operations.LoginFailed:
        return _render("identity/login.html", 401, **context, values=values, errors={"form": [_login_failed()]})
    except throttling.SignInThrottled as wait:
        return _throttled("identity/login.html", wait, _render, "form", **context, values=values)
    boundary.begin_platform_session(session, admin, code_checked=False)
    if admin.totp_enabled:
        return _see_other(url_for("platform_login.admin_second_factor", **_query()))
    return _see_other(url_for("platform_login.admin_two_factor_setup", **_query()))


def _pending_platform_session() -> tuple[Any, PlatformAdmin] | None:
    """The platform admin whose session still waits for its second factor (or its enrollment)."""
    row = sessions.session_from_cookie()
    admin = sessions.platform_admin_of(row) if row is not None else None
    if row is None or admin is None or row.second_factor_at is not None:
        return None
    return row, admin


@platform_web.route("/login/second-factor", methods=["GET", "POST"])
@public
@limiter.limit(boundary.LOGIN_RATE_LIMIT, methods=["POST"])
def admin_second_factor() -> ResponseReturnValue:
    found = _pending_platform_session()
    if found is None or not found[1].totp_enabled:
        return _see_other(url_for("platform_login.admin_login", **_query()))
    row, admin = found
    action = url_for("platform_login.admin_second_factor", **_query())
    if request.method == "GET":
        return _render("identity/second_factor.html", action=action, errors={})
    form = CodeForm()
    if not form.validate():
        return _render("identity/second_factor.html", 422, action=action, errors=form.field_errors())
    session = db_session()
    try:
        with boundary.platform_failures_recorded():
            operations.check_platform_totp_code(
                session, admin, form.code.data, sealer=boundary.sealer(), address=boundary.client_ip()
            )
    except operations.LoginFailed:
        return _render("identity/second_factor.html", 401, action=action, errors={"code": [_login_failed()]})
    except throttling.SignInThrottled as wait:
        return _throttled("identity/second_factor.html", wait, _render, "code", action=action)
    _finish_platform_second_factor(row, admin)
    return _see_other(_admin_next())


def _finish_platform_second_factor(row: Any, admin: PlatformAdmin) -> None:
    session = db_session()
    operations.record_platform_login(session, admin, ip=boundary.client_ip())
    _, token = sessions.complete_second_factor(session, row)
    boundary.set_cookie_on_response(token)


@platform_web.route("/account/two-factor", methods=["GET", "POST"])
@public
@limiter.limit(boundary.LOGIN_RATE_LIMIT, methods=["POST"])
def admin_two_factor_setup() -> ResponseReturnValue:
    """A platform admin without an authenticator sets one up right after the password (required)."""
    found = _pending_platform_session()
    if found is None or found[1].totp_enabled:
        return _see_other(url_for("platform_login.admin_login", **_query()))
    row, admin = found
    return _enrollment_step(
        admin,
        issuer="Madoguchi",
        render=_render,
        action=url_for("platform_login.admin_two_factor_setup", **_query()),
        start=operations.start_platform_totp_enrollment,
        confirm=operations.confirm_platform_totp_enrollment,
        finish=lambda: _finish_platform_second_factor(row, admin),
        done=_admin_next,
    )


@platform_web.post("/logout")
@public
def admin_logout() -> ResponseReturnValue:
    row = sessions.session_from_cookie()
    if row is not None and row.platform_admin_id is not None:
        sessions.end_session(db_session(), row.id)
        operations.security_log.info("platform admin %s signed out", row.platform_admin_id)
        boundary.clear_cookie_on_response()
    return _see_other(url_for("platform_login.admin_login", **_lang_only()))
