"""What the sign-in pages share: the two blueprints (a municipality's pages and the platform admins' ``/admin``
pages), rendering, redirects, the throttling message and the authenticator set-up step both kinds of account use."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from markupsafe import Markup

from madoguchi.accounts.forms import EnrollmentForm
from madoguchi.context import current_tenant, db_session
from madoguchi.errors import Conflict, ValidationFailed
from madoguchi.identity import boundary, operations, password_policy, throttling, totp
from madoguchi.identity.models import Account, PlatformAdmin

web = Blueprint("identity_web", __name__, template_folder="templates")
platform_web = Blueprint("platform_login", __name__, template_folder="templates", url_prefix="/admin")
for _blueprint in (web, platform_web):
    _blueprint.record_once(lambda state: boundary.install(state.app))


def _login_failed() -> str:
    return _(
        "The email address, password or code is not correct. After several failed attempts sign-in is "
        "slowed down for a while: if so, try again later."
    )


def _throttled_message(wait: throttling.SignInThrottled) -> str:
    minutes = max(1, -(-wait.retry_after // 60))
    return _(
        "Too many failed attempts: sign-in is paused for now. Try again in %(minutes)s minute(s).", minutes=minutes
    )


def _throttled(
    template: str, wait: throttling.SignInThrottled, render: Callable[..., Any], field: str, **context: Any
) -> Any:
    """The form again, 429 with Retry-After, and the wait beside the field (the password was not checked)."""
    body, status = render(template, 429, errors={field: [_throttled_message(wait)]}, **context)
    return body, status, wait.headers


def _render(template: str, status: int = 200, **context: Any) -> ResponseReturnValue:
    return render_template(template, min_password_length=password_policy.MIN_LENGTH, **context), status


def _tenant_render(template: str, status: int = 200, **context: Any) -> ResponseReturnValue:
    tenant = current_tenant
    return _render(template, status, tenant=tenant, **context)


def _query(**extra: str | None) -> dict[str, Any]:
    """The query to carry across steps: lang and next, plus ``extra``."""
    kept = {k: v for k in ("lang", "next") if (v := request.args.get(k))}
    return {**kept, **{k: v for k, v in extra.items() if v}}


def _lang_only() -> dict[str, Any]:
    return {k: v for k, v in _query().items() if k == "lang"}


def _tenant_url(endpoint: str, **query: Any) -> str:
    return url_for(endpoint, tenant=current_tenant.slug, **query)


def _next_in_tenant(account: Account) -> str:
    """A safe ``next`` wins; otherwise staff land in the console and residents on the portal."""
    return boundary.safe_next(request.args.get("next"), boundary.landing_path(current_tenant, account))


def _see_other(location: str) -> ResponseReturnValue:
    return redirect(location, code=303)


def _enrollment_step(
    owner: Account | PlatformAdmin,
    *,
    issuer: str,
    render: Callable[..., Any],
    action: str,
    start: Callable[..., tuple[str, str]],
    confirm: Callable[..., None],
    finish: Callable[[], object],
    done: Callable[[], str],
) -> ResponseReturnValue:
    """The authenticator set-up form (staff and platform admins): ask for a key, show it as a QR code, confirm."""
    template = "identity/two_factor_setup.html"
    if request.method == "GET":
        return render(template, enabled=False, secret=None, action=action, errors={})
    session = db_session()
    sealer = boundary.sealer()
    form = EnrollmentForm()
    form.validate()  # nothing to refuse here but a bad CSRF token, which CSRFProtect answered already
    if not form.confirming():
        secret, uri = start(session, owner, sealer=sealer, issuer=issuer)
        return render(template, enabled=False, action=action, errors={}, **_key_shown(secret, uri))
    try:
        confirm(session, owner, form.code.data or "", sealer=sealer)
    except (ValidationFailed, Conflict):
        session.rollback()
        pending = operations.pending_totp_secret(owner, sealer=sealer)
        pending_uri = totp.provisioning_uri(pending, account_name=owner.email, issuer=issuer) if pending else None
        errors = {"code": [_("The code is not correct: check the app's clock and try again.")]}
        shown = _key_shown(pending, pending_uri)
        return render(template, 422, enabled=False, action=action, errors=errors, **shown)
    finish()
    return _see_other(done())


def _key_shown(secret: str | None, uri: str | None) -> dict[str, Any]:
    """The key, its otpauth URI and the same URI as an inline SVG QR code (what authenticator apps scan)."""
    qr = totp.qr_code_svg(uri, label=_("QR code to scan with your authenticator app")) if uri else None
    # segno writes the SVG itself and escapes the label: nothing a user typed goes in unescaped.
    return {"secret": secret, "uri": uri, "qr_svg": Markup(qr) if qr else None}  # noqa: S704
