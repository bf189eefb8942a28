"""Marshmallow schemas of the webhooks API, split by direction."""

from __future__ import annotations

import unicodedata

from marshmallow import Schema, ValidationError, fields, post_load, validate

from madoguchi.notify.webhooks import EVENTS, MAX_URL_LENGTH


def _no_control_characters(value: str) -> None:
    if any(unicodedata.category(c) == "Cc" for c in value):
        raise ValidationError("must not contain control characters")


def _valid_unicode(value: str) -> None:
    """JSON may carry escaped lone surrogates, which no database column can store."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError("must be valid Unicode text") from None


class WebhookSubscriptionCreateSchema(Schema):
    url = fields.String(
        required=True,
        validate=[validate.Length(min=1, max=MAX_URL_LENGTH), _valid_unicode],
        metadata={
            "description": "https URL that receives the events (must resolve to public addresses)",
            "example": "https://hooks.vendor.example/madoguchi",
        },
    )
    events = fields.List(
        fields.String(validate=validate.OneOf(EVENTS)),
        required=True,
        validate=validate.Length(min=1, max=len(EVENTS) * 4),
        metadata={"description": f"one or more of: {', '.join(EVENTS)}", "example": ["application.submitted"]},
    )
    description = fields.String(
        load_default=None,
        allow_none=True,
        validate=[validate.Length(max=200), _no_control_characters, _valid_unicode],
        metadata={"description": "your own note, e.g. which system this feeds"},
    )

    @post_load
    def normalize(self, data: dict[str, object], **_: object) -> dict[str, object]:
        description = data.get("description")
        if isinstance(description, str):
            data["description"] = unicodedata.normalize("NFKC", description).strip() or None
        return data


class WebhookSubscriptionSchema(Schema):
    id = fields.UUID(required=True)
    url = fields.String(required=True)
    events = fields.List(fields.String(), required=True)
    description = fields.String(allow_none=True, required=True)
    client_id = fields.UUID(
        allow_none=True,
        required=True,
        metadata={"description": "the vendor app that owns it; null when a tenant administrator created it"},
    )
    created_at = fields.DateTime(required=True)


class WebhookSubscriptionCreatedSchema(WebhookSubscriptionSchema):
    secret = fields.String(
        metadata={
            "description": "signing secret (whsec_ + base64 of 32 bytes): shown only in the first response, keep it "
            "safe; absent when the answer is a replay of the same Idempotency-Key (it is never stored)",
        },
    )


class WebhookDeliverySchema(Schema):
    id = fields.UUID(required=True)
    webhook_id = fields.UUID(
        required=True, metadata={"description": "the webhook-id header: the same on every attempt and replay"}
    )
    event = fields.String(required=True)
    status = fields.String(
        required=True,
        metadata={"description": "pending (queued or awaiting a retry), delivered, failed (gave up) or cancelled"},
    )
    attempts = fields.Integer(required=True)
    last_status_code = fields.Integer(allow_none=True, required=True)
    last_error = fields.String(allow_none=True, required=True)
    created_at = fields.DateTime(required=True)
    last_attempt_at = fields.DateTime(allow_none=True, required=True)
    next_attempt_at = fields.DateTime(allow_none=True, required=True)
    delivered_at = fields.DateTime(allow_none=True, required=True)


class WebhookDeliveryPageSchema(Schema):
    items = fields.List(fields.Nested(WebhookDeliverySchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class WebhookDeliveryQueryArgsSchema(Schema):
    order = fields.String(load_default="newest", validate=validate.OneOf(["newest", "oldest"]))
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))
    after = fields.String(metadata={"description": "cursor from the previous page's next_cursor"})
