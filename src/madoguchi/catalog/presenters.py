"""Turn tenants and effective procedure settings into the shapes of the public API."""

from __future__ import annotations

from typing import Any

from madoguchi.catalog.models import ServiceVersion
from madoguchi.tenancy.models import Tenant


def tenant_view(tenant: Tenant) -> dict[str, Any]:
    profile = tenant.profile or {}
    return {
        "slug": tenant.slug,
        "name": {"ja": tenant.name_ja, "en": tenant.name_en},
        "local_government_code": tenant.local_government_code,
        "prefecture": profile.get("prefecture") or {"code": tenant.prefecture_code},
        "locales": profile.get("locales", ["ja", "en"]),
        "default_locale": tenant.default_locale,
        "status": tenant.status,
    }


def procedure_view(settings: dict[str, Any], version: ServiceVersion) -> dict[str, Any]:
    definition = version.definition
    fee = definition.get("fee", {})
    return {
        "key": version.key,
        "version": version.version,
        "title": settings["title"],
        "summary": definition.get("summary"),
        "fee": {"amount": settings["fee"], "currency": fee.get("currency", "JPY"), "per": fee.get("per", "copy")},
        "sla_days": settings.get("sla_days"),
        "identity_assurance": settings.get("identity_assurance"),
        "eligible_applicants": settings.get("eligible_applicants", []),
        "auto_issue": settings.get("auto_issue", False),
        "instructions": settings.get("instructions"),
        "legal_basis": definition.get("legal_basis", []),
        "required_documents": settings.get("required_documents", []),
        "prefill": settings.get("prefill", {}),
        "output_document": settings.get("output_document"),
        "retention": definition.get("retention", {}),
        "form": settings["form"],
        "workflow": settings["workflow"],
    }
