"""Municipalities in the database: loading them from ``tenants/`` (create or update, idempotently), and creating,
suspending and resuming one (platform admin pages, admin API, CLI). The rest of the lifecycle (go live, invite,
delete, purge) is in ``platform.lifecycle``."""

from __future__ import annotations

import re
import unicodedata
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from madoguchi.audit import operations as audit
from madoguchi.catalog import operations as catalog
from madoguchi.catalog.models import ServiceVersion, TenantService
from madoguchi.db import bind_tenant, bound_tenant
from madoguchi.errors import Conflict, NotFound, ValidationFailed
from madoguchi.jp import is_valid_local_government_code
from madoguchi.tenancy import closed_days, resolution
from madoguchi.tenancy.models import Tenant, TenantStatus


@dataclass
class SyncReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    #: deleted tenants, which a sync leaves alone
    skipped: list[str] = field(default_factory=list)


def _tenant_values(spec: dict[str, Any]) -> dict[str, Any]:
    prefecture = spec.get("prefecture") or {}
    return {
        "name_ja": spec["name"]["ja"],
        "name_en": spec["name"]["en"],
        "local_government_code": str(spec["local_government_code"]),
        "prefecture_code": str(prefecture.get("code") or str(spec["local_government_code"])[:2]),
        "status": spec.get("status", "live"),
        "default_locale": spec.get("default_locale", "ja"),
        "profile": {
            "prefecture": prefecture,
            "locales": spec.get("locales", ["ja", "en"]),
            "branding": spec.get("branding", {}),
            "contact": spec.get("contact", {}),
            # Who signs certificates (市町村長名) and the seal image, read in by the tenant file's loader.
            "issuer": {k: v for k, v in (spec.get("issuer") or {}).items() if k in ("title", "name", "seal_png")},
            # 保育料 per 所得割額 bracket, read by the childcare notices (decision 0042).
            **({"childcare_fees": spec["childcare_fees"]} if spec.get("childcare_fees") else {}),
            # How fees are collected (provider, online mode, surcharge, 減免 codes); absent: not through Madoguchi
            # (decision 0043). A sync that drops the section drops it from the profile too.
            **({"payments": spec["payments"]} if spec.get("payments") else {}),
            # Sign-in with the マイナンバーカード (decision 0048); absent: off.
            **({"card_sign_in": spec["card_sign_in"]} if spec.get("card_sign_in") else {}),
            # How long the residents' data-use ledger keeps its entries; absent: 7 years.
            **({"data_use_ledger": spec["data_use_ledger"]} if spec.get("data_use_ledger") else {}),
            # What the open-data KPIs publish and under which license (issue 20, docs/open-data.md); absent:
            # published under PDL 1.0 without population figures.
            **({"open_data": spec["open_data"]} if spec.get("open_data") else {}),
        },
    }


def _apply(row: Any, values: dict[str, Any]) -> bool:
    changed = False
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed = True
    return changed


def sync_tenant(session: Session, spec: dict[str, Any], *, actor: str = "cli:tenants-sync") -> str:
    """Create or update one tenant and its enabled procedures. Returns created, updated, unchanged or skipped.

    The file's ``status`` counts only when the tenant is created: after that the lifecycle (admin API, CLI, admin
    pages) owns it, so a sync never resumes a suspended tenant nor puts a live one back on trial. A deleted tenant
    is skipped altogether.
    Binds ``session`` to the tenant for its tenant-owned rows (row-level security applies to the CLI too).
    """
    tenant = session.execute(select(Tenant).where(Tenant.slug == spec["slug"])).scalar_one_or_none()
    values = _tenant_values(spec)
    outcome = "unchanged"
    if tenant is None:
        tenant = Tenant(slug=spec["slug"], **values)
        session.add(tenant)
        session.flush()
        outcome = "created"
    elif tenant.status_enum is TenantStatus.DELETED:
        return "skipped"
    elif _apply(tenant, {name: value for name, value in values.items() if name != "status"}):
        outcome = "updated"
    bind_tenant(session, tenant.id)
    audit.start_chain(session, tenant.id)

    existing = {
        ts.service_key: ts
        for ts in session.execute(select(TenantService).where(TenantService.tenant_id == tenant.id)).scalars()
    }
    wanted = spec.get("services") or {}
    for key, service_spec in wanted.items():
        service_spec = service_spec or {}
        pinned = service_spec.get("version")
        row = existing.get(key)
        current = session.get(ServiceVersion, row.service_version_id) if row is not None else None
        # A newer standard waits for the tenant admin to adopt it (catalog.upgrades); sync never moves a tenant.
        version = catalog.version_for_sync(session, key, pinned, current)
        if version is None:
            raise NotFound(f"{spec['slug']}: {key} version {pinned} is not published")
        ts_values = {
            "service_version_id": version.id,
            "enabled": True,
            "overrides": service_spec.get("overrides") or {},
        }
        if row is None:
            session.add(TenantService(tenant_id=tenant.id, service_key=key, **ts_values))
            outcome = "updated" if outcome == "unchanged" else outcome
        elif _apply(row, ts_values):
            outcome = "updated" if outcome == "unchanged" else outcome
    for key, row in existing.items():
        if key not in wanted and row.enabled:
            row.enabled = False
            outcome = "updated" if outcome == "unchanged" else outcome
    if closed_days.sync_from_file(session, tenant.id, spec.get("closed_days") or [], actor=actor):
        outcome = "updated" if outcome == "unchanged" else outcome
    session.flush()
    if outcome != "unchanged":
        audit.record(
            session,
            tenant.id,
            actor=actor,
            action=f"tenant.{'create' if outcome == 'created' else 'update'}",
            object_type="tenant",
            object_id=tenant.id,
            data={"slug": tenant.slug, "services": sorted(wanted)},
        )
    bind_tenant(session, None)
    return outcome


def sync_tenants(session: Session, specs: dict[str, dict[str, Any]]) -> SyncReport:
    report = SyncReport()
    for slug in sorted(specs):
        getattr(report, sync_tenant(session, specs[slug])).append(slug)
    return report


# --- Provisioning from the platform admin pages (issue #6 builds the full lifecycle on these) -------------------------

SLUG_PATTERN = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")
SLUG_MAX_LENGTH = 63
NAME_MAX_LENGTH = 200
#: First path segments the platform itself uses (a tenant slug would be shadowed by, or shadow, them).
RESERVED_SLUGS = frozenset(
    {
        *("admin", "api", "oauth", "static", "healthz", "readyz", "login", "logout", "console", "verify"),
        *("fake-pay", "open-data"),
    }
)

# Reasons a new tenant is refused, one per field; the admin pages show each in the visitor's language.
SLUG_INVALID = "slug_invalid"
SLUG_TAKEN = "slug_taken"
NAME_MISSING = "name_missing"
NAME_TOO_LONG = "name_too_long"
NAME_INVALID = "name_invalid"
CODE_INVALID = "code_invalid"
CODE_TAKEN = "code_taken"
PREFECTURE_MISMATCH = "prefecture_mismatch"
LOCALES_INVALID = "locales_invalid"
DEFAULT_LOCALE_INVALID = "default_locale_invalid"
SERVICE_UNKNOWN = "service_unknown"

#: The reasons in plain English, for the API's problem+json and the CLI (the admin pages translate their own).
REASON_MESSAGES = {
    SLUG_INVALID: "Use lowercase letters, digits and hyphens, starting with a letter (not a reserved word).",
    SLUG_TAKEN: "Another municipality already uses this slug.",
    NAME_MISSING: "Enter the name.",
    NAME_TOO_LONG: f"Use at most {NAME_MAX_LENGTH} characters.",
    NAME_INVALID: "Use letters, digits and punctuation only (no control characters).",
    CODE_INVALID: "Six digits whose last one is the check digit of the first five (e.g. 131016); "
    "the check digit does not match.",
    CODE_TAKEN: "Another municipality already has this local government code.",
    PREFECTURE_MISMATCH: "The prefecture code must be the first two digits of the local government code.",
    LOCALES_INVALID: "Choose one or more of ja, en.",
    DEFAULT_LOCALE_INVALID: "The default locale must be one of the locales offered.",
    SERVICE_UNKNOWN: "Choose procedures published in the standard catalog.",
}


def explain(reasons: dict[str, list[str]]) -> dict[str, list[str]]:
    """Reason codes per field -> English messages per field."""
    return {name: [REASON_MESSAGES.get(code, code) for code in codes] for name, codes in reasons.items()}


@dataclass(frozen=True)
class NewTenant:
    slug: str
    name_ja: str
    name_en: str
    local_government_code: str
    prefecture: dict[str, str]
    locales: list[str]
    default_locale: str
    services: list[str]


def published_procedures(session: Session) -> dict[str, dict[str, str]]:
    """Every procedure of the standard catalog a new tenant may switch on: key -> title of its latest version."""
    keys = session.execute(select(ServiceVersion.key).distinct().order_by(ServiceVersion.key)).scalars()
    return {key: catalog.latest_version(session, key).definition.get("title", {}) for key in keys}


def check_new_tenant(session: Session, new: NewTenant, *, published_services: set[str]) -> dict[str, list[str]]:
    """Reason codes per field for a tenant that cannot be created as given (empty when it can)."""
    errors: dict[str, list[str]] = {}
    if len(new.slug) > SLUG_MAX_LENGTH or not SLUG_PATTERN.match(new.slug) or new.slug in RESERVED_SLUGS:
        errors["slug"] = [SLUG_INVALID]
    elif session.execute(select(Tenant.id).where(Tenant.slug == new.slug)).first() is not None:
        errors["slug"] = [SLUG_TAKEN]
    for field_name in ("name_ja", "name_en"):
        value = getattr(new, field_name)
        if not value:
            errors[field_name] = [NAME_MISSING]
        elif len(value) > NAME_MAX_LENGTH:
            errors[field_name] = [NAME_TOO_LONG]
        elif any(unicodedata.category(character).startswith("C") for character in value):
            errors[field_name] = [NAME_INVALID]
    code = new.local_government_code
    if not is_valid_local_government_code(code):
        errors["local_government_code"] = [CODE_INVALID]
    elif session.execute(select(Tenant.id).where(Tenant.local_government_code == code)).first() is not None:
        errors["local_government_code"] = [CODE_TAKEN]
    if new.prefecture.get("code") != code[:2]:
        errors["prefecture_code"] = [PREFECTURE_MISMATCH]
    if not new.locales or any(locale not in ("ja", "en") for locale in new.locales):
        errors["locales"] = [LOCALES_INVALID]
    elif new.default_locale not in new.locales:
        errors["default_locale"] = [DEFAULT_LOCALE_INVALID]
    if any(key not in published_services for key in new.services):
        errors["services"] = [SERVICE_UNKNOWN]
    return errors


def create_tenant(session: Session, new: NewTenant, *, actor: str) -> Tenant:
    """A new municipality on trial, with the chosen standard procedures at their defaults. Audited.

    Raises ``ValidationFailed`` with English messages per field in ``errors`` and the reason codes per field in
    ``extra["reasons"]`` (see ``check_new_tenant``); nothing is stored then.
    """
    reasons = check_new_tenant(session, new, published_services=set(published_procedures(session)))
    if reasons:
        raise ValidationFailed("The municipality cannot be created as given.", errors=explain(reasons), reasons=reasons)
    spec = {
        "slug": new.slug,
        "name": {"ja": new.name_ja, "en": new.name_en},
        "local_government_code": new.local_government_code,
        "prefecture": dict(new.prefecture),
        "locales": list(new.locales),
        "default_locale": new.default_locale,
        "status": TenantStatus.TRIAL.value,
        "services": {key: {} for key in new.services},
    }
    sync_tenant(session, spec, actor=actor)
    return session.execute(select(Tenant).where(Tenant.slug == new.slug)).scalar_one()


def get_tenant(session: Session, tenant_id: uuid.UUID) -> Tenant:
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound("There is no such municipality.")
    return tenant


def list_tenants(session: Session, *, after: str | None = None, limit: int | None = None) -> list[Tenant]:
    """Every municipality, whatever its status, by local government code: a keyset page of at most ``limit``
    after the code ``after``."""
    stmt = select(Tenant).order_by(Tenant.local_government_code).limit(limit)
    if after is not None:
        stmt = stmt.where(Tenant.local_government_code > after)
    return list(session.execute(stmt).scalars())


def record_tenant_event(session: Session, tenant: Tenant, *, actor: str, action: str, data: dict[str, Any]) -> None:
    """Append a change of the tenant itself to its audit chain, whatever tenant (if any) the session is bound to."""
    bound = bound_tenant(session)
    bind_tenant(session, tenant.id)
    try:
        audit.record(
            session,
            tenant.id,
            actor=actor,
            action=action,
            object_type="tenant",
            object_id=tenant.id,
            data={"slug": tenant.slug, **data},
        )
    finally:
        bind_tenant(session, bound)


def _change_status(session: Session, tenant: Tenant, status: TenantStatus, *, action: str, actor: str) -> Tenant:
    before = tenant.status
    tenant.status = status.value
    session.flush()
    resolution.forget(tenant.slug)  # this process refuses it at once; the others within tenant_cache_seconds
    record_tenant_event(session, tenant, actor=actor, action=action, data={"before": before, "after": status.value})
    return tenant


def suspend_tenant(session: Session, tenant_id: uuid.UUID, *, actor: str) -> Tenant:
    """Suspend a municipality: its portal, console and API answer 403 until it is resumed. Audited."""
    tenant = get_tenant(session, tenant_id)
    if tenant.status_enum is TenantStatus.DELETED:
        raise Conflict("This municipality is deleted: it can only be purged.")
    if tenant.status_enum is TenantStatus.SUSPENDED:
        raise Conflict("This municipality is already suspended.")
    previous = tenant.status
    tenant = _change_status(session, tenant, TenantStatus.SUSPENDED, action="tenant.suspend", actor=actor)
    tenant.profile = {**(tenant.profile or {}), "status_before_suspension": previous}
    session.flush()
    return tenant


def resume_tenant(session: Session, tenant_id: uuid.UUID, *, actor: str) -> Tenant:
    """Resume a suspended municipality in the status it had before (trial or live). Audited."""
    tenant = get_tenant(session, tenant_id)
    if tenant.status_enum is not TenantStatus.SUSPENDED:
        raise Conflict("This municipality is not suspended.")
    profile = dict(tenant.profile or {})
    previous = TenantStatus(profile.pop("status_before_suspension", TenantStatus.LIVE.value))
    tenant.profile = profile
    return _change_status(session, tenant, previous, action="tenant.resume", actor=actor)
