"""The card payment page of the ``stripe`` provider, ``/<tenant>/payments/<intent id>/stripe``: where the Stripe
adapter's ``redirect_url`` sends the resident (Stripe has no hosted page for a PaymentIntent).

The page mounts Stripe.js's Payment Element with the PaymentIntent's client secret: the card is typed into
Stripe's iframe, so Madoguchi never sees a card number. Stripe.js confirms the payment and sends the resident to
the existing payment-return page. The page's script is a static file of ours; this page alone lets Stripe.js's
origin into its Content-Security-Policy. An intent that is no longer payable (paid, declined, expired, replaced
by a newer one) shows where it stands instead, without Stripe.js. Decision 0045.
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING, Any

from flask import abort, current_app, make_response, url_for
from flask_babel import gettext as _

from madoguchi.context import current_tenant, db_session
from madoguchi.db import utcnow
from madoguchi.payments import service, states
from madoguchi.payments.providers import stripe
from madoguchi.payments.providers.base import ProviderError
from madoguchi.portal.views.common import _own_application, _procedure_title, _render, bp
from madoguchi.portal.views.payments import status_titles
from madoguchi.web.i18n import current_locale
from madoguchi.web.security_headers import policy_adding

if TYPE_CHECKING:  # annotations only
    from sqlalchemy.orm import Session

    from madoguchi.applications.models import Application
    from madoguchi.config import Settings
    from madoguchi.payments.models import PaymentIntent

log = logging.getLogger(__name__)

#: The page's status for an intent still open at the provider but no longer the one to pay.
REPLACED = "replaced"


def _not_payable_status(session: Session, application: Application, intent: PaymentIntent) -> str | None:
    """Why ``intent`` cannot be paid on this page now (a status to show), or None when it can."""
    if intent.status != states.REQUIRES_PAYMENT:
        return intent.status
    if intent.expires_at is not None and intent.expires_at <= utcnow():
        return states.EXPIRED  # the expiry job has not run yet
    # Only the newest open intent, and only for what is still due: a second tab or a fee changed by the clerk
    # must not take a second payment.
    if service.open_intent(session, application) is not intent:
        return REPLACED
    if service.payable(session, current_tenant, application) != intent.amount_jpy:
        return REPLACED
    return None


@bp.get("/<tenant>/payments/<uuid:intent_id>/stripe")
def stripe_pay(intent_id: uuid.UUID) -> Any:
    session = db_session()
    intent = service.find_intent(session, current_tenant, intent_id)
    if intent is None or intent.provider != stripe.NAME or intent.mode not in service.ONLINE_MODES:
        abort(404)
    application = _own_application(intent.application_id)  # another resident's: 404
    settings = current_app.config["MADOGUCHI"]
    # Back here after paying (the browser's Back button), before the webhook: show the payment, not the form.
    service.refresh_from_provider(session, current_tenant, intent, settings=settings)
    page: dict[str, Any] = {
        "active": "applications",
        "application": application,
        "procedure_title": _procedure_title(application),
        "intent": intent,
        "payments_url": url_for(".payments", tenant=current_tenant.slug, application_id=application.id),
    }
    status = _not_payable_status(session, application, intent)
    if status is not None:
        titles = {**status_titles(), REPLACED: _("This payment was replaced by a newer one")}
        return _render("portal/stripe_pay.html", payment_status=status, status_title=titles.get(status, status), **page)
    secret = _client_secret(intent, settings)
    if secret is None:
        return _render("portal/stripe_pay.html", 503, unavailable=True, **page)
    html, code = _render(
        "portal/stripe_pay.html",
        publishable_key=settings.stripe_publishable_key,
        client_secret=secret,
        stripe_js_url=settings.stripe_js_url,
        return_url=url_for(
            ".payment_return", tenant=current_tenant.slug, application_id=application.id, _external=True
        ),
        stripe_locale=current_locale(),
        **page,
    )
    response = make_response(html, code)
    response.headers["Content-Security-Policy"] = policy_adding(stripe.browser_sources(settings.stripe_js_url))
    return response


def _client_secret(intent: PaymentIntent, settings: Settings) -> str | None:
    """The PaymentIntent's client secret for Stripe.js (None: Stripe is not configured or cannot be reached)."""
    if not settings.stripe_publishable_key or intent.provider_ref is None:
        log.error("the Stripe pay page cannot be shown: MADOGUCHI_STRIPE_PUBLISHABLE_KEY is empty or no PaymentIntent")
        return None
    try:
        return stripe.StripeProvider(current_tenant, settings).client_secret(intent.provider_ref)
    except ProviderError as error:
        log.error("the Stripe pay page cannot be shown for intent %s: %s", intent.id, error)
        return None
