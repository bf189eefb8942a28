"""Webhooks in from payment providers: ``POST /api/v1/t/<tenant>/payments/webhooks/<provider>``.

Public (a provider has no Madoguchi credentials): what authenticates the request is the signature over its raw
body, checked by the provider's adapter (``payments.webhooks.receive``). A bad signature or an old timestamp is
a 400 problem and changes nothing; a good event is stored once and answered 200 at once (``accepted``,
``duplicate`` or ``unmatched``), and the outbox worker applies it. The API's rate limit per address applies, as on
every public endpoint. Decision 0045.
"""

from __future__ import annotations

from typing import Any

from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from madoguchi.api.auth import limit_per_caller_and_address
from madoguchi.context import current_tenant, db_session
from madoguchi.payments import webhooks
from madoguchi.security import public

blp = Blueprint(
    "payment_webhooks",
    __name__,
    url_prefix="/t/<tenant>/payments/webhooks",
    description="Signed notices from payment providers (Stripe, the fake provider) that a payment moved",
)
limit_per_caller_and_address(blp)


class WebhookReceiptSchema(Schema):
    status = fields.String(
        metadata={"description": "accepted (stored, applied shortly), duplicate (seen before: no effect) or unmatched "
                  "(not a payment of this municipality: stored, no effect)"}
    )  # fmt: skip


@blp.route("/<provider>")
@public
class ProviderWebhook(MethodView):
    @blp.response(200, WebhookReceiptSchema)
    @blp.alt_response(400, description="The signature does not verify, or its timestamp is older than 300 s")
    @blp.alt_response(404, description="Unknown municipality or payment provider")
    def post(self, provider: str) -> dict[str, Any]:
        """Receive one event from the payment provider. The body is read as sent: the signature covers its bytes."""
        headers = dict(request.headers.items())
        outcome = webhooks.receive(db_session(), current_tenant, provider, headers, request.get_data(cache=True))
        return {"status": outcome}


API_BLUEPRINTS = [blp]
