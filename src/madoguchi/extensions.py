"""Unbound Flask extensions, each ``init_app``'d in the factory."""

from __future__ import annotations

from flask_smorest import Api
from marshmallow import Schema, fields


class ProblemSchema(Schema):
    """RFC 9457 problem details, as every API error is rendered (madoguchi.errors)."""

    type = fields.String(required=True, metadata={"example": "urn:madoguchi:problem:not-found"})
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String()
    instance = fields.String()
    errors = fields.Dict(
        keys=fields.String(), values=fields.List(fields.String()), metadata={"description": "messages per field"}
    )


class MadoguchiApi(Api):
    """flask-smorest's Api, minus its JSON error handler: ``madoguchi.errors`` renders problem+json for all."""

    ERROR_SCHEMA = ProblemSchema

    def _register_error_handlers(self) -> None:
        pass


api = MadoguchiApi()
