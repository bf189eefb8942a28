"""The public catalog API (DESIGN §8): municipalities and the procedures each offers. No credentials needed."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from madoguchi.catalog import operations, repository
from madoguchi.catalog.presenters import tenant_view
from madoguchi.catalog.schemas import ProcedureDetailSchema, ProcedureSummarySchema, TenantSchema
from madoguchi.context import current_tenant, db_session
from madoguchi.security import public
from madoguchi.tenancy import repository as tenancy

blp = Blueprint("catalog", __name__, description="Municipalities on the platform and the procedures they offer")


@blp.route("/tenants")
@public
class Tenants(MethodView):
    @blp.response(200, TenantSchema(many=True))
    def get(self) -> list[dict[str, Any]]:
        """List the municipalities served (suspended ones are left out)."""
        return [tenant_view(t) for t in tenancy.serving_tenants(db_session(), by_slug=True)]


@blp.route("/t/<tenant>/procedures")
@public
class Procedures(MethodView):
    @blp.response(200, ProcedureSummarySchema(many=True))
    @blp.alt_response(404, description="Unknown municipality")
    @blp.alt_response(403, description="The municipality's service is suspended")
    def get(self) -> list[dict[str, Any]]:
        """List the procedures this municipality offers, with its fees and processing times."""
        session = db_session()
        return [
            operations.procedure_summary(ts, sv)
            for ts, sv in repository.enabled_services(session, current_tenant.id, content=False)
        ]


@blp.route("/t/<tenant>/procedures/<key>")
@public
class Procedure(MethodView):
    @blp.response(200, ProcedureDetailSchema)
    @blp.alt_response(404, description="Unknown municipality, or a procedure it does not offer")
    @blp.alt_response(403, description="The municipality's service is suspended")
    def get(self, key: str) -> dict[str, Any]:
        """One procedure as this municipality runs it: the form's JSON Schema, the workflow, the fee."""
        tenant_service, version = operations.tenant_service_for(db_session(), current_tenant.id, key)
        return operations.procedure_summary(tenant_service, version)


API_BLUEPRINTS = [blp]
