"""Errors as pages for browsers: a person sees a short explanation in their language, never a stack trace
or a JSON document. API clients (and anything that does not ask for HTML) keep problem+json from
``madoguchi.errors``: ``init_app`` registers :func:`page_for_browsers` there, which asks :func:`wants_html`.
"""

from __future__ import annotations

from flask import Flask, Response, g, render_template, request, url_for
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError

from madoguchi.errors import problem_response, register_html_error_page

#: Paths that always answer problem+json, whatever the Accept header says.
MACHINE_PREFIXES = ("/api/", "/oauth/token", "/oauth/revoke", "/oauth/introspect", "/.well-known/", "/healthz")


def wants_html() -> bool:
    if request.path.startswith(MACHINE_PREFIXES):
        return False
    best = request.accept_mimetypes.best_match(["application/problem+json", "application/json", "text/html"])
    return best == "text/html"


def _texts(status: int) -> tuple[str, str]:
    texts = {
        400: (_("The request could not be handled"), _("Go back, check what you entered and try again.")),
        403: (
            _("You cannot use this page"),
            _("Your account does not have access to this page, or this service is paused."),
        ),
        404: (_("Page not found"), _("Check the address, or start again from the home page.")),
        405: (_("The request could not be handled"), _("Go back and try again from the page you came from.")),
        409: (
            _("Someone changed this in the meantime"),
            _("Reload the page to see the latest version, then try again."),
        ),
        412: (
            _("Someone changed this in the meantime"),
            _("Reload the page to see the latest version, then try again."),
        ),
        413: (_("The file is too large"), _("Choose a smaller file and try again.")),
        429: (_("Too many attempts"), _("Wait a few minutes, then try again.")),
        503: (
            _("The service is busy for a moment"),
            _("Nothing was changed. Wait a few seconds, then try again."),
        ),
    }
    return texts.get(
        status, (_("Something went wrong on our side"), _("Please try again later. What you saved is kept."))
    )


def render_error_page(status: int, *, heading: str | None = None, text: str | None = None) -> Response:
    default_heading, default_text = _texts(status)
    tenant = g.get("tenant")
    home_url = url_for("web.tenant_home", tenant=tenant.slug) if tenant is not None else url_for("web.platform_home")
    try:
        body = render_template(
            "errors/page.html", heading=heading or default_heading, text=text or default_text, home_url=home_url
        )
    except Exception:
        body = f"<!doctype html><html lang='en'><title>{status}</title><h1>Error {status}</h1></html>"
    return Response(body, status=status, mimetype="text/html")


def page_for_browsers(status: int) -> Response | None:
    """The error page when the client asked for HTML; None lets ``madoguchi.errors`` answer problem+json."""
    return render_error_page(status) if wants_html() else None


def _csrf_failed(error: CSRFError) -> Response:
    if not wants_html() and not request.form:
        return problem_response(400, title="Bad Request", detail=error.description)
    return render_error_page(
        400,
        heading=_("The form has expired"),
        text=_("For your security, forms work for a limited time. Go back, reload the page and send it again."),
    )


def init_app(app: Flask) -> None:
    app.register_error_handler(CSRFError, _csrf_failed)
    register_html_error_page(app, page_for_browsers)
