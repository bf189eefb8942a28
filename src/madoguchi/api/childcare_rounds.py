"""The allocation rounds API (利用調整): the municipality's clerks and supervisors create a round, set its seats,
freeze, compute, approve (a supervisor other than whoever computed) and publish it, and download its open numbers.

Staff of the municipality with a clerk or supervisor role only, through a credential that may process applications
(a staff session or a token with ``applications:process``): residents, vendor apps and a tenant admin without those
roles get 403; another municipality's credentials get 404 from the authentication hook, and a round of another
municipality is 404. The operations are ``childcare.rounds``. Decision 0040.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from flask import Response
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from madoguchi.api.auth import limit_per_caller_and_address, require_authentication, requires_scope
from madoguchi.api.idempotency import IDEMPOTENCY_KEY_PARAMETER, make_idempotent
from madoguchi.childcare import rounds
from madoguchi.context import current_tenant, db_session
from madoguchi.errors import PROBLEM_CONTENT_TYPE, Forbidden
from madoguchi.extensions import ProblemSchema
from madoguchi.identity.actors import Actor
from madoguchi.identity.principal import APPLICATIONS_PROCESS, current_principal

if TYPE_CHECKING:  # annotations only: the routes use the operations, never the models
    from madoguchi.childcare.round_models import AllocationRound

blp = Blueprint(
    "childcare_rounds",
    __name__,
    url_prefix="/t/<tenant>/childcare/rounds",
    description="Childcare allocation rounds (利用調整): seats, freeze, compute, approve, publish, open numbers",
)
require_authentication(blp)
make_idempotent(blp)
limit_per_caller_and_address(blp)


class SeatSchema(Schema):
    facility_code = fields.String(required=True, metadata={"example": "HK-01"})
    age_class = fields.Integer(required=True, validate=validate.Range(0, 5), metadata={"example": 1})
    seats = fields.Integer(required=True, validate=validate.Range(0, rounds.MAX_SEATS), metadata={"example": 3})


class RoundCreateSchema(Schema):
    label_ja = fields.String(required=True, metadata={"example": "令和9年4月一次利用調整"})
    label_en = fields.String(required=True, metadata={"example": "April 2027, first round"})
    intake_month = fields.String(required=True, metadata={"description": "YYYY-MM", "example": "2027-04"})
    kind = fields.String(required=True, validate=validate.OneOf(rounds.KINDS), metadata={"example": "first"})
    seats = fields.List(
        fields.Nested(SeatSchema),
        load_default=None,
        metadata={"description": "募集人数 per class; omitted: the facilities' capacities (定員)"},
    )
    reuse_transfer_seats = fields.Boolean(load_default=True)


class SeatsUpdateSchema(Schema):
    seats = fields.List(fields.Nested(SeatSchema), required=True)


class RoundSchema(Schema):
    id = fields.UUID()
    label = fields.Dict(keys=fields.String(), values=fields.String(), metadata={"example": {"ja": "…", "en": "…"}})
    intake_month = fields.String()
    kind = fields.String()
    fiscal_year = fields.Integer()
    status = fields.String(metadata={"description": "draft, frozen, computed, approved, published"})
    rule_set = fields.Dict(metadata={"description": "id, version and body_sha256 of the rules pinned at freeze"})
    lottery_seed = fields.String(allow_none=True)
    input_sha256 = fields.String(allow_none=True)
    result_sha256 = fields.String(allow_none=True)
    algorithm_version = fields.String(allow_none=True)
    stats = fields.Dict()
    seats = fields.List(fields.Nested(SeatSchema))
    steps = fields.Dict(metadata={"description": "created, frozen, computed, approved, published: {at, by}"})


class ResultSchema(Schema):
    entry = fields.String(metadata={"description": "<application reference>#<child index>"})
    application_id = fields.UUID()
    child_index = fields.Integer()
    age_class = fields.Integer()
    outcome = fields.String(metadata={"description": "placed, stays, waitlisted or ineligible"})
    facility_code = fields.String(allow_none=True)
    pref_rank = fields.Integer(allow_none=True)
    score = fields.Integer(allow_none=True)
    explanation = fields.List(fields.Dict())


class OpenNumbersArgsSchema(Schema):
    format = fields.String(load_default="json", validate=validate.OneOf(("json", "csv")))


class OpenNumberSchema(Schema):
    facility_code = fields.String()
    facility_name_ja = fields.String()
    facility_name_en = fields.String()
    age_class = fields.Integer()
    seats = fields.Integer()
    listed_by = fields.Integer()
    placed = fields.Integer()
    lowest_placed_score = fields.Integer(allow_none=True)
    lowest_placed_tiebreak = fields.String(allow_none=True)
    waiting_count = fields.Integer()


def _problem(status: int, description: str) -> Any:
    return blp.alt_response(status, schema=ProblemSchema, content_type=PROBLEM_CONTENT_TYPE, description=description)


def _worker() -> Actor:
    """The calling clerk or supervisor of the municipality (else 403)."""
    principal = current_principal()
    if not principal.is_staff or principal.client_id is not None:
        raise Forbidden("Only the municipality's clerks and supervisors run allocation rounds.")
    actor = principal.actor
    if not actor.staff_roles & rounds.WORKER_ROLES:
        raise Forbidden("Only the municipality's clerks and supervisors run allocation rounds.")
    return actor


def _seats(rows: list[dict[str, Any]]) -> dict[tuple[str, int], Any]:
    return {(row["facility_code"], row["age_class"]): row["seats"] for row in rows}


def present(round_: AllocationRound) -> dict[str, Any]:
    session = db_session()
    return {
        "id": round_.id,
        "label": {"ja": round_.label_ja, "en": round_.label_en},
        "intake_month": round_.intake_month,
        "kind": round_.kind,
        "fiscal_year": round_.fiscal_year,
        "status": round_.status,
        "rule_set": {
            "id": str(round_.rule_set_id) if round_.rule_set_id else None,
            "version": round_.rule_set_version,
            "body_sha256": round_.rule_set_sha256,
        },
        "lottery_seed": round_.lottery_seed,
        "input_sha256": round_.input_sha256,
        "result_sha256": round_.result_sha256,
        "algorithm_version": round_.algorithm_version,
        "stats": round_.stats,
        "seats": [
            {"facility_code": c.facility_code, "age_class": c.age_class, "seats": c.seats}
            for c in rounds.classes_of(session, round_)
        ],
        "steps": {
            step: {"at": getattr(round_, f"{step}_at"), "by": getattr(round_, f"{step}_by")}
            for step in ("created", "frozen", "computed", "approved", "published")
        },
    }


_REFUSED = "Not a clerk or supervisor of the municipality (or not a credential that processes applications)"


@blp.route("")
class Rounds(MethodView):
    @blp.response(200, RoundSchema(many=True))
    @_problem(403, _REFUSED)
    @requires_scope(APPLICATIONS_PROCESS)
    def get(self) -> Any:
        """The municipality's rounds, newest first."""
        _worker()
        return [present(r) for r in rounds.list_rounds(db_session(), current_tenant.id)]

    @blp.arguments(RoundCreateSchema)
    @blp.response(201, RoundSchema)
    @blp.doc(parameters=[IDEMPOTENCY_KEY_PARAMETER])
    @_problem(403, _REFUSED)
    @_problem(422, "Refused, nothing stored (`errors` per field)")
    @requires_scope(APPLICATIONS_PROCESS)
    def post(self, body: dict[str, Any]) -> Any:
        """Create a draft round; its seats are the facilities' capacities unless given."""
        actor = _worker()
        seats = _seats(body["seats"]) if body.get("seats") is not None else None
        created = rounds.create_round(
            db_session(),
            current_tenant,
            actor,
            label_ja=body["label_ja"],
            label_en=body["label_en"],
            intake_month=body["intake_month"],
            kind=body["kind"],
            seats=seats,
            reuse_transfer_seats=body["reuse_transfer_seats"],
        )
        return present(created)


@blp.route("/<uuid:round_id>")
class RoundItem(MethodView):
    @blp.response(200, RoundSchema)
    @_problem(403, _REFUSED)
    @_problem(404, "No such round")
    @requires_scope(APPLICATIONS_PROCESS)
    def get(self, round_id: uuid.UUID) -> Any:
        """One round: status, hashes, seats and the counts of its last computation."""
        _worker()
        return present(rounds.get_round(db_session(), current_tenant.id, round_id))


@blp.route("/<uuid:round_id>/seats")
class RoundSeats(MethodView):
    @blp.arguments(SeatsUpdateSchema)
    @blp.response(200, RoundSchema)
    @_problem(403, _REFUSED)
    @_problem(404, "No such round")
    @_problem(409, "The round is no longer a draft")
    @_problem(422, "Refused, nothing changed (`errors` per class)")
    @requires_scope(APPLICATIONS_PROCESS)
    def put(self, body: dict[str, Any], round_id: uuid.UUID) -> Any:
        """Change (or add) seats of classes while the round is a draft."""
        actor = _worker()
        return present(rounds.set_seats(db_session(), current_tenant, actor, round_id, _seats(body["seats"])))


def _step(verb: str, round_id: uuid.UUID) -> dict[str, Any]:
    actor = _worker()
    return present(getattr(rounds, verb)(db_session(), current_tenant, actor, round_id))


@blp.route("/<uuid:round_id>/freeze")
class RoundFreeze(MethodView):
    @blp.response(200, RoundSchema)
    @blp.doc(parameters=[IDEMPOTENCY_KEY_PARAMETER])
    @_problem(403, _REFUSED)
    @_problem(404, "No such round")
    @_problem(409, "The round is not a draft")
    @requires_scope(APPLICATIONS_PROCESS)
    def post(self, round_id: uuid.UUID) -> Any:
        """Freeze the certified applications into the round, with the rule set in force and a recorded lottery."""
        return _step("freeze", round_id)


@blp.route("/<uuid:round_id>/compute")
class RoundCompute(MethodView):
    @blp.response(200, RoundSchema)
    @blp.doc(parameters=[IDEMPOTENCY_KEY_PARAMETER])
    @_problem(403, _REFUSED)
    @_problem(404, "No such round")
    @_problem(409, "The round is not frozen or computed (or its snapshot was changed)")
    @requires_scope(APPLICATIONS_PROCESS)
    def post(self, round_id: uuid.UUID) -> Any:
        """Compute (or recompute) the allocation of a frozen round."""
        return _step("compute", round_id)


@blp.route("/<uuid:round_id>/approve")
class RoundApproval(MethodView):
    @blp.response(200, RoundSchema)
    @blp.doc(parameters=[IDEMPOTENCY_KEY_PARAMETER])
    @_problem(403, "Not a supervisor, or the supervisor who computed it (four eyes)")
    @_problem(404, "No such round")
    @_problem(409, "The round is not computed, or its result breaks a rule")
    @requires_scope(APPLICATIONS_PROCESS)
    def post(self, round_id: uuid.UUID) -> Any:
        """上長決裁: a supervisor other than whoever computed the result approves it."""
        return _step("approve", round_id)


@blp.route("/<uuid:round_id>/publish")
class RoundPublication(MethodView):
    @blp.response(200, RoundSchema)
    @blp.doc(parameters=[IDEMPOTENCY_KEY_PARAMETER])
    @_problem(403, _REFUSED)
    @_problem(404, "No such round")
    @_problem(409, "The round is not approved")
    @requires_scope(APPLICATIONS_PROCESS)
    def post(self, round_id: uuid.UUID) -> Any:
        """Publish: every application gets its allocation and moves to approved (内定) or waitlisted (保留)."""
        return _step("publish", round_id)


@blp.route("/<uuid:round_id>/results")
class RoundResults(MethodView):
    @blp.response(200, ResultSchema(many=True))
    @_problem(403, _REFUSED)
    @_problem(404, "No such round")
    @requires_scope(APPLICATIONS_PROCESS)
    def get(self, round_id: uuid.UUID) -> Any:
        """Every child of the round with its outcome and explanation (empty until computed)."""
        _worker()
        session = db_session()
        return rounds.review_rows(session, rounds.get_round(session, current_tenant.id, round_id))


@blp.route("/<uuid:round_id>/open-numbers")
class RoundOpenNumbers(MethodView):
    @blp.arguments(OpenNumbersArgsSchema, location="query")
    @blp.response(200, OpenNumberSchema(many=True))
    @_problem(403, _REFUSED)
    @_problem(404, "No such round")
    @requires_scope(APPLICATIONS_PROCESS)
    def get(self, args: dict[str, Any], round_id: uuid.UUID) -> Any:
        """Per facility × age class: seats, applicants, placed, lowest admitted score, waiting.

        JSON, or with `format=csv` the same rows as a CSV file (UTF-8, `text/csv`)."""
        _worker()
        session = db_session()
        round_ = rounds.get_round(session, current_tenant.id, round_id)
        rows = rounds.open_numbers(session, round_)
        if args["format"] == "csv":
            return Response(
                rounds.open_numbers_csv(rows).encode("utf-8"),
                mimetype="text/csv",
                headers={"Content-Disposition": f'attachment; filename="{rounds.export_name(round_)}.csv"'},
            )
        return rows


API_BLUEPRINTS = [blp]
