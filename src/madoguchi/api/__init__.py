"""The ``/api/v1`` surface: the OpenAPI document, its toolkit (``auth``, ``pagination``, ``idempotency``,
``json_bodies``) and one module of routes per area (``applications``, ``catalog``, ``identity`` ...).

Which blueprints are mounted, and in which order, is written once in ``madoguchi.app`` with plain imports.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import flask_swagger_ui
from flask import Blueprint, Flask, Response, send_from_directory
from flask_smorest import Blueprint as SmorestBlueprint

from madoguchi.api import auth, json_bodies
from madoguchi.extensions import api, csrf
from madoguchi.identity.sessions import COOKIE_NAME
from madoguchi.security import guard_cookie_writes, mark_public_endpoint, public
from madoguchi.web import converters

API_PREFIX = "/api/v1"

#: Swagger UI 5 (the first to render OpenAPI 3.1) as shipped in the flask-swagger-ui package's ``dist`` folder:
#: only its static files are used, flask-smorest renders the page, and the page loads nothing from a CDN.
_SWAGGER_UI_DIR = Path(flask_swagger_ui.__file__).parent / "dist"

OPENAPI_CONFIG = {
    "API_TITLE": "Madoguchi API",
    "API_VERSION": "v1",
    "OPENAPI_VERSION": "3.1.0",
    "OPENAPI_URL_PREFIX": API_PREFIX,
    "OPENAPI_JSON_PATH": "openapi.json",
    "OPENAPI_SWAGGER_UI_PATH": "docs",
    "OPENAPI_SWAGGER_UI_URL": f"{API_PREFIX}/docs/assets/",
    "API_SPEC_OPTIONS": {
        "info": {
            "description": (
                "Public and partner API of Madoguchi (窓口), standardized municipal procedures. "
                "Errors are application/problem+json (RFC 9457)."
            ),
        },
    },
}

swagger_assets = Blueprint("swagger_assets", __name__, url_prefix=f"{API_PREFIX}/docs/assets")


@swagger_assets.get("/<path:filename>")
@public
def swagger_asset(filename: str) -> Response:
    return send_from_directory(_SWAGGER_UI_DIR, filename, max_age=86400)


def init_app(app: Flask, blueprints: Iterable[SmorestBlueprint]) -> None:
    """Mount ``blueprints`` under /api/v1, in order; each authenticated one carries its own authentication hook
    (``madoguchi.api.auth.require_authentication``)."""
    json_bodies.init_app(app)
    auth.init_rate_limits(app)

    app.config.update({k: v for k, v in OPENAPI_CONFIG.items() if k not in app.config})
    # The API has no CSRF token: a cookie-authenticated write must come from this site.
    guard_cookie_writes(app, prefix=API_PREFIX, cookie_name=COOKIE_NAME)
    api.init_app(app)
    api.register_converter(converters.IsoDateConverter, converters.openapi_schema)
    api.register_converter(converters.YearMonthConverter, converters.openapi_month_schema)
    # flask-smorest's own blueprint serves openapi.json and the docs page: both public by nature.
    for endpoint in ("api-docs.openapi_json", "api-docs.openapi_swagger_ui"):
        mark_public_endpoint(app, endpoint)
    app.register_blueprint(swagger_assets)

    for blueprint in blueprints:
        api.register_blueprint(blueprint, url_prefix=API_PREFIX + (blueprint.url_prefix or ""))
        csrf.exempt(blueprint)
