"""The refunds API: an application's refunds, a refund requested by staff, and a supervisor's decision.

Whoever sees the application sees its refunds (the applicant too); only staff request, and only a supervisor
other than the requester decides (four eyes: 403 ``separation-of-duties``). Decision 0046.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from madoguchi.api.auth import limit_per_caller_and_address, require_authentication, requires_scope
from madoguchi.api.idempotency import IDEMPOTENCY_KEY_PARAMETER, make_idempotent
from madoguchi.applications import repository as applications
from madoguchi.context import current_tenant, db_session
from madoguchi.errors import Forbidden, NotFound
from madoguchi.identity.principal import APPLICATIONS_PROCESS, APPLICATIONS_READ, current_principal
from madoguchi.payments import refunds

if TYPE_CHECKING:  # annotations only: the routes go through the operations
    from madoguchi.payments.models import Refund

blp = Blueprint(
    "refunds",
    __name__,
    url_prefix="/t/<tenant>",
    description="Refunds of fees: requested by staff, decided by a supervisor (four eyes)",
)
require_authentication(blp)
make_idempotent(blp)
limit_per_caller_and_address(blp)


class RefundSchema(Schema):
    id = fields.UUID()
    intent_id = fields.UUID(metadata={"description": "The payment refunded"})
    amount_jpy = fields.Integer()
    reason = fields.String(metadata={"description": ", ".join(refunds.REASONS)})
    comment = fields.String(allow_none=True)
    status = fields.String(metadata={"description": "requested, submitted, succeeded, failed or rejected"})
    requested_by_account_id = fields.UUID(allow_none=True)
    approved_by_account_id = fields.UUID(allow_none=True, metadata={"description": "The supervisor who decided"})
    created_at = fields.DateTime()
    decided_at = fields.DateTime(allow_none=True)
    succeeded_at = fields.DateTime(allow_none=True)


class RefundRequestSchema(Schema):
    intent_id = fields.UUID(required=True, metadata={"description": "A payment of the application that succeeded"})
    amount_jpy = fields.Integer(required=True, strict=True, metadata={"description": "Whole yen, at most what is left"})
    reason = fields.String(required=True, validate=validate.OneOf(refunds.REASONS))
    comment = fields.String(
        load_default=None,
        validate=validate.Length(max=refunds.MAX_COMMENT),
        metadata={"description": "Required unless the reason is not_issuable"},
    )


class RefundDecisionSchema(Schema):
    comment = fields.String(load_default=None, validate=validate.Length(max=refunds.MAX_COMMENT))


def _staff() -> None:
    if not current_principal().is_staff:
        raise Forbidden("Only staff handle refunds.")


def _visible_refund(refund_id: uuid.UUID) -> Refund:
    """A refund of an application the caller sees, else 404."""
    session = db_session()
    refund = refunds.get_refund(session, current_tenant, refund_id)
    intent = refunds.get_intent(session, current_tenant, refund.intent_id)
    applications.get_for(session, current_principal(), intent.application_id)
    return refund


@blp.route("/applications/<uuid:application_id>/refunds")
class ApplicationRefunds(MethodView):
    @blp.response(200, RefundSchema(many=True))
    @blp.alt_response(404, description="No such application for this caller")
    @requires_scope(APPLICATIONS_READ)
    def get(self, application_id: uuid.UUID) -> list[Refund]:
        """The refunds of the application's payments, oldest first."""
        application = applications.get_for(db_session(), current_principal(), application_id)
        return [r for row in refunds.ledger(db_session(), application) for r in row.refunds]

    @blp.arguments(RefundRequestSchema)
    @blp.response(201, RefundSchema)
    @blp.alt_response(403, description="Not staff")
    @blp.alt_response(404, description="No such application, or the payment is not one of its")
    @blp.alt_response(409, description="The payment did not succeed")
    @blp.alt_response(422, description="Unknown reason, no comment where one is needed, or more than is left")
    @blp.doc(parameters=[IDEMPOTENCY_KEY_PARAMETER])
    @requires_scope(APPLICATIONS_PROCESS)
    def post(self, body: dict[str, Any], application_id: uuid.UUID) -> Refund:
        """Request a refund of (part of) a payment; a supervisor decides it."""
        session = db_session()
        application = applications.get_for(session, current_principal(), application_id)
        _staff()
        if body["intent_id"] not in {row.intent.id for row in refunds.ledger(session, application)}:
            raise NotFound("No such payment of this application.")
        return refunds.request_refund(session, current_tenant, body["intent_id"], actor=current_principal().actor,
                                      amount_jpy=body["amount_jpy"], reason=body["reason"],
                                      comment=body["comment"])  # fmt: skip


def _decision(view: Callable[..., Any]) -> Callable[..., Any]:
    """What a supervisor's decision answers besides 200, its Idempotency-Key, and the scope it needs."""
    for decorate in (
        requires_scope(APPLICATIONS_PROCESS),
        blp.doc(parameters=[IDEMPOTENCY_KEY_PARAMETER]),
        blp.alt_response(409, description="Decided already"),
        blp.alt_response(404, description="No such refund for this caller"),
        blp.alt_response(403, description="Not a supervisor, or the one who requested it (four eyes)"),
    ):
        view = decorate(view)
    return view


@blp.route("/refunds/<uuid:refund_id>/approval")
class RefundApproval(MethodView):
    @blp.response(200, RefundSchema)
    @_decision
    def post(self, refund_id: uuid.UUID) -> Refund:
        """Approve: the provider refunds the payment, or a counter payment is recorded as paid back in cash. The
        answer's status is succeeded, submitted (the provider will confirm) or failed (the provider refused)."""
        _visible_refund(refund_id)
        _staff()
        return refunds.approve_refund(db_session(), current_tenant, refund_id, actor=current_principal().actor,
                                      settings=current_app.config["MADOGUCHI"])  # fmt: skip


@blp.route("/refunds/<uuid:refund_id>/rejection")
class RefundRejection(MethodView):
    @blp.arguments(RefundDecisionSchema)
    @blp.response(200, RefundSchema)
    @_decision
    def post(self, body: dict[str, Any], refund_id: uuid.UUID) -> Refund:
        """Reject the request: the amount may be requested again."""
        _visible_refund(refund_id)
        _staff()
        return refunds.reject_refund(db_session(), current_tenant, refund_id, actor=current_principal().actor,
                                     comment=body["comment"])  # fmt: skip


API_BLUEPRINTS = [blp]
