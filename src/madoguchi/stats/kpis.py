"""KPI queries over one tenant's applications, as plain functions (no HTTP, no writes).

* applications per procedure and state (drafts included: they show demand that was not filed);
* median processing time per procedure, from submission to the decision (approved or rejected, i.e.
  ``decided_at``), over decided applications;
* the share filed online: of submitted applications, those filed by the resident (``online``) or by an app
  on their behalf (``api``), against those filed for them at the counter (``counter``).
"""

from __future__ import annotations

import statistics
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from madoguchi.applications.models import Application

ONLINE_CHANNELS = frozenset({"online", "api"})


@dataclass
class ProcedureKpi:
    service_key: str
    by_state: Counter[str] = field(default_factory=Counter)
    #: Applications that reached submission (any state but a draft never submitted).
    filed: int = 0
    filed_online: int = 0
    decided: int = 0
    median_processing: timedelta | None = None

    @property
    def total(self) -> int:
        return sum(self.by_state.values())

    @property
    def online_share(self) -> float | None:
        """Online + API filings over all filings, 0..1; None when nothing was filed yet."""
        return self.filed_online / self.filed if self.filed else None


def _median(durations: list[timedelta]) -> timedelta | None:
    if not durations:
        return None
    return timedelta(seconds=statistics.median(d.total_seconds() for d in durations))


def procedure_kpis(session: Session, tenant_id: uuid.UUID) -> list[ProcedureKpi]:
    """One entry per procedure that has applications in this tenant, ordered by key."""
    kpis: dict[str, ProcedureKpi] = {}

    def of(key: str) -> ProcedureKpi:
        return kpis.setdefault(key, ProcedureKpi(key))

    counts = session.execute(
        select(Application.service_key, Application.state, func.count())
        .where(Application.tenant_id == tenant_id)
        .group_by(Application.service_key, Application.state)
    )
    for key, state, count in counts:
        of(key).by_state[state] = count

    channels = session.execute(
        select(Application.service_key, Application.channel, func.count())
        .where(Application.tenant_id == tenant_id, Application.submitted_at.is_not(None))
        .group_by(Application.service_key, Application.channel)
    )
    for key, channel, count in channels:
        kpi = of(key)
        kpi.filed += count
        if channel in ONLINE_CHANNELS:
            kpi.filed_online += count

    durations: dict[str, list[timedelta]] = {}
    decided = session.execute(
        select(Application.service_key, Application.submitted_at, Application.decided_at).where(
            Application.tenant_id == tenant_id,
            Application.submitted_at.is_not(None),
            Application.decided_at.is_not(None),
        )
    )
    for key, submitted_at, decided_at in decided:
        assert submitted_at is not None and decided_at is not None  # the query keeps decided applications only
        durations.setdefault(key, []).append(max(decided_at - submitted_at, timedelta(0)))
    for key, found in durations.items():
        kpi = of(key)
        kpi.decided = len(found)
        kpi.median_processing = _median(found)
    return [kpis[key] for key in sorted(kpis)]


def overall(kpis: list[ProcedureKpi]) -> ProcedureKpi:
    """All procedures together (the median is not combinable from medians: it is left out)."""
    total = ProcedureKpi("*")
    for kpi in kpis:
        total.by_state.update(kpi.by_state)
        total.filed += kpi.filed
        total.filed_online += kpi.filed_online
        total.decided += kpi.decided
    return total
