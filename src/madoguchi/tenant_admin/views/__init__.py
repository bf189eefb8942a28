"""The tenant admin's pages under ``/<tenant>/console/admin/``: staff accounts, procedure settings and upgrades to
new versions of the standard, vendor apps, registry CSV imports and the KPI summary.

Only staff holding ``tenant_admin``, fully signed in (their second factor passed), reach them. The views parse
forms and call the areas' operations, which hold the rules (the overrides a standard allows, the last active
tenant admin, what a vendor app may be granted, what a registry row must contain). Bad input re-renders the
form with status 422, the message beside each field and in the summary, and nothing stored.

One module per screen: ``overview`` (and KPIs), ``staff``, ``procedures``, ``calendar`` (closed days),
``allocation_rules`` (childcare 利用調整基準), ``upgrades``, ``apps``, ``registry``.
"""

from madoguchi.tenant_admin.views import (
    allocation_rules,
    apps,
    calendar,
    overview,
    procedures,
    registry,
    staff,
    upgrades,
)
from madoguchi.tenant_admin.views.common import bp

__all__ = [
    "WEB_BLUEPRINTS",
    "allocation_rules",
    "apps",
    "bp",
    "calendar",
    "overview",
    "procedures",
    "registry",
    "staff",
    "upgrades",
]

WEB_BLUEPRINTS = [bp]
