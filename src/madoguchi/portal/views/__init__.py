"""The resident portal: procedures, the application form page by page, review and submit, my applications
with their timeline, withdraw and answering a request for more information, notices, connected apps and
identity verification by letter.

Views parse the form, call the operations of ``applications``, ``identity`` and ``oauth`` and render; the
rules live in those operations. Input errors re-render the page with status 422 and store nothing.

One module per group of screens: ``applications``, ``account``; ``common`` holds the blueprints.
"""

from madoguchi.portal.views import account, applications, ledger, payments, stripe_pay
from madoguchi.portal.views.common import bp, public_pages

__all__ = ["WEB_BLUEPRINTS", "account", "applications", "bp", "ledger", "payments", "public_pages", "stripe_pay"]

WEB_BLUEPRINTS = [public_pages, bp]
