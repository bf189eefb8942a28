"""Marshmallow schemas of the OAuth management API (clients, consents), split by direction."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from madoguchi.catalog.schemas import LocalizedTextSchema


class ClientCreateSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200), metadata={"example": "Kurashi Navi"})
    redirect_uris = fields.List(
        fields.String(validate=validate.Length(min=1, max=500)),
        load_default=list,
        validate=validate.Length(max=10),
        metadata={
            "description": "Exact redirect URIs (https; http only for localhost/127.0.0.1). Required for "
            "authorization_code.",
            "example": ["https://app.example.jp/oauth/callback"],
        },
    )
    grant_types = fields.List(
        fields.String(validate=validate.Length(max=40)),
        load_default=lambda: ["authorization_code", "refresh_token"],
        validate=validate.Length(min=1, max=3),
        metadata={"description": "authorization_code, refresh_token, client_credentials"},
    )
    scopes = fields.List(
        fields.String(validate=validate.Length(max=60)),
        load_default=list,
        validate=validate.Length(max=10),
        metadata={
            "description": "Scopes the app may request. Default: every scope its grants can carry. "
            "applications:process is for staff only and is refused."
        },
    )
    public = fields.Boolean(
        load_default=False,
        metadata={"description": "A public client (native or browser app) has no secret and relies on PKCE alone."},
    )
    homepage_url = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=500))


class ClientSchema(Schema):
    id = fields.UUID(required=True, metadata={"description": "Id of the registration (for this API)"})
    client_id = fields.String(required=True, metadata={"description": "The OAuth client_id the app sends"})
    name = fields.String(required=True)
    homepage_url = fields.String(allow_none=True)
    redirect_uris = fields.List(fields.String(), required=True)
    grant_types = fields.List(fields.String(), required=True)
    scopes = fields.List(fields.String(), required=True)
    public = fields.Boolean(required=True, attribute="is_public")
    token_endpoint_auth_method = fields.Method("_auth_method", required=True)
    created_at = fields.DateTime(required=True)

    def _auth_method(self, client: object) -> str:
        return "none" if getattr(client, "is_public", False) else "client_secret_basic"


class ClientCreatedSchema(ClientSchema):
    client_secret = fields.String(
        allow_none=True,
        metadata={"description": "Shown this once and never again (stored hashed). None for a public client."},
    )


class ScopeSchema(Schema):
    scope = fields.String(required=True)
    description = fields.Nested(LocalizedTextSchema, required=True)


class ConsentSchema(Schema):
    id = fields.UUID(required=True)
    client_id = fields.String(required=True)
    client_name = fields.String(required=True)
    homepage_url = fields.String(allow_none=True)
    scopes = fields.List(fields.Nested(ScopeSchema), required=True)
    granted_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)
