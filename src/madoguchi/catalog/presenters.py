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


def _fee_view(settings: dict[str, Any], fee: dict[str, Any]) -> dict[str, Any]:
    """The fee as the API shows it: ``amount`` the online fee (as before channels), ``by_channel`` each channel's
    where the settings have them, and the unit of persons where the fee counts by persons (decision 0043)."""
    view: dict[str, Any] = {
        "amount": settings["fee"],
        "currency": fee.get("currency", "JPY"),
        "per": fee.get("per", "copy"),
    }
    if settings.get("fee_by_channel"):
        view["by_channel"] = dict(settings["fee_by_channel"])
    if settings.get("persons_per_unit"):
        view["persons_per_unit"] = settings["persons_per_unit"]
    return view


def procedure_view(settings: dict[str, Any], version: ServiceVersion) -> dict[str, Any]:
    definition = version.definition
    fee = definition.get("fee", {})
    return {
        "key": version.key,
        "version": version.version,
        "title": settings["title"],
        "summary": definition.get("summary"),
        "fee": _fee_view(settings, fee),
        "sla_days": settings.get("sla_days"),
        "identity_assurance": settings.get("identity_assurance"),
        "identity_assurance_when": settings.get("identity_assurance_when") or [],
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
