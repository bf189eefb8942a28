"""Security headers on every response (DESIGN §9, web issue §5).

- ``Content-Security-Policy``: everything from this origin only, nothing framed (``frame-ancestors
  'none'``), no plugins. ``form-action`` is left out on purpose: the OAuth consent form ends in a redirect
  to the vendor's registered URI, which a ``form-action 'self'`` would block in browsers. The API docs page
  runs Swagger UI's inline bootstrap script, so it alone also allows inline scripts. The Stripe card payment
  page sets its own policy (``policy_adding``): the base one plus Stripe.js's origin (decision 0045).
- ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: same-origin`` (no URL with a reference number
  leaks to another site), HSTS when the request came over HTTPS.
- ``Cache-Control: no-store`` on anything answered to a signed-in caller or carrying a session cookie:
  pages and API answers with personal data must not stay in shared or browser caches. A view that set its
  own Cache-Control (public metadata, say) keeps it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from flask import Flask, Response, g, request

BASE_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'self'; frame-ancestors 'none'"
)
#: Swagger UI (served from this origin) bootstraps with an inline script and inline styles.
DOCS_POLICY = BASE_POLICY.replace("script-src 'self'", "script-src 'self' 'unsafe-inline'").replace(
    "style-src 'self'", "style-src 'self' 'unsafe-inline'"
)
DOCS_PATH = "/api/v1/docs"
HSTS = "max-age=63072000; includeSubDomains"


def policy_adding(sources: Mapping[str, Sequence[str]]) -> str:
    """``BASE_POLICY`` with ``sources`` added to the named directives, for one page that needs a third party
    (the Stripe card payment page). A directive the base lacks starts from ``'self'``, as ``default-src`` says.
    Set it on that page's response: ``add_security_headers`` keeps a policy a view set."""
    directives = [part.strip() for part in BASE_POLICY.split(";")]
    names = [d.split()[0] for d in directives]
    for name, extra in sources.items():
        if name in names:
            index = names.index(name)
            directives[index] = " ".join([directives[index], *extra])
        else:
            directives.append(" ".join([name, "'self'", *extra]))
            names.append(name)
    return "; ".join(directives)


def _personal(response: Response) -> bool:
    signed_in = g.get("principal") is not None or g.get("web_session") is not None
    sets_session = any("madoguchi-session" in value for value in response.headers.getlist("Set-Cookie"))
    return signed_in or sets_session


def add_security_headers(response: Response) -> Response:
    headers = response.headers
    policy = DOCS_POLICY if request.path == DOCS_PATH else BASE_POLICY
    existing = headers.get("Content-Security-Policy")
    if existing is None or existing.strip() == "frame-ancestors 'none'":
        headers["Content-Security-Policy"] = policy
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    if request.is_secure:
        headers.setdefault("Strict-Transport-Security", HSTS)
    if _personal(response) and "Cache-Control" not in headers:
        headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    app.after_request(add_security_headers)
