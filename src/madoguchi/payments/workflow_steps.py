"""The workflow's payment steps, registered with ``applications.hooks``: the ``quote_fee`` action (at submit: the
application's fee for its channel, stored as its quote) and the ``fee_settled`` guard (before ``issue``: nothing is
issued while an amount is due).

A tenant that has no ``payments`` section in its tenant file does not collect fees through Madoguchi (the counter
takes them as before): its quotes are still made and shown, but ``fee_settled`` lets the issue through. Decision
0044.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from madoguchi.applications import hooks
from madoguchi.applications.models import Application
from madoguchi.applications.workflow import Transition
from madoguchi.errors import PaymentRequired
from madoguchi.identity.actors import Actor
from madoguchi.payments import intents, quotes
from madoguchi.tenancy.models import Tenant


@hooks.on_action("quote_fee")
def quote_fee(session: Session, tenant: Tenant, application: Application, actor: Actor, step: Transition) -> None:
    quotes.quote_application(session, tenant, application, actor=actor.label, account_id=actor.account_id)


@hooks.on_guard("fee_settled")
def fee_settled(session: Session, application: Application) -> None:
    tenant = session.get(Tenant, application.tenant_id)
    if tenant is None or quotes.payments_of(tenant) is None:
        return
    due = intents.amount_due(session, application)
    if due:
        raise PaymentRequired(f"{due} yen is still to be paid before anything is issued.", amount_due_jpy=due)
