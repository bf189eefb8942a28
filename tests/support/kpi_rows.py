"""Published KPI rows in the shape of ``KpiMonth.published`` (opendata.columns), for the page and chart tests.

The tests seed snapshots directly: what fills them (the monthly computation) is tested on its own.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from madoguchi.opendata.columns import DEFINITION_VERSION, PROCEDURE_KPI_COLUMNS, PROCEDURE_KPIS
from madoguchi.opendata.models import KpiMonth, NationalKpiMonth
from madoguchi.tenancy.models import Tenant


def kpi_row(tenant: Tenant | None, period: str, procedure_key: str, **values: Any) -> dict[str, Any]:
    """A published row: every column present, plausible figures unless given; a value of None is suppressed."""
    row: dict[str, Any] = dict.fromkeys(column.name for column in PROCEDURE_KPI_COLUMNS)
    row.update(
        period=period,
        lg_code=tenant.local_government_code if tenant is not None else "",
        municipality=tenant.name_ja if tenant is not None else "全国",
        prefecture="東京都",
        procedure_key=procedure_key,
        procedure_version="1.0.0",
        population=12000,
        started_online=60,
        submitted_online=50,
        submitted_api=20,
        submitted_counter=30,
        submitted_total=100,
        completion_rate=50 / 60,
        digital_take_up=0.7,
        decided=90,
        decided_within_sla=80,
        median_days_to_decision=2.5,
        p90_days_to_decision=6.0,
        correction_requested_rate=0.05,
        withdrawn=0,
        satisfaction_responses=40,
        satisfaction_score=0.8,
        per_1000_residents=100 / 12,
        definition_version=DEFINITION_VERSION,
        generated_at="2026-12-05T00:00:00+00:00",
    )
    row.update(values)
    row["suppressed"] = sorted(
        name for name, value in values.items() if value is None and name not in ("national_procedure_id",)
    )
    return row


def add_month(session: Session, tenant: Tenant, period: str, rows: list[dict[str, Any]]) -> KpiMonth:
    month = KpiMonth(
        tenant_id=tenant.id,
        dataset=PROCEDURE_KPIS,
        period=period,
        definition_version=DEFINITION_VERSION,
        generated_at=datetime(2026, 12, 5, tzinfo=UTC),
        internal=rows,
        published=rows,
    )
    session.add(month)
    session.flush()
    return month


def add_national_month(session: Session, period: str, rows: list[dict[str, Any]]) -> NationalKpiMonth:
    month = NationalKpiMonth(
        dataset=PROCEDURE_KPIS,
        period=period,
        definition_version=DEFINITION_VERSION,
        generated_at=datetime(2026, 12, 5, tzinfo=UTC),
        published=rows,
    )
    session.add(month)
    session.flush()
    return month
