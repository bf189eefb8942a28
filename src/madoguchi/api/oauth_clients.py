"""The OAuth management API: a tenant admin registers vendor apps; a resident sees and withdraws consents.

Both work only with a browser session. A token never manages clients or consents: an app must not
register other apps, nor see or withdraw the other apps a resident connected.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from madoguchi.api.auth import limit_per_caller_and_address, require_authentication
from madoguchi.context import current_tenant, db_session
from madoguchi.errors import Forbidden
from madoguchi.identity.models import StaffRole
from madoguchi.identity.principal import SCOPE_DESCRIPTIONS, Principal, current_principal
from madoguchi.oauth import operations, repository
from madoguchi.oauth.operations import ClientRegistration
from madoguchi.oauth.schemas import ClientCreatedSchema, ClientCreateSchema, ClientSchema, ConsentSchema

clients_blp = Blueprint(
    "oauth_clients",
    __name__,
    url_prefix="/t/<tenant>/oauth-clients",
    description="Vendor apps (OAuth 2.0 clients) registered by the municipality's tenant admin",
)
require_authentication(clients_blp)
limit_per_caller_and_address(clients_blp)
# No Idempotency-Key on client registration, on purpose: replaying the stored response would mean storing
# the client secret in plain text. A retried registration makes a second client; delete the spare one.

consents_blp = Blueprint(
    "oauth_consents",
    __name__,
    url_prefix="/t/<tenant>/me/consents",
    description="The apps a resident allowed to act for them, and withdrawing that permission",
)
require_authentication(consents_blp)
limit_per_caller_and_address(consents_blp)


class _Created:
    """A new client and its secret, for the one response that shows the secret."""

    def __init__(self, client: Any, secret: str | None) -> None:
        self._client = client
        self.client_secret = secret

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def _tenant_admin() -> Principal:
    principal = current_principal()
    if principal.method != "session" or not principal.is_staff or principal.account is None:
        raise Forbidden("Only the municipality's tenant admin, signed in, manages apps.")
    if StaffRole.TENANT_ADMIN not in (principal.account.roles or []):
        raise Forbidden("Only the municipality's tenant admin manages apps.")
    return principal


def _signed_in_resident() -> Principal:
    principal = current_principal()
    if principal.method != "session" or not principal.is_resident or principal.account is None:
        raise Forbidden("Only the resident, signed in, sees and withdraws their app permissions.")
    return principal


@clients_blp.route("")
class Clients(MethodView):
    @clients_blp.response(200, ClientSchema(many=True))
    @clients_blp.alt_response(403, description="Not the tenant admin (or a token)")
    def get(self) -> Any:
        """List the municipality's active apps."""
        _tenant_admin()
        return repository.tenant_clients(db_session(), current_tenant.id)

    @clients_blp.arguments(ClientCreateSchema)
    @clients_blp.response(201, ClientCreatedSchema)
    @clients_blp.alt_response(403, description="Not the tenant admin (or a token)")
    @clients_blp.alt_response(422, description="Invalid registration (per-field errors)")
    def post(self, body: dict[str, Any]) -> Any:
        """Register an app. The response carries its client secret: shown once, stored only as a hash."""
        principal = _tenant_admin()
        client, secret = operations.create_client(
            db_session(), current_tenant.id, ClientRegistration(**body), actor=principal.actor.label
        )
        return _Created(client, secret)


@clients_blp.route("/<uuid:client_id>")
class Client(MethodView):
    @clients_blp.response(200, ClientSchema)
    @clients_blp.alt_response(403, description="Not the tenant admin (or a token)")
    @clients_blp.alt_response(404, description="No such app in this municipality")
    def get(self, client_id: uuid.UUID) -> Any:
        """One app (its secret is never shown again)."""
        _tenant_admin()
        return operations.get_tenant_client(db_session(), current_tenant.id, client_id)

    @clients_blp.response(204)
    @clients_blp.alt_response(403, description="Not the tenant admin (or a token)")
    @clients_blp.alt_response(404, description="No such app in this municipality")
    def delete(self, client_id: uuid.UUID) -> None:
        """Revoke an app: its tokens stop working at once, and residents' consents to it are removed."""
        principal = _tenant_admin()
        session = db_session()
        client = operations.get_tenant_client(session, current_tenant.id, client_id)
        operations.revoke_client(session, client, actor=principal.actor.label)


def _present_consent(consent: Any, client: Any) -> dict[str, Any]:
    return {
        "id": consent.id,
        "client_id": client.client_id,
        "client_name": client.name,
        "homepage_url": client.homepage_url,
        "scopes": [
            {"scope": s, "description": SCOPE_DESCRIPTIONS[s]} for s in consent.scopes if s in SCOPE_DESCRIPTIONS
        ],
        "granted_at": consent.granted_at,
        "updated_at": consent.updated_at,
    }


@consents_blp.route("")
class Consents(MethodView):
    @consents_blp.response(200, ConsentSchema(many=True))
    @consents_blp.alt_response(403, description="Not a signed-in resident")
    def get(self) -> Any:
        """The apps you allowed to act for you, and what each may do."""
        principal = _signed_in_resident()
        assert principal.account is not None
        rows = repository.consents_of(db_session(), current_tenant.id, principal.account.id)
        return [_present_consent(consent, client) for consent, client in rows]


@consents_blp.route("/<uuid:consent_id>")
class Consent(MethodView):
    @consents_blp.response(204)
    @consents_blp.alt_response(403, description="Not a signed-in resident")
    @consents_blp.alt_response(404, description="No such consent of yours")
    def delete(self, consent_id: uuid.UUID) -> None:
        """Withdraw an app's permission: its tokens for you stop working at once."""
        principal = _signed_in_resident()
        assert principal.account is not None
        operations.withdraw_consent(
            db_session(), current_tenant.id, principal.account, consent_id, actor=principal.actor.label
        )


API_BLUEPRINTS = [clients_blp, consents_blp]
