"""What the application page's payment panel shows: the quote, the intents with their states and events, the
定額小為替 recorded, the amount due, and whether this clerk may record cash, a terminal payment or postal orders now.
Decision 0047; the forms post to ``payments``."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from flask_babel import lazy_gettext

from madoguchi import jp
from madoguchi.context import current_tenant, db_session
from madoguchi.identity.principal import current_principal
from madoguchi.payments import counter, overview
from madoguchi.web.i18n import format_yen

if TYPE_CHECKING:  # annotations only: the panel reads through payments.overview, never the models
    from madoguchi.applications.models import Application

#: How the panel names a payment's state and mode (the API's values).
STATUS_TITLES = {
    "requires_payment": lazy_gettext("Awaiting payment"),
    "processing": lazy_gettext("Processing"),
    "succeeded": lazy_gettext("Paid"),
    "failed": lazy_gettext("Payment failed"),
    "canceled": lazy_gettext("Canceled"),
    "expired": lazy_gettext("Expired"),
}
MODE_TITLES = {
    "prepay": lazy_gettext("Online, before issue"),
    "after_fee_fixed": lazy_gettext("Online, after the fee was fixed"),
    "counter_cash": lazy_gettext("Cash at the counter"),
    "counter_terminal": lazy_gettext("Card terminal at the counter"),
    "postal_order": lazy_gettext("Postal money orders (定額小為替)"),
}
EVENT_TITLES = {
    "created": lazy_gettext("Payment started"),
    "succeeded": lazy_gettext("Paid"),
    "failed": lazy_gettext("Payment failed"),
    "canceled": lazy_gettext("Canceled"),
    "expired": lazy_gettext("Expired"),
    "ignored": lazy_gettext("Ignored (out of order)"),
    "webhook": lazy_gettext("Provider notice"),
    "poll": lazy_gettext("Checked with the provider"),
    "redirected": lazy_gettext("Sent to the payment page"),
}
SUMMARY_TITLES = {
    overview.NOT_QUOTED: lazy_gettext("Not quoted yet"),
    overview.EXEMPT: lazy_gettext("Exempt"),
    overview.FREE: lazy_gettext("No fee"),
    overview.DUE: lazy_gettext("Unpaid"),
    overview.PAID: lazy_gettext("Paid"),
}
MODE_CHOICES = {"cash": lazy_gettext("Cash"), "terminal": lazy_gettext("Card terminal")}
#: Rows of the postal order form: a face value, how many, and their issue date each (an envelope rarely holds
#: more kinds; the API takes any number of orders).
ORDER_ROWS = 4


def payment_panel(application: Application) -> dict[str, Any]:
    """The panel's content for ``application``, and a fresh idempotency key for each of its forms (a double click
    posts the same key: recorded once)."""
    principal = current_principal()
    session = db_session()
    whole = overview.overview(session, current_tenant, application, staff=True)
    may_record = (
        bool(principal.actor.staff_roles & counter.RECORDING_ROLES)
        and whole["status"] == overview.DUE
        and application.state != application.workflow.initial
        and (
            not application.workflow.is_terminal(application.state) or application.state in counter.PAYABLE_ENDED_STATES
        )
    )
    return {
        **whole,
        "status_title": SUMMARY_TITLES.get(whole["status"], whole["status"]),
        "status_titles": STATUS_TITLES,
        "mode_titles": MODE_TITLES,
        "event_titles": EVENT_TITLES,
        "may_record": may_record,
        "modes": [(m, MODE_CHOICES[m]) for m in counter.counter_modes(current_tenant)],
        "denomination_options": [(v, format_yen(v)) for v in counter.DENOMINATIONS],
        "today": jp.today().isoformat(),
        "order_rows": range(ORDER_ROWS),
        "counter_key": str(uuid.uuid4()),
        "postal_key": str(uuid.uuid4()),
    }
