"""The resident's account pages in the portal: notices (お知らせ), connected apps (OAuth consents), identity
verification by letter, and the マイナンバーカード linked to the account (decision 0048)."""

from __future__ import annotations

import unicodedata
import uuid
from typing import TYPE_CHECKING, Any

from flask import abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from madoguchi import jp
from madoguchi.applications.workflow import MORE_INFO_REQUESTED
from madoguchi.context import current_tenant, db_session
from madoguchi.documents import delivery
from madoguchi.errors import Conflict, ValidationFailed
from madoguchi.extensions import limiter
from madoguchi.identity import boundary
from madoguchi.identity import operations as identity
from madoguchi.identity.card import operations as card_operations
from madoguchi.identity.card import protocol as card_protocol
from madoguchi.identity.principal import SCOPE_DESCRIPTIONS, current_principal
from madoguchi.identity.sessions import principal_from_session_cookie
from madoguchi.notify import notices as inbox
from madoguchi.oauth import operations as oauth
from madoguchi.oauth import repository as oauth_repository
from madoguchi.web import card_sign_in
from madoguchi.web.form_input import date_outside_era
from madoguchi.web.i18n import localized

if TYPE_CHECKING:  # annotations only: the pages go through the repositories and the operations
    from madoguchi.applications.models import Application
    from madoguchi.notify.models import Notice
from madoguchi.portal.views.common import (
    _account,
    _procedure_title,
    _render,
    _state_titles,
    bp,
)

# --- Notices --------------------------------------------------------------------------------------------


def notice_text(notice: Notice, application: Application | None) -> str:
    """The notice in the reader's language, from what happened (its kind) and the application."""
    reference = notice.reference or ""
    if application is None:
        return _("There is news about your application %(reference)s.", reference=reference)
    state = notice.kind.removeprefix("application.")
    procedure_title = _procedure_title(application)
    if notice.kind == "delivery.sent":
        return _(
            "The certificate for your application %(reference)s (%(procedure)s) has been posted to your registered "
            "address.",
            reference=reference,
            procedure=procedure_title,
        )
    if notice.kind == "delivery.handed_over":
        return _(
            "The certificate for your application %(reference)s (%(procedure)s) was handed over at the counter.",
            reference=reference,
            procedure=procedure_title,
        )
    if state == "issued":
        method = delivery.method_of(application)
        if method == delivery.MAIL:
            return _(
                "The certificate for your application %(reference)s (%(procedure)s) has been issued and will be "
                "posted to your registered address.",
                reference=reference,
                procedure=procedure_title,
            )
        if method == delivery.COUNTER:
            return _(
                "The certificate for your application %(reference)s (%(procedure)s) is ready at the counter: open "
                "the application for your pick-up code.",
                reference=reference,
                procedure=procedure_title,
            )
    if state == "submitted":
        return _(
            "We received your application %(reference)s (%(procedure)s).",
            reference=reference,
            procedure=procedure_title,
        )
    if state == MORE_INFO_REQUESTED:
        return _(
            "We need more information for your application %(reference)s (%(procedure)s): please open it and answer.",
            reference=reference,
            procedure=procedure_title,
        )
    return _(
        "Your application %(reference)s (%(procedure)s) is now: %(state)s.",
        reference=reference,
        procedure=procedure_title,
        state=_state_titles(application).get(state, state),
    )


@bp.get("/<tenant>/notices/")
def notices() -> Any:
    rows = inbox.inbox(db_session(), current_tenant.id, _account().id)
    items = [{"notice": n, "text": notice_text(n, a), "application": a} for n, a in rows]
    return _render("portal/notices.html", active="notices", items=items)


@bp.get("/<tenant>/notices/<uuid:notice_id>")
def notice(notice_id: uuid.UUID) -> Any:
    session = db_session()
    item, related = inbox.notice_of(session, current_tenant.id, _account().id, notice_id)
    inbox.mark_read(session, item)
    return _render(
        "portal/notice.html", active="notices", notice=item, text=notice_text(item, related), application=related
    )


@bp.post("/<tenant>/notices/read-all")
def read_all_notices() -> Response:
    inbox.mark_all_read(db_session(), current_tenant.id, _account().id)
    flash(_("All notices are marked as read."))
    return redirect(url_for(".notices", tenant=current_tenant.slug), 303)


# --- Connected apps -------------------------------------------------------------------------------------


@bp.get("/<tenant>/account/connected-apps")
def connected_apps() -> Any:
    rows = oauth_repository.consents_of(db_session(), current_tenant.id, _account().id)
    apps = [
        {
            "consent": consent,
            "client": client,
            "scopes": [localized(SCOPE_DESCRIPTIONS[s]) for s in consent.scopes if s in SCOPE_DESCRIPTIONS],
        }
        for consent, client in rows
    ]
    return _render("portal/connected_apps.html", active="apps", apps=apps)


@bp.post("/<tenant>/account/connected-apps/<uuid:consent_id>/revoke")
def revoke_app(consent_id: uuid.UUID) -> Response:
    principal = current_principal()
    assert principal.account is not None
    oauth.withdraw_consent(db_session(), current_tenant.id, principal.account, consent_id, actor=principal.actor.label)
    flash(_("The app can no longer act for you."))
    return redirect(url_for(".connected_apps", tenant=current_tenant.slug), 303)


# --- Identity verification by letter -------------------------------------------------------------------


def _account_key() -> str:
    principal = principal_from_session_cookie()
    account = principal.account if principal is not None else None
    return f"account:{account.id}" if account is not None else f"ip:{request.remote_addr}"


def _render_identity(errors: dict[str, list[str]] | None = None, status: int = 200, **context: Any) -> tuple[str, int]:
    contact = (current_tenant.profile or {}).get("contact") or {}
    return _render(
        "portal/identity.html",
        status,
        active="identity",
        errors=errors or {},
        contact=contact,
        card=_card_section(),
        **context,
    )


def _card_section() -> dict[str, Any]:
    """The card on the account (provider, linked on, last used), the level in words and what verified it."""
    session, account = db_session(), _account()
    link = card_operations.card_link_of(session, current_tenant.id, account.id)
    evidence = card_operations.evidence_of(session, current_tenant.id, account.id)
    level = account.identity_assurance if account.person_id is not None else "email"
    return {
        "enabled": card_protocol.is_enabled_for(current_tenant),
        "link": link,
        "provider": card_sign_in.provider_name(link.issuer) if link is not None else "",
        "level": card_sign_in.level_in_words(level),
        "evidence": [
            {
                "method": card_sign_in.method_in_words(item.method),
                "level": card_sign_in.level_in_words(item.level),
                "provider": card_sign_in.provider_name(item.issuer),
                "at": item.verified_at,
            }
            for item in evidence
        ],
    }


@bp.get("/<tenant>/account/identity")
def identity_page() -> Any:
    return _render_identity(values={})


@bp.post("/<tenant>/account/identity/letter")
@limiter.limit("10/hour", key_func=_account_key)
def request_letter() -> Any:
    values = {"resident_code": request.form.get("resident_code", ""), "birth_date": request.form.get("birth_date", "")}
    code = unicodedata.normalize("NFKC", values["resident_code"]).strip()
    errors: dict[str, list[str]] = {}
    if not code.isdigit() or len(code) != 11:
        errors["resident_code"] = [_("Enter the 11-digit resident record code.")]
    try:
        # In 西暦 or 和暦, as the API and the counter take it (a browser without a date picker sends text).
        birth_date = jp.parse_date(values["birth_date"])
    except jp.DateOutsideEra as outside:
        errors["birth_date"] = [date_outside_era(outside)]
    except ValueError:
        errors["birth_date"] = [_("Enter your date of birth, like 1985-04-02.")]
    if errors:
        return _render_identity(errors, 422, values=values)
    account = _account()
    try:
        identity.request_identity_letter(
            db_session(),
            current_tenant,
            account,
            resident_code=code,
            birth_date=birth_date,
            data_key=boundary.settings().data_key,
            actor=current_principal().actor.label,
        )
    except ValidationFailed:
        db_session().rollback()
        message = _("No one in the resident register matches this code and date of birth. Check both.")
        return _render_identity({"resident_code": [message]}, 422, values=values)
    except Conflict as refused:
        db_session().rollback()
        if "already linked" in (refused.detail or ""):
            message = _("This person is already linked to an account. Please ask at the counter.")
        elif "already verified" in (refused.detail or ""):
            message = _("Your identity is already verified.")
        else:
            message = _("We have sent the most letters allowed for now. Wait for the letter, or ask at the counter.")
        return _render_identity({"form": [message]}, 409, values=values)
    flash(_("A letter with a one-time code is on its way to your registered address. It is valid for 14 days."))
    return redirect(url_for(".identity_page", tenant=current_tenant.slug), 303)


@bp.post("/<tenant>/account/identity/code")
@limiter.limit("10/hour", key_func=_account_key)
def confirm_code() -> Any:
    code = request.form.get("code", "").strip()
    if not code:
        return _render_identity({"code": [_("Enter the code from the letter.")]}, 422, values={})
    try:
        with boundary.wrong_codes_counted(current_tenant.id):
            identity.confirm_identity_code(
                db_session(),
                _account(),
                code,
                data_key=boundary.settings().data_key,
                actor=current_principal().actor.label,
            )
    except identity.WrongIdentityCode:
        message = _("The code is not correct, has expired or was used up. Check it, or request a new letter.")
        return _render_identity({"code": [message]}, 422, values={})
    except Conflict:
        db_session().rollback()
        return _render_identity({"form": [_("Your identity is already verified.")]}, 409, values={})
    flash(_("Your identity is verified. Your applications are now filled in from your resident record."))
    return redirect(url_for(".identity_page", tenant=current_tenant.slug), 303)


# --- The マイナンバーカード on the account ----------------------------------------------------------------------


def _identity_page_path() -> str:
    return url_for(".identity_page", tenant=current_tenant.slug)


@bp.post("/<tenant>/account/card/link")
def link_card() -> Response:
    """Sign in at the card's provider to link the card to this account (the answer comes to ``/card/callback``)."""
    tenant = current_tenant
    if not card_protocol.is_enabled_for(tenant):
        abort(404)
    back = boundary.safe_next(request.form.get("next"), _identity_page_path())
    if not back.startswith(f"/{tenant.slug}/"):
        back = _identity_page_path()
    try:
        return card_sign_in.start(tenant, purpose=card_sign_in.LINK, account_id=_account().id, return_to=back)
    except card_protocol.CardSignInFailed:
        db_session().rollback()
        flash(_("The card authentication service cannot be reached just now. Please try again in a few minutes."))
        return redirect(_identity_page_path(), 303)


@bp.post("/<tenant>/account/card/unlink")
def unlink_card() -> Any:
    """Remove the card: first a page that says what it changes, then (``confirm=yes``) done."""
    session, account = db_session(), _account()
    link = card_operations.card_link_of(session, current_tenant.id, account.id)
    if link is None:
        flash(_("No My Number Card is linked to your account."))
        return redirect(_identity_page_path(), 303)
    if request.form.get("confirm") != "yes":
        only_card = account.identity_assurance == "card"
        return _render(
            "portal/card_unlink.html",
            active="identity",
            provider=card_sign_in.provider_name(link.issuer),
            link=link,
            only_card=only_card,
        )
    card_operations.unlink_card(session, current_tenant, account, actor=current_principal().actor.label)
    flash(
        _(
            "Your My Number Card is no longer linked to your account. From now on, sign in with your email address "
            "and password (no password yet? Use “Forgot your password?” on the sign-in page)."
        )
    )
    return redirect(_identity_page_path(), 303)
