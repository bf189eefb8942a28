"""Server-rendered pages. For now: the platform front page and a plain landing page per tenant.

The full resident portal and clerk console arrive with the web issue; these pages stay as their entry.
"""

from __future__ import annotations

import importlib
import importlib.util

from flask import Flask

from madoguchi.security import mark_public_endpoint
from madoguchi.web import security_headers
from madoguchi.web.views import blp

#: Modules whose ``WEB_BLUEPRINTS`` list holds HTML (and OAuth protocol) blueprints of other areas.
WEB_BLUEPRINT_MODULES = ("madoguchi.identity.views", "madoguchi.oauth.views")


def init_app(app: Flask) -> None:
    security_headers.init_app(app)
    for module_name in WEB_BLUEPRINT_MODULES:
        if importlib.util.find_spec(module_name) is not None:
            for blueprint in importlib.import_module(module_name).WEB_BLUEPRINTS:
                app.register_blueprint(blueprint)
    # Registered last: its catch-all /<tenant>/ must not shadow more specific pages.
    app.register_blueprint(blp)
    mark_public_endpoint(app, "web.static")  # CSS and the like
