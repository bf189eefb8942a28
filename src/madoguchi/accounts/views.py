"""Sign-in pages: a municipality's login (with the second-factor step and authenticator set-up), resident
sign-up, the email verification link, a forgotten password (asking for a link, setting a new one), a tenant
admin's invitation link, logout; and the platform admins' login at ``/admin/login``.

Plain, accessible HTML in Japanese and English (``madoguchi.web.i18n`` picks the locale), CSRF
tokens on every form (Flask-WTF). These routes are public by declaration: each checks the session cookie
itself and sends a visitor without the right session back to the login page. The portal issue styles them.

The platform admins' pages are ``platform_admins``; what both share is ``common``.
"""

from __future__ import annotations

from typing import Any

from flask import request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from madoguchi.accounts.card import card_sign_in_url
from madoguchi.accounts.common import (
    _enrollment_step,
    _lang_only,
    _login_failed,
    _next_in_tenant,
    _query,
    _see_other,
    _tenant_render,
    _tenant_url,
    _throttled,
    web,
)
from madoguchi.accounts.forms import CodeForm, CredentialsForm, EmailForm, NewPasswordForm, SignUpForm
from madoguchi.accounts.platform_admins import platform_web as _platform_pages
from madoguchi.context import current_tenant, db_session
from madoguchi.errors import Conflict, ValidationFailed
from madoguchi.extensions import limiter
from madoguchi.identity import boundary, operations, sessions, throttling
from madoguchi.identity.models import AccountKind
from madoguchi.platform import lifecycle
from madoguchi.security import public
from madoguchi.web.i18n import current_locale

# --- Tenant login ------------------------------------------------------------------------------------


@web.route("/<tenant>/login", methods=["GET", "POST"])
@public
@limiter.limit(boundary.LOGIN_RATE_LIMIT, methods=["POST"])
def login() -> ResponseReturnValue:
    tenant = current_tenant
    context: dict[str, Any] = {
        "action": _tenant_url("identity_web.login", **_query()),
        "sign_up_url": _sign_up_url(),
        "password_reset_url": _tenant_url("identity_web.request_password_reset", **_lang_only()),
        "card_sign_in_url": card_sign_in_url(tenant, request.args.get("next")),
    }
    if request.method == "GET":
        return _tenant_render("identity/login.html", **context, values={}, errors={})
    form = CredentialsForm()
    values = form.typed("email")
    if not form.validate():
        return _tenant_render("identity/login.html", 422, **context, values=values, errors=form.field_errors())
    session = db_session()
    try:
        with boundary.failures_recorded(tenant):
            account = operations.authenticate_password(
                session, tenant.id, email=form.email.data, password=form.password.data, address=boundary.client_ip()
            )
    except operations.LoginFailed:
        errors = {"form": [_login_failed()]}
        return _tenant_render("identity/login.html", 401, **context, values=values, errors=errors)
    except throttling.SignInThrottled as wait:
        return _throttled("identity/login.html", wait, _tenant_render, "form", **context, values=values)
    state = boundary.second_factor_state(account, code_checked=False)
    boundary.begin_session(session, account, state=state, channel="web")
    if state == "code_required":
        return _see_other(_tenant_url("identity_web.second_factor", **_query()))
    if state == "enrollment_required":
        return _see_other(_tenant_url("identity_web.two_factor_setup", **_query()))
    return _see_other(_next_in_tenant(account))


def _sign_up_url() -> str:
    return _tenant_url("identity_web.sign_up", **_lang_only())


@web.route("/<tenant>/login/second-factor", methods=["GET", "POST"])
@public
@limiter.limit(boundary.LOGIN_RATE_LIMIT, methods=["POST"])
def second_factor() -> ResponseReturnValue:
    tenant = current_tenant
    found = boundary.tenant_session(tenant)
    if found is None or not sessions.is_pending(found[0], found[1]) or not found[1].totp_enabled:
        return _see_other(_tenant_url("identity_web.login", **_query()))
    row, account = found
    action = _tenant_url("identity_web.second_factor", **_query())
    if request.method == "GET":
        return _tenant_render("identity/second_factor.html", action=action, errors={})
    form = CodeForm()
    if not form.validate():
        return _tenant_render("identity/second_factor.html", 422, action=action, errors=form.field_errors())
    session = db_session()
    try:
        with boundary.failures_recorded(tenant):
            operations.check_totp_code(
                session, account, form.code.data, sealer=boundary.sealer(), address=boundary.client_ip()
            )
    except operations.LoginFailed:
        errors = {"code": [_login_failed()]}
        return _tenant_render("identity/second_factor.html", 401, action=action, errors=errors)
    except throttling.SignInThrottled as wait:
        return _throttled("identity/second_factor.html", wait, _tenant_render, "code", action=action)
    boundary.finish_second_factor(session, row, account, channel="web")
    return _see_other(_next_in_tenant(account))


@web.route("/<tenant>/account/two-factor", methods=["GET", "POST"])
@public
def two_factor_setup() -> ResponseReturnValue:
    """Set up the authenticator app: staff signed in, or staff whose session waits for it (first sign-in)."""
    tenant = current_tenant
    found = boundary.tenant_session(tenant)
    here = _tenant_url("identity_web.two_factor_setup", **_query())
    if found is None or found[1].kind != AccountKind.STAFF:
        return _see_other(_tenant_url("identity_web.login", **_query(next=f"/{tenant.slug}/account/two-factor")))
    row, account = found
    if sessions.is_pending(row, account) and account.totp_enabled:
        return _see_other(_tenant_url("identity_web.second_factor", **_query()))
    if account.totp_enabled:
        return _tenant_render("identity/two_factor_setup.html", enabled=True, action=here, errors={})
    return _enrollment_step(
        account,
        issuer=f"Madoguchi {tenant.name_en}",
        render=_tenant_render,
        action=here,
        start=operations.start_totp_enrollment,
        confirm=operations.confirm_totp_enrollment,
        finish=lambda: boundary.finish_second_factor(db_session(), row, account, channel="web"),
        done=lambda: _next_in_tenant(account),
    )


@web.post("/<tenant>/logout")
@public
def logout() -> ResponseReturnValue:
    found = boundary.tenant_session(current_tenant)
    if found is not None:
        row, account = found
        operations.record_logout(db_session(), account, web_session_id=row.id)
        boundary.clear_cookie_on_response()
    return _see_other(url_for("web.tenant_home", tenant=current_tenant.slug, **_lang_only()))


# --- Sign-up and the verification link ---------------------------------------------------------------


@web.route("/<tenant>/sign-up", methods=["GET", "POST"])
@public
@limiter.limit(boundary.SIGN_UP_RATE_LIMIT, methods=["POST"])
def sign_up() -> ResponseReturnValue:
    tenant = current_tenant
    action = _tenant_url("identity_web.sign_up", **_query())
    if request.method == "GET":
        return _tenant_render("identity/sign_up.html", action=action, values={}, errors={})
    form = SignUpForm()
    valid = form.validate()
    values = {**form.typed("email"), "display_name": form.display_name.data or ""}
    if not valid:
        return _tenant_render("identity/sign_up.html", 422, action=action, values=values, errors=form.field_errors())
    operations.sign_up(
        db_session(),
        tenant,
        email=form.email.data,
        password=form.password.data,
        display_name=form.display_name.data,
        public_url=boundary.settings().public_url,
        data_key=boundary.settings().data_key,
        locale=current_locale(),
    )
    return _tenant_render(
        "identity/message.html",
        heading=_("Check your mailbox"),
        text=_("We sent the next step to the address you gave. Follow the link in the message."),
    )


@web.get("/<tenant>/verify-email/<token>")
@public
@limiter.limit(boundary.LOGIN_RATE_LIMIT)
def verify_email(token: str) -> ResponseReturnValue:
    tenant = current_tenant
    login_link = {"href": _tenant_url("identity_web.login", **_query()), "text": _("Sign in")}
    session = db_session()
    try:
        operations.verify_email(session, tenant.id, token)
    except ValidationFailed:
        session.rollback()
        if operations.was_verified_by(session, tenant.id, token) is not None:
            return _tenant_render(
                "identity/message.html", heading=_("This email address is already confirmed."), text="", link=login_link
            )
        return _tenant_render(
            "identity/message.html",
            400,
            heading=_("This link cannot be used"),
            text=_("The link has expired (after 24 hours) or was already used. Sign in to have a new one sent."),
            link=login_link,
        )
    return _tenant_render(
        "identity/message.html",
        heading=_("Your email address is confirmed"),
        text=_("Thank you. You can sign in now."),
        link=login_link,
    )


# --- A forgotten password ----------------------------------------------------------------------------


def _unusable_reset_link() -> ResponseReturnValue:
    return _tenant_render(
        "identity/message.html",
        400,
        heading=_("This link cannot be used"),
        text=_("The link has expired (after one hour) or was already used. Ask for a new one."),
        link={
            "href": _tenant_url("identity_web.request_password_reset", **_lang_only()),
            "text": _("Forgot your password?"),
        },
    )


@web.route("/<tenant>/password-reset", methods=["GET", "POST"])
@public
@limiter.limit(boundary.SIGN_UP_RATE_LIMIT, methods=["POST"])
def request_password_reset() -> ResponseReturnValue:
    """Ask for a link by email. The answer is the same whether or not the address has an account."""
    tenant = current_tenant
    context: dict[str, Any] = {
        "action": _tenant_url("identity_web.request_password_reset", **_lang_only()),
        "login_url": _tenant_url("identity_web.login", **_lang_only()),
    }
    if request.method == "GET":
        return _tenant_render("identity/password_reset_request.html", **context, values={}, errors={})
    form = EmailForm()
    if not form.validate():
        return _tenant_render(
            "identity/password_reset_request.html",
            422,
            **context,
            values=form.typed("email"),
            errors=form.field_errors(),
        )
    settings = boundary.settings()
    operations.request_password_reset(
        db_session(),
        tenant,
        email=form.email.data,
        public_url=settings.public_url,
        data_key=settings.data_key,
        locale=current_locale(),
    )
    return _tenant_render(
        "identity/message.html",
        heading=_("Check your mailbox"),
        text=_(
            "If an account uses this address, we sent it a link to set a new password. The link works once, for "
            "one hour. No message? Check the address and your spam folder, then ask again."
        ),
        link={"href": context["login_url"], "text": _("Back to sign-in")},
    )


@web.route("/<tenant>/password-reset/<token>", methods=["GET", "POST"])
@public
@limiter.limit(boundary.LOGIN_RATE_LIMIT, methods=["POST"])
def reset_password(token: str) -> ResponseReturnValue:
    """Set a new password from the emailed link (single use, one hour); every session of the account ends."""
    tenant = current_tenant
    session = db_session()
    try:
        account = operations.check_password_reset(session, tenant.id, token)
    except ValidationFailed:
        return _unusable_reset_link()
    action = _tenant_url("identity_web.reset_password", token=token, **_lang_only())
    context: dict[str, Any] = {"action": action, "email": account.email}
    if request.method == "GET":
        return _tenant_render("identity/password_reset.html", **context, errors={})
    form = NewPasswordForm(email=account.email)
    if not form.validate():
        return _tenant_render("identity/password_reset.html", 422, **context, errors=form.field_errors())
    try:
        operations.reset_password(session, tenant.id, token, new_password=form.password.data)
    except ValidationFailed:
        session.rollback()
        return _unusable_reset_link()
    return _tenant_render(
        "identity/message.html",
        heading=_("Your new password is set"),
        text=_("You were signed out everywhere. Sign in with the new password."),
        link={"href": _tenant_url("identity_web.login", **_lang_only()), "text": _("Sign in")},
    )


# --- A tenant admin's invitation (sent by a platform admin: platform.lifecycle) -------------------------


@web.route("/<tenant>/invitation/<token>", methods=["GET", "POST"])
@public
@limiter.limit(boundary.LOGIN_RATE_LIMIT, methods=["POST"])
def accept_invitation(token: str) -> ResponseReturnValue:
    """Set a password from the one-time link, then set up the authenticator app (tenant admins must)."""
    tenant = current_tenant
    session = db_session()
    try:
        invitation = lifecycle.open_invitation(session, tenant.id, token)
    except ValidationFailed:
        return _tenant_render(
            "identity/message.html",
            400,
            heading=_("This link cannot be used"),
            text=_("The invitation has expired or was already used. Ask the platform administrator for a new one."),
        )
    action = _tenant_url("identity_web.accept_invitation", token=token, **_lang_only())
    context: dict[str, Any] = {"action": action, "email": invitation.email}
    if request.method == "GET":
        return _tenant_render("identity/invitation.html", **context, errors={})
    form = NewPasswordForm(email=invitation.email)
    if not form.validate():
        return _tenant_render("identity/invitation.html", 422, **context, errors=form.field_errors())
    try:
        account = lifecycle.accept_invitation(session, tenant.id, token, password=form.password.data)
    except (ValidationFailed, Conflict):
        session.rollback()
        return _tenant_render(
            "identity/message.html",
            400,
            heading=_("This link cannot be used"),
            text=_("The invitation has expired or was already used. Ask the platform administrator for a new one."),
        )
    boundary.begin_session(
        session, account, state=boundary.second_factor_state(account, code_checked=False), channel="web"
    )
    return _see_other(_tenant_url("identity_web.two_factor_setup", **_lang_only()))


WEB_BLUEPRINTS = [web, _platform_pages]
