"""The clerk console: the queue, the application page, counter filing (書かない窓口), and linking a resident's
account to the resident register at the counter (窓口での本人確認).

Staff of the municipality in the URL only (any staff role); what a staff member may do to an application
is decided by the procedure's workflow and the operations, never here. Forms post back to the page they
came from; input errors re-render it with status 422, a changed application with status 409.

One module per screen: ``queue``, ``application``, ``person_concerned`` (applications filed for someone else),
``counter``, ``identity_check``, ``card_reviews`` (the card's variant-name matches), ``payments`` (the payment
panel's forms), ``certification`` (the clerk's 支給認定 of childcare), ``fee_quote`` (the fee and 減免 on the
application page); ``common`` holds the blueprint.
"""

from madoguchi.console.views import (
    application,
    card_reviews,
    certification,
    counter,
    fee_quote,
    identity_check,
    payments,
    person_concerned,
    queue,
)
from madoguchi.console.views.common import bp

__all__ = [
    "WEB_BLUEPRINTS",
    "application",
    "bp",
    "card_reviews",
    "certification",
    "counter",
    "fee_quote",
    "identity_check",
    "payments",
    "person_concerned",
    "queue",
]

WEB_BLUEPRINTS = [bp]
