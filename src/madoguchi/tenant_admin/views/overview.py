"""The tenant admin's overview page and the KPI summary."""

from __future__ import annotations

from typing import Any

from flask.typing import ResponseReturnValue

from madoguchi.catalog import operations as catalog
from madoguchi.catalog import repository as catalog_repository
from madoguchi.context import current_tenant, db_session
from madoguchi.stats import kpis
from madoguchi.tenant_admin.views.common import (
    _render,
    bp,
)

# --- Overview ------------------------------------------------------------------------------------------------------


@bp.get("/")
def index() -> ResponseReturnValue:
    return _render("index.html", section="index")


# --- KPIs ----------------------------------------------------------------------------------------------------------


@bp.get("/kpis")
def kpi_summary() -> ResponseReturnValue:
    session = db_session()
    found = kpis.procedure_kpis(session, current_tenant.id)
    titles: dict[str, Any] = {}
    state_titles: dict[str, Any] = {}
    for ts, sv in catalog_repository.enabled_services(session, current_tenant.id):
        effective = catalog.effective_settings(ts, sv)
        titles[ts.service_key] = effective["title"]
        for state in effective["workflow"]["states"]:
            state_titles.setdefault(state["name"], state["title"])
    order = list(state_titles)
    states = sorted(
        {state for kpi in found for state in kpi.by_state},
        key=lambda s: (order.index(s) if s in order else len(order), s),
    )
    return _render(
        "kpis.html",
        section="kpis",
        kpis=found,
        total=kpis.overall(found),
        titles=titles,
        states=states,
        state_titles=state_titles,
    )
