"""The identity API for a municipality's staff: tenant admins manage staff accounts; clerks link a resident's
account to the register at the counter."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from madoguchi.api.identity.common import (
    _staff_with,
    account_view,
    blp,
    problems,
    staff_view,
)
from madoguchi.context import current_tenant, db_session
from madoguchi.identity import operations
from madoguchi.identity.models import StaffRole
from madoguchi.identity.schemas import (
    AccountSchema,
    CounterIdentitySchema,
    StaffCreatedSchema,
    StaffCreateSchema,
    StaffSchema,
    StaffUpdateSchema,
)

# --- Staff (tenant admin) ----------------------------------------------------------------------------


@blp.route("/t/<tenant>/staff")
class StaffCollection(MethodView):
    @blp.response(200, StaffSchema(many=True))
    @problems(blp, 401, 403, 404, 429)
    def get(self) -> Any:
        """List the staff accounts (tenant admin)"""
        _staff_with(StaffRole.TENANT_ADMIN)
        return [staff_view(a) for a in operations.list_staff(db_session(), current_tenant.id)]

    @blp.arguments(StaffCreateSchema)
    @blp.response(201, StaffCreatedSchema)
    @problems(blp, 401, 403, 404, 409, 422, 429)
    def post(self, args: dict[str, Any]) -> Any:
        """Create a staff account (tenant admin)

        Without a password, a one-time password is generated and shown in this response only.
        """
        principal = _staff_with(StaffRole.TENANT_ADMIN)
        account, generated = operations.create_staff(
            db_session(),
            current_tenant.id,
            email=args["email"],
            display_name=args["display_name"],
            roles=args["roles"],
            password=args["password"],
            actor=principal.actor.label,
        )
        return staff_view(account, initial_password=generated)


@blp.route("/t/<tenant>/staff/<uuid:account_id>")
class StaffItem(MethodView):
    @blp.response(200, StaffSchema)
    @problems(blp, 401, 403, 404, 429)
    def get(self, account_id: Any) -> Any:
        """Get a staff account (tenant admin)"""
        _staff_with(StaffRole.TENANT_ADMIN)
        return staff_view(operations.get_staff(db_session(), current_tenant.id, account_id))

    @blp.arguments(StaffUpdateSchema)
    @blp.response(200, StaffSchema)
    @problems(blp, 401, 403, 404, 409, 422, 429)
    def patch(self, args: dict[str, Any], account_id: Any) -> Any:
        """Change a staff account's roles, or disable or enable it (tenant admin)

        Disabling ends all the account's sessions at once. The municipality always keeps one enabled tenant
        admin, and nobody disables themselves.
        """
        principal = _staff_with(StaffRole.TENANT_ADMIN)
        assert principal.account is not None
        account = operations.update_staff(
            db_session(),
            current_tenant.id,
            account_id,
            by=principal.account,
            roles=args.get("roles"),
            disabled=args.get("disabled"),
            actor=principal.actor.label,
        )
        return staff_view(account)


# --- Identity verification at the counter ------------------------------------------------------------


@blp.route("/t/<tenant>/accounts/<uuid:account_id>/identity")
class CounterIdentity(MethodView):
    @blp.arguments(CounterIdentitySchema)
    @blp.response(200, AccountSchema)
    @problems(blp, 401, 403, 404, 409, 422, 429)
    def post(self, args: dict[str, Any], account_id: Any) -> Any:
        """Verify a resident's identity at the counter (clerk or supervisor)

        The resident showed an identity document: link their account to the person in the resident register.
        Identity assurance becomes ``verified``.
        """
        principal = _staff_with(StaffRole.CLERK, StaffRole.SUPERVISOR)
        assert principal.account is not None
        account = operations.link_identity_at_counter(
            db_session(),
            current_tenant.id,
            account_id,
            resident_code=args["resident_code"],
            by=principal.account,
            actor=principal.actor.label,
        )
        return account_view(account)
