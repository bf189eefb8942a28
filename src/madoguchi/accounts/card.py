"""Signing in with the マイナンバーカード (decision 0048): the button's target, the provider's answer, a new resident's
email address, and the page that says what happened and what to do next.

``/<tenant>/card/sign-in`` starts a request at the card's provider; its answer comes back to ``/card/callback``, one
redirect URI for the whole platform (the ``state`` names the municipality, so the request is bound to it there).
What the card does to accounts is ``identity.card.operations``; these views only read the request, call it, start
the session and say what happened. A refused answer shows a plain page with a way to try again: the reason goes to
the log, never to the page.
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING, Any

from flask import abort, g, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from wtforms import Field, StringField
from wtforms.validators import DataRequired, ValidationError

from madoguchi.accounts.common import _render, _see_other, _tenant_render, web
from madoguchi.accounts.forms import ENTER_THIS, _email_address, _PageForm
from madoguchi.context import current_tenant, db_session, set_current_tenant
from madoguchi.errors import Conflict, Forbidden, NotFound, ValidationFailed
from madoguchi.extensions import limiter
from madoguchi.identity import boundary, sessions
from madoguchi.identity.card import operations, protocol
from madoguchi.identity.card.operations import CardOutcome
from madoguchi.security import public
from madoguchi.tenancy import repository as tenancy_repository
from madoguchi.tenancy.resolution import find_serving_tenant
from madoguchi.web import card_sign_in
from madoguchi.web.i18n import LANGUAGE_LINKS_WITHOUT_QUERY, current_locale, tenant_locales

if TYPE_CHECKING:  # annotations only: the pages go through the operations
    from madoguchi.identity.card.models import CardAuthorization
    from madoguchi.identity.models import Account
    from madoguchi.tenancy.models import Tenant

log = logging.getLogger(__name__)

#: The outcomes the result page explains (``CardOutcome.kind``, and ``linked``: a card linked for sign-in to an
#: account already verified another way).
RESULT_KINDS = ("verified", "linked", "needs_review", "no_match", "several", "other_municipality")
#: The language names offered on the new-account form, in their own language.
_LANGUAGE_NAMES = {"ja": "日本語", "en": "English"}


class CardAccountForm(_PageForm):
    """A new resident's account from their card: the email address, and the language of what we send."""

    email = StringField(validators=[DataRequired(ENTER_THIS), _email_address])
    locale = StringField()

    def validate_locale(self, field: Field) -> None:
        if field.data not in tenant_locales():
            raise ValidationError(lazy_gettext("Choose a language."))


def _languages() -> list[tuple[str, str]]:
    return [(code, _LANGUAGE_NAMES.get(code, code)) for code in tenant_locales()]


# --- Starting: the button on the sign-in page -----------------------------------------------------------


def _return_path(value: str | None, tenant: Tenant) -> str | None:
    """``next`` only when it is a path within this municipality's pages."""
    path = boundary.safe_next(value, "")
    own = f"/{tenant.slug}"
    return path if path == own or path.startswith(own + "/") or path.startswith(own + "?") else None


@web.get("/<tenant>/card/sign-in")
@public
@limiter.limit(boundary.LOGIN_RATE_LIMIT)
def card_sign_in_start() -> ResponseReturnValue:
    tenant = current_tenant
    if not protocol.is_enabled_for(tenant):
        abort(404)
    try:
        return card_sign_in.start(
            tenant,
            purpose=card_sign_in.SIGN_IN,
            account_id=None,
            return_to=_return_path(request.args.get("next"), tenant),
        )
    except protocol.CardSignInFailed as failure:
        return _failed(tenant, failure)


# --- The provider's answer -----------------------------------------------------------------------------


@web.get(protocol.CALLBACK_PATH)
@public
@limiter.limit(boundary.LOGIN_RATE_LIMIT)
def card_callback() -> ResponseReturnValue:
    """The redirect URI of every municipality: the ``state`` says whose request this answers."""
    g.setdefault(LANGUAGE_LINKS_WITHOUT_QUERY, True)  # a page shown here never repeats the code and state
    slug = protocol.tenant_slug_of_state(request.args.get("state", ""))
    tenant = _tenant_of_state(slug)
    if tenant is None:
        return _failed(None, protocol.CardSignInFailed("state", f"no municipality {slug!r} is served here"))
    set_current_tenant(tenant)
    session = db_session()
    try:
        authorization, card = protocol.complete(
            session,
            tenant,
            params=request.args.to_dict(),
            browser_binding=card_sign_in.presented_binding(),
            redirect_uri=card_sign_in.redirect_uri(),
        )
    except protocol.CardSignInFailed as failure:
        # What ``complete`` marked (the request used up) stays marked: a refused answer cannot be tried again.
        session.commit()
        return _failed(tenant, failure)
    # The request is used up whatever happens next; what the card does to accounts is all or nothing.
    savepoint = session.begin_nested()
    try:
        outcome = _answer(tenant, authorization, card)
    except (protocol.CardSignInFailed, Conflict, Forbidden, NotFound) as refused:
        savepoint.rollback()
        session.commit()
        if isinstance(refused, Conflict) and authorization.purpose == card_sign_in.LINK:
            card_sign_in.clear_binding_cookie_on_response()
            return _result_page(tenant, "taken", status=409)
        reason = refused if isinstance(refused, protocol.CardSignInFailed) else None
        return _failed(tenant, reason or protocol.CardSignInFailed("claims", refused.detail))
    savepoint.commit()
    if outcome.kind == "needs_account":
        assert outcome.authorization is not None
        return _see_other(_tenant_url(tenant, "identity_web.card_new_account", a=str(outcome.authorization.id)))
    card_sign_in.clear_binding_cookie_on_response()
    if authorization.purpose == card_sign_in.SIGN_IN and outcome.account is not None:
        _sign_in(outcome.account)
    if outcome.kind == "signed_in":
        landing = boundary.landing_path(tenant, outcome.account) if outcome.account else f"/{tenant.slug}/"
        return _see_other(boundary.safe_next(authorization.return_to, landing))
    return _see_other(_result_url(tenant, outcome, back=_return_path(authorization.return_to, tenant)))


def _answer(tenant: Tenant, authorization: CardAuthorization, card: protocol.CardIdentity) -> CardOutcome:
    """What the card does: sign in (or sign up), or link to the account signed in in this browser."""
    session = db_session()
    if authorization.purpose == card_sign_in.LINK:
        account = _signed_in_resident(tenant)
        if account is None or account.id != authorization.account_id:
            raise protocol.CardSignInFailed("binding", "the account that asked is not signed in in this browser")
        return operations.after_link(session, tenant, authorization, card, account)
    outcome = operations.after_sign_in(session, tenant, authorization, card)
    if outcome.account is not None and not card_sign_in.is_resident(outcome.account):
        raise protocol.CardSignInFailed("claims", "the card is linked to a staff account")  # staff never do
    return outcome


def _tenant_of_state(slug: str | None) -> Tenant | None:
    if not slug:
        return None
    try:
        return find_serving_tenant(slug)
    except NotFound:
        return None


def _signed_in_resident(tenant: Tenant) -> Account | None:
    found = boundary.tenant_session(tenant)
    if found is None or sessions.is_pending(found[0], found[1]) or not card_sign_in.is_resident(found[1]):
        return None
    return found[1]


def _sign_in(account: Account) -> None:
    """A session for the card's account: the card (its PIN and the chip) counts as a strong second factor."""
    boundary.begin_session(db_session(), account, state="done", channel="card")


# --- A new resident: the email address -----------------------------------------------------------------


@web.route("/<tenant>/card/new-account", methods=["GET", "POST"])
@public
@limiter.limit(boundary.SIGN_UP_RATE_LIMIT, methods=["POST"])
def card_new_account() -> ResponseReturnValue:
    tenant = current_tenant
    authorization_id = _authorization_id(request.args.get("a"))
    if not protocol.is_enabled_for(tenant) or authorization_id is None:
        abort(404)
    action = _tenant_url(tenant, "identity_web.card_new_account", a=str(authorization_id))
    context: dict[str, Any] = {"action": action, "languages": _languages()}
    if request.method == "GET":
        values = {"locale": current_locale()}
        return _tenant_render("identity/card_new_account.html", values=values, errors={}, **context)
    form = CardAccountForm()
    values = form.typed("email", "locale")
    if not form.validate():
        return _tenant_render(
            "identity/card_new_account.html", 422, values=values, errors=form.field_errors(), **context
        )
    session = db_session()
    try:
        outcome = operations.create_account_from_card(
            session,
            tenant,
            authorization_id,
            browser_binding=card_sign_in.presented_binding(),
            email=form.email.data,
            locale=form.locale.data,
        )
    except (protocol.CardSignInFailed, NotFound) as refused:
        session.rollback()
        failure = refused if isinstance(refused, protocol.CardSignInFailed) else None
        return _failed(tenant, failure or protocol.CardSignInFailed("state", refused.detail))
    except Conflict:
        session.rollback()  # the card was linked meanwhile (the same card signed up twice at once)
        card_sign_in.clear_binding_cookie_on_response()
        return _result_page(tenant, "taken", status=409)
    except ValidationFailed as refused:
        session.rollback()
        log.info("card account refused at %s: %s", tenant.slug, refused.detail)
        message = _(
            "An account already uses this email address. Sign in with it, then link your card from your account "
            "page; or give another address."
        )
        errors = {"email": [message]}
        return _tenant_render("identity/card_new_account.html", 409, values=values, errors=errors, **context)
    card_sign_in.clear_binding_cookie_on_response()
    if outcome.account is not None:
        _sign_in(outcome.account)
    return _see_other(_result_url(tenant, outcome))


def _authorization_id(raw: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw or "")
    except ValueError:
        return None


# --- What happened -------------------------------------------------------------------------------------


def _result_url(tenant: Tenant, outcome: CardOutcome, back: str | None = None) -> str:
    kind = outcome.kind if outcome.kind in RESULT_KINDS else "no_match"
    extra = {"m": outcome.municipality} if kind == "other_municipality" and outcome.municipality else {}
    if back:
        extra["back"] = back
    return _tenant_url(tenant, "identity_web.card_result", outcome=kind, **extra)


@web.get("/<tenant>/card/result")
@public
def card_result() -> ResponseReturnValue:
    kind = request.args.get("outcome", "")
    if kind not in RESULT_KINDS:
        abort(404)
    return _result_page(current_tenant, kind)


def _result_page(tenant: Tenant, kind: str, status: int = 200) -> ResponseReturnValue:
    municipality = (request.args.get("m") or "").strip()[:60] if kind == "other_municipality" else ""
    elsewhere = tenancy_repository.serving_tenant_named(db_session(), municipality) if municipality else None
    return _tenant_render(
        "identity/card_result.html",
        status,
        kind=kind,
        municipality=municipality,
        elsewhere=elsewhere if elsewhere is not None and elsewhere.id != tenant.id else None,
        contact=(tenant.profile or {}).get("contact") or {},
        signed_in=_signed_in_resident(tenant) is not None,
        portal_url=url_for("web.tenant_home", tenant=tenant.slug),
        account_url=f"/{tenant.slug}/account/identity",
        login_url=url_for("identity_web.login", tenant=tenant.slug),
        back_url=_return_path(request.args.get("back"), tenant),
    )


def _failed(tenant: Tenant | None, failure: protocol.CardSignInFailed) -> ResponseReturnValue:
    """A plain page: it did not work, try again. Why goes to the log only (an attacker learns nothing)."""
    log.warning("card sign-in refused at %s: %s (%s)", tenant.slug if tenant else "-", failure.reason, failure.detail)
    # The binding cookie stays: an answer someone else brought here must not spoil this browser's own sign-in.
    g.setdefault(LANGUAGE_LINKS_WITHOUT_QUERY, True)  # the provider's code and state stay out of the page
    status = 503 if failure.reason == "unavailable" else 400
    context: dict[str, Any] = {
        "unavailable": failure.reason == "unavailable",
        "retry_url": _tenant_url(tenant, "identity_web.card_sign_in_start") if tenant else None,
        "login_url": _tenant_url(tenant, "identity_web.login") if tenant else None,
    }
    if tenant is None:
        return _render("identity/card_failed.html", status, tenant=None, **context)
    return _tenant_render("identity/card_failed.html", status, **context)


def _tenant_url(tenant: Tenant, endpoint: str, **query: Any) -> str:
    return url_for(endpoint, tenant=tenant.slug, **query)


def card_sign_in_url(tenant: Tenant, next_path: str | None) -> str | None:
    """The sign-in page's button, when the municipality offers it."""
    if not protocol.is_enabled_for(tenant):
        return None
    return _tenant_url(tenant, "identity_web.card_sign_in_start", **({"next": next_path} if next_path else {}))
