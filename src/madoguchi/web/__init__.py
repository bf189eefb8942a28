"""Server-rendered pages: the frame every page shares, the platform front page, each municipality's
landing page and HTML error pages. The surfaces' page blueprints are listed in ``madoguchi.app``.

The shared pieces live here: ``base.html`` (skip link, header, language switch, account, messages),
``forms.html`` (labelled inputs, the error summary), ``static/base.css``, locale and date formatting
(``i18n``), sign-in guards (``auth``) and security headers.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import Blueprint, Flask

from madoguchi.security import mark_public_endpoint
from madoguchi.web import error_pages, i18n, security_headers
from madoguchi.web.views import blp, signed_in_account


def init_app(app: Flask, page_blueprints: Iterable[Blueprint]) -> None:
    """The shared page machinery, then ``page_blueprints`` in order, then the landing pages."""
    i18n.init_app(app)
    security_headers.init_app(app)
    error_pages.init_app(app)
    app.jinja_env.globals["signed_in_account"] = signed_in_account
    for blueprint in page_blueprints:
        app.register_blueprint(blueprint)
    # Registered last: its catch-all /<tenant>/ must not shadow more specific pages.
    app.register_blueprint(blp)
    mark_public_endpoint(app, "web.static")  # CSS and the like
