"""Server-rendered pages: the frame every page shares, the platform front page, each municipality's
landing page, HTML error pages, and the registry of the areas' page blueprints.

The shared pieces live here: ``base.html`` (skip link, header, language switch, account, messages),
``forms.html`` (labelled inputs, the error summary), ``static/base.css``, locale and date formatting
(``i18n``), sign-in guards (``auth``) and security headers.
"""

from __future__ import annotations

import importlib
import importlib.util

from flask import Flask

from madoguchi.security import mark_public_endpoint
from madoguchi.web import error_pages, i18n, security_headers
from madoguchi.web.views import blp, signed_in_account

#: Modules whose ``WEB_BLUEPRINTS`` list holds the HTML (and OAuth protocol) blueprints of other areas.
#: More specific pages first: the landing page's ``/<tenant>/`` is registered after all of them.
WEB_BLUEPRINT_MODULES = (
    "madoguchi.identity.views",
    "madoguchi.oauth.views",
    "madoguchi.portal.views",
    "madoguchi.console.views",
    "madoguchi.tenant_admin.views",
    "madoguchi.admin.views",
    "madoguchi.documents.attachment_views",
    "madoguchi.documents.certificate_views",
    "madoguchi.notify.views",
)


def _exists(module_name: str) -> bool:
    try:
        return importlib.util.find_spec(module_name) is not None
    except ModuleNotFoundError:  # its package is not there (yet)
        return False


def init_app(app: Flask) -> None:
    i18n.init_app(app)
    security_headers.init_app(app)
    error_pages.init_app(app)
    app.jinja_env.globals["signed_in_account"] = signed_in_account
    for module_name in WEB_BLUEPRINT_MODULES:
        if _exists(module_name):
            for blueprint in importlib.import_module(module_name).WEB_BLUEPRINTS:
                app.register_blueprint(blueprint)
    # Registered last: its catch-all /<tenant>/ must not shadow more specific pages.
    app.register_blueprint(blp)
    mark_public_endpoint(app, "web.static")  # CSS and the like
