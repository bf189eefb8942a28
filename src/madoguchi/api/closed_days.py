"""The municipality's own closed days (臨時閉庁日) for its tenant admin: list, add, remove (decision 0034).

Due dates are counted in working days; these are the days the offices close beyond 土日祝 and 年末年始. Only a
signed-in tenant admin of the municipality uses it (another municipality's credentials get 404 from the
authentication hook; other staff, residents and tokens get 403). A change applies to due dates set from then on.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from madoguchi import jp
from madoguchi.api.auth import limit_per_caller_and_address, require_authentication, signed_in_tenant_admin
from madoguchi.api.idempotency import IDEMPOTENCY_KEY_PARAMETER, make_idempotent
from madoguchi.context import current_tenant, db_session
from madoguchi.errors import PROBLEM_CONTENT_TYPE
from madoguchi.extensions import ProblemSchema
from madoguchi.tenancy import closed_days

blp = Blueprint(
    "closed_days",
    __name__,
    url_prefix="/t/<tenant>/closed-days",
    description="The municipality's own closed days, which due dates skip (tenant admin)",
)
require_authentication(blp)
make_idempotent(blp)
limit_per_caller_and_address(blp)

MANAGES = "closed days"


class ClosedDaySchema(Schema):
    day = fields.Date(required=True, metadata={"example": "2027-05-06"})
    reason = fields.String(required=True, metadata={"description": "may be empty", "example": "庁舎移転"})
    source = fields.String(
        required=True, metadata={"description": "`file` (the tenant file: removed there) or `admin` (this API)"}
    )


class ClosedDayCreateSchema(Schema):
    day = fields.String(
        required=True,
        metadata={
            "description": "YYYY-MM-DD, today or later; not a day closed anyway (土日祝, 12/29-1/3) nor one listed",
            "example": "2027-05-06",
        },
    )
    reason = fields.String(load_default="", metadata={"description": "at most 100 characters"})


class ClosedDaysArgsSchema(Schema):
    since = fields.Date(metadata={"description": "only days from this one on (default: today in Japan)"})


class ClosedDayProblemSchema(ProblemSchema):
    """A refused change: which rule refused it, as a stable code."""

    rule = fields.String(metadata={"example": "not_a_date"})


def _problem(status: int, description: str) -> Any:
    schema = ClosedDayProblemSchema if status == 422 else ProblemSchema
    return blp.alt_response(status, schema=schema, content_type=PROBLEM_CONTENT_TYPE, description=description)


@blp.route("")
class ClosedDays(MethodView):
    @blp.arguments(ClosedDaysArgsSchema, location="query")
    @blp.response(200, ClosedDaySchema(many=True))
    @_problem(403, "Not the municipality's tenant admin (or not a browser session)")
    def get(self, args: dict[str, Any]) -> Any:
        """The municipality's closed days from today (or `since`) on, in date order."""
        signed_in_tenant_admin(MANAGES)
        return closed_days.listed(db_session(), current_tenant.id, since=args.get("since") or jp.today())

    @blp.arguments(ClosedDayCreateSchema)
    @blp.response(201, ClosedDaySchema)
    @blp.doc(parameters=[IDEMPOTENCY_KEY_PARAMETER])
    @_problem(403, "Not the municipality's tenant admin (or not a browser session)")
    @_problem(
        422,
        "Refused, nothing stored (`errors` per field, `rule`: not_a_date, past, duplicate, closed_anyway, "
        "reason_too_long)",
    )
    def post(self, body: dict[str, Any]) -> Any:
        """Add a closed day."""
        principal = signed_in_tenant_admin(MANAGES)
        return closed_days.add(
            db_session(), current_tenant.id, body["day"], body["reason"], actor=principal.actor.label
        )


@blp.route("/<date:day>")
class ClosedDay(MethodView):
    @blp.response(204)
    @_problem(403, "Not the municipality's tenant admin (or not a browser session)")
    @_problem(404, "No such closed day")
    @_problem(422, "The day comes from the tenant file (`rule`: from_file): it is removed there")
    def delete(self, day: date) -> None:
        """Remove a closed day added through this API or the admin pages."""
        principal = signed_in_tenant_admin(MANAGES)
        closed_days.remove(db_session(), current_tenant.id, day, actor=principal.actor.label)


API_BLUEPRINTS = [blp]
