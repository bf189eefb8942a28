"""The application factory: wires configuration, extensions and blueprints. Nothing else.

Every blueprint is imported here by name and registered in the order below: a misspelled module fails at import
instead of silently losing its routes.
"""

from __future__ import annotations

import secrets

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from madoguchi import accesslog, api, context, errors, health, web
from madoguchi.accounts import oauth as oauth_pages
from madoguchi.accounts import views as account_pages
from madoguchi.admin import views as platform_admin_pages
from madoguchi.api import admin as admin_api
from madoguchi.api import application_payments as application_payments_api
from madoguchi.api import applications as applications_api
from madoguchi.api import attachments as attachments_api
from madoguchi.api import catalog as catalog_api
from madoguchi.api import catalog_upgrades as catalog_upgrades_api
from madoguchi.api import certificates as certificates_api
from madoguchi.api import childcare_rounds as childcare_rounds_api
from madoguchi.api import closed_days as closed_days_api
from madoguchi.api import emails as emails_api
from madoguchi.api import fee_quotes as fee_quotes_api
from madoguchi.api import identity as identity_api
from madoguchi.api import oauth_clients as oauth_clients_api
from madoguchi.api import open_data as open_data_api
from madoguchi.api import payment_webhooks as payment_webhooks_api
from madoguchi.api import refunds as refunds_api
from madoguchi.api import webhooks as webhooks_api
from madoguchi.childcare import certification as _certification_decision  # noqa: F401  (a hook, like those below)
from madoguchi.childcare import form_checks as _childcare_form_checks  # noqa: F401  (registers its data check)
from madoguchi.config import Settings
from madoguchi.console import attachments as console_attachment_pages
from madoguchi.console import certificates as console_certificate_pages
from madoguchi.console import deliveries as delivery_pages
from madoguchi.console import email_deliveries as email_delivery_pages
from madoguchi.console import payments as console_payment_pages
from madoguchi.console import rounds as round_pages
from madoguchi.console import satisfaction as satisfaction_pages
from madoguchi.console import views as console_pages
from madoguchi.db import Database

# The workflow steps other domains carry out register with applications.hooks when imported (decision 0016).
from madoguchi.documents import attachments as _required_documents_guard  # noqa: F401
from madoguchi.documents import issuing as _issue_document_action  # noqa: F401
from madoguchi.documents import storage
from madoguchi.extensions import csrf, limiter
from madoguchi.notify import notices as _inbox_notice_action  # noqa: F401
from madoguchi.payments import service as _payment_service  # noqa: F401  (on_succeeded: issue what waited for its fee)
from madoguchi.payments import workflow_steps as _payment_steps  # noqa: F401  (quote_fee, fee_settled)
from madoguchi.portal import attachments as attachment_pages
from madoguchi.portal import certificates as certificate_pages
from madoguchi.portal import fake_pay as fake_pay_pages
from madoguchi.portal import open_data as open_data_pages
from madoguchi.portal import views as portal_pages
from madoguchi.tenancy import resolution
from madoguchi.tenant_admin import views as tenant_admin_pages
from madoguchi.web import converters
from madoguchi.web import open_data as open_data_files

#: Mounted under /api/v1 in this order (the OpenAPI document lists their tags in it).
API_BLUEPRINTS = (
    *catalog_api.API_BLUEPRINTS,
    *identity_api.API_BLUEPRINTS,
    *oauth_clients_api.API_BLUEPRINTS,
    *applications_api.API_BLUEPRINTS,
    *application_payments_api.API_BLUEPRINTS,
    *fee_quotes_api.API_BLUEPRINTS,
    *webhooks_api.API_BLUEPRINTS,
    *attachments_api.API_BLUEPRINTS,
    *certificates_api.API_BLUEPRINTS,
    *refunds_api.API_BLUEPRINTS,
    *emails_api.API_BLUEPRINTS,
    *admin_api.API_BLUEPRINTS,
    *catalog_upgrades_api.API_BLUEPRINTS,
    *closed_days_api.API_BLUEPRINTS,
    *childcare_rounds_api.API_BLUEPRINTS,
    *payment_webhooks_api.API_BLUEPRINTS,
    *open_data_api.API_BLUEPRINTS,
)

#: Pages (and the OAuth protocol endpoints), more specific ones first: ``madoguchi.web`` registers the
#: landing page's catch-all ``/<tenant>/`` after all of them.
PAGE_BLUEPRINTS = (
    *account_pages.WEB_BLUEPRINTS,
    *oauth_pages.WEB_BLUEPRINTS,
    *portal_pages.WEB_BLUEPRINTS,
    *console_pages.WEB_BLUEPRINTS,
    *tenant_admin_pages.WEB_BLUEPRINTS,
    *platform_admin_pages.WEB_BLUEPRINTS,
    *attachment_pages.WEB_BLUEPRINTS,
    *console_attachment_pages.WEB_BLUEPRINTS,
    *certificate_pages.WEB_BLUEPRINTS,
    *console_certificate_pages.WEB_BLUEPRINTS,
    *email_delivery_pages.WEB_BLUEPRINTS,
    *console_payment_pages.WEB_BLUEPRINTS,
    *delivery_pages.WEB_BLUEPRINTS,
    *round_pages.WEB_BLUEPRINTS,
    *satisfaction_pages.WEB_BLUEPRINTS,
    *fake_pay_pages.WEB_BLUEPRINTS,
    *open_data_pages.WEB_BLUEPRINTS,
    *open_data_files.WEB_BLUEPRINTS,
)


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    settings.check_production()  # before anything falls back to a per-process default
    app = Flask(__name__, static_folder=None)
    converters.init_app(app)
    if settings.trusted_proxy_hops:
        hops = settings.trusted_proxy_hops
        # Wrapping wsgi_app is how Flask documents adding WSGI middleware (mypy sees a method replaced).
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    app.config["MADOGUCHI"] = settings
    app.config["SECRET_KEY"] = settings.secret_key or secrets.token_urlsafe(32)
    # Flask's own cookie only carries the CSRF token of HTML forms; held to the same rules as the session cookie.
    app.config.update(
        SESSION_COOKIE_NAME="__Host-madoguchi-form",
        SESSION_COOKIE_SECURE=True,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
    )
    app.config["JSON_AS_ASCII"] = False
    app.json.ensure_ascii = False  # type: ignore[attr-defined]  # on DefaultJSONProvider only

    app.config["RATELIMIT_STORAGE_URI"] = settings.ratelimit_storage_url
    app.config["RATELIMIT_HEADERS_ENABLED"] = True
    errors.register_error_handlers(app)
    accesslog.install(app)
    limiter.init_app(app)
    csrf.init_app(app)
    context.init_app(app, Database.for_web(settings))
    resolution.init_app(app)
    storage.init_app(app, settings)
    app.register_blueprint(health.blp)
    api.init_app(app, API_BLUEPRINTS)
    web.init_app(app, PAGE_BLUEPRINTS)
    return app
