"""The tenant admin's overview page and the KPI summary."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask.typing import ResponseReturnValue

from madoguchi.catalog import operations as catalog
from madoguchi.catalog import repository as catalog_repository
from madoguchi.context import current_tenant, db_session
from madoguchi.opendata import queries
from madoguchi.stats import kpis
from madoguchi.tenant_admin.views.common import (
    _render,
    bp,
)
from madoguchi.web import kpi_charts
from madoguchi.web.i18n import localized

# --- Overview ------------------------------------------------------------------------------------------------------


@bp.get("/")
def index() -> ResponseReturnValue:
    return _render("index.html", section="index")


# --- KPIs ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StateColumn:
    """A column of the by-state table: a state *as one procedure names it*. Procedures share state names with
    different meanings (``issued``: 交付済み for a certificate, 決定通知済み for childcare), so a column is the
    name with its title, and a procedure counts only under the column its own workflow names."""

    state: str
    #: the title as the workflow has it ({"ja": …, "en": …}), or None for a state no enabled workflow names
    title: Any

    @property
    def key(self) -> tuple[str, tuple[tuple[str, str], ...] | str | None]:
        return self.state, _title_key(self.title)


def _title_key(title: Any) -> tuple[tuple[str, str], ...] | str | None:
    if isinstance(title, dict):
        return tuple(sorted((str(k), str(v)) for k, v in title.items()))
    return None if title is None else str(title)


def state_columns(
    found: list[kpis.ProcedureKpi], workflows: dict[str, list[dict[str, Any]]]
) -> tuple[list[StateColumn], dict[tuple[str, Any], int], set[tuple[str, Any]]]:
    """The by-state table: its columns (in workflow order), the count of each (procedure, column), and which
    (procedure, column) pairs exist at all (a procedure whose workflow has no such state shows a dash, not 0)."""
    order: dict[str, int] = {}
    for states in workflows.values():
        for index, state in enumerate(states):
            order[state["name"]] = min(order.get(state["name"], index), index)
    columns: dict[Any, StateColumn] = {}
    counts: dict[tuple[str, Any], int] = {}
    applicable: set[tuple[str, Any]] = set()
    for kpi in found:
        titles = {state["name"]: state.get("title") for state in workflows.get(kpi.service_key, [])}
        names = set(titles) | set(kpi.by_state)
        for name in names:
            column = StateColumn(name, titles.get(name))
            columns.setdefault(column.key, column)
            applicable.add((kpi.service_key, column.key))
            counts[(kpi.service_key, column.key)] = kpi.by_state.get(name, 0)
    ordered = sorted(
        columns.values(), key=lambda c: (order.get(c.state, len(order)), c.state, str(_title_key(c.title)))
    )
    used = [c for c in ordered if any(counts.get((k.service_key, c.key)) for k in found)]
    return used, counts, applicable


@bp.get("/kpis")
def kpi_summary() -> ResponseReturnValue:
    session = db_session()
    found = kpis.procedure_kpis(session, current_tenant.id)
    titles: dict[str, Any] = {}
    workflows: dict[str, list[dict[str, Any]]] = {}
    for ts, sv in catalog_repository.enabled_services(session, current_tenant.id):
        effective = catalog.effective_settings(ts, sv)
        titles[ts.service_key] = effective["title"]
        workflows[ts.service_key] = effective["workflow"]["states"]
    columns, counts, applicable = state_columns(found, workflows)
    # The charts of the live figures, and of the months published so far (what the public page shows).
    names = [localized(titles.get(kpi.service_key)) or kpi.service_key for kpi in found]
    live_charts = kpi_charts.live_charts(
        names,
        [kpi.online_share for kpi in found],
        [kpi.median_processing.total_seconds() / 86400 if kpi.median_processing else None for kpi in found],
    )
    monthly: list[kpi_charts.ProcedureCharts] = []
    periods = queries.tenant_periods(session, current_tenant.id)
    if periods:
        shown = queries.tenant_months(session, current_tenant.id, until=periods[0], count=kpi_charts.TREND_MONTHS)
        months, keyed = kpi_charts.by_procedure([(m.period, m.published or []) for m in shown])
        month_titles = kpi_charts.procedure_titles(session, keyed)
        monthly = [
            kpi_charts.procedure_charts("admin-kpi", key, month_titles[key], months, rows)
            for key, rows in keyed.items()
        ]
    return _render(
        "kpis.html",
        section="kpis",
        kpis=found,
        total=kpis.overall(found),
        titles=titles,
        columns=columns,
        counts=counts,
        applicable=applicable,
        live_charts=live_charts,
        monthly=monthly,
        latest_period=periods[0] if periods else None,
    )
