"""Unbound Flask extensions, each ``init_app``'d in the factory."""

from __future__ import annotations

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_smorest import Api
from flask_wtf import CSRFProtect
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


#: Rate limits (Flask-Limiter). In-memory per process by default; MADOGUCHI_RATELIMIT_STORAGE_URL points
#: every worker at a shared store (e.g. redis://) in production. 429 answers carry Retry-After.
limiter = Limiter(key_func=get_remote_address, headers_enabled=True, default_limits=[])

#: CSRF tokens for every HTML form (Flask-WTF). The JSON API is exempt: it takes bearer tokens, or a
#: SameSite=Lax session cookie with a JSON body, which a cross-site form cannot send.
csrf = CSRFProtect()
