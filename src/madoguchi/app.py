"""The application factory: wires configuration, extensions and blueprints. Nothing else."""

from __future__ import annotations

import secrets

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from madoguchi import accesslog, api, context, errors, health, web
from madoguchi.config import Settings
from madoguchi.db import Database
from madoguchi.documents import storage
from madoguchi.extensions import csrf, limiter
from madoguchi.tenancy import resolution


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    settings.check_production()  # before anything falls back to a per-process default
    app = Flask(__name__, static_folder=None)
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
    api.init_app(app)
    web.init_app(app)
    return app
