"""The email deliveries API: what the console's email page shows, for staff tooling and monitoring.

Who may: staff of the municipality holding ``tenant_admin`` or ``supervisor`` (a browser session of theirs, or
a token acting for them). Vendor apps and residents may not: the list carries residents' addresses.
"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from madoguchi.api.auth import require_authentication
from madoguchi.context import current_tenant, db_session
from madoguchi.errors import Forbidden
from madoguchi.identity.principal import current_principal
from madoguchi.notify import email
from madoguchi.notify.email import VIEWER_ROLES
from madoguchi.notify.models import EmailDelivery

blp = Blueprint(
    "email_deliveries",
    __name__,
    url_prefix="/t/<tenant>/email-deliveries",
    description="Emails sent to residents (one per event) and their delivery state, failed first",
)
require_authentication(blp)

STATUSES = (email.FAILED, email.PENDING, email.SENT)


class EmailDeliveryQueryArgsSchema(Schema):
    status = fields.String(validate=validate.OneOf(STATUSES), metadata={"description": "Only deliveries in it"})
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=500))


class EmailDeliverySchema(Schema):
    id = fields.UUID()
    #: The outbox message: the dedupe key, and the local part of the email's Message-ID.
    message_id = fields.UUID()
    template = fields.String()
    reference = fields.String(allow_none=True)
    recipient = fields.String()
    locale = fields.String()
    subject = fields.String()
    status = fields.String(metadata={"description": "pending (waiting for a retry), sent, failed (gave up)"})
    attempts = fields.Integer()
    last_error = fields.String(allow_none=True)
    backend = fields.String()
    created_at = fields.DateTime()
    last_attempt_at = fields.DateTime(allow_none=True)
    next_attempt_at = fields.DateTime(allow_none=True)
    sent_at = fields.DateTime(allow_none=True)


def _check_viewer() -> None:
    principal = current_principal()
    account = principal.account
    if principal.client_id is not None or account is None or not (set(account.roles or ()) & VIEWER_ROLES):
        raise Forbidden("Email deliveries are for the municipality's tenant admins and supervisors.")


@blp.route("")
class EmailDeliveries(MethodView):
    @blp.arguments(EmailDeliveryQueryArgsSchema, location="query")
    @blp.response(200, EmailDeliverySchema(many=True))
    @blp.alt_response(403, description="Not a tenant admin or supervisor of this municipality")
    def get(self, args: dict[str, Any]) -> list[EmailDelivery]:
        """List the municipality's email deliveries: failed first, then pending, then sent; newest first."""
        _check_viewer()
        return email.list_deliveries(db_session(), current_tenant.id, status=args.get("status"), limit=args["limit"])


API_BLUEPRINTS = [blp]
