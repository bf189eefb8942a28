"""The catalog upgrade API for a municipality's tenant admin: what a newer version of a procedure changes, whether
the municipality's settings still conform to it, and adopting it.

Only a signed-in tenant admin of the municipality uses it (another tenant's credentials get 404 from the
authentication hook; other staff, residents and vendor tokens get 403). Adopting changes only applications filed
afterwards: those already filed stay on the version they were filed under.
"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from madoguchi.api.auth import limit_per_caller_and_address, require_authentication
from madoguchi.api.idempotency import IDEMPOTENCY_KEY_PARAMETER, make_idempotent
from madoguchi.catalog import upgrades
from madoguchi.context import current_tenant, db_session
from madoguchi.errors import PROBLEM_CONTENT_TYPE, Forbidden
from madoguchi.extensions import ProblemSchema
from madoguchi.identity.models import StaffRole
from madoguchi.identity.principal import Principal, current_principal

blp = Blueprint(
    "catalog_upgrades",
    __name__,
    url_prefix="/t/<tenant>/procedures",
    description="Newer versions of the standard procedures: the difference, conformance, and adopting them "
    "(tenant admin)",
)
require_authentication(blp)
make_idempotent(blp)
limit_per_caller_and_address(blp)


class ChangeSchema(Schema):
    area = fields.String(
        required=True,
        metadata={"description": "fields, workflow, fees, documents, prefill, output, overrides or procedure"},
    )
    kind = fields.String(required=True, metadata={"description": "added, removed or changed"})
    path = fields.String(
        required=True,
        metadata={"description": 'where, as `catalog check` names fields: fee.min, form["/applicant/phone"].type'},
    )
    old = fields.Raw(allow_none=True, metadata={"description": "the value in the current version (null if added)"})
    new = fields.Raw(allow_none=True, metadata={"description": "the value in the newer version (null if removed)"})


class OverrideProblemSchema(Schema):
    setting = fields.String(required=True, metadata={"example": "fee"})
    field = fields.String(required=True, metadata={"example": "overrides.fee"})
    message = fields.String(required=True)


class UpgradeSchema(Schema):
    key = fields.String(required=True, metadata={"example": "residency-certificate"})
    current_version = fields.String(required=True, metadata={"description": "the version the municipality runs"})
    latest_version = fields.String(required=True, metadata={"description": "the newest published version"})
    upgrade_available = fields.Boolean(required=True)
    changes = fields.List(
        fields.Nested(ChangeSchema), required=True, metadata={"description": "from the current to the latest version"}
    )
    overrides = fields.Dict(required=True, metadata={"description": "the municipality's current settings"})
    conforms = fields.Boolean(
        required=True, metadata={"description": "whether the current settings are allowed by the latest version"}
    )
    problems = fields.List(fields.Nested(OverrideProblemSchema), required=True)


class AdoptSchema(Schema):
    version = fields.String(
        load_default=None, metadata={"description": "the version to adopt (default: the latest)", "example": "1.1.0"}
    )
    overrides = fields.Dict(
        keys=fields.String(),
        load_default=None,
        metadata={
            "description": "the municipality's settings under the new version, replacing the current ones as a "
            "whole (default: keep the current ones, which must then conform)"
        },
    )


def _tenant_admin() -> Principal:
    principal = current_principal()
    if principal.method != "session" or not principal.is_staff or principal.account is None:
        raise Forbidden("Only the municipality's tenant admin, signed in, upgrades procedures.")
    if StaffRole.TENANT_ADMIN not in (principal.account.roles or []):
        raise Forbidden("Only the municipality's tenant admin upgrades procedures.")
    return principal


def _view(report: upgrades.UpgradeReport) -> dict[str, Any]:
    return {
        "key": report.key,
        "current_version": report.current.version,
        "latest_version": report.latest.version,
        "upgrade_available": report.available,
        "changes": [change.as_dict() for change in report.changes],
        "overrides": report.overrides,
        "conforms": report.conforms,
        "problems": [problem.as_dict() for problem in report.problems],
    }


def _problem(status: int, description: str) -> Any:
    return blp.alt_response(status, schema=ProblemSchema, content_type=PROBLEM_CONTENT_TYPE, description=description)


@blp.route("/<key>/upgrade")
class Upgrade(MethodView):
    @blp.response(200, UpgradeSchema)
    @_problem(403, "Not the municipality's tenant admin (or not a browser session)")
    @_problem(404, "Unknown municipality, or a procedure it does not offer")
    def get(self, key: str) -> Any:
        """Compare the procedure's version with the latest, and check the municipality's settings against it."""
        _tenant_admin()
        return _view(upgrades.upgrade_report(db_session(), current_tenant.id, key))

    @blp.arguments(AdoptSchema)
    @blp.response(200, UpgradeSchema)
    @blp.doc(parameters=[IDEMPOTENCY_KEY_PARAMETER])
    @_problem(403, "Not the municipality's tenant admin (or not a browser session)")
    @_problem(404, "Unknown municipality, procedure or version")
    @_problem(
        409,
        "The version is already in use or older; or the current settings do not conform to it "
        "(type overrides-no-longer-conform, `errors` per setting): send corrected `overrides`",
    )
    @_problem(422, "The `overrides` sent do not conform to the version (`errors` per setting)")
    def post(self, body: dict[str, Any], key: str) -> Any:
        """Adopt the latest (or the given) version. Applications already filed keep the version they were filed
        under; new ones get the adopted version. Audited."""
        principal = _tenant_admin()
        session = db_session()
        upgrades.adopt_version(
            session,
            current_tenant.id,
            key,
            actor=principal.actor.label,
            version=body["version"],
            overrides=body["overrides"],
        )
        return _view(upgrades.upgrade_report(session, current_tenant.id, key))


API_BLUEPRINTS = [blp]
