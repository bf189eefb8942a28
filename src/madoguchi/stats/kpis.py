"""KPI queries over one tenant's applications, as plain functions (no HTTP, no writes).

* applications per procedure and state (drafts included: they show demand that was not filed);
* median processing time per procedure, from submission to the decision (approved or rejected, i.e.
  ``decided_at``), over decided applications;
* the share filed online: of submitted applications, those filed by the resident (``online``) or by an app
  on their behalf (``api``), against those filed for them at the counter (``counter``);
* fees collected (手数料 of intents that succeeded, every mode) and refunded (refunds that succeeded), in yen.
"""

from __future__ import annotations

import statistics
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from madoguchi.applications.models import Application
from madoguchi.payments.models import REFUND_SUCCEEDED, PaymentIntent, Refund
from madoguchi.payments.states import SUCCEEDED

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
    fees_collected_jpy: int = 0
    fees_refunded_jpy: int = 0

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
    _fees(session, tenant_id, of)
    return [kpis[key] for key in sorted(kpis)]


def _fees(session: Session, tenant_id: uuid.UUID, of: Callable[[str], ProcedureKpi]) -> None:
    of_application = (Application.tenant_id == PaymentIntent.tenant_id) & (
        Application.id == PaymentIntent.application_id
    )
    collected = session.execute(
        select(Application.service_key, func.sum(PaymentIntent.amount_jpy))
        .join(PaymentIntent, of_application)
        .where(Application.tenant_id == tenant_id, PaymentIntent.status == SUCCEEDED, PaymentIntent.purpose == "fee")
        .group_by(Application.service_key)
    )
    for key, amount in collected:
        of(key).fees_collected_jpy = int(amount or 0)
    refunded = session.execute(
        select(Application.service_key, func.sum(Refund.amount_jpy))
        .join(PaymentIntent, (PaymentIntent.tenant_id == Refund.tenant_id) & (PaymentIntent.id == Refund.intent_id))
        .join(Application, of_application)
        .where(Refund.tenant_id == tenant_id, Refund.status == REFUND_SUCCEEDED, PaymentIntent.purpose == "fee")
        .group_by(Application.service_key)
    )
    for key, amount in refunded:
        of(key).fees_refunded_jpy = int(amount or 0)


def overall(kpis: list[ProcedureKpi]) -> ProcedureKpi:
    """All procedures together (the median is not combinable from medians: it is left out)."""
    total = ProcedureKpi("*")
    for kpi in kpis:
        total.by_state.update(kpi.by_state)
        total.filed += kpi.filed
        total.filed_online += kpi.filed_online
        total.decided += kpi.decided
        total.fees_collected_jpy += kpi.fees_collected_jpy
        total.fees_refunded_jpy += kpi.fees_refunded_jpy
    return total
