"""An application's payments in the API: what the fee stands at (quote, intents with their events, 定額小為替, the
amount due), and the staff's recordings of money taken at the counter (cash, terminal) and of 定額小為替 received
with a postal request. Decision 0047.

Who sees what follows the applications API: the applicant (or a vendor app with their consent) and the staff who
process applications see an application's payments, with the clerks' notes for staff only; anyone else gets 404.
Recording is for the municipality's clerks and supervisors (403 otherwise), always with an ``Idempotency-Key``:
the same key again answers with what was recorded (a double click records once). The operations are
``payments.counter``; the reads ``payments.overview``. The applicant (or a vendor app for them) starts an online
payment with ``POST …/payments`` and sends the resident to the provider's page it answers (decision 0044).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from flask import current_app, request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from madoguchi.api.auth import limit_per_caller_and_address, require_authentication, requires_scope
from madoguchi.api.idempotency import HEADER, IDEMPOTENCY_KEY_PARAMETER, make_idempotent
from madoguchi.applications import repository
from madoguchi.applications.schemas import PaymentSummarySchema
from madoguchi.context import current_tenant, db_session
from madoguchi.errors import PROBLEM_CONTENT_TYPE, Forbidden, ValidationFailed
from madoguchi.extensions import ProblemSchema
from madoguchi.identity.principal import APPLICATIONS_PROCESS, APPLICATIONS_READ, APPLICATIONS_WRITE, current_principal
from madoguchi.payments import counter, overview, states
from madoguchi.payments import service as payment_service

if TYPE_CHECKING:
    from madoguchi.applications.models import Application

blp = Blueprint(
    "application_payments",
    __name__,
    url_prefix="/t/<tenant>/applications",
    description="An application's fee and payments: quote, intents, amount due; staff record counter payments "
    "and 定額小為替",
)
require_authentication(blp)
make_idempotent(blp)
limit_per_caller_and_address(blp)

_KEY_PARAMETER = {**IDEMPOTENCY_KEY_PARAMETER, "required": True}


class PaymentEventSchema(Schema):
    kind = fields.String(metadata={"description": "created, succeeded, failed, webhook, poll, ignored, …"})
    from_status = fields.String(allow_none=True)
    to_status = fields.String(allow_none=True)
    at = fields.DateTime()


class PaymentIntentSchema(Schema):
    id = fields.UUID()
    amount_jpy = fields.Integer(metadata={"example": 300})
    purpose = fields.String(metadata={"description": "fee or postage"})
    mode = fields.String(
        metadata={"description": "prepay, after_fee_fixed, counter_cash, counter_terminal, postal_order"}
    )
    provider = fields.String(metadata={"description": "fake, stripe, … or counter for what a clerk recorded"})
    status = fields.String(
        metadata={"description": "requires_payment, processing, succeeded, failed, canceled, expired"}
    )
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    expires_at = fields.DateTime(allow_none=True)
    succeeded_at = fields.DateTime(allow_none=True)
    note = fields.String(allow_none=True, metadata={"description": "staff only: receipt number, slip, failure"})
    recorded_by_account_id = fields.UUID(allow_none=True, metadata={"description": "staff only"})
    events = fields.List(fields.Nested(PaymentEventSchema))


class OrderSchema(Schema):
    face_value = fields.Integer(
        required=True,
        validate=validate.OneOf(counter.DENOMINATIONS),
        metadata={"description": "one of the 12 denominations of 定額小為替", "example": 300},
    )
    issued_on = fields.Date(required=True, metadata={"description": "発行日 on the order", "example": "2026-11-20"})
    number = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=counter.MAX_NUMBER_LENGTH),
        metadata={"description": "記号番号, when the clerk notes it"},
    )


class RecordedOrderSchema(Schema):
    face_value = fields.Integer()
    issued_on = fields.String(metadata={"description": "YYYY-MM-DD"})
    number = fields.String(allow_none=True)
    expired = fields.Boolean(metadata={"description": "older than 6 months on the day received: not counted"})


class PostalOrderRecordSchema(Schema):
    id = fields.UUID()
    intent_id = fields.UUID(allow_none=True, metadata={"description": "null when no order counted"})
    orders = fields.List(fields.Nested(RecordedOrderSchema))
    total_jpy = fields.Integer()
    excess_jpy = fields.Integer()
    excess_returned = fields.Boolean()
    expired_count = fields.Integer()
    received_on = fields.Date()
    received_by_account_id = fields.UUID(allow_none=True, metadata={"description": "staff only"})
    created_at = fields.DateTime()


class QuoteSchema(Schema):
    id = fields.UUID()
    channel = fields.String(metadata={"description": "counter, online, convenience"})
    items = fields.List(
        fields.Dict(),
        metadata={"description": "lines: kind (fee|surcharge), label {ja,en}, unit_price, quantity, persons, amount"},
    )
    fee_jpy = fields.Integer()
    surcharge_jpy = fields.Integer()
    total_jpy = fields.Integer()
    exemption = fields.String(allow_none=True)
    exemption_reason = fields.String(allow_none=True, metadata={"description": "staff only"})
    created_at = fields.DateTime()


class PaymentsSchema(PaymentSummarySchema):
    quote = fields.Nested(QuoteSchema, allow_none=True)
    intents = fields.List(fields.Nested(PaymentIntentSchema))
    postal_orders = fields.List(fields.Nested(PostalOrderRecordSchema))


class CounterPaymentSchema(Schema):
    mode = fields.String(
        required=True,
        validate=validate.OneOf(tuple(counter.COUNTER_MODES)),
        metadata={"description": "cash or terminal (as the municipality takes them)", "example": "cash"},
    )
    amount_jpy = fields.Integer(
        load_default=None,
        validate=validate.Range(min=1),
        metadata={"description": "omitted: the amount due; never more than that"},
    )
    receipt_number = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=counter.MAX_RECEIPT_LENGTH),
        metadata={"description": "領収書番号 or the terminal's slip number"},
    )


class CounterPaymentResultSchema(Schema):
    intent = fields.Nested(PaymentIntentSchema)
    payment = fields.Nested(PaymentSummarySchema)


class OnlinePaymentResultSchema(Schema):
    intent = fields.Nested(PaymentIntentSchema)
    redirect_url = fields.String(
        allow_none=True,
        metadata={"description": "the provider's page to send the resident to (None once the payment has ended)"},
    )
    payment = fields.Nested(PaymentSummarySchema)


class PostalOrdersSchema(Schema):
    orders = fields.List(fields.Nested(OrderSchema), required=True, validate=validate.Length(min=1, max=100))
    received_on = fields.Date(required=True, metadata={"description": "the day the envelope arrived (JST)"})
    excess_returned = fields.Boolean(
        load_default=False,
        metadata={"description": "the orders exceed the amount due and the excess was returned to the sender"},
    )


class PostalOrdersResultSchema(Schema):
    record = fields.Nested(PostalOrderRecordSchema)
    payment = fields.Nested(PaymentSummarySchema)


def _problem(status: int, description: str) -> Any:
    return blp.alt_response(status, schema=ProblemSchema, content_type=PROBLEM_CONTENT_TYPE, description=description)


def _load(application_id: uuid.UUID) -> Application:
    return repository.get_for(db_session(), current_principal(), application_id)


def _recorder(application_id: uuid.UUID) -> Application:
    """The application (404 first) when the caller is a clerk or supervisor processing applications (else 403)."""
    application = _load(application_id)
    principal = current_principal()
    if not repository.processes_applications(principal) or not principal.actor.staff_roles & counter.RECORDING_ROLES:
        raise Forbidden("Only the municipality's clerks and supervisors record payments.")
    return application


def _key() -> str:
    key = request.headers.get(HEADER, "").strip()
    if not key:
        raise ValidationFailed(
            "A payment is recorded with an Idempotency-Key.", errors={HEADER: ["required: any unique string"]}
        )
    return key


def _status(created: bool) -> int:
    return 201 if created else 200


_REFUSED = "Not a clerk or supervisor of the municipality (or not a credential that processes applications)"


@blp.route("/<uuid:application_id>/payments")
class Payments(MethodView):
    @blp.response(200, PaymentsSchema)
    @_problem(404, "No such application for this caller")
    @requires_scope(APPLICATIONS_READ)
    def get(self, application_id: uuid.UUID) -> dict[str, Any]:
        """The application's fee: the quote in force, every payment intent with its events (oldest first), the
        定額小為替 recorded, what was paid and the amount due."""
        application = _load(application_id)
        staff = repository.processes_applications(current_principal())
        return overview.overview(db_session(), current_tenant, application, staff=staff)

    @blp.response(201, OnlinePaymentResultSchema)
    @blp.doc(parameters=[_KEY_PARAMETER])
    @_problem(403, "Staff record payments at the counter instead; only the applicant (or an app for them) pays online")
    @_problem(404, "No such application for this caller")
    @_problem(409, "The municipality takes no fees online, or nothing is payable now (事後決済: not yet fixed)")
    @_problem(503, "The payment provider cannot be reached: nothing was created, try again later")
    @requires_scope(APPLICATIONS_WRITE)
    def post(self, application_id: uuid.UUID) -> Any:
        """The applicant (or a vendor app acting for them): start paying the amount due online. Answers the
        payment intent and the provider's hosted page to send the resident to (``redirect_url``); the card is
        typed there, never here. The resident comes back to the municipality's portal, which shows the outcome.
        The same Idempotency-Key answers the same intent, also once paid; after a decline a new key starts anew."""
        application = _load(application_id)
        principal = current_principal()
        if principal.actor.is_staff:
            raise Forbidden("Staff record payments taken at the counter (…/payments/counter).")
        session = db_session()
        config = current_app.config["MADOGUCHI"]
        return_url = (
            f"{config.public_url.rstrip('/')}/{current_tenant.slug}/applications/{application.id}/payment-return"
        )
        intent = payment_service.start_online_payment(
            session,
            current_tenant,
            application,
            actor=principal.actor,
            return_url=return_url,
            idempotency_key=_key(),
            settings=config,
        )
        open_ = intent.status == states.REQUIRES_PAYMENT
        return {
            "intent": overview.present_intent(session, intent, staff=False),
            "redirect_url": intent.redirect_url if open_ else None,
            "payment": overview.summary(session, current_tenant, application),
        }, 201


@blp.route("/<uuid:application_id>/payments/counter")
class CounterPayments(MethodView):
    @blp.arguments(CounterPaymentSchema)
    @blp.response(201, CounterPaymentResultSchema)
    @blp.doc(parameters=[_KEY_PARAMETER])
    @_problem(403, _REFUSED)
    @_problem(404, "No such application")
    @_problem(409, "A draft, an ended application, nothing due, or the key was used for another payment")
    @_problem(422, "Refused, nothing recorded (`errors` per field: mode, amount_jpy, receipt_number)")
    @requires_scope(APPLICATIONS_PROCESS)
    def post(self, body: dict[str, Any], application_id: uuid.UUID) -> Any:
        """Staff: record cash or a card terminal payment taken at the counter (succeeded at once). The amount
        defaults to what is due and may not exceed it. The same Idempotency-Key again: 200 with what was recorded."""
        application = _recorder(application_id)
        session = db_session()
        intent, created = counter.record_counter_payment(
            session,
            current_tenant,
            application,
            actor=current_principal().actor,
            mode=body["mode"],
            idempotency_key=_key(),
            amount_jpy=body["amount_jpy"],
            receipt_number=body["receipt_number"],
        )
        shown = overview.present_intent(session, intent, staff=True)
        return {"intent": shown, "payment": overview.summary(session, current_tenant, application)}, _status(created)


@blp.route("/<uuid:application_id>/postal-orders")
class PostalOrders(MethodView):
    @blp.arguments(PostalOrdersSchema)
    @blp.response(201, PostalOrdersResultSchema)
    @blp.doc(parameters=[_KEY_PARAMETER])
    @_problem(403, _REFUSED)
    @_problem(404, "No such application")
    @_problem(409, "A draft, an ended application, nothing due, or the key was used for another payment")
    @_problem(
        422,
        "Refused, nothing recorded (`errors` per field: orders/<n>/face_value, orders/<n>/issued_on, "
        "orders/<n>/number, received_on, excess_returned when the orders exceed the amount due)",
    )
    @requires_scope(APPLICATIONS_PROCESS)
    def post(self, body: dict[str, Any], application_id: uuid.UUID) -> Any:
        """Staff: record the 定額小為替 a postal request came with. Orders older than 6 months on the day received
        are flagged and not counted; the valid ones are applied to the amount due; an excess is refused unless
        `excess_returned`. The same Idempotency-Key again: 200 with what was recorded."""
        application = _recorder(application_id)
        session = db_session()
        record, created = counter.record_postal_orders(
            session,
            current_tenant,
            application,
            actor=current_principal().actor,
            orders=[counter.OrderInput(o["face_value"], o["issued_on"], o["number"]) for o in body["orders"]],
            received_on=body["received_on"],
            idempotency_key=_key(),
            excess_returned=body["excess_returned"],
        )
        return {"record": record, "payment": overview.summary(session, current_tenant, application)}, _status(created)


API_BLUEPRINTS = [blp]
