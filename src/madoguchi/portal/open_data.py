"""The public performance pages (issue 20): a municipality's procedures month by month at ``/<tenant>/open-data/``,
and the municipalities side by side at ``/open-data/``. Public, no sign-in: they show only published rows.

The month is chosen with ``?month=YYYY-MM`` (a select of the published months): a malformed month is answered 400
with the reason beside the field, a month with nothing published 404, and no month the latest one. The files and
the JSON API (``procedure-kpis.csv``, ``.json``, ``datapackage.json``) are served by their own blueprint; these
pages link to them.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from madoguchi.context import current_tenant, db_session
from madoguchi.opendata import queries
from madoguchi.security import public
from madoguchi.web import kpi_charts
from madoguchi.web.resident_nav import nav_context, signed_in_resident

bp = Blueprint("open_data_pages", __name__, template_folder="templates")

WEB_BLUEPRINTS = [bp]

#: Licences a municipality may publish under (PDL1.0 by default, which states its compatibility with CC BY 4.0).
CC_BY = "https://creativecommons.org/licenses/by/4.0/"
LICENSES = {"PDL-1.0": "公共データ利用規約（第1.0版）(PDL1.0)", "CC-BY-4.0": "CC BY 4.0"}
DEFAULT_LICENSE = "PDL-1.0"


def _chosen_month(periods: list[str]) -> tuple[str | None, str | None, int]:
    """(the month to show, the error beside the selector, the status): the latest when none was asked for."""
    # Full-width digits (２０２６－１０) are what a Japanese keyboard may type: read as half-width, once, here.
    asked = unicodedata.normalize("NFKC", request.args.get("month") or "").strip()
    if not asked:
        return (periods[0] if periods else None), None, 200
    if not queries.is_period(asked):
        return None, _("Enter a month as YYYY-MM, for example 2026-04."), 400
    if asked not in periods:
        return None, _("No figures are published for %(month)s. Choose one of the months listed.", month=asked), 404
    return asked, None, 200


def _license(profile: dict[str, Any] | None) -> dict[str, str]:
    """The licence the tenant file's ``open_data.license`` names (the files' data package says the same)."""
    section = (profile or {}).get("open_data") or {}
    key = str(section.get("license") or DEFAULT_LICENSE)
    key = key if key in LICENSES else DEFAULT_LICENSE
    return {"key": key, "name": LICENSES[key], "cc_by": CC_BY}


@bp.get("/<tenant>/open-data/")
@public
def municipality() -> ResponseReturnValue:
    """The municipality's performance: per procedure, the chosen month's figures and the charts of the months up
    to it."""
    session = db_session()
    tenant = current_tenant
    periods = queries.tenant_periods(session, tenant.id)
    month, error, status = _chosen_month(periods)
    procedures: list[kpi_charts.ProcedureCharts] = []
    if month is not None:
        shown = queries.tenant_months(session, tenant.id, until=month, count=kpi_charts.TREND_MONTHS)
        months, keyed = kpi_charts.by_procedure([(m.period, m.published or []) for m in shown])
        titles = kpi_charts.procedure_titles(session, keyed)
        procedures = [kpi_charts.procedure_charts("kpi", key, titles[key], months, rows) for key, rows in keyed.items()]
    page = render_template(
        "open_data/municipality.html",
        tenant=tenant,
        periods=periods,
        month=month,
        asked=request.args.get("month", ""),
        error=error,
        procedures=procedures,
        license=_license(tenant.profile),
        kpi=kpi_charts,
        **nav_context(signed_in_resident(), "open-data"),
    )
    return page, status


@bp.get("/open-data/")
@public
def national() -> ResponseReturnValue:
    """Municipalities side by side, per procedure, for the chosen month; the country's trend."""
    session = db_session()
    periods = queries.national_periods(session)
    month, error, status = _chosen_month(periods)
    sections: list[dict[str, Any]] = []
    if month is not None:
        shown = queries.national_months(session, until=month, count=kpi_charts.TREND_MONTHS)
        months = [(m.period, list(m.published or [])) for m in shown]
        current = months[-1][1] if months else []
        keys = sorted(
            {str(row["procedure_key"]) for row in current if row.get("procedure_key")}, key=kpi_charts.procedure_order
        )
        titles = kpi_charts.procedure_titles(session, keys)
        for key in keys:
            rows = [row for row in current if row.get("procedure_key") == key and row.get("lg_code")]
            sections.append(
                {
                    "key": key,
                    "title": titles[key],
                    "municipalities": len(rows),
                    "figures": [
                        kpi_charts.national_trend("national", key, titles[key], months),
                        *kpi_charts.comparison_charts("compare", key, titles[key], rows, month),
                    ],
                }
            )
    page = render_template(
        "open_data/national.html",
        periods=periods,
        month=month,
        asked=request.args.get("month", ""),
        error=error,
        sections=sections,
        license=_license(None),
    )
    return page, status
