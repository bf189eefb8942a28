"""The platform admin API under ``/api/v1/admin``: the municipalities' lifecycle.

List, create (validated: a wrong check digit is a 422 naming ``local_government_code``, and nothing is
created), read, invite the first tenant admin (a one-time link, shown once in the answer and emailed), go live,
suspend, resume and delete (soft: the tenant answers 404 until ``madoguchi tenants purge`` removes its data).

Who may call it: a platform admin, with either

- a bearer token from ``madoguchi users create-platform-token`` (prefix ``mdgp_``; stored hashed), or
- the session cookie of a platform admin signed in at ``/admin/login`` (past the second factor).

Anyone else is refused: no credential or a bad token is 401; a tenant's credential (a resident's or staff
member's session, a vendor app's OAuth token) is 403 — tenant-scoped credentials never reach these endpoints.
State changes answer with the tenant's ``ETag`` and honour ``If-Match`` (412 when the tenant changed since).
Every change is audited in the tenant's own hash chain (actor ``platform_admin:<id>``).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask import current_app, g, request, url_for
from flask.views import MethodView
from marshmallow import Schema, fields

from madoguchi.api.auth import Unauthenticated, authenticate
from madoguchi.api.etags import Blueprint
from madoguchi.api.pagination import PageArgsSchema, decode_key_cursor, encode_key_cursor, keyset_page
from madoguchi.catalog import repository as catalog_repository
from madoguchi.config import Settings
from madoguchi.context import db_session
from madoguchi.db import bind_tenant, bound_tenant
from madoguchi.errors import PROBLEM_CONTENT_TYPE, Forbidden, ValidationFailed
from madoguchi.extensions import ProblemSchema
from madoguchi.identity import operations as identity
from madoguchi.identity.principal import set_principal
from madoguchi.identity.sessions import PLATFORM_ADMIN_SCOPE, PlatformPrincipal, principal_from_platform_session
from madoguchi.jp import PREFECTURES
from madoguchi.platform import lifecycle
from madoguchi.platform import provisioning as tenancy
from madoguchi.platform.schemas import InvitationCreateSchema, TenantCreateSchema
from madoguchi.security import AUTHENTICATED_ATTRIBUTE
from madoguchi.tenancy.models import Tenant

blp = Blueprint(
    "platform_admin",
    __name__,
    url_prefix="/admin",
    description="Platform administration: create, invite, go live, suspend, resume and delete municipalities. "
    "Platform admins only (a platform API token, or a platform admin's session).",
)


# --- Authentication ----------------------------------------------------------------------------------


def _bearer_token() -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _platform_principal_from_token(token: str) -> PlatformPrincipal:
    found = identity.platform_admin_of_token(db_session(), token)
    if found is None:
        raise Unauthenticated("The platform API token is invalid, expired or revoked.")
    row, admin = found
    return PlatformPrincipal(
        method="platform-token",
        tenant_id=None,
        scopes=frozenset({PLATFORM_ADMIN_SCOPE}),
        credential_id=row.id,
        platform_admin_id=admin.id,
        platform_admin_email=admin.email,
    )


def _authenticate_platform_admin() -> None:
    token = _bearer_token()
    if token is not None and token.startswith(identity.PLATFORM_TOKEN_PREFIX):
        principal = _platform_principal_from_token(token)
    elif token is None and (platform := principal_from_platform_session()) is not None:
        principal = platform
    else:
        # A tenant's credential (OAuth token, resident or staff session) is recognised, then refused.
        if authenticate() is None:
            raise Unauthenticated("Send a platform API token (Bearer mdgp_...) or sign in at /admin/login.")
        raise Forbidden(f"Only platform admins may use the admin API (scope {PLATFORM_ADMIN_SCOPE}).")
    set_principal(principal)


blp.before_request(_authenticate_platform_admin)
setattr(blp, AUTHENTICATED_ATTRIBUTE, True)


def _actor() -> str:
    principal: PlatformPrincipal = g.principal
    return principal.actor.label


def _settings() -> Settings:
    return current_app.config["MADOGUCHI"]


# --- Schemas -----------------------------------------------------------------------------------------


class LocalizedNameSchema(Schema):
    ja = fields.String(required=True)
    en = fields.String(required=True)


class AdminPrefectureSchema(Schema):
    code = fields.String(required=True)
    ja = fields.String()
    en = fields.String()


class AdminTenantSchema(Schema):
    id = fields.UUID(required=True)
    slug = fields.String(required=True)
    name = fields.Nested(LocalizedNameSchema, required=True)
    local_government_code = fields.String(required=True)
    prefecture = fields.Nested(AdminPrefectureSchema)
    status = fields.String(required=True, metadata={"description": "trial, live, suspended or deleted"})
    locales = fields.List(fields.String())
    default_locale = fields.String()
    services = fields.List(fields.String(), metadata={"description": "keys of the procedures switched on"})
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    deleted_at = fields.DateTime(allow_none=True)
    purge_due_at = fields.DateTime(
        allow_none=True, metadata={"description": "deleted tenants: when `madoguchi tenants purge` may remove the data"}
    )
    purged_at = fields.DateTime(allow_none=True)


class AdminTenantPageSchema(Schema):
    items = fields.List(fields.Nested(AdminTenantSchema), required=True)
    next_cursor = fields.String(
        allow_none=True, required=True, metadata={"description": "send as `after` for the next page; null on the last"}
    )


class InvitationSchema(Schema):
    id = fields.UUID(required=True)
    email = fields.String(required=True)
    expires_at = fields.DateTime(required=True)
    url = fields.String(
        required=True, metadata={"description": "the one-time link: shown only in this answer (and emailed)"}
    )


# --- Presentation ------------------------------------------------------------------------------------


def _tenant_view(tenant: Tenant) -> dict[str, Any]:
    session = db_session()
    # TenantService is tenant-owned: read it bound to this tenant, whatever the request is bound to.
    bound = bound_tenant(session)
    bind_tenant(session, tenant.id)
    try:
        services = sorted(catalog_repository.enabled_service_keys(session, tenant.id))
    finally:
        bind_tenant(session, bound)
    profile = tenant.profile or {}
    return {
        "id": tenant.id,
        "slug": tenant.slug,
        "name": {"ja": tenant.name_ja, "en": tenant.name_en},
        "local_government_code": tenant.local_government_code,
        "prefecture": profile.get("prefecture") or {"code": tenant.prefecture_code},
        "status": tenant.status,
        "locales": profile.get("locales", ["ja", "en"]),
        "default_locale": tenant.default_locale,
        "services": services,
        "created_at": tenant.created_at,
        "updated_at": tenant.updated_at,
        "deleted_at": tenant.deleted_at,
        "purge_due_at": lifecycle.purge_due_at(tenant, _settings().tenant_retention_days),
        "purged_at": tenant.purged_at,
    }


def etag_of(tenant: Tenant) -> str:
    """The tenant's ETag (unquoted): it changes with every change of status."""
    return hashlib.sha256(f"{tenant.id}:{tenant.status}:{tenant.updated_at.isoformat()}".encode()).hexdigest()[:20]


_PROBLEMS = {
    401: "No credential, or an invalid, expired or revoked platform token",
    403: "Not a platform admin (a tenant's session or token)",
    404: "No such municipality",
    409: "Not possible in the municipality's current status",
    412: "If-Match does not match the municipality's current ETag",
    422: "The data (or the query string) is not valid: `errors` names each field",
}


class TenantRefusedSchema(ProblemSchema):
    """A refused creation: ``errors`` has a message per field, ``reasons`` a stable code per field."""

    reasons = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.String()),
        metadata={
            "description": "codes per field: slug_invalid, slug_taken, name_missing, name_too_long, "
            "name_invalid, code_invalid, code_taken, prefecture_mismatch, locales_invalid, default_locale_invalid, "
            "service_unknown"
        },
    )


def problems(
    *statuses: int, refusal: type[ProblemSchema] = ProblemSchema
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Document the problem+json answers a view may give (``refusal``: the schema of its 422)."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        for status in statuses:
            schema = refusal if status == 422 else ProblemSchema
            view = blp.alt_response(
                status, schema=schema, content_type=PROBLEM_CONTENT_TYPE, description=_PROBLEMS[status]
            )(view)
        return view

    return decorate


# --- Views -------------------------------------------------------------------------------------------


@blp.route("/tenants")
class Tenants(MethodView):
    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, AdminTenantPageSchema)
    @problems(401, 403, 422)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Every municipality with its status, including suspended and deleted ones, by local government code, a
        page at a time (`limit`; `after`: the previous page's `next_cursor`)."""
        after = decode_key_cursor(args["after"]) if args.get("after") else None
        rows = tenancy.list_tenants(db_session(), after=after, limit=args["limit"] + 1)
        return keyset_page(
            rows, args["limit"], _tenant_view, cursor=lambda tenant: encode_key_cursor(tenant.local_government_code)
        )

    @blp.etag
    @blp.arguments(TenantCreateSchema)
    @blp.response(201, AdminTenantSchema)
    @problems(401, 403, 422, refusal=TenantRefusedSchema)
    def post(self, body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
        """Create a municipality on trial, with procedures of the published catalog at the standard's settings.

        Every invalid field is reported at once (`errors`, with machine-readable `reasons`); nothing is created
        then. The new municipality is served at once by every worker: its portal `/<slug>/` and
        `/api/v1/t/<slug>/procedures`.
        """
        code = body["local_government_code"]
        prefecture_code = body["prefecture_code"] or code[:2]
        prefecture = PREFECTURES.get(prefecture_code, {"code": prefecture_code})
        new = tenancy.NewTenant(
            slug=body["slug"],
            name_ja=body["name_ja"],
            name_en=body["name_en"],
            local_government_code=code,
            prefecture=prefecture,
            locales=body["locales"],
            default_locale=body["default_locale"],
            services=body["services"],
        )
        session = db_session()
        reasons = tenancy.check_new_tenant(session, new, published_services=set(tenancy.published_procedures(session)))
        if prefecture_code not in PREFECTURES and (body["prefecture_code"] or "local_government_code" not in reasons):
            reasons.setdefault("prefecture_code", [tenancy.PREFECTURE_MISMATCH])
        if reasons:
            raise ValidationFailed(
                "The municipality cannot be created as given.", errors=tenancy.explain(reasons), reasons=reasons
            )
        tenant = tenancy.create_tenant(session, new, actor=_actor())
        blp.set_etag(etag_of(tenant))
        return _tenant_view(tenant), {"Location": url_for("platform_admin.TenantItem", tenant_id=tenant.id)}


@blp.route("/tenants/<uuid:tenant_id>")
class TenantItem(MethodView):
    @blp.etag
    @blp.response(200, AdminTenantSchema)
    @problems(401, 403, 404)
    def get(self, tenant_id: uuid.UUID) -> dict[str, Any]:
        """One municipality. The ETag changes with every status change (send it back in If-Match)."""
        tenant = tenancy.get_tenant(db_session(), tenant_id)
        blp.set_etag(etag_of(tenant))
        return _tenant_view(tenant)

    @blp.etag
    @blp.response(200, AdminTenantSchema)
    @problems(401, 403, 404, 409, 412)
    def delete(self, tenant_id: uuid.UUID) -> dict[str, Any]:
        """Delete a municipality (soft delete): from now on its portal, console and API answer 404, its sessions
        and tokens end and nobody can sign in. The data stays for the retention period
        (`MADOGUCHI_TENANT_RETENTION_DAYS`), then `madoguchi tenants purge` removes it, keeping the audit chain."""
        return _change(tenant_id, lifecycle.delete_tenant)


def _change(tenant_id: uuid.UUID, operation: Any) -> dict[str, Any]:
    session = db_session()
    blp.check_etag(etag_of(tenancy.get_tenant(session, tenant_id)))
    tenant = operation(session, tenant_id, actor=_actor())
    session.flush()
    blp.set_etag(etag_of(tenant))
    return _tenant_view(tenant)


@blp.route("/tenants/<uuid:tenant_id>/go-live")
class TenantGoLive(MethodView):
    @blp.etag
    @blp.response(200, AdminTenantSchema)
    @problems(401, 403, 404, 409, 412)
    def post(self, tenant_id: uuid.UUID) -> dict[str, Any]:
        """End the trial: the municipality goes live (only from trial)."""
        return _change(tenant_id, lifecycle.go_live)


@blp.route("/tenants/<uuid:tenant_id>/suspend")
class TenantSuspend(MethodView):
    @blp.etag
    @blp.response(200, AdminTenantSchema)
    @problems(401, 403, 404, 409, 412)
    def post(self, tenant_id: uuid.UUID) -> dict[str, Any]:
        """Suspend: every page and API call of the municipality answers 403 and nobody can sign in there
        (web or OAuth); its data is kept."""
        return _change(tenant_id, tenancy.suspend_tenant)


@blp.route("/tenants/<uuid:tenant_id>/resume")
class TenantResume(MethodView):
    @blp.etag
    @blp.response(200, AdminTenantSchema)
    @problems(401, 403, 404, 409, 412)
    def post(self, tenant_id: uuid.UUID) -> dict[str, Any]:
        """Resume a suspended municipality in the status it had before (trial or live)."""
        return _change(tenant_id, tenancy.resume_tenant)


@blp.route("/tenants/<uuid:tenant_id>/invitations")
class TenantInvitations(MethodView):
    @blp.arguments(InvitationCreateSchema)
    @blp.response(201, InvitationSchema)
    @problems(401, 403, 404, 409, 422)
    def post(self, body: dict[str, Any], tenant_id: uuid.UUID) -> dict[str, Any]:
        """Invite a tenant admin (the first one, typically) by a one-time link.

        The link is in this answer only (and in the email sent to the address, outbox topic `notify.account`);
        it is stored hashed, expires after `MADOGUCHI_INVITATION_LIFETIME_HOURS` and works once. Following it,
        the person sets a password and then an authenticator app. A new invitation to the same address
        replaces an open one.
        """
        email = body["email"]
        config = _settings()
        issued = lifecycle.invite_tenant_admin(
            db_session(),
            tenant_id,
            email=email,
            display_name=body["display_name"] or email.split("@", 1)[0],
            public_url=config.public_url,
            data_key=config.data_key,
            lifetime=timedelta(hours=config.invitation_lifetime_hours),
            actor=_actor(),
            locale=body["locale"],
        )
        invitation = issued.invitation
        return {"id": invitation.id, "email": invitation.email, "expires_at": invitation.expires_at, "url": issued.url}


API_BLUEPRINTS = [blp]
