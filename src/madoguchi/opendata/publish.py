"""Publishing a closed month: snapshot a municipality's datasets into ``KpiMonth`` (kept from then on), then
recompute the country's aggregate (``NationalKpiMonth``) from the exact figures of every municipality that is
served and publishes.

A published month is never recomputed: running the publication again leaves it as it is (the same bytes in every
file), and purging applications afterwards cannot change it. Operations flush; the caller commits.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from madoguchi import jp
from madoguchi.db import bind_tenant, bound_tenant
from madoguchi.opendata import compute, rounds
from madoguchi.opendata.columns import (
    CATALOG_ADOPTION,
    CHILDCARE_ROUND_RESULTS,
    DEFINITION_VERSION,
    PROCEDURE_KPIS,
)
from madoguchi.opendata.compute import COUNTS, TOTAL_KEY
from madoguchi.opendata.models import KpiMonth, NationalKpiMonth
from madoguchi.tenancy.models import SERVING_STATUSES, Tenant

#: The row id of the country's rows in the joint suppression system (municipalities' rows are (lg_code, key)).
NATIONAL = "national"
#: What the country's rows carry in place of a municipality.
NATIONAL_NAME = "全国"


@dataclass
class Outcome:
    tenant: str
    period: str
    #: "published" (new), "kept" (already published), "skipped" (the municipality does not publish)
    result: str


def timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def publishes(tenant: Tenant) -> bool:
    """Whether the municipality's figures are published (its own files and its share of the country's)."""
    return tenant.status in SERVING_STATUSES and bool(compute.open_data_settings(tenant)["publish"])


def live_procedure_kpis(session: Session, tenant: Tenant, period: str) -> list[dict[str, Any]]:
    """A month's exact figures as of now (the current month included), not stored: for the municipality's own
    pages. The rows are ``internal_procedure_rows``' with the derived values (rates, median, p90) added."""
    settings = compute.open_data_settings(tenant)
    population = settings.get("population")
    rows = []
    for row in compute.internal_procedure_rows(session, tenant.id, period):
        derived = compute.derived_values(row, population, compute.cost_for(settings, row["procedure_key"]))
        rows.append({**row, **derived})
    return rows


def publish_month(session: Session, tenant: Tenant, period: str, *, now: datetime | None = None) -> Outcome:
    """Snapshot ``tenant``'s datasets for the closed ``period`` unless they are published already. The session is
    bound to the tenant for its reads and writes (and stays bound to it)."""
    now = now or jp.now()
    compute.check_closed(period, now)
    if not publishes(tenant):
        return Outcome(tenant.slug, period, "skipped")
    bind_tenant(session, tenant.id)
    existing = set(
        session.execute(
            select(KpiMonth.dataset).where(KpiMonth.tenant_id == tenant.id, KpiMonth.period == period)
        ).scalars()
    )
    generated_at = timestamp(now)
    made = False
    if PROCEDURE_KPIS not in existing:
        internal = compute.internal_procedure_rows(session, tenant.id, period)
        published = compute.publish_procedure_rows(tenant, period, internal, generated_at)
        session.add(_snapshot(tenant.id, PROCEDURE_KPIS, period, now, internal, published))
        made = True
    if CATALOG_ADOPTION not in existing:
        internal = compute.catalog_adoption_rows(session, tenant.id, period)
        published = compute.publish_catalog_rows(tenant, period, internal, generated_at)
        session.add(_snapshot(tenant.id, CATALOG_ADOPTION, period, now, internal, published))
        made = True
    if CHILDCARE_ROUND_RESULTS not in existing:
        # Rounds published to families in the month (an empty table when there were none: the month's files exist).
        internal = rounds.internal_round_rows(session, tenant.id, period)
        published = rounds.publish_round_rows(tenant, period, internal, generated_at)
        session.add(_snapshot(tenant.id, CHILDCARE_ROUND_RESULTS, period, now, internal, published))
        made = True
    session.flush()
    return Outcome(tenant.slug, period, "published" if made else "kept")


def _snapshot(
    tenant_id: uuid.UUID, dataset: str, period: str, now: datetime, internal: list[Any], published: list[Any]
) -> KpiMonth:
    return KpiMonth(
        tenant_id=tenant_id,
        dataset=dataset,
        period=period,
        definition_version=DEFINITION_VERSION,
        generated_at=now,
        internal=internal,
        published=published,
    )


def publishing_tenants(session: Session) -> list[Tenant]:
    tenants = session.execute(select(Tenant).where(Tenant.status.in_(SERVING_STATUSES)).order_by(Tenant.slug))
    return [tenant for tenant in tenants.scalars() if publishes(tenant)]


def _months_of(session: Session, tenants: list[Tenant], dataset: str, period: str) -> list[tuple[Tenant, KpiMonth]]:
    """Each tenant's snapshot of the month, read under its own binding (row-level security)."""
    found = []
    for tenant in tenants:
        bind_tenant(session, tenant.id)
        month = session.execute(
            select(KpiMonth).where(
                KpiMonth.tenant_id == tenant.id, KpiMonth.dataset == dataset, KpiMonth.period == period
            )
        ).scalar_one_or_none()
        if month is not None:
            found.append((tenant, month))
    return found


def national_procedure_rows(months: list[tuple[Tenant, KpiMonth]], period: str, generated_at: str) -> list[Any]:
    """The country's ``procedure-kpis`` rows: each procedure's exact figures summed over the municipalities, then
    suppressed again, with the municipalities' published tables as known equations (a municipality's hidden
    cell must not come out as the country's figure minus the others')."""
    by_key: dict[str, list[dict[str, Any]]] = {}
    populations: dict[str, list[int | None]] = {}
    for tenant, month in months:
        population = compute.open_data_settings(tenant).get("population")
        for row in month.internal:
            if row["procedure_key"] != TOTAL_KEY:
                by_key.setdefault(row["procedure_key"], []).append(row)
                populations.setdefault(row["procedure_key"], []).append(population)
    exact = [compute.total_row(by_key[key], key) for key in sorted(by_key)]
    exact.append(compute.total_row(exact))
    every = [compute.open_data_settings(tenant).get("population") for tenant, _ in months]
    populations[TOTAL_KEY] = every

    def population_of(key: str) -> int | None:
        known = populations.get(key) or []
        return sum(p for p in known if p) if known and all(known) else None

    values = {
        (NATIONAL, row["procedure_key"]): compute.derived_values(row, population_of(row["procedure_key"]), None)
        for row in exact
    }
    linked = _municipal_equations(months)
    hidden = compute.suppress_table(values, (NATIONAL, TOTAL_KEY), linked=linked)
    identity = {"period": period, "lg_code": None, "municipality": NATIONAL_NAME, "prefecture": None}
    return [
        compute.published_row(
            identity,
            {**row, "procedure_version": None},
            values[(NATIONAL, row["procedure_key"])],
            hidden[(NATIONAL, row["procedure_key"])],
            national_procedure_id=None,
            population=population_of(row["procedure_key"]),
            generated_at=generated_at,
        )
        for row in exact
    ]


def _municipal_equations(
    months: list[tuple[Tenant, KpiMonth]],
) -> tuple[dict[Any, int], set[Any], list[dict[Any, int]]]:
    """The municipalities' published tables as a system: their exact counts, which are hidden, their own
    equations and the country's cells as their sums."""
    values: dict[Any, int] = {}
    hidden: set[Any] = set()
    equations: list[dict[Any, int]] = []
    #: the country's cell -> its equation: itself minus every municipality's cell
    linkage: dict[Any, dict[Any, int]] = {}
    for tenant, month in months:
        published = {row["procedure_key"]: row for row in month.published}
        keys = [row["procedure_key"] for row in month.internal]
        code = tenant.local_government_code
        for row in month.internal:
            key = row["procedure_key"]
            shown = published.get(key, {})
            for name in COUNTS:
                cell = ((code, key), name)
                values[cell] = row[name]
                if name in shown.get("suppressed", []):
                    hidden.add(cell)
                national = ((NATIONAL, key), name)
                linkage.setdefault(national, {national: 1})[cell] = -1
            equations += compute.row_equations((code, key))
        for name in COUNTS:
            equation = {((code, TOTAL_KEY), name): 1}
            equation.update({((code, k), name): -1 for k in keys if k != TOTAL_KEY})
            equations.append(equation)
    return values, hidden, equations + list(linkage.values())


def publish_national(session: Session, period: str, *, now: datetime | None = None) -> bool:
    """Recompute the country's datasets for ``period`` from the published municipalities' snapshots. The stored
    rows change only when the figures do (``generated_at`` included), so a re-run leaves the same bytes. Returns
    whether anything changed. Leaves the session bound to no tenant."""
    now = now or jp.now()
    previous_tenant = bound_tenant(session)
    bind_tenant(session, None)
    tenants = publishing_tenants(session)
    generated_at = timestamp(now)
    changed = False
    datasets = {
        # The country's file carries every municipality's published rows (already public and frozen: what the
        # national page compares side by side), then the country's own rows (no lg_code).
        PROCEDURE_KPIS: lambda months, stamp: [
            *(row for _, month in months for row in month.published),
            *national_procedure_rows(months, period, stamp),
        ],
        CATALOG_ADOPTION: lambda months, stamp: [row for _, month in months for row in month.published],
        # Each round's rows are suppressed within the round, so the country's file is the municipalities' rows.
        CHILDCARE_ROUND_RESULTS: lambda months, stamp: [row for _, month in months for row in month.published],
    }
    for dataset, build in datasets.items():
        months = _months_of(session, tenants, dataset, period)
        bind_tenant(session, None)
        stored = session.execute(
            select(NationalKpiMonth).where(NationalKpiMonth.dataset == dataset, NationalKpiMonth.period == period)
        ).scalar_one_or_none()
        stamp = timestamp(stored.generated_at) if stored is not None else generated_at
        rows = build(months, stamp)
        if stored is not None and stored.published == rows:
            continue
        if stored is None:
            stored = NationalKpiMonth(dataset=dataset, period=period, definition_version=DEFINITION_VERSION)
            session.add(stored)
        rows = build(months, generated_at)
        stored.published = rows
        stored.generated_at = now
        stored.definition_version = DEFINITION_VERSION
        changed = True
    session.flush()
    bind_tenant(session, previous_tenant)
    return changed


#: The day of the month (JST) from which the previous month is published automatically (the spec's "the 5th": late
#: decisions and payments of the month's last days have settled by then).
PUBLISH_FROM_DAY = 5


def publish(
    session: Session, tenants: list[Tenant], period: str, *, now: datetime | None = None
) -> tuple[list[Outcome], bool]:
    """Publish ``period`` for each of ``tenants``, then recompute the country's aggregate. Refuses a month not
    closed before writing anything. Returns each municipality's outcome and whether the country's changed."""
    now = now or jp.now()
    compute.check_closed(period, now)
    outcomes = [publish_month(session, tenant, period, now=now) for tenant in tenants]
    return outcomes, publish_national(session, period, now=now)


def due_period(now: datetime | None = None) -> str | None:
    """The month the worker publishes now: the previous one from the 5th (JST), else none."""
    now = now or jp.now()
    if now.astimezone(jp.JAPAN).day < PUBLISH_FROM_DAY:
        return None
    return compute.last_closed_month(now)
