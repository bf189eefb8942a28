"""The public catalog API (DESIGN §8): municipalities and the procedures each offers. No credentials needed."""

from __future__ import annotations

from typing import Any

from flask import url_for
from flask.views import MethodView
from flask_smorest import Blueprint

from madoguchi.api.pagination import PageArgsSchema, decode_key_cursor, encode_key_cursor, keyset_page
from madoguchi.catalog import operations, repository
from madoguchi.catalog.presenters import tenant_view
from madoguchi.catalog.schemas import ProcedureDetailSchema, ProcedureSummarySchema, TenantSchema
from madoguchi.context import current_tenant, db_session
from madoguchi.security import public
from madoguchi.tenancy import repository as tenancy

blp = Blueprint("catalog", __name__, description="Municipalities on the platform and the procedures they offer")


NEXT_PAGE_LINK = {
    "description": 'When more municipalities follow: `<URL of the next page>; rel="next"` (RFC 8288). Absent on the'
    " last page.",
    "schema": {"type": "string"},
}


@blp.route("/tenants")
@public
class Tenants(MethodView):
    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, TenantSchema(many=True), headers={"Link": NEXT_PAGE_LINK})
    @blp.alt_response(422, description="`limit` out of range, or `after` not a cursor of this list")
    def get(self, args: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, str]]:
        """List the municipalities served (suspended ones are left out), by slug, a page at a time.

        The body is the page's municipalities. When more follow, the `Link` header names the next page (`rel="next"`:
        the same `limit`, and `after` set to a cursor); follow it until there is no such header."""
        after = decode_key_cursor(args["after"]) if args.get("after") else None
        rows = tenancy.serving_tenants(db_session(), by_slug=True, after=after, limit=args["limit"] + 1)
        page = keyset_page(rows, args["limit"], tenant_view, cursor=lambda tenant: encode_key_cursor(tenant.slug))
        headers = {}
        if page["next_cursor"]:
            following = url_for("catalog.Tenants", limit=args["limit"], after=page["next_cursor"], _external=True)
            headers["Link"] = f'<{following}>; rel="next"'
        return page["items"], headers


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
