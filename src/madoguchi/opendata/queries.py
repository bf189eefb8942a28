"""Read-only queries over the KPI month snapshots, for the performance pages and the tenant admin's key figures.

A municipality's months are read with its tenant bound (row-level security keeps every other municipality's rows
out); the national months are global and hold only what was published.
"""

from __future__ import annotations

import re
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from madoguchi.opendata.columns import PROCEDURE_KPIS
from madoguchi.opendata.models import KpiMonth, NationalKpiMonth

PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def is_period(value: str) -> bool:
    """``YYYY-MM`` with a month 01..12."""
    return PERIOD.fullmatch(value) is not None


def tenant_periods(session: Session, tenant_id: uuid.UUID, dataset: str = PROCEDURE_KPIS) -> list[str]:
    """The months this municipality has a snapshot of, newest first."""
    stmt = (
        select(KpiMonth.period)
        .where(KpiMonth.tenant_id == tenant_id, KpiMonth.dataset == dataset)
        .order_by(KpiMonth.period.desc())
    )
    return list(session.execute(stmt).scalars())


def tenant_months(
    session: Session, tenant_id: uuid.UUID, *, until: str, count: int, dataset: str = PROCEDURE_KPIS
) -> list[KpiMonth]:
    """This municipality's last ``count`` snapshots up to ``until`` (inclusive), oldest first."""
    stmt = (
        select(KpiMonth)
        .where(KpiMonth.tenant_id == tenant_id, KpiMonth.dataset == dataset, KpiMonth.period <= until)
        .order_by(KpiMonth.period.desc())
        .limit(count)
    )
    return list(reversed(session.execute(stmt).scalars().all()))


def national_periods(session: Session, dataset: str = PROCEDURE_KPIS) -> list[str]:
    """The months the country has a snapshot of, newest first."""
    stmt = select(NationalKpiMonth.period).where(NationalKpiMonth.dataset == dataset)
    return list(session.execute(stmt.order_by(NationalKpiMonth.period.desc())).scalars())


def national_months(
    session: Session, *, until: str, count: int, dataset: str = PROCEDURE_KPIS
) -> list[NationalKpiMonth]:
    """The country's last ``count`` snapshots up to ``until`` (inclusive), oldest first."""
    stmt = (
        select(NationalKpiMonth)
        .where(NationalKpiMonth.dataset == dataset, NationalKpiMonth.period <= until)
        .order_by(NationalKpiMonth.period.desc())
        .limit(count)
    )
    return list(reversed(session.execute(stmt).scalars().all()))
