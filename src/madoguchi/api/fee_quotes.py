"""An application's fee quote: read it, and (staff) fix the fee or grant an exemption (減免). Decision 0043.

``GET`` answers whoever may see the application (the resident, staff); the reason of an exemption only to staff.
``POST`` makes a new quote that supersedes the current one: for another channel, with the fee a clerk fixed
(事後決済), or exempt with a reason (and the attachment that evidences it). Another municipality's application is
404; a resident's or vendor's write is 403; bad input is 422 with the field named, and nothing changes.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from madoguchi.api.auth import limit_per_caller_and_address, require_authentication, requires_scope
from madoguchi.api.idempotency import IDEMPOTENCY_KEY_PARAMETER, make_idempotent
from madoguchi.applications import repository
from madoguchi.context import current_tenant, db_session
from madoguchi.documents import repository as documents
from madoguchi.errors import Forbidden, NotFound, ValidationFailed
from madoguchi.identity.principal import APPLICATIONS_PROCESS, APPLICATIONS_READ, current_principal
from madoguchi.payments import intents
from madoguchi.payments import service as payment_service
from madoguchi.payments.quotes import CHANNELS

if TYPE_CHECKING:  # annotations only: the routes use the repositories and operations, never the models
    from sqlalchemy.orm import Session

    from madoguchi.applications.models import Application
    from madoguchi.payments.models import FeeQuote

blp = Blueprint(
    "fee_quotes",
    __name__,
    url_prefix="/t/<tenant>/applications",
    description="What an application costs: its current quote; staff fix the fee or grant an exemption (減免)",
)
require_authentication(blp)
make_idempotent(blp)
limit_per_caller_and_address(blp)


class LabelSchema(Schema):
    ja = fields.String(required=True)
    en = fields.String(required=True)


class FeeQuoteLineSchema(Schema):
    kind = fields.String(required=True, metadata={"description": "`fee` (手数料) or `surcharge` (システム利用料)"})
    label = fields.Nested(LabelSchema, required=True)
    unit_price = fields.Integer(required=True, metadata={"description": "yen"})
    quantity = fields.Integer(required=True, metadata={"description": "copies × units of persons"})
    persons = fields.Integer(allow_none=True, metadata={"description": "persons counted, where the fee counts them"})
    amount = fields.Integer(required=True, metadata={"description": "yen; 0 when exempt"})


class FeeQuoteSchema(Schema):
    id = fields.UUID(required=True)
    application_id = fields.UUID(required=True)
    channel = fields.String(required=True, metadata={"description": ", ".join(CHANNELS)})
    items = fields.List(fields.Nested(FeeQuoteLineSchema), required=True)
    fee_jpy = fields.Integer(required=True, metadata={"description": "手数料 after any exemption"})
    surcharge_jpy = fields.Integer(required=True, metadata={"description": "システム利用料, not 手数料 revenue"})
    total_jpy = fields.Integer(required=True)
    amount_due_jpy = fields.Integer(required=True, metadata={"description": "what is still to pay"})
    exemption = fields.String(allow_none=True, metadata={"description": "the 減免 code, if one was granted"})
    exemption_reason = fields.String(allow_none=True, metadata={"description": "staff only"})
    evidence_id = fields.UUID(allow_none=True, metadata={"description": "the attachment evidencing the exemption"})
    created_at = fields.DateTime(required=True)


class FeeQuoteCreateSchema(Schema):
    channel = fields.String(metadata={"description": f"one of {', '.join(CHANNELS)}; default: the application's"})
    fixed_fee_jpy = fields.Integer(
        strict=True, metadata={"description": "the 手数料 a clerk fixed (事後決済), instead of the catalog's count"}
    )
    exemption = fields.String(metadata={"description": "a 減免 code the municipality lists, e.g. public_assistance"})
    exemption_reason = fields.String(metadata={"description": "required with an exemption; audited"})
    evidence_id = fields.UUID(metadata={"description": "an attachment of this application evidencing the exemption"})


def present(session: Session, application: Application, quote: FeeQuote, *, staff: bool) -> dict[str, Any]:
    return {
        "id": quote.id,
        "application_id": quote.application_id,
        "channel": quote.channel,
        "items": quote.items,
        "fee_jpy": quote.fee_jpy,
        "surcharge_jpy": quote.surcharge_jpy,
        "total_jpy": quote.total_jpy,
        "amount_due_jpy": intents.amount_due(session, application),
        "exemption": quote.exemption_code,
        "exemption_reason": quote.exemption_reason if staff else None,
        "evidence_id": quote.exemption_evidence_id,
        "created_at": quote.created_at,
    }


def check_evidence(session: Session, application: Application, evidence_id: uuid.UUID | None) -> None:
    """The evidence must be an attachment of this very application (not another's, not another tenant's)."""
    if evidence_id is None:
        return
    try:
        documents.get_attachment(session, application.tenant_id, application.id, evidence_id)
    except NotFound:
        raise ValidationFailed(errors={"evidence_id": ["No such attachment of this application."]}) from None


@blp.route("/<uuid:application_id>/fee-quote")
class FeeQuoteItem(MethodView):
    @blp.response(200, FeeQuoteSchema)
    @blp.alt_response(404, description="No such application for this caller, or no quote yet (a draft)")
    @requires_scope(APPLICATIONS_READ)
    def get(self, application_id: uuid.UUID) -> dict[str, Any]:
        """The application's current quote: its lines, totals, and what is still to pay."""
        session, principal = db_session(), current_principal()
        application = repository.get_for(session, principal, application_id)
        quote = intents.current_quote(session, application)
        if quote is None:
            raise NotFound("The application has no quote yet: it is quoted when it is submitted.")
        return present(session, application, quote, staff=principal.is_staff)

    @blp.doc(parameters=[IDEMPOTENCY_KEY_PARAMETER])
    @blp.arguments(FeeQuoteCreateSchema)
    @blp.response(201, FeeQuoteSchema)
    @blp.alt_response(403, description="Only staff fix a fee or grant an exemption")
    @blp.alt_response(404, description="No such application")
    @blp.alt_response(409, description="A draft, or a closed application")
    @blp.alt_response(422, description="Per-field errors: unknown exemption, no reason, fee out of range, ...")
    @requires_scope(APPLICATIONS_PROCESS)
    def post(self, body: dict[str, Any], application_id: uuid.UUID) -> dict[str, Any]:
        """Staff: quote again, for a channel, with a fixed fee (事後決済) or an exemption (減免, reason required)."""
        session, principal = db_session(), current_principal()
        # Locked: two clerks quoting at once take turns, so exactly one quote stays current.
        application = repository.get_for(session, principal, application_id, lock=True)
        if not principal.is_staff:
            raise Forbidden("Only staff fix a fee or grant an exemption.")
        check_evidence(session, application, body.get("evidence_id"))
        actor = principal.actor
        # Under 事後決済 the resident is emailed where to pay once the fee is fixed.
        quote = payment_service.requote(
            session,
            current_tenant,
            application,
            actor=actor,
            channel=body.get("channel"),
            exemption=body.get("exemption"),
            exemption_reason=body.get("exemption_reason"),
            evidence_id=body.get("evidence_id"),
            fixed_fee_jpy=body.get("fixed_fee_jpy"),
        )
        return present(session, application, quote, staff=True)


API_BLUEPRINTS = [blp]
