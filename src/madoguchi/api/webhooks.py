"""The webhooks API: vendors (and tenant administrators) subscribe to a municipality's events.

Who may: a credential with the scope ``webhooks:manage`` — a vendor app's token, which sees and manages only
its own app's subscriptions, or a tenant administrator's session, which sees all of the municipality's.
Another tenant's subscription, or another app's, is 404.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint

from madoguchi.api.auth import require_authentication, requires_scope
from madoguchi.api.idempotency import IDEMPOTENCY_KEY_PARAMETER, make_idempotent, withheld_on_replay
from madoguchi.api.pagination import decode_cursor, keyset_page
from madoguchi.config import Settings
from madoguchi.context import current_tenant, db_session
from madoguchi.errors import Forbidden
from madoguchi.identity.principal import WEBHOOKS_MANAGE, Principal, current_principal
from madoguchi.notify import webhooks
from madoguchi.notify.models import WebhookDelivery, WebhookSubscription
from madoguchi.notify.webhook_schemas import (
    WebhookDeliveryPageSchema,
    WebhookDeliveryQueryArgsSchema,
    WebhookDeliverySchema,
    WebhookSubscriptionCreatedSchema,
    WebhookSubscriptionCreateSchema,
    WebhookSubscriptionSchema,
)

blp = Blueprint(
    "webhooks",
    __name__,
    url_prefix="/t/<tenant>/webhooks",
    description=(
        "Signed webhooks (Standard Webhooks): subscribe to application.submitted, application.state_changed and "
        "document.issued, read the delivery log, replay a delivery"
    ),
)
require_authentication(blp)
make_idempotent(blp)


def _settings() -> Settings:
    return current_app.config["MADOGUCHI"]


def _manager() -> Principal:
    """The caller, if it may manage webhooks. A token acting for a resident may not, whatever its scopes:
    webhooks carry the whole municipality's events."""
    principal = current_principal()
    if principal.is_resident:
        raise Forbidden("Webhooks are managed by a vendor app or a tenant administrator, not for a resident.")
    return principal


def _subscription(subscription_id: uuid.UUID) -> WebhookSubscription:
    return webhooks.get_subscription(db_session(), current_tenant.id, subscription_id, client_id=_manager().client_id)


def present_subscription(subscription: WebhookSubscription) -> dict[str, Any]:
    return {
        "id": subscription.id,
        "url": subscription.url,
        "events": subscription.events,
        "description": subscription.description,
        "client_id": subscription.client_id,
        "created_at": subscription.created_at,
    }


def present_delivery(delivery: WebhookDelivery) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "webhook_id": delivery.message_id,
        "event": delivery.event,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "created_at": delivery.created_at,
        "last_attempt_at": delivery.last_attempt_at,
        "next_attempt_at": delivery.next_attempt_at,
        "delivered_at": delivery.delivered_at,
    }


@blp.route("")
class Subscriptions(MethodView):
    @blp.response(200, WebhookSubscriptionSchema(many=True))
    @blp.alt_response(403, description="The credential lacks the scope webhooks:manage")
    @requires_scope(WEBHOOKS_MANAGE)
    def get(self) -> list[dict[str, Any]]:
        """List the subscriptions the caller manages (a vendor app: its own; a tenant admin: all)."""
        rows = webhooks.list_subscriptions(db_session(), current_tenant.id, client_id=_manager().client_id)
        return [present_subscription(s) for s in rows]

    @blp.doc(parameters=[IDEMPOTENCY_KEY_PARAMETER])
    @blp.arguments(WebhookSubscriptionCreateSchema)
    @blp.response(201, WebhookSubscriptionCreatedSchema)
    @blp.alt_response(403, description="The credential lacks the scope webhooks:manage")
    @blp.alt_response(409, description="Too many subscriptions")
    @blp.alt_response(422, description="Bad URL (not https, private address, does not resolve) or unknown event")
    @requires_scope(WEBHOOKS_MANAGE)
    @withheld_on_replay("secret")
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Subscribe a URL to events. The response shows the signing secret: the only time it can be read.

        A retry with the same Idempotency-Key answers with the same subscription but without ``secret``
        (the secret is never stored in readable form); a client that lost it deletes the subscription and
        subscribes again.
        """
        principal = _manager()
        subscription, secret = webhooks.subscribe(
            db_session(),
            current_tenant,
            actor=principal.actor.label,
            client_id=principal.client_id,
            url=body["url"],
            events=body["events"],
            description=body.get("description"),
            settings=_settings(),
        )
        return {**present_subscription(subscription), "secret": secret}


@blp.route("/<uuid:subscription_id>")
class Subscription(MethodView):
    @blp.response(200, WebhookSubscriptionSchema)
    @blp.alt_response(404, description="No such subscription for this caller")
    @requires_scope(WEBHOOKS_MANAGE)
    def get(self, subscription_id: uuid.UUID) -> dict[str, Any]:
        """One subscription (never its secret)."""
        return present_subscription(_subscription(subscription_id))

    @blp.response(204)
    @blp.alt_response(404, description="No such subscription for this caller")
    @requires_scope(WEBHOOKS_MANAGE)
    def delete(self, subscription_id: uuid.UUID) -> None:
        """Stop sending to this subscription; deliveries still pending are cancelled."""
        subscription = _subscription(subscription_id)
        webhooks.unsubscribe(db_session(), current_tenant, subscription, actor=current_principal().actor.label)


@blp.route("/<uuid:subscription_id>/deliveries")
class Deliveries(MethodView):
    @blp.arguments(WebhookDeliveryQueryArgsSchema, location="query")
    @blp.response(200, WebhookDeliveryPageSchema)
    @blp.alt_response(404, description="No such subscription for this caller")
    @requires_scope(WEBHOOKS_MANAGE)
    def get(self, args: dict[str, Any], subscription_id: uuid.UUID) -> dict[str, Any]:
        """The delivery log: each event sent to this subscription, its attempts and outcome (keyset pages)."""
        subscription = _subscription(subscription_id)
        rows = webhooks.deliveries_page(
            db_session(),
            current_tenant.id,
            subscription.id,
            newest_first=args["order"] == "newest",
            after=decode_cursor(args["after"]) if args.get("after") else None,
            limit=args["limit"],
        )
        return keyset_page(rows, args["limit"], present_delivery)


@blp.route("/<uuid:subscription_id>/deliveries/<uuid:delivery_id>/replay")
class Replay(MethodView):
    @blp.doc(parameters=[IDEMPOTENCY_KEY_PARAMETER])
    @blp.response(202, WebhookDeliverySchema)
    @blp.alt_response(404, description="No such subscription or delivery for this caller")
    @blp.alt_response(409, description="The delivery is still pending (it is retried automatically)")
    @requires_scope(WEBHOOKS_MANAGE)
    def post(self, subscription_id: uuid.UUID, delivery_id: uuid.UUID) -> dict[str, Any]:
        """Send the event again with the same webhook-id and body (receivers deduplicate on webhook-id)."""
        session = db_session()
        subscription = _subscription(subscription_id)
        delivery = webhooks.get_delivery(session, current_tenant.id, subscription, delivery_id)
        webhooks.replay(session, current_tenant, delivery, actor=current_principal().actor.label)
        return present_delivery(delivery)


API_BLUEPRINTS = [blp]
