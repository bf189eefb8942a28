"""Server-rendered pages. For now: the platform front page and a plain landing page per tenant.

The full resident portal and clerk console arrive with the web issue; these pages stay as their entry.
"""

from __future__ import annotations

from flask import Flask

from madoguchi.security import mark_public_endpoint
from madoguchi.web.views import blp


def init_app(app: Flask) -> None:
    app.register_blueprint(blp)
    mark_public_endpoint(app, "web.static")  # CSS and the like
